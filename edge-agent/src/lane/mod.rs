//! The lane runtime: connects the devices to the passage state machine and the
//! state machine's commands back to the devices, recognition and the uplink.
//!
//! One loop over one bounded channel, a timer (the machine's next deadline) and
//! a shutdown signal. Device operations run in their own tasks and report back
//! through the channel, so a slow or hung device never blocks the loop.

mod audit;
mod commands;
mod devices;
mod exec;
mod health;
mod journal;
// Technician page and systemd watchdog: one select branch in `run`.
mod observe;
mod vision;

use std::collections::HashMap;
use std::future::Future;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use contract::Topics;
use drivers::sim::SimLane;
use drivers::DeviceError;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{error, info, warn};

pub use devices::{build as build_devices, sim_lane, BuildError, Captured, Capturer, Devices};
pub use health::HealthBook;
pub use observe::{DiagError, LaneView, Technician};

use crate::config::{Engine, LaneConfig};
use crate::declaration::{DeclarationStore, Declarations, Layered, SimDeclarations};
use crate::flow::{BarrierOp, Command, Event, Flow, FlowConfig, Time, Zone};
use crate::images::ImageStore;
use crate::policy::Policy;
use crate::recognize::{self, Job, Recognizer, Shot, SimTruthReader};
use contract::lane::{Alarm, AlarmKind};
use contract::passage::{CaptureRecord, EmptyCheckRecord};

/// Completed passage records kept for resending (about a week of a busy lane).
const ARCHIVE_KEEP: usize = 20_000;

/// Where the lane's messages go: the outbox and uplink in the agent, a
/// collector in tests.
pub trait Publish: Send + Sync + 'static {
    fn publish(&self, topic: String, payload: Vec<u8>, retain: bool) -> bool;

    /// Publishes a result and returns only once it is stored for good, with
    /// everything published before it.
    fn publish_result(&self, topic: String, payload: Vec<u8>) -> bool {
        self.publish(topic, payload, false)
    }

    /// Publishes `len` bytes of a stored file from `offset`. The uplink reads
    /// them only when it sends, so images are never copied into the outbox.
    fn publish_file(&self, topic: String, file: std::path::PathBuf, offset: u64, len: u64) -> bool {
        use std::io::{Read, Seek, SeekFrom};
        let mut buf = vec![0; len as usize];
        let read = std::fs::File::open(&file).and_then(|mut f| {
            f.seek(SeekFrom::Start(offset))?;
            f.read_exact(&mut buf)
        });
        read.is_ok() && self.publish(topic, buf, false)
    }
}

impl Publish for crate::mqtt::UplinkHandle {
    fn publish(&self, topic: String, payload: Vec<u8>, retain: bool) -> bool {
        let class = crate::mqtt::class_of(&topic);
        crate::mqtt::UplinkHandle::publish(self, class, topic, payload, retain)
    }

    fn publish_result(&self, topic: String, payload: Vec<u8>) -> bool {
        self.outbox().push_and_wait(crate::mqtt::class_of(&topic), topic, payload, false)
    }

    fn publish_file(&self, topic: String, file: std::path::PathBuf, offset: u64, len: u64) -> bool {
        self.outbox().push_file(crate::outbox::Class::Image, topic, file, offset, len)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LaneError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("cannot use data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("recognition is not available: {0}")]
    Recognition(String),
    #[error("cannot open {what}: {cause}")]
    Store { what: &'static str, cause: String },
}

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
        empty_image: Option<contract::passage::EmptyImageRecord>,
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

pub struct Lane<P: Publish> {
    cfg: Arc<LaneConfig>,
    flow: Flow,
    devices: Devices,
    topics: Topics,
    publisher: Arc<P>,
    images: ImageStore,
    recognizer: SyncSender<Job>,
    declarations: Box<dyn Declarations>,
    declaration_store: Arc<DeclarationStore>,
    desk: commands::Desk,
    signer: contract::signing::ResultSigner,
    archive: crate::archive::Archive,
    journal: journal::Journal,
    audit: audit::AuditWriter,
    stats: crate::stats::Stats,
    stats_sent: Option<Instant>,
    policy: Policy,
    health: HealthBook,
    shots: HashMap<String, Vec<Shot>>,
    /// The under-vehicle comparison (None: no UVSS device, or switched off) and each
    /// passage's scan until it completes (a clean scan of a released vehicle becomes its reference).
    uvss: Option<Arc<crate::vision::UvssChecker>>,
    uvss_scans: HashMap<String, (String, drivers::Image)>,
    tx: mpsc::Sender<Input>,
    rx: mpsc::Receiver<Input>,
    clock: Clock,
    hook: observe::Hook,
    pub(crate) completed: u64,
}

fn recognizer(cfg: &LaneConfig) -> Result<Box<dyn Recognizer>, LaneError> {
    match cfg.recognition.engine {
        Engine::SimTruth => Ok(Box::new(SimTruthReader)),
        // Never fails here: missing models hold every vehicle with the reason,
        // and the reader tries to load them again.
        Engine::PpOcr => Ok(Box::new(recognize::PpOcrReader::from_config(&cfg.recognition))),
    }
}

impl<P: Publish> Lane<P> {
    pub fn new(cfg: LaneConfig, sim: Option<SimLane>, publisher: Arc<P>) -> Result<Self, LaneError> {
        let data_dir = |source| LaneError::DataDir { path: cfg.data_dir.display().to_string(), source };
        let images = ImageStore::open(&cfg.data_dir.join("images")).map_err(data_dir)?;
        let devices = build_devices(&cfg, sim.as_ref())?;
        let (tx, rx) = mpsc::channel(1024);
        let worker_tx = tx.clone();
        let uvss = vision::checker(&cfg, &devices, &images);
        let worker_uvss = uvss.clone();
        let recognizer = recognize::spawn_worker(recognizer(&cfg)?, move |passage, result, shots| {
            // On the worker thread: the comparison needs the plate just read.
            let uvss = worker_uvss.as_ref().map(|c| Box::new(c.check(&result, &shots)));
            let _ = worker_tx.blocking_send(Input::Recognized { passage, result, uvss });
        });
        let declaration_store = commands::store(&cfg)
            .map_err(|e| LaneError::Store { what: "the declaration store", cause: e.to_string() })?;
        let declarations: Box<dyn Declarations> = Box::new(Layered {
            store: declaration_store.clone(),
            sim: sim.as_ref().map(|l| SimDeclarations(l.clone())),
        });
        let desk = commands::Desk::open(&cfg, &cfg.data_dir.join("commands.db"))
            .map_err(|e| LaneError::Store { what: "the command log", cause: e.to_string() })?;
        let audit_log = crate::audit::AuditLog::open(&cfg.data_dir.join("audit.log")).map_err(data_dir)?;
        let archive =
            crate::archive::Archive::open(&cfg.data_dir.join("records"), ARCHIVE_KEEP).map_err(data_dir)?;
        let signing_key = || {
            crate::signing::load_or_create(&cfg.signing.key, &cfg.signing.key_id)
                .map_err(|e| LaneError::Store { what: "the signing key", cause: e.to_string() })
        };
        let signer = signing_key()?;
        let topics = Topics::new(&cfg.mqtt.topic_prefix, &cfg.site, &cfg.lane);
        let audit = audit::AuditWriter::start(audit_log, signing_key()?, publisher.clone(), topics.clone())
            .map_err(data_dir)?;
        let (journal, problem) = journal::Journal::open(&cfg.data_dir.join("passages.json"));
        if let Some(e) = problem {
            error!(cause = %e, "passage journal; numbering goes on from the kept records");
        }
        let flow = Flow::new(FlowConfig {
            site: cfg.site.clone(),
            lane: cfg.lane.clone(),
            timeouts: cfg.timeouts,
            captures: devices.capturers.iter().map(|(n, (k, _))| (n.clone(), *k)).collect(),
            empty_box: devices.empty_box.as_ref().map(|(n, _)| n.clone()),
        })
        .continuing_after(journal.last_seq().max(archive.last_seq()));
        let clock = Clock::new();
        Ok(Lane {
            topics,
            policy: Policy::new(cfg.decision, &cfg.recognition).with_vision(cfg.vision.policy),
            uvss,
            uvss_scans: HashMap::new(),
            health: HealthBook::new(&cfg, clock.now().utc),
            cfg: Arc::new(cfg),
            flow,
            devices,
            publisher,
            images,
            recognizer,
            declarations,
            declaration_store,
            desk,
            signer,
            archive,
            journal,
            audit,
            stats: crate::stats::Stats::new(chrono::Duration::hours(24)),
            stats_sent: None,
            shots: HashMap::new(),
            tx,
            rx,
            clock,
            hook: observe::Hook::new(),
            completed: 0,
        })
    }

    /// Hands commands from central (as received on the command topic) to the lane.
    pub fn accept_commands(&self, mut rx: mpsc::Receiver<Vec<u8>>) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if tx.send(Input::Command(bytes)).await.is_err() {
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
        let start = audit::start_entry(&self.cfg);
        self.audit("start", None, start);
        for event in self.health.all() {
            self.publish_health(&event);
        }
        self.close_interrupted();
        devices::forward_health(std::mem::take(&mut self.devices.health), self.tx.clone());
        self.start_device_tasks();
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
        // closed on the next start.
        let interrupted = self.flow.current().map(|p| p.record.id.clone());
        self.keep_journal();
        self.audit(
            "stop",
            None,
            serde_json::json!({"completed": self.completed, "interrupted": interrupted}),
        );
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
                    self.publish_image(&passage, &record.device, image);
                }
                if let Some(shot) = shot {
                    self.shots.entry(passage.clone()).or_default().push(shot);
                }
                self.feed(Event::captured(&passage, record));
            }
            Input::Recognized { passage, result, uvss } => {
                if let Some(outcome) = uvss {
                    self.uvss_compared(&passage, *outcome);
                }
                let need = self.empty_check_need(&result);
                self.feed(Event::Recognized { passage, result, empty_check: need });
            }
            Input::EmptyChecked { passage, record, empty_image } => {
                if let Some(image) = &record.image {
                    self.publish_image(&passage, &record.device, image);
                }
                if empty_image.is_some() {
                    self.feed(Event::Vision { passage: passage.clone(), uvss: None, empty_image });
                }
                self.feed(Event::EmptyChecked { passage, record })
            }
            Input::Barrier { op, result } => {
                let now = self.clock.now().utc;
                let name = self.devices.barrier.0.clone();
                self.device_result(&name, result.as_ref().map(|_| ()).map_err(|e| e.clone()), now);
                let passage = self.flow.current().map(|p| p.record.id.clone());
                let error = result.as_ref().err().map(|e| e.to_string());
                self.audit("barrier_done", passage.as_deref(), serde_json::json!({"op": format!("{op:?}").to_lowercase(), "ok": error.is_none(), "error": error}));
                self.feed(Event::BarrierDone { op, result: result.map_err(exec::barrier_error) });
            }
            // Half-way counts as open: it is closed once the zone under it is clear.
            Input::BarrierObserved(state) => {
                self.feed(Event::BarrierObserved { opened: state != drivers::BarrierState::Closed })
            }
            Input::DeviceResult { device, result } => {
                let now = self.clock.now().utc;
                self.device_result(&device, result, now);
            }
            Input::Command(bytes) => self.on_command(bytes),
        }
    }

    pub(super) fn audit(&mut self, kind: &str, passage: Option<&str>, data: serde_json::Value) {
        self.audit.append(kind, passage, data);
    }

    fn device_result(&mut self, device: &str, result: Result<(), DeviceError>, now: DateTime<Utc>) {
        if let Some(change) = self.health.update(device, result.as_ref().map(|_| ()), now) {
            let event = &change.event;
            match &event.health.reason {
                Some(reason) => warn!(device, state = ?event.health.state, %reason, "device health changed"),
                None => info!(device, "device healthy again"),
            }
            self.publish_health(event);
            if change.lost {
                let reason = event.health.reason.as_deref().unwrap_or("no reason given");
                let alarm = Alarm {
                    kind: AlarmKind::DeviceDown,
                    passage: self.flow.current().map(|p| p.record.id.clone()),
                    device: Some(device.to_string()),
                    message: format!("{device} is down: {reason}"),
                    at: now,
                };
                self.execute(Command::Alarm(alarm), self.clock.now());
            }
        }
    }

    /// A passage number the machine gave out, and how far the passage in
    /// progress got, are on disk before anything carrying them leaves the lane:
    /// a number is never given out again, and a passage cut short by a stop or
    /// crash is closed on the next start with what was known.
    fn keep_journal(&mut self) {
        let current = self.flow.current().map(|p| &p.record);
        if let Err(e) = self.journal.note(self.flow.last_seq(), current) {
            error!(cause = %e, seq = self.flow.last_seq(), "cannot keep the passage journal");
        }
    }

    /// Passages the agent was in the middle of when it last stopped: closed
    /// with what was known and published like any other, unless their record
    /// was already archived (the stop came between archive and journal).
    fn close_interrupted(&mut self) {
        let now = self.clock.now();
        for record in self.journal.open_passages() {
            if self.archive.get(&record.id).is_none() {
                warn!(passage = %record.id, stage = ?record.stages.last().map(|s| s.stage), "closing a passage interrupted by the last stop");
                let record = crate::flow::close_interrupted(record, now.utc);
                self.execute(Command::Complete { record: Box::new(record) }, now);
            } else if let Err(e) = self.journal.done(&record.id) {
                error!(cause = %e, passage = %record.id, "cannot keep the passage journal");
            }
        }
    }

    /// Hands an event to the machine and carries out what it asks for; decisions
    /// are computed on the spot and fed straight back.
    fn feed(&mut self, event: Event) {
        let mut queue = std::collections::VecDeque::from([event]);
        while let Some(event) = queue.pop_front() {
            let now = self.clock.now();
            let commands = self.flow.handle(now, event);
            self.keep_journal();
            for command in commands {
                if let Some(follow_up) = self.execute(command, now) {
                    queue.push_back(follow_up);
                }
            }
        }
    }
}
