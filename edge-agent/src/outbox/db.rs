//! The outbox's own thread: SQLite calls block, so they never run on the async
//! runtime. Pushes, acks (batched into one transaction) and fetches arrive as
//! commands on one channel and are served in order.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{mpsc, Arc};

use tokio::sync::{oneshot, Notify};
use tracing::{error, info, warn};

use super::store::{Class, Depth, Outbox, OutboxError, Stored};

enum Cmd {
    PushFile {
        class: Class,
        topic: String,
        file: std::path::PathBuf,
        offset: u64,
        len: u64,
        now_ms: i64,
    },
    Push {
        class: Class,
        topic: String,
        payload: Vec<u8>,
        retain: bool,
        now_ms: i64,
        done: Option<oneshot::Sender<Result<i64, String>>>,
    },
    Ack(Vec<i64>),
    Next {
        in_flight: HashSet<i64>,
        limit: usize,
        reply: oneshot::Sender<Vec<Stored>>,
    },
    Depth(oneshot::Sender<Depth>),
    /// Answered once everything queued before it is on disk.
    Flush(std::sync::mpsc::SyncSender<()>),
}

/// Handle to the outbox thread. Cheap to clone.
#[derive(Clone)]
pub struct OutboxHandle {
    tx: mpsc::Sender<Cmd>,
    /// Woken after every push, so the sender looks for work.
    pub pushed: Arc<Notify>,
    /// Woken when undelivered evidence no longer fits the quota.
    pub full: Arc<Notify>,
}

impl OutboxHandle {
    pub fn open(path: &Path, quota: u64) -> Result<Self, OutboxError> {
        let mut outbox = Outbox::open(path, quota)?;
        let (tx, rx) = mpsc::channel::<Cmd>();
        let pushed = Arc::new(Notify::new());
        let full = Arc::new(Notify::new());
        let (p, f) = (pushed.clone(), full.clone());
        std::thread::Builder::new()
            .name("outbox".into())
            .spawn(move || serve(&mut outbox, rx, &p, &f))
            .expect("spawning the outbox thread");
        Ok(OutboxHandle { tx, pushed, full })
    }

    /// Queues a message for durable storage; false if the outbox thread is gone.
    pub fn push(&self, class: Class, topic: String, payload: Vec<u8>, retain: bool) -> bool {
        let now_ms = chrono::Utc::now().timestamp_millis();
        match self.tx.send(Cmd::Push { class, topic, payload, retain, now_ms, done: None }) {
            Ok(()) => true,
            Err(_) => {
                error!("outbox thread stopped; message not stored");
                false
            }
        }
    }

    /// Stores a message and waits until it is on disk.
    pub async fn push_durable(
        &self,
        class: Class,
        topic: String,
        payload: Vec<u8>,
        retain: bool,
    ) -> Result<i64, String> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Cmd::Push { class, topic, payload, retain, now_ms, done: Some(done) })
            .map_err(|_| "outbox thread stopped".to_string())?;
        wait.await.map_err(|_| "outbox thread stopped".to_string())?
    }

    /// Stores a message and blocks until it — and everything queued before it,
    /// such as its images — is on disk. For results: once the lane has called
    /// this, a kill -9 or power cut cannot lose the passage. Blocks a few
    /// milliseconds (one fsync), from any thread, inside a runtime or not.
    pub fn push_and_wait(&self, class: Class, topic: String, payload: Vec<u8>, retain: bool) -> bool {
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        if !self.push(class, topic, payload, retain) || self.tx.send(Cmd::Flush(done)).is_err() {
            return false;
        }
        match wait.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(()) => true,
            Err(_) => {
                error!("outbox did not confirm a result within 30 s; the disk may be failing");
                false
            }
        }
    }

    /// Queues a message whose payload is part of a stored file.
    pub fn push_file(
        &self,
        class: Class,
        topic: String,
        file: std::path::PathBuf,
        offset: u64,
        len: u64,
    ) -> bool {
        let now_ms = chrono::Utc::now().timestamp_millis();
        self.tx.send(Cmd::PushFile { class, topic, file, offset, len, now_ms }).is_ok()
    }

    pub fn ack(&self, ids: Vec<i64>) {
        if !ids.is_empty() && self.tx.send(Cmd::Ack(ids)).is_err() {
            warn!("outbox thread stopped; acks lost (messages will be sent again)");
        }
    }

    pub async fn next(&self, in_flight: HashSet<i64>, limit: usize) -> Vec<Stored> {
        let (reply, wait) = oneshot::channel();
        if self.tx.send(Cmd::Next { in_flight, limit, reply }).is_err() {
            return vec![];
        }
        wait.await.unwrap_or_default()
    }

    pub async fn depth(&self) -> Depth {
        let (reply, wait) = oneshot::channel();
        if self.tx.send(Cmd::Depth(reply)).is_err() {
            return Depth::default();
        }
        wait.await.unwrap_or_default()
    }
}

fn serve(outbox: &mut Outbox, rx: mpsc::Receiver<Cmd>, pushed: &Notify, full: &Notify) {
    let mut unrecorded = HashSet::new();
    while let Ok(cmd) = rx.recv() {
        match cmd {
            Cmd::Ack(mut ids) => {
                // Take the acks queued behind this one too: one transaction, one
                // fsync for all of them. The first other command waits its turn.
                let mut next = None;
                while let Ok(cmd) = rx.try_recv() {
                    match cmd {
                        Cmd::Ack(more) => ids.extend(more),
                        other => {
                            next = Some(other);
                            break;
                        }
                    }
                }
                record_acks(outbox, &mut unrecorded, ids);
                if let Some(cmd) = next {
                    handle(outbox, &mut unrecorded, cmd, pushed, full);
                }
            }
            other => handle(outbox, &mut unrecorded, other, pushed, full),
        }
    }
}

/// Deletes acknowledged messages. When the disk refuses the write (full, failing), the ids stay
/// in memory and out of [`Cmd::Next`]: they were delivered, and sending them again at once would
/// turn a full disk into a hot loop of resends and error lines. They are deleted with the next
/// acks that go through; after a restart they are sent once more (at least once, as always).
fn record_acks(outbox: &mut Outbox, unrecorded: &mut HashSet<i64>, mut ids: Vec<i64>) {
    ids.extend(unrecorded.iter().copied());
    match outbox.ack_all(&ids) {
        Ok(()) if !unrecorded.is_empty() => {
            info!(count = unrecorded.len(), "acks recorded again after a storage error");
            unrecorded.clear();
        }
        Ok(()) => {}
        Err(e) => {
            if unrecorded.is_empty() {
                error!(cause = %e, "acks not recorded; delivered messages are held back until the disk takes writes again");
            }
            unrecorded.extend(ids);
        }
    }
}

fn handle(outbox: &mut Outbox, unrecorded: &mut HashSet<i64>, cmd: Cmd, pushed: &Notify, full: &Notify) {
    match cmd {
        Cmd::Push { class, topic, payload, retain, now_ms, done } => {
            let result = outbox.push(class, &topic, &payload, retain, now_ms);
            if let Err(e) = &result {
                error!(cause = %e, topic, "message not stored");
                if matches!(e, OutboxError::Full { .. }) {
                    full.notify_waiters();
                }
            }
            if let Some(done) = done {
                let _ = done.send(result.map_err(|e| e.to_string()));
            }
            pushed.notify_one();
        }
        Cmd::PushFile { class, topic, file, offset, len, now_ms } => {
            if let Err(e) = outbox.push_file(class, &topic, &file, offset, len, now_ms) {
                error!(cause = %e, topic, "image chunk not stored");
            }
            pushed.notify_one();
        }
        Cmd::Ack(ids) => record_acks(outbox, unrecorded, ids),
        Cmd::Next { mut in_flight, limit, reply } => {
            in_flight.extend(unrecorded.iter().copied());
            let rows = outbox.next(&in_flight, limit).unwrap_or_else(|e| {
                error!(cause = %e, "cannot read the outbox");
                vec![]
            });
            let _ = reply.send(rows);
        }
        Cmd::Depth(reply) => {
            let _ = reply.send(outbox.depth().unwrap_or_default());
        }
        Cmd::Flush(done) => {
            let _ = done.send(()); // every insert before it has committed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_the_disk_refuses_are_held_back_not_resent_then_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut outbox = Outbox::open(&dir.path().join("outbox.db"), 1 << 20).unwrap();
        let ids: Vec<i64> =
            (0..3).map(|k| outbox.push(Class::Result, "t", b"x", false, k).unwrap()).collect();
        let mut unrecorded = HashSet::new();

        outbox.refuse_writes(true);
        record_acks(&mut outbox, &mut unrecorded, ids[..2].to_vec());
        assert_eq!(unrecorded, ids[..2].iter().copied().collect(), "kept in memory");
        assert_eq!(outbox.depth().unwrap().messages, 3, "nothing deleted while the disk refuses");
        // What the uplink is given next: only the message never acknowledged.
        let (reply, mut rows) = oneshot::channel();
        let (pushed, full) = (Notify::new(), Notify::new());
        handle(
            &mut outbox,
            &mut unrecorded,
            Cmd::Next { in_flight: HashSet::new(), limit: 10, reply },
            &pushed,
            &full,
        );
        let next: Vec<i64> = rows.try_recv().unwrap().iter().map(|m| m.id).collect();
        assert_eq!(next, vec![ids[2]]);

        outbox.refuse_writes(false);
        record_acks(&mut outbox, &mut unrecorded, vec![ids[2]]);
        assert!(unrecorded.is_empty());
        assert_eq!(outbox.depth().unwrap().messages, 0, "the held-back acks went with the next ones");
    }
}
