//! An in-process simulated lane: vehicles arrive, wait at the barrier, drive through
//! or back out, and every simulated device answers from the same shared world.
//!
//! This is the lane the demo and the lane-core tests run on before real drivers and
//! wire-level simulators exist; its timing runs on tokio time, so tests can pause it.

mod devices;
mod rendered;
mod traffic;
mod vehicle;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch, Notify};

pub use devices::{
    uvss_image, CameraView, SimBarrier, SimCamera, SimEmptyBox, SimPresence, SimSealReader, SimUvss,
};
pub use rendered::Rendered;
pub use traffic::{SimPlan, SimTiming, Traffic};
pub use vehicle::SimVehicle;

use crate::BarrierState;

/// Which presence sensor a simulated vehicle trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Zone {
    /// The capture zone in front of the barrier (arrival loop).
    Arrival,
    /// Under the barrier arm (safety loop or photocell).
    UnderArm,
    /// Beyond the barrier.
    Exit,
}

#[derive(Debug, Default)]
struct World {
    /// The vehicle standing in the capture zone, if any.
    at_capture: Option<SimVehicle>,
    barrier: Option<BarrierState>,
    /// Devices (by name) that currently fail every request.
    down: HashSet<String>,
    /// The barrier drive ignores commands (a stuck arm).
    barrier_stuck: bool,
    finished: u64,
    /// Recent vehicles, newest last, so the lane can look up what each declared.
    recent: std::collections::VecDeque<SimVehicle>,
}

/// A zone's state, plus every edge in order: a watch alone would merge a
/// vehicle leaving and the next arriving a moment later into no change at all.
struct ZoneSignal {
    state: watch::Sender<bool>,
    edges: broadcast::Sender<bool>,
}

impl ZoneSignal {
    fn new() -> Self {
        ZoneSignal { state: watch::channel(false).0, edges: broadcast::channel(256).0 }
    }
}

/// Real footage for a simulated lane: who each vehicle is and what the
/// cameras show of it, so real recognition has something to read (the
/// latency benchmark). Without it, cameras show a pattern and carry the truth.
pub trait Footage: Send + Sync {
    /// Makes the generated vehicle the one in the footage (plate, containers).
    fn stage(&self, vehicle: &mut SimVehicle);
    /// The image a camera looking at `view` takes of `vehicle`, if any.
    fn picture(&self, vehicle: &SimVehicle, view: CameraView) -> Option<crate::Image>;
}

/// Handle to the shared simulated world. Cheap to clone.
#[derive(Clone)]
pub struct SimLane {
    footage: Option<Arc<dyn Footage>>,
    world: Arc<Mutex<World>>,
    arrival: Arc<ZoneSignal>,
    under_arm: Arc<ZoneSignal>,
    exit: Arc<ZoneSignal>,
    barrier_moved: Arc<Notify>,
    pub timing: SimTiming,
}

impl SimLane {
    pub fn new(timing: SimTiming) -> Self {
        let world = World { barrier: Some(BarrierState::Closed), ..World::default() };
        SimLane {
            footage: None,
            world: Arc::new(Mutex::new(world)),
            arrival: Arc::new(ZoneSignal::new()),
            under_arm: Arc::new(ZoneSignal::new()),
            exit: Arc::new(ZoneSignal::new()),
            barrier_moved: Arc::new(Notify::new()),
            timing,
        }
    }

    /// The lane with real footage; set before devices are built from it.
    pub fn with_footage(mut self, footage: Arc<dyn Footage>) -> Self {
        self.footage = Some(footage);
        self
    }

    fn zone(&self, zone: Zone) -> &ZoneSignal {
        match zone {
            Zone::Arrival => &self.arrival,
            Zone::UnderArm => &self.under_arm,
            Zone::Exit => &self.exit,
        }
    }

    pub fn set_zone(&self, zone: Zone, occupied: bool) {
        let signal = self.zone(zone);
        if signal.state.send_replace(occupied) != occupied {
            let _ = signal.edges.send(occupied);
        }
    }

    pub fn occupied(&self, zone: Zone) -> bool {
        *self.zone(zone).state.borrow()
    }

    pub fn presence(&self, zone: Zone) -> SimPresence {
        let signal = self.zone(zone);
        SimPresence::new(signal.state.subscribe(), signal.edges.subscribe())
    }

    /// Makes a device fail (or recover) by name.
    pub fn set_down(&self, device: &str, down: bool) {
        let mut world = self.world.lock().unwrap();
        if down {
            world.down.insert(device.to_string());
        } else {
            world.down.remove(device);
        }
    }

    pub fn is_down(&self, device: &str) -> bool {
        self.world.lock().unwrap().down.contains(device)
    }

    pub fn set_barrier_stuck(&self, stuck: bool) {
        self.world.lock().unwrap().barrier_stuck = stuck;
    }

    pub fn barrier(&self) -> BarrierState {
        self.world.lock().unwrap().barrier.unwrap_or(BarrierState::Between)
    }

    fn set_barrier(&self, state: BarrierState) {
        self.world.lock().unwrap().barrier = Some(state);
        self.barrier_moved.notify_waiters();
    }

    fn barrier_stuck(&self) -> bool {
        self.world.lock().unwrap().barrier_stuck
    }

    pub fn vehicle_at_capture(&self) -> Option<SimVehicle> {
        self.world.lock().unwrap().at_capture.clone()
    }

    fn set_vehicle_at_capture(&self, vehicle: Option<SimVehicle>) {
        self.world.lock().unwrap().at_capture = vehicle;
    }

    fn remember(&self, vehicle: SimVehicle) {
        let mut world = self.world.lock().unwrap();
        if world.recent.len() >= 64 {
            world.recent.pop_front();
        }
        world.recent.push_back(vehicle);
    }

    /// A recent simulated vehicle with this plate: stands in for the
    /// pre-declarations central would push for it.
    pub fn recent_vehicle(&self, plate: &str) -> Option<SimVehicle> {
        self.world.lock().unwrap().recent.iter().rev().find(|v| v.plate == plate).cloned()
    }

    /// Vehicles that have left the lane (through the barrier or backing out).
    pub fn finished(&self) -> u64 {
        self.world.lock().unwrap().finished
    }

    fn count_finished(&self) {
        self.world.lock().unwrap().finished += 1;
    }

    /// Waits until the barrier is anywhere but `state` (woken by the barrier itself, no polling).
    pub async fn barrier_leaves(&self, state: BarrierState) {
        loop {
            let notified = self.barrier_moved.notified();
            if self.barrier() != state {
                return;
            }
            notified.await;
        }
    }

    /// Waits until the barrier reports `state`.
    pub async fn barrier_reaches(&self, state: BarrierState) {
        loop {
            let notified = self.barrier_moved.notified();
            if self.barrier() == state {
                return;
            }
            notified.await;
        }
    }
}
