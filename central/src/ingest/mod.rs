//! From MQTT message to rows and objects. [`Ingest::handle`] takes one message
//! (topic, payload) and either commits what it carries or says why not:
//!
//! - `Ok(Outcome)`: done — stored, a duplicate, quarantined, or refused as bad
//!   input (counted per kind). The caller acknowledges the message.
//! - `Err(IngestError::Transient)`: the database or the store refused (down,
//!   disk full). Nothing is acknowledged; the caller retries the same message
//!   until it goes through, so the broker and the lanes keep the data.
//!
//! Every write is idempotent (primary keys, `ON CONFLICT DO NOTHING`,
//! content-addressed objects), which is what makes at-least-once delivery,
//! redelivery after a crash and several instances give exactly-once rows.

mod checkpoints;
mod failed;
pub use failed::{Retried, HANDLER_FAILED};
mod images;
mod lane_state;
mod records;
pub use records::image_refs;
mod verify;

use std::sync::Arc;

use contract::topics::{self, LaneTopic, Leaf};

use crate::config::ImagesConfig;
use crate::db::sql::{self, PgPool};
use crate::metrics::Metrics;
use crate::store::Store;

pub use images::expire_incomplete;
pub use verify::Suspect;

/// What became of a message that needs no retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    Duplicate,
    /// Kept in quarantine, with this reason.
    Quarantined(&'static str),
    /// Not storable (malformed, wrong size, unknown image...), counted as this kind.
    Refused(&'static str),
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::Duplicate => "duplicate",
            Outcome::Quarantined(_) => "quarantined",
            Outcome::Refused(_) => "refused",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The database or the store refused; try the same message again later.
    #[error("transient: {0}")]
    Transient(String),
}

impl From<sql::Error> for IngestError {
    fn from(e: sql::Error) -> Self {
        IngestError::Transient(format!("database: {e}"))
    }
}

impl From<object_store::Error> for IngestError {
    fn from(e: object_store::Error) -> Self {
        IngestError::Transient(format!("object store: {e}"))
    }
}

impl From<crate::Error> for IngestError {
    fn from(e: crate::Error) -> Self {
        IngestError::Transient(e.to_string())
    }
}

/// A database error caused by the data itself (SQLSTATE class 22, data
/// exception: e.g. a NUL character in text): retrying cannot help.
pub(crate) fn is_data_error(e: &sql::Error) -> bool {
    matches!(e, sql::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("22")))
}

#[derive(Clone)]
pub struct Ingest {
    pub pool: PgPool,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub prefix: String,
    pub sites: Arc<Vec<String>>,
    pub images: ImagesConfig,
    /// This instance's name, recorded with what it stored.
    pub instance: Arc<str>,
}

/// Payloads larger than this are refused before parsing (images come in chunks).
pub const MAX_RECORD_BYTES: usize = 4 << 20;

impl Ingest {
    pub fn new(pool: PgPool, cfg: &crate::config::CentralConfig) -> Result<Self, object_store::Error> {
        Ok(Ingest {
            pool,
            store: Store::open(&cfg.store)?,
            metrics: Arc::new(Metrics::default()),
            prefix: cfg.mqtt.topic_prefix.clone(),
            sites: Arc::new(cfg.sites.clone()),
            images: cfg.images.clone(),
            instance: Arc::from(cfg.instance.as_str()),
        })
    }

    pub async fn handle(&self, topic: &str, payload: &[u8]) -> Result<Outcome, IngestError> {
        let t = match topics::parse(&self.prefix, topic) {
            Ok(t) => t,
            Err(e) => return Ok(self.refuse("bad_topic", topic, &e.to_string())),
        };
        if !self.sites.contains(&t.site) {
            return Ok(self.refuse("foreign_site", topic, "a site this central is not configured for"));
        }
        let leaf = leaf_name(&t.leaf);
        let result = if payload.len() > MAX_RECORD_BYTES && !matches!(t.leaf, Leaf::ImageChunk { .. }) {
            Ok(self.refuse("oversized", topic, &format!("{} bytes", payload.len())))
        } else {
            self.dispatch(topic, &t, payload).await
        };
        match result {
            Ok(outcome) => {
                self.metrics.message(leaf, outcome.word());
                Ok(outcome)
            }
            Err(e) => {
                self.metrics.retry(leaf);
                Err(e)
            }
        }
    }

    async fn dispatch(&self, topic: &str, t: &LaneTopic, payload: &[u8]) -> Result<Outcome, IngestError> {
        let (site, lane) = (t.site.as_str(), t.lane.as_str());
        match &t.leaf {
            Leaf::Passage => self.passage(topic, site, lane, payload).await,
            Leaf::Decision => self.decision(topic, site, lane, payload).await,
            Leaf::Status => self.status(topic, site, lane, payload).await,
            Leaf::Health { device } => self.health(topic, site, lane, device, payload).await,
            Leaf::Stats => self.stats(topic, site, lane, payload).await,
            Leaf::Alarm => self.alarm(topic, site, lane, payload).await,
            Leaf::Ack => self.ack(topic, site, lane, payload).await,
            Leaf::AuditCheckpoint => self.checkpoint(topic, site, lane, payload).await,
            Leaf::ImageManifest { sha256 } => self.manifest(topic, site, lane, sha256, payload).await,
            Leaf::ImageChunk { sha256, index } => {
                self.chunk(topic, site, lane, sha256, *index, payload).await
            }
            // Central's own commands, echoed back by the broker to a wide filter.
            Leaf::Cmd => Ok(Outcome::Duplicate),
        }
    }

    /// Counts and logs bad input; the message is acknowledged and dropped
    /// (it can be asked for again if a record needs it).
    pub(crate) fn refuse(&self, kind: &'static str, topic: &str, detail: &str) -> Outcome {
        self.metrics.bad_input(kind, topic, detail);
        Outcome::Refused(kind)
    }

    /// Takes up again what the lane sent while its key was pending: called
    /// after an approval. Returns how many records became verified.
    pub async fn release_quarantined(&self, site: &str, lane: &str) -> Result<u64, IngestError> {
        let held: Vec<(i64, String, Vec<u8>)> = sql::query_as(
            "SELECT id, topic, payload FROM quarantine WHERE site = $1 AND lane = $2 \
             AND kind IN ('pending_key', 'unknown_key') AND released_at IS NULL ORDER BY id",
        )
        .bind(site)
        .bind(lane)
        .fetch_all(&self.pool)
        .await?;
        let mut released = 0;
        for (id, topic, payload) in held {
            if let Outcome::Stored | Outcome::Duplicate = self.handle(&topic, &payload).await? {
                sql::query("UPDATE quarantine SET released_at = now() WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                released += 1;
            }
        }
        Ok(released)
    }
}

fn leaf_name(leaf: &Leaf) -> &'static str {
    match leaf {
        Leaf::Status => "status",
        Leaf::Passage => "passage",
        Leaf::Decision => "decision",
        Leaf::Alarm => "alarm",
        Leaf::Stats => "stats",
        Leaf::Ack => "ack",
        Leaf::Cmd => "cmd",
        Leaf::AuditCheckpoint => "audit_checkpoint",
        Leaf::Health { .. } => "health",
        Leaf::ImageManifest { .. } => "image_manifest",
        Leaf::ImageChunk { .. } => "image_chunk",
    }
}

/// serde's word for an enum value (`Outcome::Release` -> `release`).
pub(crate) fn word<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}
