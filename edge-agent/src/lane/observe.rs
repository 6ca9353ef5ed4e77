//! The lane as the technician page and systemd see it.
//!
//! The loop beats on a timer ([`Hook::next`], one `select!` branch): each beat
//! sends systemd's watchdog heartbeat — so a loop stuck in a handler stops the
//! heartbeats and the service is restarted — and publishes a [`LaneView`] on a
//! watch channel. Readers (the web server) only ever clone the latest view; the
//! loop never waits for them.
//!
//! Diagnostic actions arrive on the same branch as [`Request`]s and are judged
//! by the loop itself, which alone knows whether a vehicle is under the arm.
//! The device work runs in spawned tasks that report back, as everywhere else
//! in the lane, so the loop never waits on a device.

use std::time::Duration;

use chrono::{DateTime, Utc};
use drivers::{DeviceError, SealRead};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{timeout, Instant, Interval, MissedTickBehavior};

use super::devices::Capturer;
use super::{Input, Lane};
use crate::flow::{BarrierPos, Event};
use contract::image::ImageRef;
use contract::lane::DeviceHealthEvent;
use contract::passage::{CaptureKind, Stage};

/// Beats at least this often, watchdog or not: it is also how fresh the view is.
const BEAT: Duration = Duration::from_millis(500);

/// The lane's state for people: refreshed every beat.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LaneView {
    pub updated_at: Option<DateTime<Utc>>,
    /// Beats of the lane loop since start; a page that sees it stand still
    /// knows the loop is stuck.
    pub beats: u64,
    pub passage: Option<String>,
    pub stage: Option<Stage>,
    pub queued: usize,
    pub barrier: String,
    pub under_arm_occupied: bool,
    pub completed: u64,
    pub devices: Vec<DeviceHealthEvent>,
    /// Devices a snapshot can be taken from.
    pub cameras: Vec<String>,
    pub seal_reader: bool,
}

/// Why a diagnostic action did not happen.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DiagError {
    /// The lane said no, for safety or because it is busy with a vehicle.
    #[error("refused: {0}")]
    Refused(String),
    #[error("no such device: {0}")]
    NoDevice(String),
    #[error("device error: {0}")]
    Device(String),
    #[error("the lane loop did not answer in time")]
    NoAnswer,
}

type Reply<T> = oneshot::Sender<Result<T, DiagError>>;

pub enum Request {
    CycleBarrier(Reply<String>),
    Snapshot {
        device: String,
        reply: Reply<ImageRef>,
    },
    ReadSeals(Reply<Vec<SealRead>>),
    /// From the cycle's own task: the open half is done.
    CycleOpened {
        result: Result<(), DeviceError>,
        started: Instant,
        reply: Reply<String>,
    },
    CycleClosed {
        result: Result<(), DeviceError>,
        started: Instant,
        reply: Reply<String>,
    },
    /// A local operator, whose password the page has checked, releases a held vehicle.
    LocalRelease {
        passage: String,
        operator: String,
        reply: Reply<String>,
    },
    /// A refused operator attempt, for the audit trail.
    OperatorRefused {
        operator: String,
        passage: String,
        why: String,
    },
}

pub(super) enum Wake {
    Beat,
    Request(Request),
}

pub(super) struct Hook {
    tx: mpsc::Sender<Request>,
    rx: mpsc::Receiver<Request>,
    view: watch::Sender<LaneView>,
    beat: Option<Interval>,
    cycling: bool,
}

impl Hook {
    pub(super) fn new() -> Self {
        let (tx, rx) = mpsc::channel(16);
        Hook { tx, rx, view: watch::channel(LaneView::default()).0, beat: None, cycling: false }
    }

    pub(super) async fn next(&mut self) -> Wake {
        let beat = self.beat.get_or_insert_with(|| {
            let mut i = tokio::time::interval(crate::notify::beat_interval(BEAT));
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            i
        });
        tokio::select! {
            _ = beat.tick() => Wake::Beat,
            Some(r) = self.rx.recv() => Wake::Request(r),
        }
    }
}

/// What the web server holds: the latest view and a way to ask for actions.
#[derive(Clone)]
pub struct Technician {
    tx: mpsc::Sender<Request>,
    view: watch::Receiver<LaneView>,
}

impl Technician {
    pub fn view(&self) -> LaneView {
        self.view.borrow().clone()
    }

    /// The view once `done` holds for it, woken at each new view (every beat); `None` once the
    /// lane has stopped.
    pub async fn view_until(&self, mut done: impl FnMut(&LaneView) -> bool) -> Option<LaneView> {
        let mut view = self.view.clone();
        let found = view.wait_for(|v| done(v)).await.ok()?.clone();
        Some(found)
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Request, limit: Duration) -> Result<T, DiagError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(make(reply))
            .map_err(|_| DiagError::Refused("the lane is busy with other requests".into()))?;
        timeout(limit, answer).await.map_err(|_| DiagError::NoAnswer)?.map_err(|_| DiagError::NoAnswer)?
    }

    /// Opens and closes the barrier; refused while a vehicle is in the lane.
    pub async fn cycle_barrier(&self, limit: Duration) -> Result<String, DiagError> {
        self.ask(Request::CycleBarrier, limit).await
    }

    pub async fn snapshot(&self, device: &str, limit: Duration) -> Result<ImageRef, DiagError> {
        self.ask(|reply| Request::Snapshot { device: device.to_string(), reply }, limit).await
    }

    pub async fn read_seals(&self, limit: Duration) -> Result<Vec<SealRead>, DiagError> {
        self.ask(Request::ReadSeals, limit).await
    }

    /// Releases the held vehicle `passage` on behalf of a local operator whose
    /// credential the caller has already checked.
    pub async fn local_release(
        &self,
        passage: &str,
        operator: &str,
        limit: Duration,
    ) -> Result<String, DiagError> {
        self.ask(
            |reply| Request::LocalRelease {
                passage: passage.to_string(),
                operator: operator.to_string(),
                reply,
            },
            limit,
        )
        .await
    }

    /// Has a refused attempt written into the audit trail (best effort: a full
    /// queue drops it rather than make the caller wait).
    pub fn operator_refused(&self, operator: &str, passage: &str, why: &str) {
        let _ = self.tx.try_send(Request::OperatorRefused {
            operator: operator.chars().take(64).collect(),
            passage: passage.chars().take(128).collect(),
            why: why.to_string(),
        });
    }
}

fn refuse<T>(reply: Reply<T>, why: impl Into<String>) {
    let _ = reply.send(Err(DiagError::Refused(why.into())));
}

impl Lane {
    pub fn technician(&self) -> Technician {
        Technician { tx: self.hook.tx.clone(), view: self.hook.view.subscribe() }
    }

    pub(super) fn on_wake(&mut self, wake: Wake) {
        match wake {
            Wake::Beat => {
                crate::notify::watchdog();
                self.publish_view();
            }
            Wake::Request(r) => self.on_request(r),
        }
    }

    fn publish_view(&mut self) {
        let current = self.flow.current();
        let view = LaneView {
            updated_at: Some(self.clock.now().utc),
            beats: self.hook.view.borrow().beats + 1,
            passage: current.map(|p| p.record.id.clone()),
            stage: current.map(|p| p.stage),
            queued: self.flow.queued(),
            barrier: format!("{:?}", self.flow.barrier()).to_lowercase(),
            under_arm_occupied: self.flow.under_arm_occupied(),
            completed: self.completed,
            devices: self.health.all(),
            cameras: self
                .tasks
                .devices()
                .capturers
                .iter()
                .filter(|(_, (k, _))| matches!(k, CaptureKind::PlateImage | CaptureKind::ContainerImage))
                .map(|(n, _)| n.clone())
                .collect(),
            seal_reader: self.tasks.devices().capturers.values().any(|(k, _)| *k == CaptureKind::Seals),
        };
        self.hook.view.send_replace(view);
    }

    fn on_request(&mut self, request: Request) {
        let barrier = self.tasks.devices().barrier.clone();
        let limit = self.cfg.timeouts.barrier;
        let back = self.hook.tx.clone();
        match request {
            Request::CycleBarrier(reply) => {
                if self.hook.cycling {
                    return refuse(reply, "a barrier cycle is already running");
                }
                if let Some(p) = self.flow.current() {
                    return refuse(reply, format!("passage {} is in progress", p.record.id));
                }
                if self.flow.under_arm_occupied() {
                    return refuse(reply, "the zone under the arm is occupied");
                }
                if self.flow.barrier() != BarrierPos::Closed {
                    return refuse(
                        reply,
                        format!("the barrier is {:?}, not closed", self.flow.barrier()).to_lowercase(),
                    );
                }
                self.hook.cycling = true;
                tracing::info!("technician: barrier cycle");
                tokio::spawn(async move {
                    let started = Instant::now();
                    let result = timeout(limit, async { barrier.1.lock().await.open().await })
                        .await
                        .unwrap_or(Err(DeviceError::Timeout(limit)));
                    let _ = back.send(Request::CycleOpened { result, started, reply }).await;
                });
            }
            Request::CycleOpened { result, started, reply } => {
                let now = self.clock.now().utc;
                self.device_result(&barrier.0, result.clone(), now);
                if let Err(e) = result {
                    self.hook.cycling = false;
                    self.feed(Event::BarrierObserved { opened: true });
                    return refuse_device(reply, e);
                }
                // Checked again: a vehicle may have come while the arm went up.
                if self.flow.under_arm_occupied() {
                    self.hook.cycling = false;
                    self.feed(Event::BarrierObserved { opened: true });
                    return refuse(reply, "opened, but not closed: the zone under the arm became occupied");
                }
                tokio::spawn(async move {
                    let result = timeout(limit, async { barrier.1.lock().await.close().await })
                        .await
                        .unwrap_or(Err(DeviceError::Timeout(limit)));
                    let _ = back.send(Request::CycleClosed { result, started, reply }).await;
                });
            }
            Request::CycleClosed { result, started, reply } => {
                self.hook.cycling = false;
                let now = self.clock.now().utc;
                self.device_result(&barrier.0, result.clone(), now);
                // The machine learns where the arm is; left open, it closes it when clear.
                self.feed(Event::BarrierObserved { opened: result.is_err() });
                match result {
                    Ok(()) => {
                        let _ = reply
                            .send(Ok(format!("opened and closed in {} ms", started.elapsed().as_millis())));
                    }
                    Err(e) => refuse_device(reply, e),
                }
            }
            Request::LocalRelease { passage, operator, reply } => {
                let _ = reply.send(self.local_release(&passage, &operator));
            }
            Request::OperatorRefused { operator, passage, why } => {
                tracing::warn!(%operator, %passage, %why, "local release refused");
                let current = self.flow.current().map(|p| p.record.id.clone());
                self.audit.append(
                    "operator_refused",
                    current.as_deref(),
                    serde_json::json!({"operator": operator, "passage": passage, "why": why}),
                );
            }
            Request::Snapshot { device, reply } => self.snapshot(device, reply),
            Request::ReadSeals(reply) => self.read_seals(reply),
        }
    }

    fn snapshot(&mut self, device: String, reply: Reply<ImageRef>) {
        let Some((_, handle)) = self.tasks.devices().capturers.get(&device).cloned() else {
            let _ = reply.send(Err(DiagError::NoDevice(device)));
            return;
        };
        let (tx, images, limit) = (self.tx.clone(), self.images.clone(), self.cfg.device_timeout(&device));
        tokio::spawn(async move {
            let shot = timeout(limit, async {
                match &mut *handle.lock().await {
                    Capturer::Camera(cam) => Some(cam.snapshot().await),
                    _ => None,
                }
            })
            .await
            .unwrap_or(Some(Err(DeviceError::Timeout(limit))));
            let Some(shot) = shot else {
                let _ = reply.send(Err(DiagError::NoDevice(format!("{device} is not a camera"))));
                return;
            };
            let _ = tx
                .send(Input::DeviceResult {
                    device,
                    result: shot.as_ref().map(|_| ()).map_err(|e| e.clone()),
                })
                .await;
            let answer = match shot {
                Ok(image) => tokio::task::spawn_blocking(move || images.put(&image))
                    .await
                    .map_err(|e| DiagError::Device(e.to_string()))
                    .and_then(|r| r.map_err(|e| DiagError::Device(format!("cannot store the image: {e}")))),
                Err(e) => Err(DiagError::Device(e.to_string())),
            };
            let _ = reply.send(answer);
        });
    }

    fn read_seals(&mut self, reply: Reply<Vec<SealRead>>) {
        let reader = self
            .tasks
            .devices()
            .capturers
            .iter()
            .find(|(_, (k, _))| *k == CaptureKind::Seals)
            .map(|(n, (_, h))| (n.clone(), h.clone()));
        let Some((device, handle)) = reader else {
            let _ = reply.send(Err(DiagError::NoDevice("the lane has no seal reader".into())));
            return;
        };
        let (tx, limit) = (self.tx.clone(), self.cfg.device_timeout(&device));
        tokio::spawn(async move {
            let read = timeout(limit, async {
                match &mut *handle.lock().await {
                    Capturer::Seals(r) => r.interrogate().await,
                    _ => Ok(vec![]),
                }
            })
            .await
            .unwrap_or(Err(DeviceError::Timeout(limit)));
            let _ = tx
                .send(Input::DeviceResult {
                    device,
                    result: read.as_ref().map(|_| ()).map_err(|e| e.clone()),
                })
                .await;
            let _ = reply.send(read.map_err(|e| DiagError::Device(e.to_string())));
        });
    }
}

fn refuse_device<T>(reply: Reply<T>, e: DeviceError) {
    let _ = reply.send(Err(match e {
        DeviceError::Refused(m) => DiagError::Refused(m),
        other => DiagError::Device(other.to_string()),
    }));
}
