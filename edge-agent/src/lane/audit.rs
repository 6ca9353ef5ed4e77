//! What the lane writes into the audit trail, and the checkpoints it sends to
//! central.
//!
//! Every entry is fsynced, which on a busy disk can take a long time: so the
//! writing happens on a thread of its own ([`AuditWriter`]), in order, and the
//! lane loop only hands entries over. The one place the lane waits for the
//! trail is before the barrier opens: the decision that opens it is on disk
//! first ([`AuditWriter::flushed`], awaited by the barrier task, not the loop).
//! A failing audit disk never stops the lane: it raises an alarm once and
//! keeps working, as clearance must not stop (the outbox still has every
//! result). Entries the disk refuses wait in the log's memory and are written,
//! in order, when it takes writes again (tried every second), so the trail
//! stays whole and verifiable.

use std::time::Duration;

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::oneshot;
use tracing::error;

use super::Publish;
use crate::audit::AuditLog;
use crate::metrics::Metrics;
use crate::outbox::Message;
use contract::lane::{Alarm, AlarmKind};
use contract::signing::ResultSigner;
use contract::Topics;

/// Entries the writer may be behind before the loop waits for it.
const BACKLOG: usize = 10_000;

enum Job {
    Append {
        kind: String,
        passage: Option<String>,
        data: Value,
        at: chrono::DateTime<chrono::Utc>,
    },
    /// Answered once everything handed over before it is on disk.
    Flush(oneshot::Sender<()>),
    /// The closing checkpoint; answered once written, then the writer ends.
    Close(oneshot::Sender<()>),
}

#[derive(Clone)]
pub(super) struct AuditWriter {
    tx: SyncSender<Job>,
}

impl AuditWriter {
    pub(super) fn start<P: Publish>(
        log: AuditLog,
        signer: ResultSigner,
        publisher: Arc<P>,
        topics: Topics,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(BACKLOG);
        std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || Writer { log, signer, publisher, topics, metrics, failing: false }.run(rx))?;
        Ok(AuditWriter { tx })
    }

    pub(super) fn append(&self, kind: &str, passage: Option<&str>, data: Value) {
        let job = Job::Append {
            kind: kind.into(),
            passage: passage.map(str::to_string),
            data,
            at: chrono::Utc::now(),
        };
        let _ = self.tx.send(job);
    }

    /// Resolves once everything appended so far is durable (or the writer is gone).
    pub(super) fn flushed(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let _ = self.tx.send(Job::Flush(tx));
        rx
    }

    /// Writes and sends the closing checkpoint; the trail is complete when this returns.
    pub(super) async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Job::Close(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

struct Writer<P> {
    log: AuditLog,
    signer: ResultSigner,
    publisher: Arc<P>,
    topics: Topics,
    metrics: Arc<Metrics>,
    failing: bool,
}

/// How often entries the disk refused are tried again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

impl<P: Publish> Writer<P> {
    fn run(mut self, rx: Receiver<Job>) {
        loop {
            let job = match rx.recv_timeout(RETRY_EVERY) {
                Ok(job) => job,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if self.log.pending() > 0 {
                        let result = self.log.retry().and_then(|_| self.log.checkpoint_if_due(&self.signer));
                        self.outcome(result);
                    }
                    continue;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
            };
            match job {
                Job::Append { kind, passage, data, at } => {
                    let result = self
                        .log
                        .record(&kind, passage.as_deref(), data, at)
                        .and_then(|_| self.log.checkpoint_if_due(&self.signer));
                    self.outcome(result);
                }
                Job::Flush(done) => {
                    let _ = done.send(());
                }
                Job::Close(done) => {
                    let result = self.log.checkpoint(&self.signer).map(Some);
                    self.outcome(result);
                    let _ = done.send(());
                    return;
                }
            }
        }
    }

    fn outcome(&mut self, result: std::io::Result<Option<Value>>) {
        match result {
            Ok(Some(checkpoint)) => {
                let topic = self.topics.audit_checkpoint();
                self.send(topic, &checkpoint);
                self.recovered();
            }
            Ok(None) => self.recovered(),
            Err(e) if !self.failing => {
                self.failing = true;
                error!(cause = %e, path = %self.log.path().display(), "cannot write the audit trail");
                // No passage named: this writer sends beside the outlet, and the id of a passage
                // whose number the journal may not have kept yet (the same full disk) must not
                // leave the lane ahead of it.
                let alarm = Alarm {
                    kind: AlarmKind::AuditFailing,
                    passage: None,
                    device: None,
                    message: format!("cannot write the audit trail: {e}"),
                    at: chrono::Utc::now(),
                };
                self.metrics.alarm(&alarm);
                self.send(self.topics.alarm(), &alarm);
            }
            Err(_) => {}
        }
    }

    fn recovered(&mut self) {
        if self.failing && self.log.pending() == 0 {
            tracing::info!("the audit trail is written again; nothing was lost");
            self.failing = false;
        }
    }

    /// Checkpoints and alarms are results: they reach central even from a full disk's reserve.
    fn send<T: serde::Serialize>(&self, topic: String, value: &T) {
        if let Ok(payload) = serde_json::to_vec(value) {
            self.publisher.publish(Message::result(topic, payload));
        }
    }
}

/// The effective configuration's fingerprint, so a change between starts
/// shows in the trail (`edge-agent audit show --kind start`).
pub(super) fn start_entry(cfg: &crate::config::LaneConfig) -> Value {
    use sha2::Digest;
    let fingerprint = hex::encode(sha2::Sha256::digest(format!("{cfg:?}").as_bytes()));
    json!({
        "agent_version": env!("CARGO_PKG_VERSION"),
        "site": cfg.site,
        "lane": cfg.lane,
        "config_sha256": fingerprint,
        "devices": cfg.devices.iter().map(|d| d.name.clone()).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nowhere;

    impl Publish for Nowhere {
        fn publish(&self, _: Message) -> bool {
            true
        }
    }

    /// What the barrier task relies on: once `flushed` resolves, everything
    /// handed over before it is in the file (and the chain verifies).
    #[tokio::test]
    async fn flushed_resolves_after_earlier_entries_are_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let signer = || crate::signing::load_or_create(&dir.path().join("key"), "T-1").unwrap();
        let writer = AuditWriter::start(
            AuditLog::open(&path).unwrap(),
            signer(),
            Arc::new(Nowhere),
            Topics::new("lanectl", "T", "1"),
            Arc::new(Metrics::default()),
        )
        .unwrap();
        for i in 0..250 {
            writer.append("decision", Some(&format!("p{i}")), json!({"outcome": "release"}));
        }
        writer.flushed().await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.lines().filter(|l| l.contains("\"decision\"")).count() == 250,
            "every entry before the flush is written"
        );
        assert_eq!(
            text.lines().filter(|l| l.contains("\"checkpoint\"")).count(),
            2,
            "signed every 100 entries"
        );
        writer.close().await;
        crate::audit::verify_file(&path, &[signer().key_entry()]).expect("the chain verifies");
    }
}
