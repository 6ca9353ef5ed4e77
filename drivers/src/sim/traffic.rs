//! The simulated drivers: each vehicle arrives, waits for the barrier, drives
//! through (or backs out when nobody releases it), and trips the loops on its way.

use std::collections::VecDeque;
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
    /// Every n-th vehicle is a truck that came through earlier in the same run: it carries the
    /// plate (and so the chassis the scanner sees and the front the plate camera films) of an
    /// earlier vehicle the plan gave no trait, chosen from the seed; its load, seals and
    /// declaration are this trip's. Its under-vehicle scan then has a reference to be compared
    /// with (a first visit has none).
    pub returning_every: u64,
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
            returning_every: 0,
        }
    }
}

fn every(n: u64, seq: u64) -> bool {
    n != 0 && seq % n == 0
}

/// How many earlier vehicles a returning one may be: a few hours of a lane's traffic, and
/// bounded memory for an endless plan.
const RECALLED: usize = 32;

impl SimPlan {
    /// The first `n` vehicles `run_traffic` will send, in order (tests prepare for them).
    pub fn vehicles(&self, n: u64) -> Vec<SimVehicle> {
        self.traffic().take(n as usize).collect()
    }

    /// The plan's vehicles in the order `run_traffic` sends them (endless; `vehicles` is
    /// not applied).
    pub fn traffic(&self) -> Traffic {
        Traffic {
            plan: self.clone(),
            rng: SmallRng::seed_from_u64(self.seed),
            seq: 0,
            recalled: VecDeque::new(),
        }
    }

    fn vehicle(&self, seq: u64, rng: &mut SmallRng) -> SimVehicle {
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

    /// A vehicle the plan gives no trait: the lane releases it on its own, so its clean scan
    /// becomes its plate's reference and a later visit is compared with it.
    fn plain(&self, seq: u64) -> bool {
        ![
            self.low_confidence_every,
            self.tampered_seal_every,
            self.uvss_anomaly_every,
            self.declared_empty_every,
            self.tailgate_every,
            self.targeted_every,
            self.undeclared_every,
            self.returning_every,
        ]
        .into_iter()
        .any(|n| every(n, seq))
    }
}

/// The plan's vehicles one after the other (see [`SimPlan::traffic`]).
pub struct Traffic {
    plan: SimPlan,
    rng: SmallRng,
    seq: u64,
    /// Plain vehicles so far (seq, plate), oldest first: the trucks that may come back.
    recalled: VecDeque<(u64, String)>,
}

impl Iterator for Traffic {
    type Item = SimVehicle;

    fn next(&mut self) -> Option<SimVehicle> {
        self.seq += 1;
        let seq = self.seq;
        // The random draws are the same with or without returning vehicles (a returning one
        // draws its plate and drops it), so turning them on changes plates and nothing else.
        let mut v = self.plan.vehicle(seq, &mut self.rng);
        if every(self.plan.returning_every, seq) {
            // Not the vehicle just in front: it may still be in the lane (or tailgated by this one).
            let earlier: Vec<&(u64, String)> = self.recalled.iter().filter(|(s, _)| *s + 1 < seq).collect();
            if !earlier.is_empty() {
                // Its own generator, so the choice does not shift the draws of the vehicles after it.
                let mut pick =
                    SmallRng::seed_from_u64(self.plan.seed ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let (first, plate) = earlier[pick.gen_range(0..earlier.len())];
                v.plate = plate.clone();
                v.returning = Some(*first);
            }
        } else if self.plan.plain(seq) {
            if self.recalled.len() == RECALLED {
                self.recalled.pop_front();
            }
            self.recalled.push_back((seq, v.plate.clone()));
        }
        Some(v)
    }
}

impl SimLane {
    /// Sends the plan's vehicles into the lane, one after the other. Returns when
    /// the last one has left (never, for an endless plan).
    pub async fn run_traffic(self, plan: SimPlan) {
        let sent = match plan.vehicles {
            0 => usize::MAX,
            n => usize::try_from(n).unwrap_or(usize::MAX),
        };
        for mut vehicle in plan.traffic().take(sent) {
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
            let (seq, returning) = (vehicle.seq, vehicle.returning);
            tracing::debug!(seq, plate = %vehicle.plate, ?returning, "sim vehicle arrives");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn demo_like(seed: u64, returning_every: u64) -> SimPlan {
        SimPlan {
            seed,
            low_confidence_every: 7,
            tampered_seal_every: 9,
            uvss_anomaly_every: 6,
            declared_empty_every: 4,
            targeted_every: 11,
            undeclared_every: 13,
            tailgate_every: 17,
            returning_every,
            ..SimPlan::default()
        }
    }

    #[test]
    fn returning_vehicles_reuse_an_earlier_plain_vehicles_plate() {
        for seed in [1, 7, 14, 21] {
            let plan = demo_like(seed, 3);
            let vehicles = plan.vehicles(60);
            let mut returned = 0;
            for v in &vehicles {
                let Some(first) = v.returning else {
                    assert!(!every(3, v.seq) || v.seq < 3, "seed {seed}: #{} should return", v.seq);
                    continue;
                };
                returned += 1;
                assert!(every(3, v.seq), "only every 3rd vehicle returns");
                assert!(first + 1 < v.seq, "never the vehicle just in front: #{} of #{first}", v.seq);
                let earlier = &vehicles[first as usize - 1];
                assert_eq!(v.plate, earlier.plate, "seed {seed}: #{} carries #{first}'s plate", v.seq);
                assert!(plan.plain(first) && earlier.returning.is_none(), "#{first} has a trait");
                // The plan's traits still apply to the returning vehicle itself.
                assert_eq!(v.uvss_anomaly, every(6, v.seq));
                assert_eq!(v.declared, !every(13, v.seq));
                assert_eq!(v.targeted, every(11, v.seq));
            }
            assert_eq!(returned, 20, "seed {seed}: every 3rd of #3..#60 (#1 is plain)");
            // Deterministic by seed.
            assert_eq!(plan.vehicles(60), vehicles);
        }
        assert_ne!(demo_like(7, 3).vehicles(30), demo_like(8, 3).vehicles(30));
    }

    #[test]
    fn returning_is_off_by_default_and_changes_plates_only() {
        assert_eq!(SimPlan::default().returning_every, 0);
        let without = demo_like(7, 0).vehicles(40);
        assert!(without.iter().all(|v| v.returning.is_none()));
        let with = demo_like(7, 3).vehicles(40);
        for (a, b) in without.iter().zip(&with) {
            let plate_only = SimVehicle { plate: a.plate.clone(), returning: None, ..b.clone() };
            assert_eq!(a, &plate_only, "#{}: only the plate differs", a.seq);
            assert_eq!(a.plate == b.plate, b.returning.is_none(), "#{}", a.seq);
        }
    }
}
