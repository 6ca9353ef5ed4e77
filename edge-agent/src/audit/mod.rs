//! The audit trail: append-only, hash-chained, with signed checkpoints.
//!
//! One JSON line per entry in `<data_dir>/audit.log`. Each entry carries its
//! sequence number and the previous entry's hash; its own `hash` is
//! sha256(prev ‖ canonical JSON of the entry without `hash`). Changing,
//! deleting or reordering any entry breaks the chain from there on. Every
//! `CHECKPOINT_EVERY` entries the lane signs (seq, hash) with its key and
//! publishes the checkpoint to central, so even cutting off the end of the
//! file is caught against central's copy of the latest checkpoint.
//!
//! A crash or a full disk must not make the trail unverifiable: see `log` for how writes are
//! undone and retried, and how `gap` and `recovered` entries record what happened.

mod line;
mod log;
mod verify;

pub use log::{AuditLog, CHECKPOINT_EVERY};
pub use verify::{verify_file, Broken, Gap, Verified};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The hash an empty log starts from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub at: DateTime<Utc>,
    /// `passage`, `decision`, `review`, `command`, `barrier`, `operator`,
    /// `config`, `start`, `checkpoint`, `recovered`, `gap`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage: Option<String>,
    pub data: Value,
    pub prev: String,
    pub hash: String,
}

impl Entry {
    /// What the hash covers: everything but the hash, canonical, after `prev`.
    pub fn compute_hash(&self) -> String {
        let mut v = serde_json::to_value(self).expect("entries serialise");
        v.as_object_mut().expect("an entry is an object").remove("hash");
        let mut h = Sha256::new();
        h.update(self.prev.as_bytes());
        h.update(contract::signing::canonical(&v));
        hex::encode(h.finalize())
    }
}

#[cfg(test)]
mod tests;
