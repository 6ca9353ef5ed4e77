//! Store-and-forward: nothing the lane publishes is lost to a broken uplink or a full disk.
//!
//! `message` is what goes in (with its class), `store` the SQLite table, `db` the thread that
//! owns it (group commit, retries), `pressure` what it gives back when the disk runs short.

mod db;
mod message;
mod pressure;
mod retry;
mod store;

use std::sync::atomic::AtomicU64;

pub use db::{Due, OutboxHandle, Pressure};
pub use message::{read_part, Body, Class, FilePart, Message};
pub use store::{Depth, Outbox, OutboxError, Removed, Stored};

/// Counted by the outbox thread where each thing happens; rendered by `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Image-chunk reads that failed and were put off (never a deletion).
    pub read_retries: AtomicU64,
    /// Telemetry not stored: no room on the disk or in the quota.
    pub telemetry_refused: AtomicU64,
    /// Queued telemetry deleted to make room on the disk.
    pub telemetry_evicted: AtomicU64,
    /// Delivered images deleted to make room on the disk.
    pub images_evicted: AtomicU64,
    /// Results that could not be stored nor held in memory.
    pub results_lost: AtomicU64,
}
