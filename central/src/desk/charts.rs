//! Statistics for the desk: direct-release ratio per lane and day (days in
//! the site's time zone), time in lane and review time p50/p95 per lane, and
//! hold reasons — as JSON for tables and as server-drawn SVG charts.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::auth::Caller;
use super::{pages, svg};
use crate::db::sql::{self, PgPool};
use crate::error::{Error, Result};
use crate::http::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct Range {
    pub site: Option<String>,
    /// The last this many days (default 7), unless from/to are given.
    pub days: Option<i64>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize)]
pub struct LaneDay {
    pub lane: String,
    pub day: NaiveDate,
    pub passages: i64,
    pub direct: i64,
}

#[derive(Debug, Serialize)]
pub struct LaneTimes {
    pub lane: String,
    pub passages: i64,
    pub in_lane_p50_ms: Option<f64>,
    pub in_lane_p95_ms: Option<f64>,
    pub reviewed: i64,
    pub review_p50_ms: Option<f64>,
    pub review_p95_ms: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub timezone: String,
    /// Every day of the range in the site's zone, with or without passages.
    pub calendar: Vec<NaiveDate>,
    pub days: Vec<LaneDay>,
    pub lanes: Vec<LaneTimes>,
    pub reasons: Vec<(String, i64)>,
}

/// Gathers the numbers for the caller's sites (or one of them).
pub async fn gather(
    pool: &PgPool,
    caller: &Caller,
    cfg: &crate::config::DeskConfig,
    sites: &[String],
    r: &Range,
) -> Result<Summary> {
    let visible: Vec<String> = match &r.site {
        Some(site) => {
            caller.site(site)?;
            vec![site.clone()]
        }
        None => sites.iter().filter(|s| caller.sees(s)).cloned().collect(),
    };
    let zone = cfg.timezone(visible.first().map_or("", |s| s.as_str())).to_string();
    let to = r.to.unwrap_or_else(Utc::now);
    let from = r.from.unwrap_or(to - Duration::days(r.days.unwrap_or(7).clamp(1, 366)));
    if from >= to {
        return Err(Error::Invalid("from must be before to".into()));
    }
    const WHERE: &str = "site = ANY($1) AND arrived_at >= $2 AND arrived_at < $3";
    let days: Vec<(String, String, NaiveDate, i64, i64)> = sql::query_as(&format!(
        "SELECT site, lane, (arrived_at AT TIME ZONE $4)::date, count(*), count(*) FILTER (WHERE direct_release) \
         FROM passages WHERE {WHERE} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    ))
    .bind(&visible)
    .bind(from)
    .bind(to)
    .bind(&zone)
    .fetch_all(pool)
    .await?;
    type Times = (String, String, i64, Option<f64>, Option<f64>, i64, Option<f64>, Option<f64>);
    let lanes: Vec<Times> = sql::query_as(&format!(
        "SELECT site, lane, count(*), \
           percentile_cont(0.5) WITHIN GROUP (ORDER BY total_ms), percentile_cont(0.95) WITHIN GROUP (ORDER BY total_ms), \
           count(review_ms), \
           percentile_cont(0.5) WITHIN GROUP (ORDER BY review_ms), percentile_cont(0.95) WITHIN GROUP (ORDER BY review_ms) \
         FROM passages WHERE {WHERE} GROUP BY 1, 2 ORDER BY 1, 2"
    ))
    .bind(&visible)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let reasons: Vec<(String, i64)> = sql::query_as(&format!(
        "SELECT split_part(reason, ':', 1), count(*) FROM passages, unnest(lane_reasons) reason \
         WHERE {WHERE} AND lane_outcome IN ('hold', 'inspection') GROUP BY 1 ORDER BY 2 DESC, 1"
    ))
    .bind(&visible)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let calendar: Vec<NaiveDate> = sql::query_scalar(
        "SELECT d::date FROM generate_series(($1 AT TIME ZONE $3)::date, ($2 AT TIME ZONE $3)::date, interval '1 day') d",
    )
    .bind(from)
    .bind(to)
    .bind(&zone)
    .fetch_all(pool)
    .await?;
    let name = |site: String, lane: String| if visible.len() > 1 { format!("{site}/{lane}") } else { lane };
    Ok(Summary {
        from,
        to,
        timezone: zone,
        calendar,
        days: days
            .into_iter()
            .map(|(site, lane, day, passages, direct)| LaneDay {
                lane: name(site, lane),
                day,
                passages,
                direct,
            })
            .collect(),
        lanes: lanes
            .into_iter()
            .map(|(site, lane, passages, p50, p95, reviewed, r50, r95)| LaneTimes {
                lane: name(site, lane),
                passages,
                in_lane_p50_ms: p50,
                in_lane_p95_ms: p95,
                reviewed,
                review_p50_ms: r50,
                review_p95_ms: r95,
            })
            .collect(),
        reasons,
    })
}

/// `GET /api/desk/stats`
pub async fn summary(
    State(s): State<AppState>,
    caller: Caller,
    Query(r): Query<Range>,
) -> Result<Json<Value>> {
    let sum = gather(&s.pool, &caller, &s.desk.cfg, &s.desk.sites, &r).await?;
    let passages: i64 = sum.days.iter().map(|d| d.passages).sum();
    let direct: i64 = sum.days.iter().map(|d| d.direct).sum();
    Ok(Json(json!({"summary": sum, "passages": passages, "direct": direct})))
}

/// `GET /api/desk/charts/{direct-release|in-lane|review|reasons}.svg`
pub async fn svg(
    State(s): State<AppState>,
    caller: Caller,
    Path(chart): Path<String>,
    Query(r): Query<Range>,
) -> Result<Response> {
    let sum = gather(&s.pool, &caller, &s.desk.cfg, &s.desk.sites, &r).await?;
    let lang = caller.0.language.clone();
    let w = |k: &str| pages::word(&lang, k);
    let body = match chart.trim_end_matches(".svg") {
        "direct-release" => direct_release(&sum, &w),
        "in-lane" => times(&sum, &w, "chart.in_lane", |l| (l.in_lane_p50_ms, l.in_lane_p95_ms)),
        "review" => times(&sum, &w, "chart.review", |l| (l.review_p50_ms, l.review_p95_ms)),
        "reasons" => reasons(&sum, &w, &lang),
        _ => return Err(Error::NotFound),
    };
    Ok(([(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")], body).into_response())
}

fn direct_release(sum: &Summary, w: &dyn Fn(&str) -> String) -> String {
    let title = format!("{} ({})", w("chart.direct_release"), sum.timezone);
    if sum.days.is_empty() {
        return svg::empty(&title, &w("chart.no_data"));
    }
    let mut rows: Vec<String> = sum.days.iter().map(|d| d.lane.clone()).collect();
    rows.dedup();
    let days = &sum.calendar;
    let row_of: BTreeMap<&str, usize> = rows.iter().enumerate().map(|(i, r)| (r.as_str(), i)).collect();
    let col_of: BTreeMap<NaiveDate, usize> = days.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let cells = sum
        .days
        .iter()
        .filter_map(|d| {
            Some((
                row_of[d.lane.as_str()],
                *col_of.get(&d.day)?,
                d.direct as f64 / d.passages.max(1) as f64,
                d.passages,
            ))
        })
        .collect();
    let tip_word = w("chart.passages");
    let tooltip = move |lane: &str, day: &str, ratio: f64, n: i64| {
        format!("{lane} {day}: {:.0}% · {n} {tip_word}", ratio * 100.0)
    };
    let (low, high) = (w("chart.low"), w("chart.high"));
    svg::heatmap(&svg::Heatmap {
        title: &title,
        rows,
        columns: days.iter().map(|d| d.format("%m-%d").to_string()).collect(),
        cells,
        legend: (&low, &high),
        tooltip: &tooltip,
    })
}

fn seconds(ms: f64) -> String {
    if ms >= 60_000.0 {
        format!("{:.1} min", ms / 60_000.0)
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

fn times(
    sum: &Summary,
    w: &dyn Fn(&str) -> String,
    key: &str,
    pick: fn(&LaneTimes) -> (Option<f64>, Option<f64>),
) -> String {
    let rows: Vec<(String, f64, Option<f64>, String)> = sum
        .lanes
        .iter()
        .filter_map(|l| {
            let (p50, p95) = pick(l);
            let p50 = p50?;
            Some((
                l.lane.clone(),
                p50,
                p95,
                format!("p50 {} · p95 {}", seconds(p50), p95.map_or("-".into(), seconds)),
            ))
        })
        .collect();
    if rows.is_empty() {
        return svg::empty(&w(key), &w("chart.no_data"));
    }
    svg::bars(&svg::Bars { title: &w(key), rows, unit_note: &w("chart.p50_p95") })
}

fn reasons(sum: &Summary, w: &dyn Fn(&str) -> String, lang: &str) -> String {
    if sum.reasons.is_empty() {
        return svg::empty(&w("chart.reasons"), &w("chart.no_data"));
    }
    let rows = sum
        .reasons
        .iter()
        .map(|(r, n)| {
            let label = pages::lookup(lang, &format!("reason.{r}")).unwrap_or_else(|| r.clone());
            (label, *n as f64, None, n.to_string())
        })
        .collect();
    svg::bars(&svg::Bars { title: &w("chart.reasons"), rows, unit_note: &w("chart.held_count") })
}
