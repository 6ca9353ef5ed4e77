//! Building the lane's devices from configuration: the third configuration step.
//! Each device is opened here and nowhere else: simulated ones on the
//! in-process lane, real ones (serial, Modbus, TCP, HTTP) in [`wire`], GPIO
//! lines in [`gpio`].
//!
//! The barrier's driver keeps its own close interlock (a second line behind the
//! lane's), so it is handed the under-arm presence as a watch fed by the same
//! sensor the lane reads ([`Interlocked`]); until that sensor has answered, and
//! whenever it fails, the zone counts as occupied.

#[path = "gpio.rs"]
mod gpio;
#[path = "wire.rs"]
mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use drivers::sim::{
    CameraView, SimBarrier, SimCamera, SimEmptyBox, SimLane, SimSealReader, SimUvss, Zone as SimZone,
};
use drivers::{
    AreaCamera, Barrier, DeviceError, EmptyBoxDetector, Health, HealthState, PresenceSensor, SealReader,
    UnderVehicleCamera,
};
use tokio::sync::{mpsc, watch, Mutex};

use super::Input;
use crate::config::{DeviceConfig, DeviceKind, LaneConfig, Role, Transport};
use crate::flow::Zone;
use contract::passage::CaptureKind;

/// The in-process simulation, when any device is simulated (idle: traffic is started apart).
pub fn sim_lane(cfg: &LaneConfig) -> Option<SimLane> {
    let simulated = cfg.devices.iter().any(|d| d.transport == Transport::Sim);
    let lane = simulated
        .then(|| SimLane::new(cfg.sim.as_ref().map_or(drivers::sim::SimTiming::fast(), |s| s.timing)))?;
    // A lane that runs the real recognition gets cameras that film plates and codes; with the
    // `sim-truth` engine the pixels are never read, so rendering them would only cost time.
    if cfg.recognition.engine != crate::config::Engine::PpOcr {
        return Some(lane);
    }
    match drivers::sim::Rendered::system() {
        Ok(footage) => Some(lane.with_footage(std::sync::Arc::new(footage))),
        Err(e) => {
            tracing::warn!(cause = %e, "simulated cameras cannot render plates; recognition will find nothing");
            Some(lane)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("device `{device}`: the {transport} transport is not available in this build of edge-agent")]
    Unsupported { device: String, transport: &'static str },
    #[error("device `{0}` uses the sim transport but the lane has no simulation")]
    NoSim(String),
    #[error("device `{device}`: `{key}` is missing from its register map")]
    Missing { device: String, key: &'static str },
    #[error(
        "device `{device}`: cannot use {url:?}; give an http:// URL with a host (no https to cameras yet)"
    )]
    Url { device: String, url: String },
    /// A GPIO chip or line that cannot be had; the message says which and why.
    #[error("device `{device}`: {message}")]
    Gpio { device: String, message: String },
    #[error(
        "barrier `{0}` is real but the lane has no `under_arm` presence sensor to interlock its close with"
    )]
    NoUnderArm(String),
}

/// A device that captures something for a passage.
pub enum Capturer {
    Camera(Box<dyn AreaCamera>),
    Uvss(Box<dyn UnderVehicleCamera>),
    Seals(Box<dyn SealReader>),
}

/// What one capture brought back.
pub enum Captured {
    Image(drivers::Image),
    Seals(Vec<drivers::SealRead>),
    Scan(drivers::UvssScan),
}

impl Capturer {
    /// One capture within `limit`: a snapshot, the seals in range, or the last scan.
    pub async fn capture(&mut self, limit: std::time::Duration) -> Result<Captured, DeviceError> {
        let op = async {
            match self {
                Capturer::Camera(c) => c.snapshot().await.map(Captured::Image),
                Capturer::Seals(s) => s.interrogate().await.map(Captured::Seals),
                Capturer::Uvss(u) => u.last_scan().await.map(Captured::Scan),
            }
        };
        tokio::time::timeout(limit, op).await.unwrap_or(Err(DeviceError::Timeout(limit)))
    }
}

pub type Shared<T> = Arc<Mutex<T>>;

pub struct Devices {
    pub barrier: (String, Shared<Box<dyn Barrier>>),
    pub presence: Vec<(String, Zone, Box<dyn PresenceSensor>)>,
    pub capturers: BTreeMap<String, (CaptureKind, Shared<Capturer>)>,
    pub empty_box: Option<(String, Shared<Box<dyn EmptyBoxDetector>>)>,
    /// Each real driver's own health (and each Modbus bus's), which changes
    /// without any lane operation: see [`forward_health`].
    pub health: Vec<(String, watch::Receiver<Health>)>,
}

/// The under-arm sensor, also publishing what it reads for the barrier driver.
struct Interlocked {
    inner: Box<dyn PresenceSensor>,
    tx: watch::Sender<bool>,
}

impl Interlocked {
    fn publish(&self, r: &Result<bool, DeviceError>) {
        // Unknown counts as occupied: the driver then refuses to close.
        self.tx.send_replace(*r.as_ref().unwrap_or(&true));
    }
}

#[async_trait]
impl PresenceSensor for Interlocked {
    async fn occupied(&mut self) -> Result<bool, DeviceError> {
        let r = self.inner.occupied().await;
        self.publish(&r);
        r
    }

    async fn changed(&mut self) -> Result<bool, DeviceError> {
        let r = self.inner.changed().await;
        self.publish(&r);
        r
    }
}

/// Feeds every driver's health changes to the lane as device results, so a
/// reader unplugged while the lane is idle shows `down` at once, not at the
/// next passage. Call once, when the lane starts.
pub(crate) fn forward_health(health: Vec<(String, watch::Receiver<Health>)>, tx: mpsc::Sender<Input>) {
    for (device, mut rx) in health {
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                let h = rx.borrow_and_update().clone();
                let reason = h.reason.unwrap_or_default();
                let result = match h.state {
                    HealthState::Ok => Ok(()),
                    HealthState::Degraded => Err(DeviceError::Protocol(reason)),
                    HealthState::Down => Err(DeviceError::Disconnected(reason)),
                };
                if tx.send(Input::DeviceResult { device: device.clone(), result }).await.is_err()
                    || rx.changed().await.is_err()
                {
                    return;
                }
            }
        });
    }
}

fn unsupported(d: &DeviceConfig) -> BuildError {
    BuildError::Unsupported { device: d.name.clone(), transport: d.transport.name() }
}

fn sim<'a>(d: &DeviceConfig, sim: Option<&'a SimLane>) -> Result<&'a SimLane, BuildError> {
    match (&d.transport, sim) {
        (Transport::Sim, Some(lane)) => Ok(lane),
        (Transport::Sim, None) => Err(BuildError::NoSim(d.name.clone())),
        _ => Err(unsupported(d)),
    }
}

pub fn build(cfg: &LaneConfig, lane: Option<&SimLane>) -> Result<Devices, BuildError> {
    let mut wire = wire::Wire::default();
    let mut presence = Vec::new();
    let mut capturers = BTreeMap::new();
    let mut empty_box = None;
    let (under_arm_tx, under_arm) = watch::channel(true);
    let mut under_arm_tx = Some(under_arm_tx);
    // Sensors first: the barrier needs the under-arm one, whatever the file's order.
    for d in cfg.devices_of(DeviceKind::Presence) {
        let (zone, sim_zone) = match d.role {
            Role::Arrival => (Zone::Arrival, SimZone::Arrival),
            Role::UnderArm => (Zone::UnderArm, SimZone::UnderArm),
            _ => (Zone::Exit, SimZone::Exit),
        };
        let mut sensor: Box<dyn PresenceSensor> = match d.transport {
            Transport::Sim => Box::new(sim(d, lane)?.presence(sim_zone)),
            _ => wire.presence(d)?,
        };
        if zone == Zone::UnderArm {
            if let Some(tx) = under_arm_tx.take() {
                sensor = Box::new(Interlocked { inner: sensor, tx });
            }
        }
        presence.push((d.name.clone(), zone, sensor));
    }
    let mut barrier = None;
    for d in &cfg.devices {
        let name = d.name.clone();
        let real = !matches!(d.transport, Transport::Sim);
        match d.kind {
            DeviceKind::Presence => {}
            DeviceKind::Barrier => {
                let b: Box<dyn Barrier> = match real {
                    false => Box::new(SimBarrier::new(sim(d, lane)?.clone(), &name)),
                    true if under_arm_tx.is_some() => return Err(BuildError::NoUnderArm(name)),
                    true => wire.barrier(d, under_arm.clone(), cfg.timeouts.barrier)?,
                };
                barrier = Some((name, Arc::new(Mutex::new(b))));
            }
            DeviceKind::AreaCamera => {
                let (kind, view) = match d.role {
                    Role::Plate => (CaptureKind::PlateImage, CameraView::Plate),
                    _ => (CaptureKind::ContainerImage, CameraView::Container),
                };
                let cam: Box<dyn AreaCamera> = match real {
                    false => Box::new(SimCamera::new(sim(d, lane)?.clone(), &name, view)),
                    true => wire.camera(d)?,
                };
                capturers.insert(name, (kind, Arc::new(Mutex::new(Capturer::Camera(cam)))));
            }
            DeviceKind::UnderVehicleCamera => {
                let uvss: Box<dyn UnderVehicleCamera> = match real {
                    false => Box::new(SimUvss::new(sim(d, lane)?.clone(), &name)),
                    true => wire.uvss(d)?,
                };
                capturers.insert(name, (CaptureKind::UvssScan, Arc::new(Mutex::new(Capturer::Uvss(uvss)))));
            }
            DeviceKind::SealReader => {
                let reader: Box<dyn SealReader> = match real {
                    false => Box::new(SimSealReader::new(sim(d, lane)?.clone(), &name)),
                    true => wire.seal_reader(d)?,
                };
                capturers.insert(name, (CaptureKind::Seals, Arc::new(Mutex::new(Capturer::Seals(reader)))));
            }
            DeviceKind::EmptyBoxDetector => {
                let det: Box<dyn EmptyBoxDetector> = match real {
                    false => Box::new(SimEmptyBox::new(sim(d, lane)?.clone(), &name)),
                    true => wire.empty_box(d)?,
                };
                empty_box = Some((name, Arc::new(Mutex::new(det))));
            }
        }
    }
    let barrier = barrier.expect("validation guarantees one barrier");
    Ok(Devices { barrier, presence, capturers, empty_box, health: wire.health })
}
