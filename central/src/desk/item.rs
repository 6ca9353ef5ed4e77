//! One passage as the reviewer sees it, held or not (every passage has its
//! own URL): the lane's record — complete, or as it stood when the lane
//! decided (the decision event's snapshot) — its images with their roles, the
//! UVSS reference scan (the vehicle's last released scan), the declaration
//! uploaded for it, the commands and acks, corrections, alarms, and one
//! timeline merging the lane's stages with central's actions.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use contract::passage::PassageRecord;
use serde_json::{json, Value};

use super::auth::Caller;
use super::story;
use crate::db::sql::{self, PgPool};
use crate::error::{Error, Result};
use crate::state::AppState;

/// The record to show: the completed passage, else the lane's snapshot at its decision.
async fn record(pool: &PgPool, key: (&str, &str, &str)) -> Result<Option<(Value, bool, Option<String>)>> {
    let done: Option<(Value, String)> =
        sql::query_as("SELECT record, key_id FROM passages WHERE site = $1 AND lane = $2 AND id = $3")
            .bind(key.0)
            .bind(key.1)
            .bind(key.2)
            .fetch_optional(pool)
            .await?;
    if let Some((record, key_id)) = done {
        return Ok(Some((record, true, Some(key_id))));
    }
    let decided: Option<(Value, String)> = sql::query_as(
        "SELECT record, key_id FROM decisions WHERE site = $1 AND lane = $2 AND passage_id = $3 \
         ORDER BY decided_at DESC LIMIT 1",
    )
    .bind(key.0)
    .bind(key.1)
    .bind(key.2)
    .fetch_optional(pool)
    .await?;
    Ok(decided.map(|(event, key_id)| {
        // Without a snapshot (an older lane), the decision alone.
        let record = event.get("snapshot").cloned().unwrap_or_else(|| {
            json!({"id": key.2, "site": key.0, "lane": key.1, "decision": event.get("decision"),
                   "reads": null, "captures": [], "stages": [], "flags": []})
        });
        (record, false, Some(key_id))
    }))
}

/// Images the record refers to, each with its role and whether it is stored yet.
async fn images(pool: &PgPool, record: &Value) -> Result<Vec<Value>> {
    let Ok(parsed) = serde_json::from_value::<PassageRecord>(record.clone()) else { return Ok(vec![]) };
    let refs = crate::ingest::image_refs(&parsed);
    let shas: Vec<String> = refs.iter().map(|r| r.0.clone()).collect();
    let stored: Vec<(String, i64, String, i32, i32)> =
        sql::query_as("SELECT sha256, bytes, format, width, height FROM images WHERE sha256 = ANY($1)")
            .bind(&shas)
            .fetch_all(pool)
            .await?;
    let stored: BTreeMap<String, (i64, String, i32, i32)> =
        stored.into_iter().map(|(s, b, f, w, h)| (s, (b, f, w, h))).collect();
    Ok(refs
        .iter()
        .map(|(sha, device, role)| {
            let meta = stored.get(sha);
            json!({
                "sha256": sha, "device": device, "role": role, "stored": meta.is_some(),
                "url": meta.map(|_| format!("/api/desk/images/{sha}")),
                "bytes": meta.map(|m| m.0), "format": meta.map(|m| &m.1),
                "width": meta.map(|m| m.2), "height": meta.map(|m| m.3),
            })
        })
        .collect())
}

/// The vehicle's reference under-vehicle scan: its latest released passage's.
async fn reference(
    pool: &PgPool,
    plate: Option<&str>,
    before: DateTime<Utc>,
    id: &str,
) -> Result<Option<Value>> {
    let Some(plate) = plate else { return Ok(None) };
    let row: Option<(String, String, String, String, DateTime<Utc>)> = sql::query_as(
        "SELECT pi.sha256, p.site, p.lane, p.id, p.arrived_at FROM passages p \
         JOIN passage_images pi ON pi.site = p.site AND pi.lane = p.lane AND pi.passage_id = p.id AND pi.role = 'uvss_scan' \
         JOIN images i ON i.sha256 = pi.sha256 \
         WHERE p.plate = $1 AND p.arrived_at < $2 AND p.id <> $3 AND p.final_outcome = 'release' \
         ORDER BY p.arrived_at DESC LIMIT 1",
    )
    .bind(plate)
    .bind(before)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(sha, site, lane, passage, at)| {
        json!({"sha256": sha, "url": format!("/api/desk/images/{sha}"), "site": site, "lane": lane,
               "passage": passage, "arrived_at": at})
    }))
}

/// The newest uploaded declaration for this plate valid at `at`.
async fn declaration(pool: &PgPool, plate: Option<&str>, at: DateTime<Utc>) -> Result<Option<Value>> {
    let Some(plate) = plate else { return Ok(None) };
    Ok(sql::query_scalar(
        "SELECT jsonb_build_object('plate', d.plate, 'containers', d.containers, 'seals', d.seals, \
           'declared_empty', d.declared_empty, 'targeted', d.targeted, 'valid_from', d.valid_from, \
           'valid_until', d.valid_until, 'import', i.id, 'line', d.line, 'uploaded_by', i.uploaded_by, \
           'uploaded_at', i.uploaded_at, 'file', i.file_name) \
         FROM desk_declarations d JOIN desk_declaration_imports i ON i.id = d.import_id \
         WHERE d.plate = $1 AND (d.valid_from IS NULL OR d.valid_from <= $2) AND (d.valid_until IS NULL OR $2 < d.valid_until) \
         ORDER BY i.uploaded_at DESC, d.line LIMIT 1",
    )
    .bind(plate)
    .bind(at)
    .fetch_optional(pool)
    .await?)
}

/// `GET /api/desk/items/{site}/{lane}/{passage}`
pub async fn show(
    State(s): State<AppState>,
    caller: Caller,
    Path((site, lane, passage)): Path<(String, String, String)>,
) -> Result<Json<Value>> {
    caller.site(&site)?;
    let key = (site.as_str(), lane.as_str(), passage.as_str());
    let (record, complete, key_id) = record(&s.pool, key).await?.ok_or(Error::NotFound)?;
    let item: Option<Value> = sql::query_scalar(&format!(
        "SELECT jsonb_build_object('state', i.state, 'decided_at', i.decided_at, 'outcome', i.outcome, \
           'reasons', i.reasons, 'claimed_by', CASE WHEN i.lease_until > now() THEN i.claimed_by END, \
           'lease_until', CASE WHEN i.lease_until > now() THEN i.lease_until END, 'escalated_at', i.escalated_at, \
           'closed_at', i.closed_at, 'command', {}, 'on_hold', {}) \
         FROM desk_items i WHERE i.site = $1 AND i.lane = $2 AND i.passage_id = $3",
        super::queue::LAST_COMMAND,
        super::queue::ON_HOLD
    ))
    .bind(&site)
    .bind(&lane)
    .bind(&passage)
    .fetch_optional(&s.pool)
    .await?;
    let plate = record["reads"]["plates"][0]["text"].as_str().map(str::to_string);
    let arrived =
        record["arrived_at"].as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok()).unwrap_or_else(Utc::now);
    let lane_row: Option<Value> = sql::query_scalar(
        "SELECT jsonb_build_object('state', state, 'since', state_since, 'trail_state', trail_state, 'trail_detail', trail_detail) \
         FROM lanes WHERE site = $1 AND lane = $2",
    )
    .bind(&site)
    .bind(&lane)
    .fetch_optional(&s.pool)
    .await?;
    let corrections: Vec<Value> = sql::query_scalar(
        "SELECT jsonb_build_object('kind', kind, 'original', original, 'corrected', corrected, 'by', by_user, 'at', at) \
         FROM desk_corrections WHERE site = $1 AND lane = $2 AND passage_id = $3 ORDER BY id",
    )
    .bind(&site)
    .bind(&lane)
    .bind(&passage)
    .fetch_all(&s.pool)
    .await?;
    let story = story::of(&s.pool, key, &record).await?;
    Ok(Json(json!({
        "site": site, "lane": lane, "passage": passage, "now": Utc::now(),
        "complete": complete, "verified_by_key": key_id,
        "record": record,
        "item": item,
        "lane_info": lane_row,
        "images": images(&s.pool, &record).await?,
        "reference": reference(&s.pool, plate.as_deref(), arrived, &passage).await?,
        "declaration": declaration(&s.pool, plate.as_deref(), arrived).await?,
        "corrections": corrections,
        "commands": story.commands,
        "story": story.events,
    })))
}

/// `GET /api/desk/images/{sha256}`: an image of the caller's sites, streamed from the store.
pub async fn image(
    State(s): State<AppState>,
    caller: Caller,
    Path(sha256): Path<String>,
) -> Result<Response> {
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Invalid("an image is named by its sha256 (64 hex digits)".into()));
    }
    let row: Option<(String, String, String)> =
        sql::query_as("SELECT object_key, format, site FROM images WHERE sha256 = $1")
            .bind(sha256.to_ascii_lowercase())
            .fetch_optional(&s.pool)
            .await?;
    let (key, format, site) = row.ok_or(Error::NotFound)?;
    caller.site(&site)?;
    let (size, stream) = s.store.image_stream(&key).await?;
    Ok(crate::http::image_body::image_response(&format, size, stream))
}
