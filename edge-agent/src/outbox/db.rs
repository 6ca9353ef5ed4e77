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

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Notify};
use tracing::{error, info, warn};

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
/// Results kept in memory while the disk refuses them; beyond this they are lost (and logged).
const UNSTORED_MAX_BYTES: usize = 64 << 20;
/// Under pressure, the image store is searched for delivered images at most this often.
const EVICT_EVERY: Duration = Duration::from_secs(10);

type Done = Box<dyn FnOnce(Result<i64, String>) + Send>;

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

struct Worker {
    outbox: Outbox,
    pressure: Pressure,
    pushed: Arc<Notify>,
    counters: Arc<Counters>,
    /// Delivered, but the disk refused to record it: kept out of `next`, recorded every tick.
    unrecorded: HashSet<i64>,
    /// Results the disk refused even with the reserve: tried again every tick.
    unstored: VecDeque<(Message, i64)>,
    unstored_bytes: usize,
    unreadable: RetryBook,
    /// Images whose chunks were all acknowledged: the first to go under pressure.
    delivered: Delivered,
    last_search: Option<Instant>,
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

enum Write {
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

    /// All of `writes` in one transaction; on failure, each on its own.
    fn write(&mut self, writes: Vec<Write>) {
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
    fn write_together(&mut self, writes: &[Write]) -> Result<Vec<Result<i64, String>>, OutboxError> {
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
    fn note_delivered(&mut self, files: Vec<String>) {
        for file in files {
            if !self.outbox.references(&file).unwrap_or(true) {
                self.delivered.push(PathBuf::from(file));
            }
        }
    }

    /// Stores one message under the class's rules: telemetry only while the disk has room (and
    /// the quota), evidence always (the quota's `Full` is the caller's to report).
    fn store(&mut self, message: &Message, now_ms: i64) -> Result<i64, OutboxError> {
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
    fn push_alone(&mut self, message: Message, now_ms: i64) -> Result<i64, String> {
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

    fn keep_unstored(&mut self, message: Message, now_ms: i64, why: &str) {
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
    fn record_acks(&mut self, mut ids: Vec<i64>) {
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

    fn store_held_results(&mut self) {
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
    fn make_room(&mut self) {
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

#[cfg(test)]
#[path = "db_tests.rs"]
mod tests;
