//! `/api/passages`, `/api/images`, `/api/alarms`, `/api/quarantine`,
//! `/api/completeness`, `/api/stats`: thin handlers over the resource modules.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::AppState;
use crate::db::sql;
use crate::error::{Error, Result};
use crate::{alarms, completeness, passages, stats};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/passages", get(list_passages))
        .route("/passages/{site}/{lane}/{id}", get(one_passage))
        .route("/images/{sha256}", get(image))
        .route("/alarms", get(list_alarms))
        .route("/quarantine", get(quarantine))
        .route("/completeness", get(completeness_view))
        .route("/stats", get(stats_report))
}

async fn list_passages(
    State(s): State<AppState>,
    Query(f): Query<passages::Filter>,
) -> Result<Json<Vec<passages::PassageSummary>>> {
    Ok(Json(passages::list(&s.pool, &f).await?))
}

async fn one_passage(
    State(s): State<AppState>,
    Path((site, lane, id)): Path<(String, String, String)>,
) -> Result<Json<passages::PassageDetail>> {
    passages::get(&s.pool, &site, &lane, &id).await?.map(Json).ok_or(Error::NotFound)
}

/// The image streamed from the store, never held whole in memory here.
async fn image(State(s): State<AppState>, Path(sha256): Path<String>) -> Result<Response> {
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Invalid("an image is named by its sha256 (64 hex digits)".into()));
    }
    let row: Option<(String, String)> =
        sql::query_as("SELECT object_key, format FROM images WHERE sha256 = $1")
            .bind(sha256.to_ascii_lowercase())
            .fetch_optional(&s.pool)
            .await?;
    let (key, format) = row.ok_or(Error::NotFound)?;
    let (size, stream) = s.store.image_stream(&key).await?;
    Ok(super::image_body::image_response(&format, size, stream))
}

#[derive(Deserialize)]
struct AlarmQuery {
    site: Option<String>,
    lane: Option<String>,
    #[serde(default)]
    open: bool,
    limit: Option<i64>,
}

async fn list_alarms(
    State(s): State<AppState>,
    Query(q): Query<AlarmQuery>,
) -> Result<Json<Vec<alarms::AlarmRow>>> {
    let limit = q.limit.unwrap_or(200).clamp(1, 2000);
    Ok(Json(alarms::list(&s.pool, q.site.as_deref(), q.lane.as_deref(), q.open, limit).await?))
}

async fn quarantine(
    State(s): State<AppState>,
    Query(q): Query<AlarmQuery>,
) -> Result<Json<Vec<serde_json::Value>>> {
    let limit = q.limit.unwrap_or(200).clamp(1, 2000);
    Ok(Json(
        sql::query_scalar(
            "SELECT jsonb_build_object('id', id, 'received_at', received_at, 'topic', topic, 'site', site, 'lane', lane, \
             'leaf', leaf, 'kind', kind, 'detail', detail, 'released_at', released_at, 'verified', false) \
             FROM quarantine WHERE ($1::text IS NULL OR site = $1) AND ($2::text IS NULL OR lane = $2) \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(&q.site)
        .bind(&q.lane)
        .bind(limit)
        .fetch_all(&s.pool)
        .await?,
    ))
}

async fn completeness_view(State(s): State<AppState>) -> Result<Json<Vec<completeness::LaneCompleteness>>> {
    Ok(Json(completeness::per_lane(&s.pool).await?))
}

async fn stats_report(
    State(s): State<AppState>,
    Query(r): Query<stats::Range>,
) -> Result<Json<stats::Report>> {
    Ok(Json(stats::report(&s.pool, &r).await?))
}
