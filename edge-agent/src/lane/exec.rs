//! Carrying out the machine's commands: device operations in their own tasks,
//! recognition on its worker, decisions and publishing in place.

use std::time::Duration;

use drivers::{DeviceError, Image};
use tokio::time::timeout;
use tracing::{info, warn};

use super::devices::Captured;
use super::{Input, Lane, Publish};
use crate::flow::{BarrierError, BarrierOp, Command, EmptyCheckNeed, Event, Time};
use crate::images::ImageStore;
use crate::policy::PolicyInput;
use crate::recognize::{Job, Shot};
use contract::decision::DecisionEvent;
use contract::image::{ImageManifest, ImageRef};
use contract::lane::DeviceHealthEvent;
use contract::passage::{CaptureOutcome, CaptureRecord, EmptyCheckRecord, UvssMeta};

/// Statistics go out with a passage, at most this often.
const STATS_EVERY: Duration = Duration::from_secs(60);

pub(super) fn barrier_error(e: DeviceError) -> BarrierError {
    match e {
        DeviceError::Refused(m) => BarrierError::Refused(m),
        other => BarrierError::Fault(other.to_string()),
    }
}

async fn store(images: &ImageStore, image: &Image) -> Result<ImageRef, String> {
    let images = images.clone();
    let image = image.clone();
    tokio::task::spawn_blocking(move || images.put(&image))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot store image: {e}"))
}

impl<P: Publish> Lane<P> {
    pub(super) fn execute(&mut self, command: Command, now: Time) -> Option<Event> {
        match command {
            Command::Capture { passage, device } => self.capture(passage, device),
            Command::Recognize { passage } => {
                let shots = self.shots.remove(&passage).unwrap_or_default();
                if let Err(e) = self.recognizer.try_send(Job { passage: passage.clone(), shots }) {
                    warn!(cause = %e, "recognition queue full");
                    return Some(Event::Recognized {
                        passage,
                        result: Err("recognition busy".into()),
                        empty_check: EmptyCheckNeed::No,
                    });
                }
            }
            Command::CheckEmpty { passage, container, .. } => self.check_empty(passage, container),
            Command::Decide { record } => {
                let declaration = self.declarations.lookup(record.plate(), &record.container_codes());
                let health = self.health.for_policy();
                let input = PolicyInput {
                    record: &record,
                    declaration: declaration.as_ref(),
                    health: &health,
                    now: now.utc,
                };
                let decision = self.policy.decide(&input);
                return Some(Event::Decided { passage: record.id.clone(), decision });
            }
            Command::OpenBarrier => self.move_barrier(BarrierOp::Open),
            Command::ObserveBarrier => self.observe_barrier(),
            Command::CloseBarrier => {
                // The machine only asks while the zone is clear; checked again here
                // because nothing is worth closing the arm on a vehicle.
                if self.flow.under_arm_occupied() {
                    warn!("close requested while occupied; refused");
                    return Some(Event::BarrierDone {
                        op: BarrierOp::Close,
                        result: Err(BarrierError::Refused("occupied".into())),
                    });
                }
                self.move_barrier(BarrierOp::Close);
            }
            Command::Announce { record } => {
                let Some(decision) = record.decision.clone() else { return None };
                self.audit("decision", Some(&record.id), serde_json::to_value(&decision).unwrap_or_default());
                let event = DecisionEvent {
                    passage: record.id.clone(),
                    site: record.site.clone(),
                    lane: record.lane.clone(),
                    plate: record.plate().map(str::to_string),
                    containers: record.container_codes(),
                    decision,
                };
                self.send_signed(self.topics.decision(), &event);
            }
            Command::Complete { record } => {
                self.completed += 1;
                info!(
                    passage = %record.id,
                    plate = record.plate().unwrap_or("-"),
                    outcome = ?record.final_outcome(),
                    exit = ?record.exit,
                    total_ms = record.total_ms,
                    "passage complete"
                );
                // Kept locally before it is sent, so what central has is always
                // in the archive too (resend, technician page, statistics).
                let signed = self.signed(&*record);
                if let Some(payload) = &signed {
                    if let Err(e) = self.archive.put(&record.id, payload) {
                        warn!(passage = %record.id, cause = %e, "cannot keep the passage record for resending");
                    }
                    self.publisher.publish_result(self.topics.passage(), payload.clone());
                }
                if let Err(e) = self.journal.done(&record.id) {
                    warn!(passage = %record.id, cause = %e, "cannot keep the passage journal");
                }
                let record_sha256 =
                    signed.as_ref().map(|p| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(p)));
                let summary = serde_json::json!({
                    "outcome": record.final_outcome(),
                    "by": record.review.as_ref().or(record.decision.as_ref()).map(|d| d.by.clone()),
                    "exit": record.exit,
                    "arrived_at": record.arrived_at,
                    "total_ms": record.total_ms,
                    "stages": record.stages.iter().map(|s| serde_json::json!({"stage": s.stage, "ms": s.duration_ms})).collect::<Vec<_>>(),
                    "record_sha256": record_sha256,
                });
                self.audit("passage", Some(&record.id), summary);
                self.learn_reference(&record);
                self.stats.add(&record);
                if self.stats_sent.is_none_or(|t| t.elapsed() >= STATS_EVERY) {
                    self.stats_sent = Some(tokio::time::Instant::now());
                    let report = self.stats.report(&self.cfg.site, &self.cfg.lane);
                    self.send(self.topics.stats(), &report, true);
                }
            }
            Command::Alarm(alarm) => {
                warn!(kind = ?alarm.kind, passage = ?alarm.passage, message = %alarm.message, "alarm");
                self.send(self.topics.alarm(), &alarm, false);
            }
            Command::Forget { passage } => {
                self.shots.remove(&passage);
                self.uvss_scans.remove(&passage);
            }
        }
        None
    }

    /// Results (decisions, passage records) carry the lane's signature.
    fn send_signed<T: serde::Serialize>(&self, topic: String, value: &T) {
        if let Some(payload) = self.signed(value) {
            self.publisher.publish_result(topic, payload);
        }
    }

    fn signed<T: serde::Serialize>(&self, value: &T) -> Option<Vec<u8>> {
        self.signer.sign_json(value).map_err(|e| warn!(cause = %e, "cannot serialise a result")).ok()
    }

    pub(super) fn send<T: serde::Serialize>(&self, topic: String, value: &T, retain: bool) {
        match serde_json::to_vec(value) {
            Ok(payload) => {
                self.publisher.publish(topic, payload, retain);
            }
            Err(e) => warn!(cause = %e, "cannot serialise a message"),
        }
    }

    /// Sends a stored image again; false when the store no longer has it.
    pub(super) fn republish_image(&self, passage: &str, camera: &str, image: &ImageRef) -> bool {
        let stored = self.images.path_of(&image.sha256, image.format.extension()).exists();
        if stored {
            self.publish_image(passage, camera, image);
        }
        stored
    }

    /// The manifest, then the chunks; the outbox keeps them in this order.
    pub(super) fn publish_image(&self, passage: &str, camera: &str, image: &ImageRef) {
        let manifest = ImageManifest::for_image(image, camera, passage, self.cfg.mqtt.chunk_size);
        self.send(self.topics.image(&image.sha256), &manifest, false);
        let file = self.images.path_of(&image.sha256, image.format.extension());
        for i in 0..manifest.chunks {
            let (offset, len) = manifest.chunk_span(i).expect("every index below the count has a span");
            self.publisher.publish_file(self.topics.image_chunk(&image.sha256, i), file.clone(), offset, len);
        }
    }

    pub(super) fn publish_health(&self, event: &DeviceHealthEvent) {
        self.send(self.topics.health(&event.device), event, true);
    }

    pub(super) fn empty_check_need(&self, result: &Result<models::Reads, String>) -> EmptyCheckNeed {
        let Ok(reads) = result else { return EmptyCheckNeed::No };
        let plate = reads.plates.first().map(|p| p.text.as_str());
        let containers: Vec<String> = reads.containers.iter().map(|c| c.code.clone()).collect();
        match self.declarations.lookup(plate, &containers) {
            Some(d) if d.declared_empty => EmptyCheckNeed::Yes {
                container: containers.first().cloned().or(d.containers.first().cloned()),
            },
            _ => EmptyCheckNeed::No,
        }
    }

    fn capture(&mut self, passage: String, device: String) {
        let Some((kind, handle)) = self.devices.capturers.get(&device).cloned() else { return };
        let limit = self.cfg.device_timeout(&device);
        let (tx, images, clock) = (self.tx.clone(), self.images.clone(), self.clock);
        tokio::spawn(async move {
            let mut dev = handle.lock().await;
            let mut record = CaptureRecord {
                device: device.clone(),
                kind,
                outcome: CaptureOutcome::Ok,
                at: clock.now().utc,
                error: None,
                image: None,
                seals: vec![],
                uvss: None,
            };
            let result: Result<Option<Image>, DeviceError> = dev.capture(limit).await.map(|c| match c {
                Captured::Image(image) => Some(image),
                Captured::Scan(scan) => {
                    record.uvss =
                        Some(UvssMeta { rows_per_metre: scan.rows_per_metre, speed_kmh: scan.speed_kmh });
                    Some(scan.image)
                }
                Captured::Seals(seals) => {
                    record.seals = seals;
                    None
                }
            });
            drop(dev);
            record.at = clock.now().utc;
            let _ = tx
                .send(Input::DeviceResult {
                    device: device.clone(),
                    result: result.as_ref().map(|_| ()).map_err(|e| e.clone()),
                })
                .await;
            let mut shot = None;
            match result {
                Ok(Some(image)) => match store(&images, &image).await {
                    Ok(r) => {
                        record.image = Some(r);
                        shot = Some(Shot { device, kind, image });
                    }
                    Err(e) => {
                        record.outcome = CaptureOutcome::Failed;
                        record.error = Some(e);
                    }
                },
                Ok(None) => {}
                Err(e) => {
                    record.outcome = if matches!(e, DeviceError::Timeout(_)) {
                        CaptureOutcome::Timeout
                    } else {
                        CaptureOutcome::Failed
                    };
                    record.error = Some(e.to_string());
                }
            }
            let _ = tx.send(Input::Captured { passage, record, shot }).await;
        });
    }

    fn check_empty(&mut self, passage: String, container: Option<String>) {
        let Some((device, handle)) = self.devices.empty_box.clone() else { return };
        let limit = self.cfg.timeouts.empty_check;
        let (tx, images) = (self.tx.clone(), self.images.clone());
        let image_check = self.cfg.vision.empty_image_check;
        tokio::spawn(async move {
            let result = timeout(limit, async { handle.lock().await.scan(container.as_deref()).await })
                .await
                .unwrap_or(Err(DeviceError::Timeout(limit)));
            let _ = tx
                .send(Input::DeviceResult {
                    device: device.clone(),
                    result: result.as_ref().map(|_| ()).map_err(|e| e.clone()),
                })
                .await;
            // The image-based check beside the detector's verdict, off the lane loop.
            let interior = result.as_ref().ok().and_then(|r| r.interior.clone());
            let empty_image = match (image_check, &result) {
                (true, Ok(_)) => {
                    tokio::task::spawn_blocking(move || crate::vision::empty_image(interior.as_ref()))
                        .await
                        .ok()
                }
                _ => None,
            };
            let record = match result {
                Ok(r) => {
                    let image = match &r.interior {
                        Some(i) => store(&images, i).await.ok(),
                        None => None,
                    };
                    EmptyCheckRecord {
                        device,
                        container: r.container,
                        outcome: CaptureOutcome::Ok,
                        verdict: Some(r.verdict),
                        confidence: Some(r.confidence),
                        error: None,
                        image,
                    }
                }
                Err(e) => EmptyCheckRecord {
                    device,
                    container,
                    outcome: CaptureOutcome::Failed,
                    verdict: None,
                    confidence: None,
                    error: Some(e.to_string()),
                    image: None,
                },
            };
            let _ = tx.send(Input::EmptyChecked { passage, record, empty_image }).await;
        });
    }

    fn move_barrier(&mut self, op: BarrierOp) {
        let passage = self.flow.current().map(|p| p.record.id.clone());
        self.audit(
            "barrier",
            passage.as_deref(),
            serde_json::json!({"op": format!("{op:?}").to_lowercase()}),
        );
        let handle = self.devices.barrier.1.clone();
        let limit = self.cfg.timeouts.barrier;
        let tx = self.tx.clone();
        // The release that opens the barrier is in the audit trail first.
        let durable = (op == BarrierOp::Open).then(|| self.audit.flushed());
        tokio::spawn(async move {
            if let Some(durable) = durable {
                let _ = durable.await;
            }
            let result = timeout(limit, async {
                let mut barrier = handle.lock().await;
                match op {
                    BarrierOp::Open => barrier.open().await,
                    BarrierOp::Close => barrier.close().await,
                }
            })
            .await
            .unwrap_or(Err(DeviceError::Timeout(limit)));
            let _ = tx.send(Input::Barrier { op, result }).await;
        });
    }

    /// Reads the arm's position after a fault. A successful reading is not
    /// counted as the barrier working again: only a movement shows that.
    fn observe_barrier(&mut self) {
        let (handle, name, limit, tx) = (
            self.devices.barrier.1.clone(),
            self.devices.barrier.0.clone(),
            self.cfg.timeouts.barrier,
            self.tx.clone(),
        );
        tokio::spawn(async move {
            let state = timeout(limit, async { handle.lock().await.state().await })
                .await
                .unwrap_or(Err(DeviceError::Timeout(limit)));
            let input = match state {
                Ok(s) => Input::BarrierObserved(s),
                Err(e) => Input::DeviceResult { device: name, result: Err(e) },
            };
            let _ = tx.send(input).await;
        });
    }

    /// Presence sensors report every debounced change; the barrier's position is
    /// read once at start so the machine never assumes it.
    pub(super) fn start_device_tasks(&mut self) {
        for (name, zone, mut sensor) in std::mem::take(&mut self.devices.presence) {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                // After an error the state is read afresh, not assumed.
                let mut read_state = true;
                loop {
                    let result = if read_state { sensor.occupied().await } else { sensor.changed().await };
                    read_state = result.is_err();
                    if tx.send(Input::Presence { device: name.clone(), zone, result }).await.is_err() {
                        return;
                    }
                    if read_state {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            });
        }
        let handle = self.devices.barrier.1.clone();
        let (tx, name) = (self.tx.clone(), self.devices.barrier.0.clone());
        // Until the position is read the machine does not know it; a controller
        // that is silent at start is asked again (1 s, doubling to 30 s), so the
        // lane comes right by itself once it answers.
        tokio::spawn(async move {
            let mut wait = Duration::from_secs(1);
            loop {
                let state = handle.lock().await.state().await;
                match state {
                    Ok(s) => {
                        let _ = tx.send(Input::DeviceResult { device: name, result: Ok(()) }).await;
                        let _ = tx.send(Input::BarrierObserved(s)).await;
                        return;
                    }
                    Err(e) => {
                        if tx
                            .send(Input::DeviceResult { device: name.clone(), result: Err(e) })
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
        });
    }
}
