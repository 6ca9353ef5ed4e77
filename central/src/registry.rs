//! The lane registry: lanes, their signing keys and the keys' approval.
//!
//! A key first seen in a lane's retained status is `pending`; only an
//! administrator's `approve` makes records signed with it verified, and a
//! `revoke` stops that again. Approving re-verifies what the lane sent while
//! its key was pending (held in quarantine meanwhile), so nothing is lost by
//! approving late.

use crate::db::sql::{self, FromRow, PgExecutor, PgPool, PgRow, Row};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize)]
pub struct LaneKey {
    pub key_id: String,
    pub public_key: String,
    pub state: String,
    pub first_seen_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LaneSummary {
    pub site: String,
    pub lane: String,
    pub state: String,
    pub state_since: Option<DateTime<Utc>>,
    pub agent_version: Option<String>,
    pub last_seen_at: DateTime<Utc>,
    pub trail_state: String,
    pub trail_detail: Option<String>,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub keys: Vec<LaneKey>,
}

impl<'r> FromRow<'r, PgRow> for LaneKey {
    fn from_row(row: &'r PgRow) -> Result<Self, sql::Error> {
        Ok(LaneKey {
            key_id: row.try_get("key_id")?,
            public_key: row.try_get("public_key")?,
            state: row.try_get("state")?,
            first_seen_at: row.try_get("first_seen_at")?,
            decided_at: row.try_get("decided_at")?,
            decided_by: row.try_get("decided_by")?,
        })
    }
}

impl<'r> FromRow<'r, PgRow> for LaneSummary {
    fn from_row(row: &'r PgRow) -> Result<Self, sql::Error> {
        Ok(LaneSummary {
            site: row.try_get("site")?,
            lane: row.try_get("lane")?,
            state: row.try_get("state")?,
            state_since: row.try_get("state_since")?,
            agent_version: row.try_get("agent_version")?,
            last_seen_at: row.try_get("last_seen_at")?,
            trail_state: row.try_get("trail_state")?,
            trail_detail: row.try_get("trail_detail")?,
            first_seq: row.try_get("first_seq")?,
            last_seq: row.try_get("last_seq")?,
            keys: Vec::new(),
        })
    }
}

const SUMMARY: &str = "SELECT site, lane, state, state_since, agent_version, last_seen_at, trail_state, \
     trail_detail, first_seq, last_seq FROM lanes";

pub async fn list(pool: &PgPool) -> Result<Vec<LaneSummary>> {
    let mut lanes: Vec<LaneSummary> =
        sql::query_as(&format!("{SUMMARY} ORDER BY site, lane")).fetch_all(pool).await?;
    for l in &mut lanes {
        l.keys = keys(pool, &l.site, &l.lane).await?;
    }
    Ok(lanes)
}

pub async fn get(pool: &PgPool, site: &str, lane: &str) -> Result<Option<LaneSummary>> {
    let Some(mut l): Option<LaneSummary> = sql::query_as(&format!("{SUMMARY} WHERE site = $1 AND lane = $2"))
        .bind(site)
        .bind(lane)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    l.keys = keys(pool, site, lane).await?;
    Ok(Some(l))
}

pub async fn keys(pool: &PgPool, site: &str, lane: &str) -> Result<Vec<LaneKey>> {
    Ok(sql::query_as(
        "SELECT key_id, public_key, state, first_seen_at, decided_at, decided_by FROM lane_keys \
         WHERE site = $1 AND lane = $2 ORDER BY first_seen_at",
    )
    .bind(site)
    .bind(lane)
    .fetch_all(pool)
    .await?)
}

/// Makes sure the lane has a row (everything else refers to it).
pub async fn touch(db: impl PgExecutor<'_>, site: &str, lane: &str) -> Result<()> {
    sql::query(
        "INSERT INTO lanes (site, lane) VALUES ($1, $2) \
         ON CONFLICT (site, lane) DO UPDATE SET last_seen_at = now()",
    )
    .bind(site)
    .bind(lane)
    .execute(db)
    .await?;
    Ok(())
}

/// A key announced in the lane's status: recorded as pending the first time.
pub async fn announce_key(
    db: impl PgExecutor<'_>,
    site: &str,
    lane: &str,
    key_id: &str,
    public: &str,
) -> Result<bool> {
    let inserted = sql::query(
        "INSERT INTO lane_keys (site, lane, key_id, public_key) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (site, lane, public_key) DO NOTHING",
    )
    .bind(site)
    .bind(lane)
    .bind(key_id)
    .bind(public)
    .execute(db)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Approves a lane's key: the one given, or the only pending one.
pub async fn approve(
    pool: &PgPool,
    site: &str,
    lane: &str,
    public: Option<&str>,
    by: &str,
) -> Result<LaneKey> {
    decide(pool, site, lane, public, by, "approved").await
}

pub async fn revoke(
    pool: &PgPool,
    site: &str,
    lane: &str,
    public: Option<&str>,
    by: &str,
) -> Result<LaneKey> {
    decide(pool, site, lane, public, by, "revoked").await
}

async fn decide(
    pool: &PgPool,
    site: &str,
    lane: &str,
    public: Option<&str>,
    by: &str,
    to: &str,
) -> Result<LaneKey> {
    let keys = keys(pool, site, lane).await?;
    let from = if to == "approved" { "pending" } else { "approved" };
    let candidates: Vec<&LaneKey> = match public {
        Some(p) => keys.iter().filter(|k| k.public_key == p).collect(),
        None => keys.iter().filter(|k| k.state == from).collect(),
    };
    let key = match candidates.as_slice() {
        [] if keys.is_empty() => return Err(Error::NotFound),
        [] => return Err(Error::Conflict(format!("{site}/{lane} has no {from} key"))),
        [k] => *k,
        _ => {
            return Err(Error::Invalid(format!(
                "{site}/{lane} has {} {from} keys; name the one meant with --key",
                candidates.len()
            )))
        }
    };
    if to == "approved" && key.state == "revoked" {
        return Err(Error::Conflict(format!(
            "key {} of {site}/{lane} was revoked; a revoked key stays revoked",
            key.key_id
        )));
    }
    let mut tx = pool.begin().await?;
    // The lane's row, as a record being quarantined for want of this key holds
    // it: the two never interleave (see `ingest::verify`), so no record
    // quarantined as pending escapes the release that follows an approval.
    sql::query("SELECT 1 FROM lanes WHERE site = $1 AND lane = $2 FOR UPDATE")
        .bind(site)
        .bind(lane)
        .execute(&mut *tx)
        .await?;
    if to == "approved" {
        // One approved key per key id: approving a rotated key retires the old one.
        sql::query(
            "UPDATE lane_keys SET state = 'revoked', decided_at = now(), decided_by = $4 \
             WHERE site = $1 AND lane = $2 AND key_id = $3 AND state = 'approved'",
        )
        .bind(site)
        .bind(lane)
        .bind(&key.key_id)
        .bind(format!("{by} (replaced)"))
        .execute(&mut *tx)
        .await?;
    }
    let updated: LaneKey = sql::query_as(
        "UPDATE lane_keys SET state = $4, decided_at = now(), decided_by = $5 \
         WHERE site = $1 AND lane = $2 AND public_key = $3 \
         RETURNING key_id, public_key, state, first_seen_at, decided_at, decided_by",
    )
    .bind(site)
    .bind(lane)
    .bind(&key.public_key)
    .bind(to)
    .bind(by)
    .fetch_one(&mut *tx)
    .await?;
    // The alarms that asked for this decision are answered by it: the key awaiting approval,
    // and (approved) the records held for want of it, which the caller releases next.
    sql::query(
        "UPDATE alarms SET acknowledged_at = now(), acknowledged_by = $4 \
         WHERE acknowledged_at IS NULL AND (dedup_key = 'key_pending:' || $1 || '/' || $2 || ':' || $3 \
           OR ($5 AND dedup_key = 'pending_key:' || $1 || '/' || $2))",
    )
    .bind(site)
    .bind(lane)
    .bind(&key.public_key)
    .bind(format!("{by} ({to} key {})", key.key_id))
    .bind(to == "approved")
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(updated)
}

/// The approved keys of a lane, for verifying its records.
pub async fn approved_keys(
    db: impl PgExecutor<'_>,
    site: &str,
    lane: &str,
) -> Result<Vec<(String, String, String)>> {
    Ok(sql::query_as("SELECT key_id, public_key, state FROM lane_keys WHERE site = $1 AND lane = $2")
        .bind(site)
        .bind(lane)
        .fetch_all(db)
        .await?)
}
