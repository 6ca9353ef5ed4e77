//! The outlet: everything the lane sends, and what happens to a passage once
//! it is decided or finished — signing, the record archive, the passage
//! journal, publishing, the trail's `passage` entry, statistics and the UVSS
//! reference — on a thread of its own, in the order the loop hands it over.
//!
//! Why a thread: storing a result for good costs an fsync (the outbox's, the
//! journal's), and on a busy or failing disk that can take long. The loop only
//! queues; it waits for a disk only when the queue ([`BACKLOG`] jobs) is full,
//! which takes a journal the disk refuses for a long time (see below). What
//! must be durable before the barrier opens still is: the barrier task waits
//! for [`Outlet::flushed`], which resolves once everything queued before it
//! (the decision in the outbox) is done, and fails when that decision could
//! not be stored. It waits no longer than the lane waits for the arm, so a
//! release the lane gave up on never opens it later.
//!
//! Why one thread for all of it: order. The journal entry that gives out a
//! passage number is written before anything carrying that number is sent,
//! and a record leaves the journal only once it is in the outbox for good.
//!
//! A finished passage's record survives a kill at any point, and is never
//! published as two different passages: it is archived durably, then stored
//! in the outbox, then the passage leaves the journal. A kill before the
//! archive write leaves the passage in the journal, closed as interrupted on
//! the next start (nothing of the record was sent); a kill after it, with the
//! passage still in the journal, sends the archived record again — the same
//! bytes, which consumers deduplicate on the id. On a full disk the archive
//! write may use the storage reserve like any result; a record the outbox
//! could not confirm keeps its passage in the journal (resent from the archive
//! on the next start). A record the archive refused (no space even with the
//! reserve, no descriptor left) is not sent at all until it is archived: it is
//! tried again every second. Sending it unarchived once let a restart close its
//! passage as interrupted and publish a second, different record under the
//! same id.
//!
//! A journal write that fails (no space, no descriptor) is tried again, with
//! the storage reserve, until it succeeds; nothing queued after it goes out
//! meanwhile. Going on without it once let a number leave the lane that was
//! not on disk, and the next start gave it to another vehicle. While the
//! journal waits, so does a release's barrier, for at most the barrier timeout
//! (then the arm stays down and the passage goes to review).

use std::sync::mpsc::RecvTimeoutError;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use contract::command::CommandAck;
use contract::decision::DecisionEvent;
use contract::image::{ImageManifest, ImageRef};
use contract::lane::{Alarm, DeviceHealthEvent};
use contract::passage::{CaptureKind, PassageRecord};
use contract::signing::ResultSigner;
use contract::Topics;
use tokio::sync::oneshot;
use tracing::{error, warn};

use super::audit::AuditWriter;
use super::journal::{Journal, JournalError};
use super::publish::Publish;
use crate::archive::Archive;
use crate::images::ImageStore;
use crate::metrics::Metrics;
use crate::outbox::{FilePart, Message};
use crate::stats::Stats;
use crate::storage::DiskGuard;
use crate::vision::{should_learn, UvssChecker};

/// Jobs the loop may be ahead of the outlet before it waits.
const BACKLOG: usize = 10_000;

/// Statistics go out with a passage, at most this often.
const STATS_EVERY: Duration = Duration::from_secs(60);

/// How often records the archive refused are tried again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// A journal write that failed is tried again after this, doubling up to [`RETRY_EVERY`].
const JOURNAL_RETRY_FIRST: Duration = Duration::from_millis(50);

/// While the journal cannot be written, the error is logged again this often.
const JOURNAL_NAG_EVERY: Duration = Duration::from_secs(30);

/// A released vehicle's under-vehicle scan, kept until its passage ends:
/// (plate, image).
pub(super) type Scan = (String, drivers::Image);

/// A finished passage whose record the archive refused: sent once it is archived.
struct Unarchived {
    record: Box<PassageRecord>,
    payload: Vec<u8>,
}

enum Job {
    Journal {
        seq: u64,
        open: Option<Box<PassageRecord>>,
    },
    Send(Message),
    Image {
        passage: String,
        camera: String,
        image: ImageRef,
    },
    Announce(Box<DecisionEvent>),
    Complete {
        record: Box<PassageRecord>,
        scan: Option<Scan>,
    },
    /// A record archived before a stop cut its passage's end short.
    Unsent {
        payload: Vec<u8>,
    },
    /// Answered once everything queued before it is done.
    Flush(oneshot::Sender<()>),
}

/// What the outlet's thread owns.
pub(super) struct Parts<P> {
    pub publisher: Arc<P>,
    pub topics: Topics,
    pub signer: ResultSigner,
    pub archive: Archive,
    pub journal: Journal,
    pub images: ImageStore,
    pub chunk_size: u32,
    pub uvss: Option<Arc<UvssChecker>>,
    pub audit: AuditWriter,
    pub site: String,
    pub lane: String,
    /// Counted here, where each passage, decision and alarm leaves.
    pub metrics: Arc<Metrics>,
    /// The data disk: its reserve is for results, the archived record among them.
    pub storage: DiskGuard,
}

/// The loop's handle to the outlet.
pub(super) struct Outlet {
    tx: SyncSender<Job>,
    topics: Topics,
    metrics: Arc<Metrics>,
    /// Set by a clean stop: from then on a full queue (an outlet stuck on a disk that refuses
    /// writes) drops what is queued instead of holding the stop until systemd kills it.
    stopping: std::sync::atomic::AtomicBool,
}

impl Outlet {
    pub(super) fn start<P: Publish>(parts: Parts<P>) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(BACKLOG);
        let topics = parts.topics.clone();
        let metrics = parts.metrics.clone();
        let runtime = tokio::runtime::Handle::try_current().ok();
        let worker = Worker {
            parts,
            stats: Stats::new(chrono::Duration::hours(24)),
            stats_sent: None,
            runtime,
            unarchived: Vec::new(),
            archive_tried: Instant::now(),
            decision_unstored: false,
        };
        std::thread::Builder::new().name("outlet".into()).spawn(move || worker.run(rx))?;
        Ok(Outlet { tx, topics, metrics, stopping: Default::default() })
    }

    fn queue(&self, job: Job) {
        let sent = if self.stopping.load(std::sync::atomic::Ordering::Relaxed) {
            self.tx.try_send(job)
        } else {
            self.tx.send(job).map_err(|e| TrySendError::Disconnected(e.0))
        };
        match sent {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                warn!(
                    "stopping with the outlet's queue full (the disk refuses writes); a message was not sent"
                )
            }
            Err(TrySendError::Disconnected(_)) => error!("the outlet thread stopped; a message was not sent"),
        }
    }

    /// A clean stop begins: nothing queued from now on waits for room.
    pub(super) fn stopping(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The last passage number given out, and the passage in progress as far
    /// as it got, into the journal before anything that follows.
    pub(super) fn journal(&self, seq: u64, open: Option<&PassageRecord>) {
        self.queue(Job::Journal { seq, open: open.map(|r| Box::new(r.clone())) });
    }

    /// An alarm is a result: it reaches central even from a full disk's reserve.
    pub(super) fn alarm(&self, alarm: &Alarm) {
        self.metrics.alarm(alarm);
        self.send(self.topics.alarm(), alarm, Message::result);
    }

    pub(super) fn health(&self, event: &DeviceHealthEvent) {
        let topic = self.topics.health(&event.device);
        self.send(topic, event, |topic, payload| Message::telemetry(topic, payload, true));
    }

    pub(super) fn ack(&self, ack: &CommandAck) {
        self.send(self.topics.ack(), ack, Message::result);
    }

    /// A passage record again, exactly as first published (same signature).
    pub(super) fn resend(&self, payload: Vec<u8>) {
        self.queue(Job::Send(Message::result(self.topics.passage(), payload)));
    }

    fn send<T: serde::Serialize>(&self, topic: String, value: &T, message: fn(String, Vec<u8>) -> Message) {
        match serde_json::to_vec(value) {
            Ok(payload) => self.queue(Job::Send(message(topic, payload))),
            Err(e) => warn!(cause = %e, "cannot serialise a message"),
        }
    }

    /// A stored image: its manifest, then its chunks (read from the store when sent).
    pub(super) fn image(&self, passage: &str, camera: &str, image: &ImageRef) {
        self.queue(Job::Image { passage: passage.into(), camera: camera.into(), image: image.clone() });
    }

    /// The lane's decision, signed, stored for good before what follows.
    pub(super) fn announce(&self, event: DecisionEvent) {
        self.queue(Job::Announce(Box::new(event)));
    }

    /// A finished passage: signed, archived, published, out of the journal,
    /// into the trail and the statistics; its scan may become the reference.
    pub(super) fn complete(&self, record: Box<PassageRecord>, scan: Option<Scan>) {
        self.queue(Job::Complete { record, scan });
    }

    /// A record that was archived when the agent last stopped but may not have
    /// reached the outbox: sent again (the same bytes; consumers deduplicate on
    /// the id) and its passage finished.
    pub(super) fn unsent(&self, payload: Vec<u8>) {
        self.queue(Job::Unsent { payload });
    }

    /// Resolves once everything queued so far is done; fails when the outlet is gone or a
    /// decision queued since the last flush could not be stored (a release must then not open
    /// the barrier).
    pub(super) fn flushed(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.queue(Job::Flush(tx));
        rx
    }
}

struct Worker<P> {
    parts: Parts<P>,
    stats: Stats,
    stats_sent: Option<Instant>,
    /// For the UVSS reference update (image work, off this thread too).
    runtime: Option<tokio::runtime::Handle>,
    /// Records the archive refused (a disk full past its reserve, no descriptor left), not sent
    /// yet: archived as soon as the disk takes them (tried at most once a second), then sent.
    unarchived: Vec<Unarchived>,
    /// When held records were last tried: at most every [`RETRY_EVERY`], not before every job.
    archive_tried: Instant,
    /// A decision the outbox could not store since the last flush: that flush is not answered.
    decision_unstored: bool,
}

impl<P: Publish> Worker<P> {
    fn run(mut self, rx: Receiver<Job>) {
        loop {
            let job = match rx.recv_timeout(RETRY_EVERY) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    self.archive_held();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    if !self.unarchived.is_empty() {
                        warn!(records = self.unarchived.len(), "stopping with records the archive refused; their passages are closed as interrupted on the next start");
                    }
                    return;
                }
            };
            if !self.unarchived.is_empty() && self.archive_tried.elapsed() >= RETRY_EVERY {
                self.archive_held();
            }
            match job {
                Job::Journal { seq, open } => self.keep_journal(|j| j.note(seq, open.as_deref())),
                Job::Send(message) => {
                    self.parts.publisher.publish(message);
                }
                Job::Image { passage, camera, image } => self.image(&passage, &camera, &image),
                Job::Announce(event) => {
                    self.parts.metrics.decision(&event);
                    if let Some(payload) = self.signed(&*event) {
                        let message = Message::result(self.parts.topics.decision(), payload);
                        if !self.parts.publisher.publish_durable(message) {
                            error!(passage = %event.passage, "decision not stored by the outbox; a release waiting on it does not open the barrier");
                            self.decision_unstored = true;
                        }
                    }
                }
                Job::Complete { record, scan } => self.complete(&record, scan),
                Job::Unsent { payload } => match serde_json::from_slice::<PassageRecord>(&payload) {
                    Ok(record) => self.deliver(&record, payload, None),
                    Err(e) => error!(cause = %e, "an archived record does not read back; not sent again"),
                },
                Job::Flush(done) => {
                    if !std::mem::take(&mut self.decision_unstored) {
                        let _ = done.send(());
                    }
                }
            }
        }
    }

    fn signed<T: serde::Serialize>(&self, value: &T) -> Option<Vec<u8>> {
        self.parts.signer.sign_json(value).map_err(|e| warn!(cause = %e, "cannot serialise a result")).ok()
    }

    /// The manifest, then the chunks; the outbox keeps them in this order.
    fn image(&self, passage: &str, camera: &str, image: &ImageRef) {
        let p = &self.parts;
        let manifest = ImageManifest::for_image(image, camera, passage, p.chunk_size);
        match serde_json::to_vec(&manifest) {
            Ok(payload) => p.publisher.publish(Message::image(p.topics.image(&image.sha256), payload)),
            Err(e) => return warn!(cause = %e, "cannot serialise an image manifest"),
        };
        let file = p.images.path_of(&image.sha256, image.format.extension());
        for i in 0..manifest.chunks {
            let (offset, len) = manifest.chunk_span(i).expect("every index below the count has a span");
            let part = FilePart { path: file.clone(), offset, len };
            p.publisher.publish(Message::image_chunk(p.topics.image_chunk(&image.sha256, i), part));
        }
    }

    /// Archived (durably) before it is sent, so what central has is always in
    /// the archive too (resend, technician page, statistics), and a passage
    /// whose record is archived is known to be finished: after a crash it is
    /// sent again, never closed as interrupted.
    fn complete(&mut self, record: &PassageRecord, scan: Option<Scan>) {
        let Some(payload) = self.signed(record) else { return };
        if self.archive(&record.id, &payload) {
            self.deliver(record, payload, scan);
        } else {
            // Without its scan: a reference learnt late could replace a newer one of the plate.
            drop(scan);
            error!(passage = %record.id, "record not archived; sent once the disk takes it");
            self.unarchived.push(Unarchived { record: Box::new(record.clone()), payload });
        }
    }

    /// Keeps a record in the archive, with the storage reserve if the disk is full.
    fn archive(&mut self, id: &str, payload: &[u8]) -> bool {
        let mut result = self.parts.archive.put(id, payload);
        if let Err(e) = &result {
            if self.parts.storage.relieve(e) {
                result = self.parts.archive.put(id, payload);
            }
        }
        result.map_err(|e| warn!(passage = %id, cause = %e, "cannot keep the passage record")).is_ok()
    }

    /// Records the archive refused, tried again; each one archived is sent. Until then a kill
    /// closes its passage as interrupted on the next start, and nothing of the record was sent.
    fn archive_held(&mut self) {
        self.archive_tried = Instant::now();
        for held in std::mem::take(&mut self.unarchived) {
            if self.archive(&held.record.id, &held.payload) {
                tracing::info!(passage = %held.record.id, "passage record archived after the disk refused it; sent now");
                self.deliver(&held.record, held.payload, None);
            } else {
                self.unarchived.push(held);
            }
        }
    }

    /// Writes the journal, trying again (with the storage reserve) until the disk takes it:
    /// what follows in the queue may carry the number or the decision it keeps.
    fn keep_journal(&mut self, mut write: impl FnMut(&mut Journal) -> Result<(), JournalError>) {
        // Since when the writes fail: monotonic for the log, wall-clock ms for the metric.
        let (mut wait, mut failing, mut nagged) =
            (JOURNAL_RETRY_FIRST, None::<(Instant, i64)>, Instant::now());
        loop {
            let e = match write(&mut self.parts.journal) {
                Ok(()) => {
                    if let Some((since, _)) = failing {
                        self.parts.metrics.journal_written();
                        tracing::info!(
                            waited_ms = since.elapsed().as_millis() as u64,
                            "the passage journal is written again; nothing was sent ahead of it"
                        );
                    }
                    return;
                }
                Err(e) => e,
            };
            if let JournalError::Io { source, .. } = &e {
                if self.parts.storage.relieve(source) {
                    continue;
                }
            }
            if failing.is_none() || nagged.elapsed() >= JOURNAL_NAG_EVERY {
                error!(cause = %e, "cannot keep the passage journal; nothing more is sent until it is written (tried again)");
                nagged = Instant::now();
            }
            let (_, since_ms) =
                *failing.get_or_insert_with(|| (Instant::now(), chrono::Utc::now().timestamp_millis()));
            self.parts.metrics.journal_failed(since_ms);
            std::thread::sleep(wait);
            wait = (wait * 2).min(RETRY_EVERY);
        }
    }

    /// An archived record into the outbox for good; out of the journal only then
    /// (else resent from the archive on the next start); into the trail and the
    /// statistics.
    fn deliver(&mut self, record: &PassageRecord, payload: Vec<u8>, scan: Option<Scan>) {
        let record_sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&payload));
        // Counted before it can be sent: whoever received the record and then reads the
        // metrics finds it counted (the journal's fsync below once let the count lag behind).
        self.parts.metrics.passage(record);
        let message = Message::result(self.parts.topics.passage(), payload.clone());
        if self.parts.publisher.publish_durable(message) {
            self.keep_journal(|j| j.done(&record.id));
        } else {
            warn!(passage = %record.id, "record not confirmed by the outbox; kept in the journal, resent from the archive after a stop");
        }
        self.parts.audit.append("passage", Some(&record.id), trail_summary(record, Some(record_sha256)));
        self.learn_reference(record, scan);
        self.stats.add(record);
        if self.stats_sent.is_none_or(|t| t.elapsed() >= STATS_EVERY) {
            self.stats_sent = Some(Instant::now());
            let report = self.stats.report(&self.parts.site, &self.parts.lane);
            if let Ok(payload) = serde_json::to_vec(&report) {
                self.parts.publisher.publish(Message::telemetry(self.parts.topics.stats(), payload, true));
            }
        }
    }

    /// A released vehicle's clean (or first) scan becomes its reference, off this thread.
    fn learn_reference(&self, record: &PassageRecord, scan: Option<Scan>) {
        let (Some(checker), Some((plate, image))) = (self.parts.uvss.clone(), scan) else { return };
        if !should_learn(record) {
            return;
        }
        let speed = record
            .captures
            .iter()
            .find(|c| c.kind == CaptureKind::UvssScan)
            .and_then(|c| c.uvss.as_ref())
            .map(|m| m.speed_kmh);
        let learn = move || checker.learn(&plate, &image, speed);
        match &self.runtime {
            Some(rt) => {
                let handle = rt.spawn_blocking(learn);
                rt.spawn(async move {
                    if let Err(e) = handle.await {
                        warn!(cause = %e, "UVSS reference update failed");
                    }
                });
            }
            None => learn(),
        }
    }
}

/// What the trail keeps of a finished passage: enough to find it and to check
/// the record central has against it (`record_sha256`).
fn trail_summary(record: &PassageRecord, record_sha256: Option<String>) -> serde_json::Value {
    serde_json::json!({
        "outcome": record.final_outcome(),
        "by": record.review.as_ref().or(record.decision.as_ref()).map(|d| d.by.clone()),
        "exit": record.exit,
        "arrived_at": record.arrived_at,
        "total_ms": record.total_ms,
        "stages": record.stages.iter().map(|s| serde_json::json!({"stage": s.stage, "ms": s.duration_ms})).collect::<Vec<_>>(),
        "record_sha256": record_sha256,
    })
}

#[cfg(test)]
#[path = "outlet_tests.rs"]
mod tests;
