//! Alarms: the lanes' own (from `<base>/alarm`) and central's (quarantined
//! records, broken audit trails, resends given up), in one table so the desk
//! shows one list.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db::sql::{self, FromRow, PgExecutor, PgPool, PgRow, Row};
use crate::error::Result;

/// Raises a central alarm once per `dedup_key`; true when it is new.
pub async fn raise(
    db: impl PgExecutor<'_>,
    site: &str,
    lane: &str,
    kind: &str,
    passage: Option<&str>,
    message: &str,
    dedup_key: &str,
) -> Result<bool> {
    let done = sql::query(
        "INSERT INTO alarms (site, lane, source, kind, passage_id, message, raised_at, dedup_key) \
         VALUES ($1, $2, 'central', $3, $4, $5, now(), $6) ON CONFLICT (dedup_key) DO NOTHING",
    )
    .bind(site)
    .bind(lane)
    .bind(kind)
    .bind(passage)
    .bind(message)
    .bind(dedup_key)
    .execute(db)
    .await?;
    if done.rows_affected() == 1 {
        tracing::warn!(site, lane, kind, message, "alarm");
    }
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone, Serialize)]
pub struct AlarmRow {
    pub id: i64,
    pub site: String,
    pub lane: String,
    pub source: String,
    pub kind: String,
    pub passage_id: Option<String>,
    pub device: Option<String>,
    pub message: String,
    pub raised_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
}

impl<'r> FromRow<'r, PgRow> for AlarmRow {
    fn from_row(r: &'r PgRow) -> Result<Self, sql::Error> {
        Ok(AlarmRow {
            id: r.try_get("id")?,
            site: r.try_get("site")?,
            lane: r.try_get("lane")?,
            source: r.try_get("source")?,
            kind: r.try_get("kind")?,
            passage_id: r.try_get("passage_id")?,
            device: r.try_get("device")?,
            message: r.try_get("message")?,
            raised_at: r.try_get("raised_at")?,
            acknowledged_at: r.try_get("acknowledged_at")?,
            acknowledged_by: r.try_get("acknowledged_by")?,
        })
    }
}

/// Newest first; `open` only those not acknowledged.
pub async fn list(
    pool: &PgPool,
    site: Option<&str>,
    lane: Option<&str>,
    open: bool,
    limit: i64,
) -> Result<Vec<AlarmRow>> {
    Ok(sql::query_as(
        "SELECT id, site, lane, source, kind, passage_id, device, message, raised_at, acknowledged_at, acknowledged_by \
         FROM alarms WHERE ($1::text IS NULL OR site = $1) AND ($2::text IS NULL OR lane = $2) \
         AND (NOT $3 OR acknowledged_at IS NULL) ORDER BY raised_at DESC, id DESC LIMIT $4",
    )
    .bind(site)
    .bind(lane)
    .bind(open)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
