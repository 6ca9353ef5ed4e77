//! The outbox's own thread: SQLite calls block, so they never run on the async runtime.
//!
//! Everything arrives as a command on one channel. The thread takes whatever is queued at once
//! (up to [`MAX_BATCH`]) and writes all of it — inserts and acknowledged deletes — in one
//! transaction: one fsync for the lot (group commit), which is what lets the outbox keep up with
//! the broker. Reads (the next messages to send, depth) and "stored" confirmations are answered
//! after that commit, so a confirmation always means on disk.
//!
//! When the batch cannot be written (the disk is full or failing), it is rolled back and each
//! write tried on its own, so one message's trouble is not the others'. Then:
//! - a result that finds no space gets the storage reserve ([`DiskGuard::relieve`]) and one more
//!   try; if it still does not fit it waits in memory and is tried again every tick;
//! - acknowledgements that cannot be recorded are held back in memory (not sent again — they
//!   were delivered) and recorded again every tick, not only with the next acks, which never come
//!   once everything waiting is held back;
//! - an image chunk whose file cannot be read (too many open files, a failing disk) is skipped
//!   and tried again later with backoff. A read error is never a reason to delete a row.
//!
//! Every tick (1 s) the thread also measures the data disk; below the floor it evicts telemetry
//! and delivered images (see [`super::pressure`]).
//!
//! This file holds the handle, the command loop and the reads; the write path (batch, one by
//! one, held results, acknowledgements, making room) is in `db_write.rs`, which adds methods to
//! [`Worker`] and is not imported here.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Notify};
use tracing::{error, warn};

use super::message::{Body, Class, Message};
use super::pressure::Delivered;
use super::retry::RetryBook;
use super::store::{Depth, Outbox, OutboxError};
use super::Counters;
use crate::storage::DiskGuard;

/// Commands written in one transaction at most.
const MAX_BATCH: usize = 512;
/// How often held-back writes are retried and the disk is measured.
const TICK: Duration = Duration::from_secs(1);

pub(super) type Done = Box<dyn FnOnce(Result<i64, String>) + Send>;

enum Cmd {
    Push { message: Message, now_ms: i64, done: Option<Done> },
    Ack(Vec<i64>),
    Next { in_flight: HashSet<i64>, limit: usize, reply: oneshot::Sender<Vec<Due>> },
    Depth(oneshot::Sender<Depth>),
}

/// A message ready to go on the wire, its body read.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    pub id: i64,
    pub class: Class,
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

/// Handle to the outbox thread. Cheap to clone.
#[derive(Clone)]
pub struct OutboxHandle {
    tx: mpsc::Sender<Cmd>,
    /// Woken after every write, so the sender looks for work.
    pub pushed: Arc<Notify>,
    pub counters: Arc<Counters>,
}

/// Where the outbox may make room when the data disk runs short.
pub struct Pressure {
    pub guard: DiskGuard,
    /// The image store, whose delivered images may be evicted.
    pub images: Option<PathBuf>,
}

impl OutboxHandle {
    /// An outbox with no disk-pressure policy (tools and tests).
    pub fn open(path: &Path, quota: u64) -> Result<Self, OutboxError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::open_with(path, quota, Pressure { guard: DiskGuard::unlimited(dir), images: None })
    }

    pub fn open_with(path: &Path, quota: u64, pressure: Pressure) -> Result<Self, OutboxError> {
        let mut worker = Worker::new(Outbox::open(path, quota)?, pressure);
        let (pushed, counters) = (worker.pushed.clone(), worker.counters.clone());
        let (tx, rx) = mpsc::channel::<Cmd>();
        std::thread::Builder::new()
            .name("outbox".into())
            .spawn(move || worker.serve(rx))
            .expect("spawning the outbox thread");
        Ok(OutboxHandle { tx, pushed, counters })
    }

    /// Queues a message for durable storage; false if the outbox thread is gone.
    pub fn push(&self, message: Message) -> bool {
        self.send_push(message, None)
    }

    fn send_push(&self, message: Message, done: Option<Done>) -> bool {
        let now_ms = chrono::Utc::now().timestamp_millis();
        if self.tx.send(Cmd::Push { message, now_ms, done }).is_err() {
            error!("outbox thread stopped; message not stored");
            return false;
        }
        true
    }

    /// Stores a message and waits until it is on disk; its id, or why not.
    pub async fn push_durable(&self, message: Message) -> Result<i64, String> {
        let (done, wait) = oneshot::channel();
        if !self.send_push(message, Some(Box::new(move |r| drop(done.send(r))))) {
            return Err("outbox thread stopped".into());
        }
        wait.await.map_err(|_| "outbox thread stopped".to_string())?
    }

    /// Stores a message and blocks until it — and everything queued before it, such as its
    /// images — is on disk. For results: once this returned true, a kill -9 or power cut cannot
    /// lose the passage. Blocks a few milliseconds (one group commit), from any thread.
    pub fn push_and_wait(&self, message: Message) -> bool {
        let (done, wait) = mpsc::sync_channel(1);
        if !self.send_push(message, Some(Box::new(move |r| drop(done.send(r))))) {
            return false;
        }
        match wait.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                error!(cause = %e, "result not stored yet");
                false
            }
            Err(_) => {
                error!("outbox did not confirm a result within 30 s; the disk may be failing");
                false
            }
        }
    }

    pub fn ack(&self, ids: Vec<i64>) {
        if !ids.is_empty() && self.tx.send(Cmd::Ack(ids)).is_err() {
            warn!("outbox thread stopped; acks lost (messages will be sent again)");
        }
    }

    /// Up to `limit` messages to send, in order, none of `in_flight`.
    pub async fn next(&self, in_flight: HashSet<i64>, limit: usize) -> Vec<Due> {
        let (reply, wait) = oneshot::channel();
        if self.tx.send(Cmd::Next { in_flight, limit, reply }).is_err() {
            return vec![];
        }
        wait.await.unwrap_or_default()
    }

    /// Sends the request for [`next`](Self::next) and returns where the answer will come.
    pub fn request_next(&self, in_flight: HashSet<i64>, limit: usize) -> oneshot::Receiver<Vec<Due>> {
        let (reply, wait) = oneshot::channel();
        let _ = self.tx.send(Cmd::Next { in_flight, limit, reply });
        wait
    }

    /// Sends the request for [`depth`](Self::depth) and returns where the answer will come.
    pub fn request_depth(&self) -> oneshot::Receiver<Depth> {
        let (reply, wait) = oneshot::channel();
        let _ = self.tx.send(Cmd::Depth(reply));
        wait
    }

    pub async fn depth(&self) -> Depth {
        let (reply, wait) = oneshot::channel();
        if self.tx.send(Cmd::Depth(reply)).is_err() {
            return Depth::default();
        }
        wait.await.unwrap_or_default()
    }
}

pub(super) struct Worker {
    pub(super) outbox: Outbox,
    pub(super) pressure: Pressure,
    pub(super) pushed: Arc<Notify>,
    pub(super) counters: Arc<Counters>,
    /// Delivered, but the disk refused to record it: kept out of `next`, recorded every tick.
    pub(super) unrecorded: HashSet<i64>,
    /// Results the disk refused even with the reserve: tried again every tick.
    pub(super) unstored: VecDeque<(Message, i64)>,
    pub(super) unstored_bytes: usize,
    pub(super) unreadable: RetryBook,
    /// Images whose chunks were all acknowledged: the first to go under pressure.
    pub(super) delivered: Delivered,
    pub(super) last_search: Option<Instant>,
}

impl Worker {
    fn new(outbox: Outbox, pressure: Pressure) -> Self {
        Worker {
            outbox,
            pressure,
            pushed: Arc::new(Notify::new()),
            counters: Arc::new(Counters::default()),
            unrecorded: HashSet::new(),
            unstored: VecDeque::new(),
            unstored_bytes: 0,
            unreadable: RetryBook::default(),
            delivered: Delivered::default(),
            last_search: None,
        }
    }
}

pub(super) enum Write {
    Push { message: Message, now_ms: i64, done: Option<Done> },
    Ack(Vec<i64>),
}

impl Worker {
    fn serve(&mut self, rx: mpsc::Receiver<Cmd>) {
        let mut next_tick = Instant::now() + TICK;
        loop {
            let first = match rx.recv_timeout(next_tick.saturating_duration_since(Instant::now())) {
                Ok(cmd) => Some(cmd),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            if let Some(first) = first {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(cmd) => batch.push(cmd),
                        Err(_) => break,
                    }
                }
                self.run(batch);
            }
            if Instant::now() >= next_tick {
                self.tick();
                next_tick = Instant::now() + TICK;
            }
        }
    }

    fn run(&mut self, batch: Vec<Cmd>) {
        let mut writes = Vec::new();
        let mut reads = Vec::new();
        for cmd in batch {
            match cmd {
                Cmd::Push { message, now_ms, done } => writes.push(Write::Push { message, now_ms, done }),
                Cmd::Ack(ids) => writes.push(Write::Ack(ids)),
                other => reads.push(other),
            }
        }
        if !writes.is_empty() {
            self.write(writes);
            self.pushed.notify_one();
        }
        for cmd in reads {
            match cmd {
                Cmd::Next { in_flight, limit, reply } => {
                    let _ = reply.send(self.next(in_flight, limit));
                }
                Cmd::Depth(reply) => {
                    let _ = reply.send(self.outbox.depth().unwrap_or_default());
                }
                Cmd::Push { .. } | Cmd::Ack(_) => unreachable!("writes were taken out above"),
            }
        }
    }

    fn next(&mut self, mut skip: HashSet<i64>, limit: usize) -> Vec<Due> {
        skip.extend(self.unrecorded.iter().copied());
        skip.extend(self.unreadable.waiting(Instant::now()));
        let rows = self.outbox.next(&skip, limit).unwrap_or_else(|e| {
            error!(cause = %e, "cannot read the outbox");
            vec![]
        });
        let mut due = Vec::with_capacity(rows.len());
        for row in rows {
            let payload = match row.body {
                Body::Bytes(b) => b,
                Body::File(part) => match part.read() {
                    Ok(b) => {
                        self.unreadable.forget(row.id);
                        b
                    }
                    Err(e)
                        if e.kind() == std::io::ErrorKind::NotFound
                            && self.delivered.was_evicted(&part.path) =>
                    {
                        // Evicted after delivery while the same image was queued again: central
                        // has these bytes under the same hash already.
                        let _ = self.outbox.remove(row.id);
                        continue;
                    }
                    Err(e) => {
                        // Kept, and tried again later: too many open files or a failing disk
                        // pass; a row deleted for it would be an image lost for good.
                        self.counters.read_retries.fetch_add(1, Ordering::Relaxed);
                        if self.unreadable.failed(row.id, Instant::now()) {
                            warn!(cause = %e, path = %part.path.display(), "image chunk unreadable; kept and tried again later");
                        }
                        continue;
                    }
                },
            };
            due.push(Due { id: row.id, class: row.class, topic: row.topic, payload, retain: row.retain });
        }
        due
    }

    fn tick(&mut self) {
        let full = self.pressure.guard.measure();
        if !self.unrecorded.is_empty() {
            self.record_acks(vec![]);
        }
        if !self.unstored.is_empty() {
            self.store_held_results();
        }
        if full {
            self.make_room();
        }
        if !self.unreadable.is_empty() {
            self.pushed.notify_one(); // rows put off may be due again
        }
    }
}

#[cfg(test)]
#[path = "db_tests.rs"]
mod tests;
