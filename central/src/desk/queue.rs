//! The queue: held vehicles still waiting at a lane of the caller's sites,
//! oldest first, each with its claim, escalation and the last command sent
//! about it; and the housekeeping that keeps it honest — escalation past the
//! red limit (an alarm, once), lapsed claims released, items whose passage
//! arrived meanwhile closed, unanswered commands expired, old sessions and
//! closed items deleted.
//!
//! Every statement is a single conditional UPDATE or DELETE, so several
//! instances may run the housekeeping at once without doing anything twice.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;

use super::auth::Caller;
use crate::config::CentralConfig;
use crate::db::sql::{self, FromRow, PgPool, PgRow, Row};
use crate::error::Result;
use crate::state::AppState;

#[derive(Debug, Serialize)]
pub struct QueueItem {
    pub site: String,
    pub lane: String,
    pub passage: String,
    pub decided_at: DateTime<Utc>,
    pub outcome: String,
    pub reasons: Vec<String>,
    pub plate: Option<String>,
    pub containers: Vec<String>,
    /// Only while the lease runs.
    pub claimed_by: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub escalated_at: Option<DateTime<Utc>>,
    pub lane_state: Option<String>,
    /// The newest decision command about it: id, state, outcome, reason.
    pub command: Option<Value>,
    /// A reviewer held it or sent it to inspection, and the lane did so: it waits at the
    /// barrier for a release (documents, an inspection), after the vehicles nobody has seen.
    pub on_hold: bool,
}

impl<'r> FromRow<'r, PgRow> for QueueItem {
    fn from_row(r: &'r PgRow) -> Result<Self, sql::Error> {
        Ok(QueueItem {
            site: r.try_get("site")?,
            lane: r.try_get("lane")?,
            passage: r.try_get("passage_id")?,
            decided_at: r.try_get("decided_at")?,
            outcome: r.try_get("outcome")?,
            reasons: r.try_get("reasons")?,
            plate: r.try_get("plate")?,
            containers: r.try_get("containers")?,
            claimed_by: r.try_get("claimed_by")?,
            lease_until: r.try_get("lease_until")?,
            escalated_at: r.try_get("escalated_at")?,
            lane_state: r.try_get("lane_state")?,
            command: r.try_get("command")?,
            on_hold: r.try_get("on_hold")?,
        })
    }
}

/// The last decision command about a passage, as the desk shows it.
pub const LAST_COMMAND: &str =
    "(SELECT jsonb_build_object('id', c.id, 'action', c.action_type, 'state', c.state, 'outcome', c.outcome, \
       'reason', c.reason, 'detail', c.detail, 'issued_by', c.issued_by, 'issued_at', c.issued_at, \
       'expires_at', c.expires_at, 'acked_at', c.acked_at) \
     FROM commands c WHERE c.site = i.site AND c.lane = i.lane AND c.passage_id = i.passage_id \
       AND c.action_type IN ('release', 'hold', 'inspection') ORDER BY c.issued_at DESC LIMIT 1)";

/// Whether a reviewer's hold or inspection of the item was carried out by the lane.
pub const ON_HOLD: &str = "EXISTS (SELECT 1 FROM commands c WHERE c.site = i.site AND c.lane = i.lane \
       AND c.passage_id = i.passage_id AND c.action_type IN ('hold', 'inspection') AND c.state = 'accepted')";

pub async fn waiting(pool: &PgPool, sites: Option<Vec<String>>) -> Result<Vec<QueueItem>> {
    Ok(sql::query_as(&format!(
        "SELECT i.site, i.lane, i.passage_id, i.decided_at, i.outcome, i.reasons, i.plate, i.containers, \
           CASE WHEN i.lease_until > now() THEN i.claimed_by END AS claimed_by, \
           CASE WHEN i.lease_until > now() THEN i.lease_until END AS lease_until, \
           i.escalated_at, l.state AS lane_state, {LAST_COMMAND} AS command, {ON_HOLD} AS on_hold \
         FROM desk_items i LEFT JOIN lanes l ON l.site = i.site AND l.lane = i.lane \
         WHERE i.state = 'waiting' AND ($1::text[] IS NULL OR i.site = ANY($1)) \
         ORDER BY on_hold, i.decided_at, i.site, i.lane LIMIT 1000"
    ))
    .bind(sites)
    .fetch_all(pool)
    .await?)
}

/// `GET /api/desk/queue`
pub async fn list(State(s): State<AppState>, caller: Caller) -> Result<Json<Value>> {
    let items = waiting(&s.pool, caller.site_filter()).await?;
    Ok(Json(json!({"now": Utc::now(), "items": items})))
}

/// Escalates items past the red limit: the item is marked and an alarm raised. Not one a
/// reviewer holds: a person has seen it and decided it waits.
pub async fn escalate(pool: &PgPool, red: Duration) -> Result<u64> {
    let due: Vec<(String, String, String, Option<String>)> = sql::query_as(&format!(
        "UPDATE desk_items i SET escalated_at = now() \
         WHERE state = 'waiting' AND escalated_at IS NULL AND decided_at < now() - make_interval(secs => $1) \
         AND NOT {ON_HOLD} RETURNING site, lane, passage_id, plate"
    ))
    .bind(red.as_secs_f64())
    .fetch_all(pool)
    .await?;
    for (site, lane, passage, plate) in &due {
        let message = format!(
            "held vehicle {} waiting longer than {} for review; escalated to supervisors",
            plate.as_deref().unwrap_or("(no plate)"),
            tomlcheck::duration::format_duration(red)
        );
        sql::query(
            "INSERT INTO alarms (site, lane, source, kind, passage_id, message, raised_at, dedup_key) \
             VALUES ($1, $2, 'central', 'review_escalated', $3, $4, now(), $5) ON CONFLICT (dedup_key) DO NOTHING",
        )
        .bind(site)
        .bind(lane)
        .bind(passage)
        .bind(&message)
        .bind(format!("review_escalated:{site}/{lane}/{passage}"))
        .execute(pool)
        .await?;
        tracing::warn!(%site, %lane, %passage, "held vehicle escalated to supervisors");
    }
    Ok(due.len() as u64)
}

/// One round of housekeeping.
async fn tidy(pool: &PgPool, cfg: &CentralConfig) -> Result<()> {
    escalate(pool, cfg.desk.red).await?;
    // A lapsed claim is nobody's: the item is free for the next reviewer.
    sql::query("UPDATE desk_items SET claimed_by = NULL, claimed_at = NULL, lease_until = NULL WHERE state = 'waiting' AND lease_until < now()")
        .execute(pool)
        .await?;
    // A decision and its passage committed at the same moment by two instances
    // can each miss the other in their triggers: close what is complete.
    sql::query(
        "UPDATE desk_items i SET state = CASE WHEN p.review_by LIKE 'central:%' THEN 'decided' ELSE 'gone' END, closed_at = now() \
         FROM passages p WHERE i.state = 'waiting' AND p.site = i.site AND p.lane = i.lane AND p.id = i.passage_id",
    )
    .execute(pool)
    .await?;
    crate::commands::expire_unanswered(pool).await?;
    super::auth::sessions::sweep(pool, cfg.desk.session_idle).await?;
    sql::query(
        "DELETE FROM desk_items WHERE state <> 'waiting' AND closed_at < now() - make_interval(secs => $1)",
    )
    .bind(cfg.retention.records.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(())
}

/// Runs the housekeeping every second until `stop`.
pub async fn housekeeping(pool: PgPool, cfg: CentralConfig, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if let Err(e) = tidy(&pool, &cfg).await {
            tracing::warn!(cause = %e, "desk housekeeping failed; next round");
        }
    }
}
