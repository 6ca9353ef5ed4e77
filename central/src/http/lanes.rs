//! `/api/lanes`: every lane with its state, keys, health and completeness.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;
use crate::error::Result;
use crate::registry::{self, LaneSummary};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/lanes", get(list)).route("/lanes/{site}/{lane}", get(one))
}

async fn list(State(s): State<AppState>) -> Result<Json<Vec<LaneSummary>>> {
    Ok(Json(registry::list(&s.pool).await?))
}

async fn one(
    State(s): State<AppState>,
    Path((site, lane)): Path<(String, String)>,
) -> Result<Json<LaneSummary>> {
    registry::get(&s.pool, &site, &lane).await?.map(Json).ok_or(crate::Error::NotFound)
}
