//! The outbox thread's writes: a batch in one transaction, each write on its
//! own when the batch fails, results held in memory while the disk refuses them,
//! acknowledgements recorded, and room made under disk pressure. Apart from
//! `db.rs` (the handle, the command loop and the reads) only for size; it adds
//! methods to `db.rs`'s `Worker` and is never imported by it, so the imports
//! run one way.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::db::{Worker, Write};
use super::message::{Class, Message};
use super::store::{Outbox, OutboxError};

/// Results kept in memory while the disk refuses them; beyond this they are lost (and logged).
const UNSTORED_MAX_BYTES: usize = 64 << 20;
/// Under pressure, the image store is searched for delivered images at most this often.
const EVICT_EVERY: Duration = Duration::from_secs(10);

impl Worker {
    /// All of `writes` in one transaction; on failure, each on its own.
    pub(super) fn write(&mut self, writes: Vec<Write>) {
        match self.write_together(&writes) {
            Ok(results) => {
                for (w, result) in writes.into_iter().zip(results) {
                    if let Write::Push { done: Some(done), .. } = w {
                        done(result);
                    }
                }
            }
            Err(e) => {
                self.outbox.rollback();
                warn!(cause = %e, "a batch of outbox writes failed; writing them one by one");
                for w in writes {
                    match w {
                        Write::Push { message, now_ms, done } => {
                            let result = self.push_alone(message, now_ms);
                            if let Some(done) = done {
                                done(result);
                            }
                        }
                        Write::Ack(ids) => self.record_acks(ids),
                    }
                }
            }
        }
    }

    /// The fast path: one transaction. Per-message outcomes (quota, telemetry not kept) are in the
    /// returned list; a database error fails the whole batch.
    pub(super) fn write_together(
        &mut self,
        writes: &[Write],
    ) -> Result<Vec<Result<i64, String>>, OutboxError> {
        let inserts = writes.iter().any(|w| matches!(w, Write::Push { .. }));
        self.outbox.set_durable(inserts)?;
        self.outbox.begin()?;
        let mut results = Vec::with_capacity(writes.len());
        let mut acked = Vec::new();
        let mut files = Vec::new();
        for w in writes {
            match w {
                Write::Push { message, now_ms, .. } => results.push(match self.store(message, *now_ms) {
                    Ok(id) => Ok(id),
                    Err(e @ OutboxError::Full { .. }) => Err(e.to_string()),
                    Err(e) => return Err(e),
                }),
                Write::Ack(ids) => {
                    for &id in ids {
                        if let Some(file) = self.outbox.remove(id)?.and_then(|r| r.file) {
                            files.push(file);
                        }
                        acked.push(id);
                    }
                    results.push(Ok(0));
                }
            }
        }
        self.outbox.commit()?;
        for id in acked {
            self.unreadable.forget(id);
        }
        self.note_delivered(files);
        Ok(results)
    }

    /// Files whose last waiting row was just acknowledged are delivered images.
    pub(super) fn note_delivered(&mut self, files: Vec<String>) {
        for file in files {
            if !self.outbox.references(&file).unwrap_or(true) {
                self.delivered.push(PathBuf::from(file));
            }
        }
    }

    /// Stores one message under the class's rules: telemetry only while the disk has room (and
    /// the quota), evidence always (the quota's `Full` is the caller's to report).
    pub(super) fn store(&mut self, message: &Message, now_ms: i64) -> Result<i64, OutboxError> {
        if message.class == Class::Telemetry && !self.pressure.guard.admit_bulk(message.stored_len()) {
            self.counters.telemetry_refused.fetch_add(1, Ordering::Relaxed);
            return Ok(0);
        }
        match self.outbox.push(message, now_ms)? {
            Some(id) => Ok(id),
            None => {
                self.counters.telemetry_refused.fetch_add(1, Ordering::Relaxed);
                Ok(0)
            }
        }
    }

    /// One message in its own transaction, with the reserve for evidence that finds no space.
    pub(super) fn push_alone(&mut self, message: Message, now_ms: i64) -> Result<i64, String> {
        if let Err(e) = self.outbox.set_durable(true) {
            return Err(e.to_string());
        }
        let first = self.store(&message, now_ms);
        let result = match first {
            Err(e) if e.is_no_space() && message.class != Class::Telemetry => {
                let relieved = self.pressure.guard.relieve(&std::io::Error::from_raw_os_error(libc::ENOSPC));
                if relieved {
                    self.store(&message, now_ms)
                } else {
                    Err(e)
                }
            }
            other => other,
        };
        match result {
            Ok(id) => Ok(id),
            Err(e @ OutboxError::Full { .. }) => {
                error!(cause = %e, topic = message.topic, "message not stored");
                Err(e.to_string())
            }
            Err(e) if message.class == Class::Telemetry => {
                self.counters.telemetry_refused.fetch_add(1, Ordering::Relaxed);
                Err(e.to_string())
            }
            Err(e) => {
                let why = e.to_string();
                self.keep_unstored(message, now_ms, &why);
                Err(format!("{why}; kept in memory and stored once the disk takes writes"))
            }
        }
    }

    pub(super) fn keep_unstored(&mut self, message: Message, now_ms: i64, why: &str) {
        let len = message.stored_len() as usize + message.topic.len();
        if self.unstored_bytes + len > UNSTORED_MAX_BYTES {
            self.counters.results_lost.fetch_add(1, Ordering::Relaxed);
            error!(
                cause = why,
                topic = message.topic,
                "result not stored and no memory left to hold it: lost"
            );
            return;
        }
        if self.unstored.is_empty() {
            error!(
                cause = why,
                topic = message.topic,
                "result not stored; held in memory until the disk takes writes"
            );
        }
        self.unstored_bytes += len;
        self.unstored.push_back((message, now_ms));
    }

    /// Deletes acknowledged messages; what the disk refuses is held back (see the module doc).
    pub(super) fn record_acks(&mut self, mut ids: Vec<i64>) {
        ids.extend(self.unrecorded.iter().copied());
        if ids.is_empty() {
            return;
        }
        let attempt = |o: &mut Outbox| -> Result<Vec<String>, OutboxError> {
            o.set_durable(false)?;
            o.begin()?;
            let mut files = Vec::new();
            for &id in &ids {
                if let Some(file) = o.remove(id)?.and_then(|r| r.file) {
                    files.push(file);
                }
            }
            o.commit()?;
            Ok(files)
        };
        let mut result = attempt(&mut self.outbox);
        if let Err(e) = &result {
            self.outbox.rollback();
            if e.is_no_space()
                && self.pressure.guard.relieve(&std::io::Error::from_raw_os_error(libc::ENOSPC))
            {
                result = attempt(&mut self.outbox);
                if result.is_err() {
                    self.outbox.rollback();
                }
            }
        }
        match result {
            Ok(files) => {
                self.note_delivered(files);
                if !self.unrecorded.is_empty() {
                    info!(count = self.unrecorded.len(), "acks recorded again after a storage error");
                    self.unrecorded.clear();
                }
                for id in ids {
                    self.unreadable.forget(id);
                }
            }
            Err(e) => {
                if self.unrecorded.is_empty() {
                    error!(cause = %e, "acks not recorded; delivered messages are held back until the disk takes writes again");
                }
                self.unrecorded.extend(ids);
            }
        }
    }

    pub(super) fn store_held_results(&mut self) {
        if self.outbox.set_durable(true).is_err() {
            return;
        }
        let mut stored = 0;
        while let Some((message, now_ms)) = self.unstored.pop_front() {
            let len = message.stored_len() as usize + message.topic.len();
            match self.store(&message, now_ms) {
                Ok(_) => {
                    self.unstored_bytes -= len;
                    stored += 1;
                }
                Err(_) => {
                    self.unstored.push_front((message, now_ms));
                    break;
                }
            }
        }
        if stored > 0 {
            info!(stored, left = self.unstored.len(), "results held in memory are stored now");
            self.pushed.notify_one();
        }
    }

    /// Below the floor: telemetry goes first, then delivered images; then the freed pages go back
    /// to the filesystem.
    pub(super) fn make_room(&mut self) {
        match self.outbox.drop_telemetry(u64::MAX) {
            Ok(0) => {}
            Ok(n) => {
                self.counters.telemetry_evicted.fetch_add(n, Ordering::Relaxed);
                info!(messages = n, "telemetry evicted from the outbox: the data disk is below its floor");
            }
            Err(e) => warn!(cause = %e, "cannot evict telemetry"),
        }
        if let Some(images) = &self.pressure.images {
            // The image store is searched (for images delivered before a restart) now and then.
            let search = self.last_search.is_none_or(|t| t.elapsed() >= EVICT_EVERY);
            if search {
                self.last_search = Some(Instant::now());
            }
            let (outbox, delivered, guard) = (&self.outbox, &mut self.delivered, &self.pressure.guard);
            match super::pressure::evict_delivered_images(outbox, delivered, images, guard, search) {
                Ok(n) => {
                    self.counters.images_evicted.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => warn!(cause = %e, "cannot look for delivered images to evict"),
            }
        }
        if let Err(e) = self.outbox.shrink() {
            warn!(cause = %e, "cannot give the outbox's free pages back to the disk");
        }
        self.pressure.guard.measure();
    }
}
