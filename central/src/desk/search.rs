//! Search over the stored passages of the caller's sites: one box for a
//! plate or a container number (a plate by its beginning, a container by
//! its full code, also as a reviewer corrected it), plus lane, time,
//! decision and reason; newest first, a page at a time (keyset on arrival
//! time and id, so deep pages cost what the first does).

use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::ids;
use crate::db::sql;
use crate::error::{Error, Result};
use crate::http::AppState;
use crate::passages::PassageSummary;
use sqlx_core::query_builder::QueryBuilder;
use sqlx_postgres::Postgres;

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    /// A plate (or its beginning) or a container number.
    pub q: Option<String>,
    pub site: Option<String>,
    pub lane: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// The outcome that counts: release, hold, inspection.
    pub decision: Option<String>,
    /// A lane reason word, e.g. `low_confidence` (`device_down` matches `device_down:plate-front`).
    pub reason: Option<String>,
    /// Continue after this passage (the last of the previous page).
    pub before_at: Option<DateTime<Utc>>,
    pub before_id: Option<String>,
    pub limit: Option<i64>,
}

/// How the free text is matched.
#[derive(Debug, PartialEq)]
enum Text {
    Container(String),
    Plate(String),
}

fn classify(q: &str) -> Option<Text> {
    let q = ids::normalise(q);
    if q.is_empty() {
        return None;
    }
    let container_like = q.len() == 11 && q.is_ascii() && q[..4].chars().all(|c| c.is_ascii_alphabetic());
    Some(if container_like { Text::Container(q) } else { Text::Plate(q) })
}

const COLUMNS: &str = "p.site, p.lane, p.id, p.seq, p.arrived_at, p.completed_at, p.total_ms, p.plate, p.containers, \
     p.lane_outcome, p.lane_reasons, p.review_outcome, p.review_by, p.final_outcome, p.exit, p.flags, p.key_id";

pub async fn run(pool: &sql::PgPool, caller: &Caller, f: &SearchQuery) -> Result<Vec<PassageSummary>> {
    if let Some(site) = &f.site {
        caller.site(site)?;
    }
    if let Some(d) = &f.decision {
        if !["release", "hold", "inspection"].contains(&d.as_str()) {
            return Err(Error::Invalid(format!("decision {d:?}: release, hold or inspection")));
        }
    }
    // Only the filters given go into the query, so the planner picks the
    // index that fits (plate prefix, container, lane and time, or time alone).
    let mut q = QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM passages p WHERE true"));
    if let Some(sites) = caller.site_filter() {
        q.push(" AND p.site = ANY(").push_bind(sites).push(")");
    }
    if let Some(site) = &f.site {
        q.push(" AND p.site = ").push_bind(site.clone());
    }
    if let Some(lane) = &f.lane {
        q.push(" AND p.lane = ").push_bind(lane.clone());
    }
    if let Some(from) = f.from {
        q.push(" AND p.arrived_at >= ").push_bind(from);
    }
    if let Some(to) = f.to {
        q.push(" AND p.arrived_at < ").push_bind(to);
    }
    match f.q.as_deref().and_then(classify) {
        Some(Text::Plate(p)) => {
            let prefix = format!("{}%", p.replace(['\\', '%', '_'], ""));
            q.push(" AND (p.site, p.lane, p.id) IN (SELECT site, lane, id FROM passages WHERE plate LIKE ")
                .push_bind(prefix.clone())
                .push(" UNION ALL SELECT site, lane, passage_id FROM desk_corrections WHERE kind = 'plate' AND corrected LIKE ")
                .push_bind(prefix)
                .push(")");
        }
        Some(Text::Container(c)) => {
            q.push(" AND (p.site, p.lane, p.id) IN (SELECT site, lane, id FROM passages WHERE containers @> ARRAY[")
                .push_bind(c.clone())
                .push("] UNION ALL SELECT site, lane, passage_id FROM desk_corrections WHERE kind = 'container' AND corrected = ")
                .push_bind(c)
                .push(")");
        }
        None => {}
    }
    if let Some(d) = &f.decision {
        q.push(" AND p.final_outcome = ").push_bind(d.clone());
    }
    if let Some(r) = &f.reason {
        q.push(" AND (p.lane_reasons @> ARRAY[").push_bind(r.clone());
        q.push("] OR EXISTS (SELECT 1 FROM unnest(p.lane_reasons) r WHERE r LIKE ")
            .push_bind(format!("{r}:%"))
            .push("))");
    }
    if let Some(at) = f.before_at {
        q.push(" AND (p.arrived_at, p.id) < (").push_bind(at).push(", ");
        q.push_bind(f.before_id.clone().unwrap_or_default()).push(")");
    }
    q.push(" ORDER BY p.arrived_at DESC, p.id DESC LIMIT ").push_bind(f.limit.unwrap_or(50).clamp(1, 500));
    Ok(q.build_query_as::<PassageSummary>().fetch_all(pool).await?)
}

/// `GET /api/desk/search`
pub async fn search(
    State(s): State<AppState>,
    caller: Caller,
    Query(f): Query<SearchQuery>,
) -> Result<Json<Value>> {
    let found = run(&s.pool, &caller, &f).await?;
    let limit = f.limit.unwrap_or(50).clamp(1, 500) as usize;
    let more = found.len() == limit;
    Ok(Json(json!({"passages": found, "more": more})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_box_tells_containers_from_plates() {
        assert_eq!(classify("msku 1234565"), Some(Text::Container("MSKU1234565".into())));
        assert_eq!(classify("沪A12"), Some(Text::Plate("沪A12".into())));
        assert_eq!(classify("A123BC77"), Some(Text::Plate("A123BC77".into())));
        assert_eq!(classify("  "), None);
    }
}
