//! The lane runtime: the loop that connects the devices to the passage state
//! machine ([`crate::flow`]) and carries out the machine's effects.
//!
//! This file is the loop only: one bounded channel of [`Input`]s, a timer (the
//! machine's next deadline), the technician's beat and a shutdown signal, over
//! the machine and a [`Clock`]. Each concern the loop drives owns its state in
//! a file of its own, and nothing here waits on a device or a disk:
//! - `tasks.rs`: device operations, each in a task of its own, reporting back here;
//! - `recognition.rs`: the recognition worker and the under-vehicle comparison;
//! - `decide.rs`: the decision policy with declarations and device health;
//! - `outlet.rs`: everything the lane sends, and what happens to a decided or
//!   finished passage (signature, archive, journal, trail, statistics, UVSS
//!   reference), in order on a thread of its own;
//! - `journal.rs`: passage numbers and passages in progress, across restarts;
//! - `commands.rs`: central's signed commands; `observe.rs`: the technician
//!   page and the systemd watchdog; `audit.rs`: the audit trail's writer;
//!   `health.rs`: device health; `disk_alarm.rs`: the data disk below its floor;
//! - `devices.rs` (with `wire.rs`, `gpio.rs`): the devices, built from
//!   configuration; `build.rs`: the lane put together; `publish.rs`: where
//!   messages go.

mod audit;
mod build;
mod commands;
mod decide;
mod devices;
mod disk_alarm;
mod health;
mod journal;
// Technician page and systemd watchdog: one select branch in `run`.
mod observe;
mod outlet;
mod publish;
mod recognition;
mod tasks;

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use contract::decision::DecisionEvent;
use contract::lane::{Alarm, AlarmKind};
use contract::passage::{CaptureRecord, EmptyCheckRecord, EmptyImageRecord, PassageRecord};
use drivers::DeviceError;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};

pub use build::LaneError;
pub use devices::{build as build_devices, sim_lane, BuildError, Captured, Capturer, Devices};
pub use health::HealthBook;
pub use observe::{DiagError, LaneView, Technician};
pub use publish::Publish;

use crate::config::LaneConfig;
use crate::flow::{BarrierError, BarrierOp, Effect, Event, Flow, Time, Zone};
use crate::images::ImageStore;
use crate::recognize::Shot;
use crate::words::wire_word;

/// How long a clean stop waits for the outlet to finish (the unit's TimeoutStopSec is 15 s).
const STOP_OUTLET_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What device tasks and the recognition worker report back to the loop.
pub(crate) enum Input {
    Presence {
        device: String,
        zone: Zone,
        result: Result<bool, DeviceError>,
    },
    Captured {
        passage: String,
        record: CaptureRecord,
        shot: Option<Shot>,
    },
    Recognized {
        passage: String,
        result: Result<models::Reads, String>,
        uvss: Option<Box<crate::vision::UvssOutcome>>,
    },
    EmptyChecked {
        passage: String,
        record: EmptyCheckRecord,
        empty_image: Option<EmptyImageRecord>,
    },
    Barrier {
        op: BarrierOp,
        result: Result<(), DeviceError>,
    },
    BarrierObserved(drivers::BarrierState),
    DeviceResult {
        device: String,
        result: Result<(), DeviceError>,
    },
    /// A command from central, exactly as it arrived.
    Command(Vec<u8>),
    /// A message on the command topic too large to read.
    CommandTooLarge {
        bytes: usize,
        limit: usize,
    },
    /// The data disk went below its floor: raise `storage_full`.
    StorageFull,
}

/// Monotonic time for the machine, UTC derived from it so both stay consistent.
#[derive(Clone, Copy)]
pub(crate) struct Clock {
    start: Instant,
    start_utc: DateTime<Utc>,
}

impl Clock {
    fn new() -> Self {
        Clock { start: Instant::now(), start_utc: Utc::now() }
    }

    pub(crate) fn now(&self) -> Time {
        let mono = self.start.elapsed();
        Time { mono, utc: self.start_utc + chrono::Duration::from_std(mono).unwrap_or_default() }
    }
}

pub struct Lane {
    cfg: Arc<LaneConfig>,
    flow: Flow,
    tasks: tasks::DeviceTasks,
    recognition: recognition::Recognition,
    decider: decide::Decider,
    outlet: outlet::Outlet,
    audit: audit::AuditWriter,
    /// What the passage journal was last told.
    progress: journal::Progress,
    /// Passages the agent was in the middle of when it last stopped: closed
    /// (and published) when the lane runs.
    interrupted: Vec<PassageRecord>,
    /// Records archived when the agent last stopped whose passage had not
    /// left the journal: sent again when the lane runs.
    unsent: Vec<Vec<u8>>,
    desk: commands::Desk,
    health: HealthBook,
    images: ImageStore,
    tx: mpsc::Sender<Input>,
    rx: mpsc::Receiver<Input>,
    clock: Clock,
    hook: observe::Hook,
    pub(crate) completed: u64,
    /// Counted where each event happens (passages, decisions, alarms, commands).
    metrics: Arc<crate::metrics::Metrics>,
}

impl Lane {
    /// The lane's counters, for `/metrics`.
    pub fn metrics(&self) -> Arc<crate::metrics::Metrics> {
        self.metrics.clone()
    }

    /// Hands commands from central (as received on the command topic) to the lane.
    pub fn accept_commands<T>(&self, mut rx: mpsc::Receiver<T>)
    where
        T: Into<crate::mqtt::Inbound> + Send + 'static,
    {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            while let Some(inbound) = rx.recv().await {
                let input = match inbound.into() {
                    crate::mqtt::Inbound::Command(bytes) => Input::Command(bytes),
                    crate::mqtt::Inbound::TooLarge { bytes, limit } => {
                        Input::CommandTooLarge { bytes, limit }
                    }
                };
                if tx.send(input).await.is_err() {
                    break;
                }
            }
        });
    }

    /// Runs until `shutdown` resolves. The barrier is left as it is: stopping the
    /// agent must not move it.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        info!(site = %self.cfg.site, lane = %self.cfg.lane, devices = self.cfg.devices.len(), "lane running");
        self.audit.append("start", None, audit::start_entry(&self.cfg));
        for event in self.health.all() {
            self.outlet.health(&event);
        }
        self.close_interrupted();
        self.tasks.start();
        disk_alarm::watch(self.decider.storage(), self.tx.clone());
        loop {
            let deadline = self.flow.next_deadline().map(|d| self.clock.start + d);
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                Some(input) = self.rx.recv() => self.on_input(input),
                _ = timer => self.feed(Event::Tick),
                wake = self.hook.next() => self.on_wake(wake),
            }
        }
        // A passage in progress stays in the journal as far as it got; it is
        // closed on the next start. Everything handed to the outlet is sent
        // before the trail closes.
        let interrupted = self.flow.current().map(|p| p.record.id.clone());
        self.outlet.stopping();
        self.keep_journal();
        // Bounded: an outlet waiting for a disk that refuses the journal must not hold the stop
        // past systemd's patience; what it still held is resent or closed on the next start.
        if tokio::time::timeout(STOP_OUTLET_WAIT, self.outlet.flushed()).await.is_err() {
            warn!("the outlet did not finish in time (the disk refuses writes); the next start sends or closes what it held");
        }
        let stop = serde_json::json!({"completed": self.completed, "interrupted": interrupted});
        self.audit.append("stop", None, stop);
        // A clean stop leaves a signed anchor for everything written so far.
        self.audit.close().await;
        match &interrupted {
            Some(passage) => {
                warn!(completed = self.completed, %passage, "lane stopped; the passage in progress is closed as interrupted on the next start")
            }
            None => info!(completed = self.completed, "lane stopped"),
        }
    }

    fn on_input(&mut self, input: Input) {
        match input {
            Input::Presence { device, zone, result } => {
                let now = self.clock.now().utc;
                let status = result.as_ref().map(|_| ()).map_err(|e| e.clone());
                self.device_result(&device, status, now);
                if let Ok(occupied) = result {
                    self.feed(Event::Presence { zone, occupied });
                }
            }
            Input::Captured { passage, record, shot } => {
                if let Some(image) = &record.image {
                    self.outlet.image(&passage, &record.device, image);
                }
                if let Some(shot) = shot {
                    self.recognition.shot(&passage, shot);
                }
                self.feed(Event::captured(&passage, record));
            }
            Input::Recognized { passage, result, uvss } => {
                if let Some(outcome) = uvss {
                    let (overlay, vision) = self.recognition.compared(&passage, *outcome);
                    if let Some((camera, image)) = overlay {
                        self.outlet.image(&passage, &camera, &image);
                    }
                    self.feed(vision);
                }
                let need = self.decider.empty_check_need(&result);
                self.feed(Event::Recognized { passage, result, empty_check: need });
            }
            Input::EmptyChecked { passage, record, empty_image } => {
                if let Some(image) = &record.image {
                    self.outlet.image(&passage, &record.device, image);
                }
                if empty_image.is_some() {
                    self.feed(Event::Vision { passage: passage.clone(), uvss: None, empty_image });
                }
                self.feed(Event::EmptyChecked { passage, record })
            }
            Input::Barrier { op, result } => {
                let now = self.clock.now().utc;
                let name = self.tasks.barrier_name().to_string();
                self.tasks.barrier_moved(op, &result);
                self.device_result(&name, result.as_ref().map(|_| ()).map_err(|e| e.clone()), now);
                let passage = self.flow.current().map(|p| p.record.id.clone());
                let error = result.as_ref().err().map(|e| e.to_string());
                let done = serde_json::json!({"op": format!("{op:?}").to_lowercase(), "ok": error.is_none(), "error": error});
                self.audit.append("barrier_done", passage.as_deref(), done);
                self.feed(Event::BarrierDone { op, result: result.map_err(tasks::barrier_error) });
            }
            // Half-way counts as open: it is closed once the zone under it is clear.
            Input::BarrierObserved(state) => {
                if self.tasks.barrier_caught_up(state) {
                    let (name, now) = (self.tasks.barrier_name().to_string(), self.clock.now().utc);
                    info!(device = %name, position = state.word(), "the barrier got there late; working again");
                    self.device_result(&name, Ok(()), now);
                }
                self.feed(Event::BarrierObserved { opened: state != drivers::BarrierState::Closed })
            }
            Input::DeviceResult { device, result } => {
                let now = self.clock.now().utc;
                self.device_result(&device, result, now);
            }
            Input::Command(bytes) => self.on_command(bytes),
            Input::CommandTooLarge { bytes, limit } => self.on_command_too_large(bytes, limit),
            Input::StorageFull => {
                let alarm = disk_alarm::alarm(self.decider.storage(), self.clock.now().utc);
                self.execute(Effect::Alarm(alarm), self.clock.now());
            }
        }
    }

    fn device_result(&mut self, device: &str, result: Result<(), DeviceError>, now: DateTime<Utc>) {
        let Some(change) = self.health.update(device, result.as_ref().map(|_| ()), now) else { return };
        let event = &change.event;
        match &event.health.reason {
            Some(reason) => {
                warn!(device, state = %wire_word(&event.health.state), %reason, "device health changed")
            }
            None => info!(device, "device healthy again"),
        }
        self.outlet.health(event);
        if change.lost {
            let reason = event.health.reason.as_deref().unwrap_or("no reason given");
            let alarm = Alarm {
                kind: AlarmKind::DeviceDown,
                passage: self.flow.current().map(|p| p.record.id.clone()),
                device: Some(device.to_string()),
                message: format!("{device} is down: {reason}"),
                at: now,
            };
            self.execute(Effect::Alarm(alarm), self.clock.now());
        }
    }

    /// Hands an event to the machine and carries out the effects it returns;
    /// decisions are computed on the spot and fed straight back.
    fn feed(&mut self, event: Event) {
        let mut queue = std::collections::VecDeque::from([event]);
        while let Some(event) = queue.pop_front() {
            let now = self.clock.now();
            let effects = self.flow.handle(now, event);
            self.keep_journal();
            for effect in effects {
                if let Some(follow_up) = self.execute(effect, now) {
                    queue.push_back(follow_up);
                }
            }
        }
    }

    fn execute(&mut self, effect: Effect, now: Time) -> Option<Event> {
        match effect {
            Effect::Capture { passage, device } => self.tasks.capture(passage, device),
            Effect::Recognize { passage } => return self.recognition.recognize(passage),
            Effect::CheckEmpty { passage, container, .. } => self.tasks.check_empty(passage, container),
            Effect::Decide { record } => {
                let decision = self.decider.decide(&record, &self.health, now.utc);
                return Some(Event::Decided { passage: record.id.clone(), decision });
            }
            Effect::OpenBarrier => self.move_barrier(BarrierOp::Open),
            Effect::ObserveBarrier => self.tasks.observe_barrier(),
            Effect::CloseBarrier => {
                // The machine only asks while the zone is clear; checked again here
                // because nothing is worth closing the arm on a vehicle.
                if self.flow.under_arm_occupied() {
                    warn!("close requested while occupied; refused");
                    let refused = Err(BarrierError::Refused("occupied".into()));
                    return Some(Event::BarrierDone { op: BarrierOp::Close, result: refused });
                }
                self.move_barrier(BarrierOp::Close);
            }
            Effect::Announce { record } => self.announce(&record),
            Effect::Complete { record } => self.complete(record),
            Effect::Alarm(alarm) => {
                let passage = alarm.passage.as_deref().unwrap_or("-");
                warn!(kind = %wire_word(&alarm.kind), passage, message = %alarm.message, "alarm");
                self.outlet.alarm(&alarm);
            }
            Effect::Forget { passage } => self.recognition.forget(&passage),
        }
        None
    }

    /// The lane decided: into the trail now, out to reviewers (signed) by the outlet.
    fn announce(&mut self, record: &PassageRecord) {
        let Some(decision) = record.decision.clone() else { return };
        self.audit.append("decision", Some(&record.id), serde_json::to_value(&decision).unwrap_or_default());
        self.outlet.announce(DecisionEvent {
            passage: record.id.clone(),
            site: record.site.clone(),
            lane: record.lane.clone(),
            plate: record.plate().map(str::to_string),
            containers: record.container_codes(),
            decision,
            snapshot: serde_json::to_value(record).ok(),
        });
    }

    fn complete(&mut self, record: Box<PassageRecord>) {
        self.completed += 1;
        info!(
            passage = %record.id,
            plate = record.plate().unwrap_or("-"),
            outcome = %wire_word(&record.final_outcome()),
            exit = %wire_word(&record.exit),
            total_ms = record.total_ms,
            "passage complete"
        );
        let scan = self.recognition.take_scan(&record.id);
        self.outlet.complete(record, scan);
    }

    fn move_barrier(&mut self, op: BarrierOp) {
        let passage = self.flow.current().map(|p| p.record.id.clone());
        self.audit.append(
            "barrier",
            passage.as_deref(),
            serde_json::json!({"op": format!("{op:?}").to_lowercase()}),
        );
        // The release that opens the barrier is durable first: in the trail,
        // and the decision in the outbox. The barrier task waits, not the loop.
        let first = match op {
            BarrierOp::Open => vec![self.audit.flushed(), self.outlet.flushed()],
            BarrierOp::Close => vec![],
        };
        self.tasks.move_barrier(op, first);
    }

    /// A passage number the machine gave out, and how far the passage in
    /// progress got, go to the journal (through the outlet, ahead of anything
    /// carrying them): a number is never given out again, and a passage cut
    /// short by a stop or crash is closed on the next start with what was known.
    fn keep_journal(&mut self) {
        let current = self.flow.current().map(|p| &p.record);
        if let Some((seq, open)) = self.progress.moved(self.flow.last_seq(), current) {
            self.outlet.journal(seq, open);
        }
        // A tailgater's record waits for the passage it followed; journaled like
        // it, a restart closes it as tailgated rather than losing it.
        for follower in self.progress.new_followers(self.flow.followers()) {
            self.outlet.journal(self.flow.last_seq(), Some(follower));
        }
    }

    /// The images of a passage the last stop cut short, queued again: they were queued as
    /// they were taken, but a kill can land after the record was archived or journaled and
    /// before the outbox committed their rows. One already sent arrives twice; central keeps
    /// each image once, by its hash.
    fn images_again(&self, record: &PassageRecord) {
        for i in record.images() {
            self.republish_image(&record.id, &i.camera, i.image);
        }
    }

    /// Passages the agent was in the middle of when it last stopped: closed
    /// with what was known and published like any other (and those already
    /// finished, sent again).
    fn close_interrupted(&mut self) {
        for payload in std::mem::take(&mut self.unsent) {
            if let Ok(record) = serde_json::from_slice::<PassageRecord>(&payload) {
                self.images_again(&record);
            }
            self.outlet.unsent(payload);
        }
        let now = self.clock.now().utc;
        for record in std::mem::take(&mut self.interrupted) {
            let stage = record.stages.last().map(|s| s.stage);
            warn!(passage = %record.id, stage = %wire_word(&stage), "closing a passage interrupted by the last stop");
            self.images_again(&record);
            self.complete(Box::new(crate::flow::close_interrupted(record, now)));
        }
    }
}
