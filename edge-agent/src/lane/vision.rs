//! The lane's side of the vision checks (see [`crate::vision`]): which UVSS device is
//! compared, what the results do to the passage, and the reference update when a passage ends.

use std::sync::Arc;

use tracing::warn;

use super::{Devices, Lane, Publish};
use crate::config::LaneConfig;
use crate::flow::Event;
use crate::images::ImageStore;
use crate::vision::{should_learn, UvssChecker, UvssOutcome};
use contract::passage::{CaptureKind, PassageRecord};

/// The comparison runs when it is switched on and the lane has an under-vehicle camera.
pub(super) fn checker(cfg: &LaneConfig, devices: &Devices, images: &ImageStore) -> Option<Arc<UvssChecker>> {
    if !cfg.vision.uvss_compare {
        return None;
    }
    let (device, _) = devices.capturers.iter().find(|(_, (kind, _))| *kind == CaptureKind::UvssScan)?;
    Some(Arc::new(UvssChecker::new(&cfg.vision, device, images.clone())))
}

impl<P: Publish> Lane<P> {
    /// Publish the overlay, keep the scan for a possible reference update, and put the result
    /// in the record before recognition moves the passage on to its decision.
    pub(super) fn uvss_compared(&mut self, passage: &str, outcome: UvssOutcome) {
        if let Some(stored) = &outcome.record.overlay {
            self.publish_image(passage, &format!("{}-overlay", outcome.record.device), stored);
        }
        if let Some(scan) = outcome.scan {
            self.uvss_scans.insert(passage.to_string(), scan);
        }
        self.feed(Event::Vision {
            passage: passage.to_string(),
            uvss: Some(Box::new(outcome.record)),
            empty_image: None,
        });
    }

    /// A released vehicle's clean (or first) scan becomes its reference, on a blocking task.
    pub(super) fn learn_reference(&mut self, record: &PassageRecord) {
        let scan = self.uvss_scans.remove(&record.id);
        let (Some(checker), Some((plate, image))) = (self.uvss.clone(), scan) else { return };
        if !should_learn(record) {
            return;
        }
        let speed = record
            .captures
            .iter()
            .find(|c| c.kind == CaptureKind::UvssScan)
            .and_then(|c| c.uvss.as_ref())
            .map(|m| m.speed_kmh);
        let handle = tokio::task::spawn_blocking(move || checker.learn(&plate, &image, speed));
        tokio::spawn(async move {
            if let Err(e) = handle.await {
                warn!(cause = %e, "UVSS reference update failed");
            }
        });
    }
}
