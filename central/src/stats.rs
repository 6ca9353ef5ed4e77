//! Port-wide statistics, computed in SQL over the verified passages: the
//! direct-release ratio per lane and day, time in lane and review time
//! (p50/p95), and hold reasons. Days are UTC days.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::db::sql::{self, PgPool};
use crate::error::Result;

#[derive(Debug, Default, Deserialize)]
pub struct Range {
    pub site: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize)]
pub struct LaneDay {
    pub site: String,
    pub lane: String,
    pub day: NaiveDate,
    pub passages: i64,
    pub direct_releases: i64,
    pub direct_release_ratio: f64,
}

#[derive(Debug, Serialize)]
pub struct Durations {
    pub site: String,
    pub lane: String,
    pub passages: i64,
    pub time_in_lane_p50_ms: Option<f64>,
    pub time_in_lane_p95_ms: Option<f64>,
    pub reviewed: i64,
    pub review_p50_ms: Option<f64>,
    pub review_p95_ms: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub direct_release_by_lane_day: Vec<LaneDay>,
    pub durations_by_lane: Vec<Durations>,
    /// Reason word (before any `:`) -> held or inspected passages with it.
    pub hold_reasons: Vec<(String, i64)>,
}

const WHERE: &str = "($1::text IS NULL OR site = $1) AND ($2::timestamptz IS NULL OR arrived_at >= $2) \
     AND ($3::timestamptz IS NULL OR arrived_at < $3)";

/// (site, lane, passages, lane p50, lane p95, reviewed, review p50, review p95).
type DurationRow = (String, String, i64, Option<f64>, Option<f64>, i64, Option<f64>, Option<f64>);

pub async fn report(pool: &PgPool, r: &Range) -> Result<Report> {
    let days: Vec<(String, String, NaiveDate, i64, i64)> = sql::query_as(&format!(
        "SELECT site, lane, (arrived_at AT TIME ZONE 'UTC')::date AS day, count(*), count(*) FILTER (WHERE direct_release) \
         FROM passages WHERE {WHERE} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    ))
    .bind(&r.site)
    .bind(r.from)
    .bind(r.to)
    .fetch_all(pool)
    .await?;
    let durations: Vec<DurationRow> = sql::query_as(&format!(
        "SELECT site, lane, count(*), \
           percentile_cont(0.5) WITHIN GROUP (ORDER BY total_ms), percentile_cont(0.95) WITHIN GROUP (ORDER BY total_ms), \
           count(review_ms), \
           percentile_cont(0.5) WITHIN GROUP (ORDER BY review_ms), percentile_cont(0.95) WITHIN GROUP (ORDER BY review_ms) \
         FROM passages WHERE {WHERE} GROUP BY 1, 2 ORDER BY 1, 2"
    ))
    .bind(&r.site)
    .bind(r.from)
    .bind(r.to)
    .fetch_all(pool)
    .await?;
    let hold_reasons: Vec<(String, i64)> = sql::query_as(&format!(
        "SELECT split_part(reason, ':', 1), count(*) FROM passages, unnest(lane_reasons) reason \
         WHERE {WHERE} AND final_outcome IN ('hold', 'inspection') GROUP BY 1 ORDER BY 2 DESC, 1"
    ))
    .bind(&r.site)
    .bind(r.from)
    .bind(r.to)
    .fetch_all(pool)
    .await?;
    Ok(Report {
        direct_release_by_lane_day: days
            .into_iter()
            .map(|(site, lane, day, passages, direct)| LaneDay {
                site,
                lane,
                day,
                passages,
                direct_releases: direct,
                direct_release_ratio: if passages == 0 { 0.0 } else { direct as f64 / passages as f64 },
            })
            .collect(),
        durations_by_lane: durations
            .into_iter()
            .map(|(site, lane, passages, p50, p95, reviewed, r50, r95)| Durations {
                site,
                lane,
                passages,
                time_in_lane_p50_ms: p50,
                time_in_lane_p95_ms: p95,
                reviewed,
                review_p50_ms: r50,
                review_p95_ms: r95,
            })
            .collect(),
        hold_reasons,
    })
}
