//! Passages as the API and the desk read them: a filtered list (lane, time,
//! plate, container, decision, reason; newest first, keyset-paged) and one
//! passage with its images, decisions and the commands sent about it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::db::sql::{self, FromRow, PgPool, PgRow, Row};
use crate::error::Result;

#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    pub site: Option<String>,
    pub lane: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub plate: Option<String>,
    pub container: Option<String>,
    /// The final outcome: `release`, `hold`, `inspection`.
    pub decision: Option<String>,
    /// A lane reason, e.g. `low_confidence` (matches `device_down:x` by its word too).
    pub reason: Option<String>,
    /// Only passages that arrived before this (the last `arrived_at` of the previous page).
    pub before: Option<DateTime<Utc>>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PassageSummary {
    pub site: String,
    pub lane: String,
    pub id: String,
    pub seq: i64,
    pub arrived_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub total_ms: Option<i64>,
    pub plate: Option<String>,
    pub containers: Vec<String>,
    pub lane_outcome: Option<String>,
    pub lane_reasons: Vec<String>,
    pub review_outcome: Option<String>,
    pub review_by: Option<String>,
    pub final_outcome: Option<String>,
    pub exit: Option<String>,
    pub flags: Vec<String>,
    /// Always true here: unverified records are only in quarantine.
    pub verified: bool,
    pub key_id: String,
}

impl<'r> FromRow<'r, PgRow> for PassageSummary {
    fn from_row(r: &'r PgRow) -> Result<Self, sql::Error> {
        Ok(PassageSummary {
            site: r.try_get("site")?,
            lane: r.try_get("lane")?,
            id: r.try_get("id")?,
            seq: r.try_get("seq")?,
            arrived_at: r.try_get("arrived_at")?,
            completed_at: r.try_get("completed_at")?,
            total_ms: r.try_get("total_ms")?,
            plate: r.try_get("plate")?,
            containers: r.try_get("containers")?,
            lane_outcome: r.try_get("lane_outcome")?,
            lane_reasons: r.try_get("lane_reasons")?,
            review_outcome: r.try_get("review_outcome")?,
            review_by: r.try_get("review_by")?,
            final_outcome: r.try_get("final_outcome")?,
            exit: r.try_get("exit")?,
            flags: r.try_get("flags")?,
            verified: true,
            key_id: r.try_get("key_id")?,
        })
    }
}

const COLUMNS: &str =
    "site, lane, id, seq, arrived_at, completed_at, total_ms, plate, containers, lane_outcome, \
     lane_reasons, review_outcome, review_by, final_outcome, exit, flags, key_id";

pub async fn list(pool: &PgPool, f: &Filter) -> Result<Vec<PassageSummary>> {
    let limit = f.limit.unwrap_or(100).clamp(1, 1000);
    let reason_word = f.reason.as_ref().map(|r| format!("{r}:%"));
    Ok(sql::query_as(&format!(
        "SELECT {COLUMNS} FROM passages WHERE ($1::text IS NULL OR site = $1) AND ($2::text IS NULL OR lane = $2) \
         AND ($3::timestamptz IS NULL OR arrived_at >= $3) AND ($4::timestamptz IS NULL OR arrived_at < $4) \
         AND ($5::text IS NULL OR plate = $5) AND ($6::text IS NULL OR containers @> ARRAY[$6]) \
         AND ($7::text IS NULL OR final_outcome = $7) \
         AND ($8::text IS NULL OR lane_reasons @> ARRAY[$8] OR EXISTS (SELECT 1 FROM unnest(lane_reasons) r WHERE r LIKE $9)) \
         AND ($10::timestamptz IS NULL OR arrived_at < $10) \
         ORDER BY arrived_at DESC, id DESC LIMIT $11"
    ))
    .bind(&f.site)
    .bind(&f.lane)
    .bind(f.from)
    .bind(f.to)
    .bind(&f.plate)
    .bind(&f.container)
    .bind(&f.decision)
    .bind(&f.reason)
    .bind(reason_word)
    .bind(f.before)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

#[derive(Debug, Clone, Serialize)]
pub struct PassageImage {
    pub sha256: String,
    pub device: String,
    pub role: String,
    /// False while the image has not arrived whole (a gap completeness heals).
    pub stored: bool,
    pub bytes: Option<i64>,
    pub format: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// `/api/images/<sha256>` when stored.
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PassageDetail {
    #[serde(flatten)]
    pub summary: PassageSummary,
    pub record: serde_json::Value,
    pub images: Vec<PassageImage>,
    pub decisions: Vec<serde_json::Value>,
    pub commands: Vec<serde_json::Value>,
}

/// (sha256, device, role, bytes, format, width, height); the image columns are null until it is stored.
type ImageRow = (String, String, String, Option<i64>, Option<String>, Option<i32>, Option<i32>);

pub async fn get(pool: &PgPool, site: &str, lane: &str, id: &str) -> Result<Option<PassageDetail>> {
    let Some(row) = sql::query(&format!(
        "SELECT {COLUMNS}, record FROM passages WHERE site = $1 AND lane = $2 AND id = $3"
    ))
    .bind(site)
    .bind(lane)
    .bind(id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let summary = PassageSummary::from_row(&row)?;
    let record: serde_json::Value = row.try_get("record")?;
    let images: Vec<ImageRow> = sql::query_as(
        "SELECT pi.sha256, pi.device, pi.role, i.bytes, i.format, i.width, i.height FROM passage_images pi \
         LEFT JOIN images i ON i.sha256 = pi.sha256 WHERE pi.site = $1 AND pi.lane = $2 AND pi.passage_id = $3 \
         ORDER BY pi.role, pi.device",
    )
    .bind(site)
    .bind(lane)
    .bind(id)
    .fetch_all(pool)
    .await?;
    let images = images
        .into_iter()
        .map(|(sha256, device, role, bytes, format, width, height)| PassageImage {
            url: bytes.map(|_| format!("/api/images/{sha256}")),
            stored: bytes.is_some(),
            sha256,
            device,
            role,
            bytes,
            format,
            width,
            height,
        })
        .collect();
    let decisions: Vec<serde_json::Value> = sql::query_scalar(
        "SELECT record FROM decisions WHERE site = $1 AND lane = $2 AND passage_id = $3 ORDER BY decided_at",
    )
    .bind(site)
    .bind(lane)
    .bind(id)
    .fetch_all(pool)
    .await?;
    let commands: Vec<serde_json::Value> = sql::query_scalar(
        "SELECT jsonb_build_object('id', id, 'action', action, 'issued_by', issued_by, 'issued_at', issued_at, \
         'expires_at', expires_at, 'state', state, 'outcome', outcome, 'reason', reason, 'detail', detail, 'acked_at', acked_at) \
         FROM commands WHERE site = $1 AND lane = $2 AND passage_id = $3 ORDER BY issued_at",
    )
    .bind(site)
    .bind(lane)
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Some(PassageDetail { summary, record, images, decisions, commands }))
}
