//! Building the lane's devices from configuration: the third configuration step.
//! Each device is opened here and nowhere else.

use std::collections::BTreeMap;
use std::sync::Arc;

use drivers::sim::{CameraView, SimBarrier, SimCamera, SimEmptyBox, SimLane, SimSealReader, SimUvss, Zone as SimZone};
use drivers::{AreaCamera, Barrier, EmptyBoxDetector, PresenceSensor, SealReader, UnderVehicleCamera};
use tokio::sync::Mutex;

use crate::config::{DeviceConfig, DeviceKind, LaneConfig, Role, Transport};
use crate::flow::Zone;
use crate::record::CaptureKind;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("device `{device}`: the {transport} transport is not available in this build of edge-agent")]
    Unsupported { device: String, transport: &'static str },
    #[error("device `{0}` uses the sim transport but the lane has no simulation")]
    NoSim(String),
}

/// A device that captures something for a passage.
pub enum Capturer {
    Camera(Box<dyn AreaCamera>),
    Uvss(Box<dyn UnderVehicleCamera>),
    Seals(Box<dyn SealReader>),
}

pub type Shared<T> = Arc<Mutex<T>>;

pub struct Devices {
    pub barrier: (String, Shared<Box<dyn Barrier>>),
    pub presence: Vec<(String, Zone, Box<dyn PresenceSensor>)>,
    pub capturers: BTreeMap<String, (CaptureKind, Shared<Capturer>)>,
    pub empty_box: Option<(String, Shared<Box<dyn EmptyBoxDetector>>)>,
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
    let mut barrier = None;
    let mut presence = Vec::new();
    let mut capturers = BTreeMap::new();
    let mut empty_box = None;
    for d in &cfg.devices {
        let name = d.name.clone();
        match d.kind {
            DeviceKind::Barrier => {
                let b: Box<dyn Barrier> = Box::new(SimBarrier::new(sim(d, lane)?.clone(), &name));
                barrier = Some((name, Arc::new(Mutex::new(b))));
            }
            DeviceKind::Presence => {
                let (zone, sim_zone) = match d.role {
                    Role::Arrival => (Zone::Arrival, SimZone::Arrival),
                    Role::UnderArm => (Zone::UnderArm, SimZone::UnderArm),
                    _ => (Zone::Exit, SimZone::Exit),
                };
                let sensor: Box<dyn PresenceSensor> = Box::new(sim(d, lane)?.presence(sim_zone));
                presence.push((name, zone, sensor));
            }
            DeviceKind::AreaCamera => {
                let (kind, view) = match d.role {
                    Role::Plate => (CaptureKind::PlateImage, CameraView::Plate),
                    _ => (CaptureKind::ContainerImage, CameraView::Container),
                };
                let cam = SimCamera::new(sim(d, lane)?.clone(), &name, view);
                capturers.insert(name, (kind, Arc::new(Mutex::new(Capturer::Camera(Box::new(cam))))));
            }
            DeviceKind::UnderVehicleCamera => {
                let uvss = SimUvss::new(sim(d, lane)?.clone(), &name);
                capturers.insert(name, (CaptureKind::UvssScan, Arc::new(Mutex::new(Capturer::Uvss(Box::new(uvss))))));
            }
            DeviceKind::SealReader => {
                let reader = SimSealReader::new(sim(d, lane)?.clone(), &name);
                capturers.insert(name, (CaptureKind::Seals, Arc::new(Mutex::new(Capturer::Seals(Box::new(reader))))));
            }
            DeviceKind::EmptyBoxDetector => {
                let det: Box<dyn EmptyBoxDetector> = Box::new(SimEmptyBox::new(sim(d, lane)?.clone(), &name));
                empty_box = Some((name, Arc::new(Mutex::new(det))));
            }
        }
    }
    let barrier = barrier.expect("validation guarantees one barrier");
    Ok(Devices { barrier, presence, capturers, empty_box })
}
