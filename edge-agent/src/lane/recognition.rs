//! Recognition as the lane runs it: a worker thread owns the reader (ONNX
//! Runtime sessions are not shared), the loop hands it each passage's shots and
//! hears back through its channel. The under-vehicle comparison (see
//! [`crate::vision`]) runs on the same worker right after, because it needs the
//! plate just read; its overlay is published and the new scan kept until the
//! passage ends (a clean scan of a released vehicle becomes its reference).

use std::collections::HashMap;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use contract::image::ImageRef;
use contract::passage::CaptureKind;
use tokio::sync::mpsc;
use tracing::warn;

use super::devices::Devices;
use super::outlet::Scan;
use super::Input;
use crate::config::{Engine, LaneConfig};
use crate::flow::{EmptyCheckNeed, Event};
use crate::images::ImageStore;
use crate::recognize::{self, Job, PpOcrReader, Recognizer, Shot, SimTruthReader};
use crate::vision::{UvssChecker, UvssOutcome};

pub(super) struct Recognition {
    worker: SyncSender<Job>,
    /// Each passage's shots until it is recognised.
    shots: HashMap<String, Vec<Shot>>,
    /// The comparison (None: no UVSS device, or switched off).
    uvss: Option<Arc<UvssChecker>>,
    /// Each passage's new scan until the passage ends.
    scans: HashMap<String, Scan>,
}

fn reader(cfg: &LaneConfig) -> Box<dyn Recognizer> {
    match cfg.recognition.engine {
        Engine::SimTruth => Box::new(SimTruthReader),
        // Never fails here: missing models hold every vehicle with the reason,
        // and the reader tries to load them again.
        Engine::PpOcr => Box::new(PpOcrReader::from_config(&cfg.recognition)),
    }
}

/// The comparison runs when it is switched on and the lane has an under-vehicle camera.
fn checker(cfg: &LaneConfig, devices: &Devices, images: &ImageStore) -> Option<Arc<UvssChecker>> {
    if !cfg.vision.uvss_compare {
        return None;
    }
    let (device, _) = devices.capturers.iter().find(|(_, (kind, _))| *kind == CaptureKind::UvssScan)?;
    Some(Arc::new(UvssChecker::new(&cfg.vision, device, images.clone())))
}

impl Recognition {
    pub(super) fn start(
        cfg: &LaneConfig,
        devices: &Devices,
        images: &ImageStore,
        tx: mpsc::Sender<Input>,
    ) -> Self {
        let uvss = checker(cfg, devices, images);
        let worker_uvss = uvss.clone();
        let worker = recognize::spawn_worker(reader(cfg), move |passage, result, shots| {
            // On the worker thread: the comparison needs the plate just read.
            let uvss = worker_uvss.as_ref().map(|c| Box::new(c.check(&result, &shots)));
            let _ = tx.blocking_send(Input::Recognized { passage, result, uvss });
        });
        Recognition { worker, shots: HashMap::new(), uvss, scans: HashMap::new() }
    }

    pub(super) fn checker(&self) -> Option<Arc<UvssChecker>> {
        self.uvss.clone()
    }

    pub(super) fn shot(&mut self, passage: &str, shot: Shot) {
        self.shots.entry(passage.to_string()).or_default().push(shot);
    }

    /// Hands the passage's shots to the worker; when its queue is full the
    /// passage is not recognised (and held for it) rather than wait.
    pub(super) fn recognize(&mut self, passage: String) -> Option<Event> {
        let shots = self.shots.remove(&passage).unwrap_or_default();
        if let Err(e) = self.worker.try_send(Job { passage: passage.clone(), shots }) {
            warn!(cause = %e, "recognition queue full");
            return Some(Event::Recognized {
                passage,
                result: Err("recognition busy".into()),
                empty_check: EmptyCheckNeed::No,
            });
        }
        None
    }

    /// Keeps the scan for a possible reference update; returns the overlay to
    /// publish (camera, image) and the result for the record, which goes in
    /// before recognition moves the passage on to its decision.
    pub(super) fn compared(
        &mut self,
        passage: &str,
        outcome: UvssOutcome,
    ) -> (Option<(String, ImageRef)>, Event) {
        let overlay =
            outcome.record.overlay.clone().map(|image| (format!("{}-overlay", outcome.record.device), image));
        if let Some(scan) = outcome.scan {
            self.scans.insert(passage.to_string(), scan);
        }
        let event = Event::Vision {
            passage: passage.to_string(),
            uvss: Some(Box::new(outcome.record)),
            empty_image: None,
        };
        (overlay, event)
    }

    /// The passage's new scan, when it ends.
    pub(super) fn take_scan(&mut self, passage: &str) -> Option<Scan> {
        self.scans.remove(passage)
    }

    pub(super) fn forget(&mut self, passage: &str) {
        self.shots.remove(passage);
        self.scans.remove(passage);
    }
}
