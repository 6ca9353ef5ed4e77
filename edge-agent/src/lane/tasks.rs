//! Device operations, each in a task of its own that reports back to the loop
//! through its channel: captures, the empty-box scan, barrier movements and
//! readings, and the long-running readers (presence sensors, the barrier's
//! first position, driver health). A slow or hung device never blocks the
//! loop: the loop only spawns, and hears back as an [`Input`].

use std::sync::Arc;
use std::time::Duration;

use contract::image::ImageRef;
use contract::passage::{CaptureOutcome, CaptureRecord, EmptyCheckRecord, UvssMeta};
use drivers::{DeviceError, Image};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

use super::devices::{forward_health, Captured, Devices};
use super::{Clock, Input};
use crate::config::LaneConfig;
use crate::flow::{BarrierError, BarrierOp};
use crate::images::ImageStore;
use crate::recognize::Shot;

pub(super) struct DeviceTasks {
    devices: Devices,
    tx: mpsc::Sender<Input>,
    images: ImageStore,
    clock: Clock,
    cfg: Arc<LaneConfig>,
    /// The last barrier movement, while it stands failed (timed out, faulted): a later reading
    /// of the arm at its target shows the movement went through late.
    missed: Option<BarrierOp>,
}

/// A barrier driver's error as the machine sees it: a refusal (something under
/// the arm) is the drive doing its job, anything else a fault.
pub(super) fn barrier_error(e: DeviceError) -> BarrierError {
    match e {
        DeviceError::Refused(m) => BarrierError::Refused(m),
        other => BarrierError::Fault(other.to_string()),
    }
}

/// Stores an image off the runtime's threads (it is written and fsynced).
#[derive(Debug, thiserror::Error)]
enum StoreError {
    #[error("cannot store image: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot store image: the storing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

async fn store(images: &ImageStore, image: &Image) -> Result<ImageRef, StoreError> {
    let (images, image) = (images.clone(), image.clone());
    Ok(tokio::task::spawn_blocking(move || images.put(&image)).await??)
}

/// The result a device task reports for the device's health.
fn status<T>(result: &Result<T, DeviceError>) -> Result<(), DeviceError> {
    result.as_ref().map(|_| ()).map_err(|e| e.clone())
}

impl DeviceTasks {
    pub(super) fn new(
        devices: Devices,
        tx: mpsc::Sender<Input>,
        images: ImageStore,
        clock: Clock,
        cfg: Arc<LaneConfig>,
    ) -> Self {
        DeviceTasks { devices, tx, images, clock, cfg, missed: None }
    }

    pub(super) fn devices(&self) -> &Devices {
        &self.devices
    }

    pub(super) fn barrier_name(&self) -> &str {
        &self.devices.barrier.0
    }

    pub(super) fn capture(&self, passage: String, device: String) {
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
            let _ = tx.send(Input::DeviceResult { device: device.clone(), result: status(&result) }).await;
            let mut shot = None;
            match result {
                Ok(Some(image)) => match store(&images, &image).await {
                    Ok(r) => {
                        record.image = Some(r);
                        shot = Some(Shot { device, kind, image });
                    }
                    Err(e) => {
                        record.outcome = CaptureOutcome::Failed;
                        record.error = Some(e.to_string());
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

    pub(super) fn check_empty(&self, passage: String, container: Option<String>) {
        let Some((device, handle)) = self.devices.empty_box.clone() else { return };
        let limit = self.cfg.timeouts.empty_check;
        let (tx, images) = (self.tx.clone(), self.images.clone());
        let image_check = self.cfg.vision.empty_image_check;
        tokio::spawn(async move {
            let result = timeout(limit, async { handle.lock().await.scan(container.as_deref()).await })
                .await
                .unwrap_or(Err(DeviceError::Timeout(limit)));
            let _ = tx.send(Input::DeviceResult { device: device.clone(), result: status(&result) }).await;
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

    /// Moves the arm once everything in `first` has resolved (for an opening:
    /// the decision durable in the trail and the outbox).
    pub(super) fn move_barrier(&self, op: BarrierOp, first: Vec<oneshot::Receiver<()>>) {
        let handle = self.devices.barrier.1.clone();
        let limit = self.cfg.timeouts.barrier;
        let tx = self.tx.clone();
        tokio::spawn(async move {
            // The release must be stored (the trail, the decision in the outbox) before the arm
            // moves, and is waited for no longer than the lane waits for the arm: a release the
            // lane gave up on (the data disk refusing writes) must never open it later, perhaps
            // for another vehicle. An answer that never comes (the outlet could not store the
            // decision, or is gone) is not stored either.
            if !stored_within(limit, first).await {
                let why = "the release is not stored (the data disk refuses writes); the arm was not moved";
                let _ = tx.send(Input::Barrier { op, result: Err(DeviceError::Refused(why.into())) }).await;
                return;
            }
            // The movement runs to its end on a task of its own; the lane's limit only stops
            // waiting for it. Dropped halfway, it would leave a command pressed, or a closing arm
            // without the presence watch that reverses it. The driver's own move timeout ends it.
            let movement = tokio::spawn(async move {
                let mut barrier = handle.lock().await;
                match op {
                    BarrierOp::Open => barrier.open().await,
                    BarrierOp::Close => barrier.close().await,
                }
            });
            let result = match timeout(limit, movement).await {
                Ok(Ok(result)) => result,
                Ok(Err(failed)) => {
                    Err(DeviceError::Fault(format!("the barrier's movement failed: {failed}")))
                }
                Err(_) => Err(DeviceError::Timeout(limit)),
            };
            let _ = tx.send(Input::Barrier { op, result }).await;
        });
    }

    /// Notes how a barrier movement ended, for [`Self::barrier_caught_up`].
    pub(super) fn barrier_moved(&mut self, op: BarrierOp, result: &Result<(), DeviceError>) {
        match result {
            Ok(()) => self.missed = None,
            // The drive kept the arm where it was on purpose: no movement failed.
            Err(DeviceError::Refused(_)) => {}
            Err(_) => self.missed = Some(op),
        }
    }

    /// Whether the arm, read at `position`, has finished the movement that failed: a slow drive
    /// whose arm got there after the lane gave up on it works, and is healthy again. A position
    /// anywhere else (an arm still down after a failed open) shows nothing of the kind.
    pub(super) fn barrier_caught_up(&mut self, position: drivers::BarrierState) -> bool {
        let target = match self.missed {
            Some(BarrierOp::Open) => drivers::BarrierState::Opened,
            Some(BarrierOp::Close) => drivers::BarrierState::Closed,
            None => return false,
        };
        let reached = position == target;
        if reached {
            self.missed = None;
        }
        reached
    }

    /// Reads the arm's position after a fault. A successful reading alone is not counted as the
    /// barrier working again, only one that finds the arm where the failed movement sent it
    /// ([`Self::barrier_caught_up`]) or a movement that succeeds.
    pub(super) fn observe_barrier(&self) {
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
    /// read once at start so the machine never assumes it; drivers' own health
    /// changes are forwarded. Once, when the lane starts.
    pub(super) fn start(&mut self) {
        forward_health(std::mem::take(&mut self.devices.health), self.tx.clone());
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

/// True once every receiver in `first` is answered within `limit`; false on a receiver dropped
/// unanswered (the outlet could not store a decision, or is gone) or when `limit` passes.
async fn stored_within(limit: Duration, first: Vec<oneshot::Receiver<()>>) -> bool {
    let all = async {
        for durable in first {
            if durable.await.is_err() {
                return false;
            }
        }
        true
    };
    matches!(timeout(limit, all).await, Ok(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_release_opens_only_once_stored_and_never_after_the_lane_gave_up_on_it() {
        let limit = Duration::from_secs(5);
        let (answered, rx) = oneshot::channel();
        answered.send(()).unwrap();
        assert!(stored_within(limit, vec![rx]).await, "stored: the arm may move");
        assert!(stored_within(limit, vec![]).await, "a close waits for nothing");
        let (dropped, rx) = oneshot::channel::<()>();
        drop(dropped);
        assert!(!stored_within(limit, vec![rx]).await, "not stored: the arm stays");
        let (_pending, rx) = oneshot::channel::<()>();
        let started = tokio::time::Instant::now();
        assert!(!stored_within(limit, vec![rx]).await, "still waiting at the limit: the arm stays");
        assert_eq!(started.elapsed(), limit);
    }
}
