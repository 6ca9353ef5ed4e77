//! The simulated drivers: each vehicle arrives, waits for the barrier, drives
//! through (or backs out when nobody releases it), and trips the loops on its way.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::{sleep, timeout};

use super::{SimLane, SimVehicle, Zone};
use crate::{BarrierState, EmptyVerdict, SealStatus};

/// How the simulated world moves. Real lanes take seconds; tests take milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimTiming {
    /// Gap between one vehicle leaving the capture zone and the next arriving.
    pub arrival_gap: Duration,
    /// Barrier travel between its limits.
    pub barrier_move: Duration,
    /// From the barrier reaching open to the vehicle's nose under the arm.
    pub drive_in: Duration,
    /// Time a vehicle takes to pass a loop.
    pub drive_clear: Duration,
    /// How long a driver waits at a closed barrier before backing out.
    pub patience: Duration,
}

impl SimTiming {
    pub fn fast() -> Self {
        SimTiming {
            arrival_gap: Duration::from_millis(20),
            barrier_move: Duration::from_millis(20),
            drive_in: Duration::from_millis(10),
            drive_clear: Duration::from_millis(20),
            patience: Duration::from_millis(300),
        }
    }
}

/// Which vehicles the simulation sends, and which of them carry a problem.
/// `every_n` fields: every n-th vehicle has that trait; 0 = never.
#[derive(Debug, Clone, PartialEq)]
pub struct SimPlan {
    /// Vehicles to send; 0 = until stopped.
    pub vehicles: u64,
    pub seed: u64,
    pub low_confidence_every: u64,
    pub tampered_seal_every: u64,
    pub uvss_anomaly_every: u64,
    pub declared_empty_every: u64,
    pub tailgate_every: u64,
    pub targeted_every: u64,
    pub undeclared_every: u64,
}

impl Default for SimPlan {
    fn default() -> Self {
        SimPlan {
            vehicles: 0,
            seed: 1,
            low_confidence_every: 0,
            tampered_seal_every: 0,
            uvss_anomaly_every: 0,
            declared_empty_every: 0,
            tailgate_every: 0,
            targeted_every: 0,
            undeclared_every: 0,
        }
    }
}

fn every(n: u64, seq: u64) -> bool {
    n != 0 && seq % n == 0
}

impl SimPlan {
    /// The first `n` vehicles `run_traffic` will send, in order (tests prepare for them).
    pub fn vehicles(&self, n: u64) -> Vec<SimVehicle> {
        let mut rng = SmallRng::seed_from_u64(self.seed);
        (1..=n).map(|seq| self.vehicle(seq, &mut rng)).collect()
    }

    pub fn vehicle(&self, seq: u64, rng: &mut SmallRng) -> SimVehicle {
        let mut v = SimVehicle::random(seq, rng);
        if every(self.low_confidence_every, seq) {
            v.read_confidence = rng.gen_range(0.3..0.6);
        }
        if every(self.tampered_seal_every, seq) {
            if let Some(seal) = v.seals.first_mut() {
                seal.status = SealStatus::Tampered;
            }
        }
        v.uvss_anomaly = every(self.uvss_anomaly_every, seq);
        if every(self.declared_empty_every, seq) {
            v.empty = Some(EmptyVerdict::Empty);
            v.seals.clear();
        }
        v.tailgates = every(self.tailgate_every, seq) && seq > 1;
        v.targeted = every(self.targeted_every, seq);
        v.declared = !every(self.undeclared_every, seq);
        v
    }
}

impl SimLane {
    /// Sends the plan's vehicles into the lane, one after the other. Returns when
    /// the last one has left (never, for an endless plan).
    pub async fn run_traffic(self, plan: SimPlan) {
        let mut rng = SmallRng::seed_from_u64(plan.seed);
        let mut seq = 0;
        loop {
            seq += 1;
            if plan.vehicles != 0 && seq > plan.vehicles {
                break;
            }
            let mut vehicle = plan.vehicle(seq, &mut rng);
            if let Some(footage) = self.footage.clone() {
                // Footage may render frames here (CPU work): off the runtime's threads.
                vehicle = tokio::task::spawn_blocking(move || {
                    footage.stage(&mut vehicle);
                    vehicle
                })
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            }
            if vehicle.tailgates {
                // Close behind the one in front: arrive as soon as it leaves the loop.
                self.wait_zone(Zone::Arrival, false).await;
            } else {
                self.wait_lane_empty().await;
                sleep(self.timing.arrival_gap).await;
            }
            tracing::debug!(seq, plate = %vehicle.plate, "sim vehicle arrives");
            self.remember(vehicle.clone());
            self.set_vehicle_at_capture(Some(vehicle.clone()));
            self.set_zone(Zone::Arrival, true);
            let lane = self.clone();
            if vehicle.tailgates {
                tokio::spawn(async move { lane.tailgate().await });
            } else {
                tokio::spawn(async move { lane.drive(vehicle).await });
            }
        }
        self.wait_lane_empty().await;
    }

    async fn wait_zone(&self, zone: Zone, occupied: bool) {
        let mut rx = self.zone(zone).state.subscribe();
        let _ = rx.wait_for(|&o| o == occupied).await;
    }

    async fn wait_lane_empty(&self) {
        loop {
            self.wait_zone(Zone::Arrival, false).await;
            self.wait_zone(Zone::UnderArm, false).await;
            self.wait_zone(Zone::Exit, false).await;
            if !self.occupied(Zone::Arrival) && self.barrier() == BarrierState::Closed {
                return;
            }
            self.barrier_reaches(BarrierState::Closed).await;
        }
    }

    /// An ordinary driver: waits for the barrier, or backs out when it stays shut.
    async fn drive(&self, vehicle: SimVehicle) {
        let opened = timeout(self.timing.patience, self.barrier_reaches(BarrierState::Opened)).await;
        if opened.is_err() {
            tracing::debug!(seq = vehicle.seq, "sim vehicle backs out");
            self.set_vehicle_at_capture(None);
            self.set_zone(Zone::Arrival, false);
            self.count_finished();
            return;
        }
        sleep(self.timing.drive_in).await;
        self.pass_the_arm().await;
    }

    /// Drives under the arm and out of the lane.
    async fn pass_the_arm(&self) {
        self.set_zone(Zone::UnderArm, true);
        sleep(self.timing.drive_clear / 2).await;
        self.set_vehicle_at_capture(None);
        self.set_zone(Zone::Arrival, false);
        sleep(self.timing.drive_clear / 2).await;
        self.set_zone(Zone::UnderArm, false);
        self.set_zone(Zone::Exit, true);
        sleep(self.timing.drive_clear).await;
        self.set_zone(Zone::Exit, false);
        self.count_finished();
    }

    /// Follows the vehicle in front under the arm before it closes; if the arm is
    /// already down, waits its turn like everyone else.
    async fn tailgate(&self) {
        if self.barrier() == BarrierState::Opened {
            self.wait_zone(Zone::UnderArm, false).await;
            if self.barrier() != BarrierState::Closed {
                self.pass_the_arm().await;
                return;
            }
        }
        if let Some(v) = self.vehicle_at_capture() {
            self.drive(v).await;
        }
    }
}
