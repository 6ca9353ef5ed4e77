//! The lane wall: every lane of the caller's sites at a glance — online or
//! offline and since when, each device's health, open alarms, the last
//! passage, vehicles waiting for review, and completeness (gaps outstanding,
//! healed, given up). One query, each part an indexed lookup per lane, so
//! the wall stays quick with 200 lanes and months of passages.

use axum::extract::{Path, State};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::audit::Entry;
use super::auth::{Caller, Role};
use crate::db::sql;
use crate::error::{Error, Result};
use crate::http::AppState;

/// `GET /api/desk/wall`
pub async fn list(State(s): State<AppState>, caller: Caller) -> Result<Json<Value>> {
    let lanes: Vec<Value> = sql::query_scalar(
        "SELECT jsonb_build_object( \
           'site', l.site, 'lane', l.lane, 'state', l.state, 'since', l.state_since, 'last_seen_at', l.last_seen_at, \
           'agent_version', l.agent_version, 'trail_state', l.trail_state, 'trail_detail', l.trail_detail, \
           'keys', (SELECT jsonb_agg(jsonb_build_object('key_id', k.key_id, 'state', k.state) ORDER BY k.key_id) \
                      FROM lane_keys k WHERE k.site = l.site AND k.lane = l.lane), \
           'devices', (SELECT jsonb_agg(jsonb_build_object('device', h.device, 'kind', h.kind, 'state', h.state, \
                          'reason', h.reason, 'since', h.updated_at) ORDER BY h.device) \
                       FROM lane_health h WHERE h.site = l.site AND h.lane = l.lane), \
           'alarms', (SELECT jsonb_agg(a ORDER BY a.raised_at DESC) FROM ( \
                         SELECT a.id, a.kind, a.message, a.raised_at, a.passage_id, a.source FROM alarms a \
                         WHERE a.site = l.site AND a.lane = l.lane AND a.acknowledged_at IS NULL \
                         ORDER BY a.raised_at DESC LIMIT 5) a), \
           'open_alarms', (SELECT count(*) FROM alarms a WHERE a.site = l.site AND a.lane = l.lane AND a.acknowledged_at IS NULL), \
           'last_passage', (SELECT jsonb_build_object('id', p.id, 'arrived_at', p.arrived_at, 'plate', p.plate, \
                               'final_outcome', p.final_outcome, 'exit', p.exit, 'total_ms', p.total_ms) \
                            FROM passages p WHERE p.site = l.site AND p.lane = l.lane ORDER BY p.arrived_at DESC LIMIT 1), \
           'waiting', (SELECT count(*) FROM desk_items i WHERE i.site = l.site AND i.lane = l.lane AND i.state = 'waiting'), \
           'gaps', (SELECT jsonb_build_object( \
                        'outstanding', count(*) FILTER (WHERE g.state = 'outstanding'), \
                        'healed', count(*) FILTER (WHERE g.state = 'healed'), \
                        'given_up', count(*) FILTER (WHERE g.state = 'given_up')) \
                     FROM gaps g WHERE g.site = l.site AND g.lane = l.lane), \
           'last_seq', l.last_seq) \
         FROM lanes l WHERE ($1::text[] IS NULL OR l.site = ANY($1)) ORDER BY l.site, l.lane",
    )
    .bind(caller.site_filter())
    .fetch_all(&s.pool)
    .await?;
    Ok(Json(json!({"now": Utc::now(), "lanes": lanes})))
}

/// `POST /api/desk/alarms/{id}/ack`: someone has seen to it.
pub async fn ack(State(s): State<AppState>, caller: Caller, Path(id): Path<i64>) -> Result<Json<Value>> {
    caller.at_least(Role::Reviewer)?;
    let mut tx = s.pool.begin().await?;
    let row: Option<(String, String, String, Option<String>)> = sql::query_as(
        "UPDATE alarms SET acknowledged_at = now(), acknowledged_by = $2 WHERE id = $1 AND acknowledged_at IS NULL \
         RETURNING site, lane, kind, passage_id",
    )
    .bind(id)
    .bind(caller.name())
    .fetch_optional(&mut *tx)
    .await?;
    let (site, lane, kind, passage) = row.ok_or(Error::NotFound)?;
    caller.site(&site)?;
    let entry = Entry::new(caller.name(), "alarm_ack", json!({"alarm": id, "kind": kind})).on(
        &site,
        &lane,
        passage.as_deref(),
    );
    s.desk.audit.append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(Json(json!({"acknowledged": id})))
}
