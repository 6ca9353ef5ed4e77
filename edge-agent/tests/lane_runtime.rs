//! The lane runtime on the in-process simulated lane, messages collected at the
//! publishing boundary: device faults, a stuck barrier and tailgaters, and what
//! the lane does about each.

mod common;

use common::*;
use std::time::Duration;

use drivers::sim::{SimPlan, SimTiming};
use serde_json::Value;

#[test]
fn every_vehicle_gets_one_record_and_only_released_ones_drive_through() {
    let rt = runtime();
    let plan = SimPlan {
        vehicles: 30,
        seed: 5,
        low_confidence_every: 4,
        tampered_seal_every: 5,
        targeted_every: 7,
        tailgate_every: 9,
        ..SimPlan::default()
    };
    let lane = Running::start(&rt, plan, |_| {});
    let (records, others) = lane.passages(30);
    let mut ids = std::collections::HashSet::new();
    for r in &records {
        assert!(ids.insert(r["id"].as_str().unwrap().to_string()), "one record per vehicle");
        let exit = r["exit"].as_str().unwrap();
        match exit {
            "drove_through" => assert_eq!(outcome(r), "release", "{r}"),
            "left_unreleased" => assert_ne!(outcome(r), "release", "{r}"),
            "tailgated" => assert!(r["decision"].is_null()),
            other => panic!("exit {other}"),
        }
    }
    // Vehicles 9, 18 and 27 follow closely; they can only slip through behind a
    // released vehicle (8 is held with this seed, so 9 waits its turn).
    let tailgated: Vec<u64> =
        records.iter().filter(|r| r["exit"] == "tailgated").map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(tailgated.len(), 2, "{tailgated:?}");
    for seq in &tailgated {
        let front = records.iter().find(|r| r["seq"] == seq - 1).unwrap();
        assert_eq!(front["exit"], "drove_through");
        assert!(front["flags"].as_array().unwrap().iter().any(|f| f == "tailgate"), "{front}");
    }
    let alarms = others.iter().filter(|(t, v)| t.ends_with("/alarm") && v["kind"] == "tailgate").count();
    assert_eq!(alarms, tailgated.len());
    assert!(records.iter().any(|r| reasons(r).contains(&"seal_tampered")));
    assert!(records.iter().any(|r| reasons(r).contains(&"low_confidence")));
    assert!(records.iter().any(|r| outcome(r) == "inspection" && reasons(r).contains(&"targeted")));
    assert_eq!(lane.sim.finished(), 30, "every simulated vehicle left the lane");
}

#[test]
fn a_camera_that_drops_out_holds_vehicles_until_it_returns() {
    let rt = runtime();
    let plan = SimPlan { vehicles: 0, seed: 9, ..SimPlan::default() };
    let lane = Running::start(&rt, plan, |sim| sim.set_down("plate-front", true));
    let (records, others) = lane.passages(2);
    for r in &records {
        assert_eq!(outcome(r), "hold");
        let why = reasons(r);
        assert!(why.contains(&"capture_failed:plate-front"), "{why:?}");
        assert!(why.contains(&"device_down:plate-front"), "{why:?}");
        assert_eq!(r["exit"], "left_unreleased");
    }
    let down =
        others.iter().any(|(t, v)| t.ends_with("/health/plate-front") && v["health"]["state"] == "down");
    assert!(down, "health event for the camera");

    lane.sim.set_down("plate-front", false);
    let mut healed = false;
    let mut released = false;
    for _ in 0..6 {
        let (records, others) = lane.passages(1);
        healed |=
            others.iter().any(|(t, v)| t.ends_with("/health/plate-front") && v["health"]["state"] == "ok");
        released |= outcome(&records[0]) == "release";
        if healed && released {
            break;
        }
    }
    assert!(healed && released, "the camera recovered and vehicles are released again");
}

#[test]
fn a_stuck_barrier_raises_a_fault_and_the_vehicle_is_held() {
    let rt = runtime();
    let plan = SimPlan { vehicles: 2, seed: 3, ..SimPlan::default() };
    let lane = Running::start(&rt, plan, |sim| sim.set_barrier_stuck(true));
    let (records, others) = lane.passages(2);
    let first = &records[0];
    assert_eq!(first["exit"], "left_unreleased", "{first}");
    let flags: Vec<&str> = first["flags"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(flags, ["barrier_fault"]);
    let stages: Vec<&str> =
        first["stages"].as_array().unwrap().iter().filter_map(|s| s["stage"].as_str()).collect();
    assert_eq!(
        stages,
        ["capture", "recognition", "decision", "opening", "review"],
        "held after the failed opening"
    );
    // From then on the barrier counts as down: vehicles wait for a person, whose
    // release is the next attempt to move it.
    assert_eq!(outcome(&records[1]), "hold");
    assert!(reasons(&records[1]).contains(&"device_down:barrier"), "{:?}", reasons(&records[1]));
    assert!(others.iter().any(|(t, v)| t.ends_with("/alarm") && v["kind"] == "barrier_fault"));
    assert_eq!(lane.sim.barrier(), drivers::BarrierState::Closed, "never left half-open by the software");
}

/// A drive slower than the lane's barrier timeout (a loaded machine looks the
/// same to the lane): every move "fails" though the arm gets there. The lane
/// reads the arm again after each fault and closes it once nobody needs it up,
/// so traffic keeps flowing. Before, the simulated day stalled this way.
#[test]
fn a_barrier_slower_than_its_timeout_never_stops_the_lane() {
    let rt = runtime();
    let plan = SimPlan { vehicles: 3, seed: 5, ..SimPlan::default() };
    let timing = SimTiming {
        barrier_move: Duration::from_millis(700),
        patience: Duration::from_millis(1500),
        ..SimTiming::fast()
    };
    let lane = Running::start_with(&rt, plan, timing, |_| {});
    let (records, others) = lane.passages(3);
    let first = &records[0];
    assert_eq!(outcome(first), "release", "{first}");
    assert_eq!(first["exit"], "drove_through", "the arm came up late and the released vehicle went: {first}");
    assert!(first["flags"].as_array().unwrap().iter().any(|f| f == "barrier_fault"), "{first}");
    let alarms = others.iter().filter(|(t, v)| t.ends_with("/alarm") && v["kind"] == "barrier_fault").count();
    assert!(alarms >= 1);
    // Each late move puts the barrier down; the reading that finds the arm where that move sent
    // it puts it back up (before, it stayed down until a move made it in time: here, never).
    let barrier: Vec<&str> = others
        .iter()
        .filter(|(t, _)| t.ends_with("/health/barrier"))
        .filter_map(|(_, v)| v["health"]["state"].as_str())
        .collect();
    let down = barrier.iter().position(|s| *s == "down").expect("a late move counts as a fault");
    assert!(barrier[down..].contains(&"ok"), "ok again once the arm got there: {barrier:?}");
    // The sim's drivers only come forward to a closed barrier, so the later
    // records (passages() panics after 20 s without one) show the lane closed
    // the arm the drive had left up.
    assert_eq!(records.iter().filter(|r| r["exit"] == "tailgated").count(), 0);
}
