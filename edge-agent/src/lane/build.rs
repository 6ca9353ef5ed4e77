//! Putting a lane together from its configuration: the data directory's
//! stores, the devices, the recognition worker, the audit writer and the
//! outlet's thread.
//!
//! Everything that can fail fails here, before the lane runs, with what could
//! not be opened. The passage journal is read here too: the numbering goes on
//! from it, and the passages it holds that never got a record are handed to
//! the loop, which closes them when it runs.

use std::sync::Arc;

use contract::Topics;
use drivers::sim::SimLane;
use tokio::sync::mpsc;
use tracing::error;

use super::audit::AuditWriter;
use super::commands::Desk;
use super::decide::Decider;
use super::devices::{build as build_devices, BuildError};
use super::health::HealthBook;
use super::journal::{Journal, Progress};
use super::outlet::{Outlet, Parts};
use super::publish::Publish;
use super::recognition::Recognition;
use super::tasks::DeviceTasks;
use super::{observe, Clock, Lane};
use crate::archive::Archive;
use crate::audit::AuditLog;
use crate::config::LaneConfig;
use crate::declaration::{DeclarationStore, StoreError};
use crate::flow::{Flow, FlowConfig};
use crate::images::ImageStore;
use crate::metrics::Metrics;
use crate::signing::KeyFileError;
use crate::storage::DiskGuard;

/// Completed passage records kept for resending (about a week of a busy lane).
const ARCHIVE_KEEP: usize = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum LaneError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("cannot use data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("cannot open the declaration store: {0}")]
    Declarations(#[from] StoreError),
    #[error("cannot open the command log: {0}")]
    Commands(#[source] rusqlite::Error),
    #[error("cannot open the signing key: {0}")]
    SigningKey(#[from] KeyFileError),
}

impl Lane {
    /// Builds the lane; `publisher` is where everything it sends goes. Its data
    /// disk is not guarded (tests, benches): see [`Lane::with_storage`].
    pub fn new<P: Publish>(
        cfg: LaneConfig,
        sim: Option<SimLane>,
        publisher: Arc<P>,
    ) -> Result<Self, LaneError> {
        let storage = DiskGuard::unlimited(&cfg.data_dir);
        Self::with_storage(cfg, sim, publisher, storage)
    }

    /// Builds the lane with its data disk guarded by `storage` (the agent's):
    /// images are kept only while there is room above the floor, below it
    /// vehicles are held (`storage_full`), and results may use the reserve.
    pub fn with_storage<P: Publish>(
        cfg: LaneConfig,
        sim: Option<SimLane>,
        publisher: Arc<P>,
        storage: DiskGuard,
    ) -> Result<Self, LaneError> {
        let data_dir = |source| LaneError::DataDir { path: cfg.data_dir.display().to_string(), source };
        let images =
            ImageStore::open(&cfg.data_dir.join("images")).map_err(data_dir)?.with_guard(storage.clone());
        let metrics = Arc::new(Metrics::default());
        let devices = build_devices(&cfg, sim.as_ref())?;
        let (tx, rx) = mpsc::channel(1024);
        let recognition = Recognition::start(&cfg, &devices, &images, tx.clone());
        let declarations = Arc::new(DeclarationStore::open(&cfg.data_dir.join("declarations.db"))?);
        let decider = Decider::new(&cfg, declarations.clone(), sim.as_ref(), storage.clone());
        let archive = Archive::open(&cfg.data_dir.join("records"), ARCHIVE_KEEP).map_err(data_dir)?;
        archive.remove_leftovers();
        let desk = Desk::open(&cfg, &cfg.data_dir.join("commands.db"), declarations, archive.shelf())
            .map_err(LaneError::Commands)?;
        let topics = Topics::new(&cfg.mqtt.topic_prefix, &cfg.site, &cfg.lane);
        let signer = || crate::signing::load_or_create(&cfg.signing.key, &cfg.signing.key_id);
        let audit_log = AuditLog::open(&cfg.data_dir.join("audit.log")).map_err(data_dir)?;
        let audit =
            AuditWriter::start(audit_log, signer()?, publisher.clone(), topics.clone(), metrics.clone())
                .map_err(data_dir)?;

        let (journal, problem) = Journal::open(&cfg.data_dir.join("passages.json"));
        if let Some(e) = problem {
            error!(cause = %e, "passage journal; numbering goes on from the kept records");
        }
        let last_seq = journal.last_seq().max(archive.last_seq());
        // A passage whose record is archived was finished, but the stop may have
        // come before its record reached the outbox: it is sent again. The
        // others were cut short.
        let mut interrupted = Vec::new();
        let mut unsent = Vec::new();
        for r in journal.open_passages() {
            match archive.get(&r.id) {
                Some(payload) => unsent.push(payload),
                None => interrupted.push(r),
            }
        }
        let flow = Flow::new(FlowConfig {
            site: cfg.site.clone(),
            lane: cfg.lane.clone(),
            timeouts: cfg.timeouts,
            captures: devices.capturers.iter().map(|(n, (k, _))| (n.clone(), *k)).collect(),
            empty_box: devices.empty_box.as_ref().map(|(n, _)| n.clone()),
        })
        .continuing_after(last_seq);

        let outlet = Outlet::start(Parts {
            publisher,
            topics,
            signer: signer()?,
            archive,
            journal,
            images: images.clone(),
            chunk_size: cfg.mqtt.chunk_size,
            uvss: recognition.checker(),
            audit: audit.clone(),
            site: cfg.site.clone(),
            lane: cfg.lane.clone(),
            metrics: metrics.clone(),
            storage,
        })
        .map_err(data_dir)?;
        let clock = Clock::new();
        let health = HealthBook::new(&cfg, clock.now().utc);
        let cfg = Arc::new(cfg);
        Ok(Lane {
            tasks: DeviceTasks::new(devices, tx.clone(), images.clone(), clock, cfg.clone()),
            cfg,
            flow,
            recognition,
            decider,
            outlet,
            audit,
            progress: Progress::after(last_seq),
            interrupted,
            unsent,
            desk,
            health,
            images,
            tx,
            rx,
            clock,
            hook: observe::Hook::new(),
            completed: 0,
            metrics,
        })
    }
}
