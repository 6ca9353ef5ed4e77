//! The lane reading what its cameras film with the real models: the simulated cameras render each
//! truck's plate and container code into a scene (`drivers::sim::Rendered`), PP-OCR and the plate
//! detector read them on ONNX Runtime, and the decision follows from the reads alone. A declared
//! truck is released and drives through; a truck carrying another box than the one declared is
//! held for the mismatch, the code in its hold being the one the camera filmed.
//!
//! One test, one lane: the models load once for this test binary. Needs the models
//! (`scripts/setup-models`) and the fonts `scripts/setup` installs.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{outcome, reasons, Running};
use drivers::sim::{CameraView, Footage, Rendered, SimPlan, SimTiming, SimVehicle};
use serde_json::Value;

/// A truck: its plate, the box its declaration names and the box it really carries.
struct Truck {
    plate: &'static str,
    declared: &'static str,
    carried: &'static str,
}

/// The second truck's box is not the declared one (a swapped container).
const TRUCKS: [Truck; 2] = [
    Truck { plate: "沪A5K921", declared: "CSQU3054383", carried: "CSQU3054383" },
    Truck { plate: "浙B62873", declared: "MSKU6735019", carried: "TGHU4185342" },
];

/// Stages the scripted trucks (their truth is what the simulated lane declares) and films what
/// each really carries.
struct Scripted(Rendered);

fn truck(v: &SimVehicle) -> Option<&'static Truck> {
    TRUCKS.get(usize::try_from(v.seq).ok()?.checked_sub(1)?)
}

impl Footage for Scripted {
    fn stage(&self, v: &mut SimVehicle) {
        let Some(t) = truck(v) else { return };
        v.plate = t.plate.into();
        v.containers = vec![t.declared.into()];
        v.seals.truncate(1);
        let mut filmed = v.clone();
        filmed.containers = vec![t.carried.into()];
        self.0.stage(&mut filmed);
    }

    fn picture(&self, v: &SimVehicle, view: CameraView) -> Option<drivers::Image> {
        let mut filmed = v.clone();
        if let Some(t) = truck(v) {
            filmed.containers = vec![t.carried.into()];
        }
        self.0.picture(&filmed, view)
    }
}

/// Messages until `done` holds for one, or the deadline: recognition on two shared cores under a
/// parallel test run can take a while, so the bound is generous.
fn until(run: &Running, what: &str, done: impl Fn(&str, &Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok((topic, v)) = run.rx.recv_timeout(left) else {
            panic!("no {what} within 180 s; decisions seen: {seen:#?}")
        };
        if done(&topic, &v) {
            return v;
        }
        if topic.ends_with("/decision") {
            seen.push(v);
        }
    }
}

fn plates(r: &Value) -> Vec<&str> {
    r["reads"]["plates"].as_array().map_or(vec![], |a| a.iter().filter_map(|p| p["text"].as_str()).collect())
}

fn codes(r: &Value) -> Vec<&str> {
    r["reads"]["containers"]
        .as_array()
        .map_or(vec![], |a| a.iter().filter_map(|c| c["code"].as_str()).collect())
}

#[test]
fn a_declared_truck_read_by_the_models_is_released_and_a_swapped_box_is_held() {
    let rendered = Rendered::system().expect("fonts for the rendered footage (scripts/setup)");
    let rt = common::runtime();
    // Drivers wait as long as recognition may take; the held one never leaves before the test ends.
    let timing = SimTiming { patience: Duration::from_secs(600), ..SimTiming::fast() };
    let plan = SimPlan { vehicles: 2, seed: 3, ..SimPlan::default() };
    let mut run = Running::start_reading(&rt, plan, timing, Arc::new(Scripted(rendered)));

    let first = until(&run, "record of the first truck", |t, v| t.ends_with("/passage") && v["seq"] == 1);
    let models = first["reads"]["models"].to_string();
    assert!(models.contains("PP-OCR") && !models.contains("sim-truth"), "read by the models: {models}");
    assert_eq!(plates(&first).first().copied(), Some(TRUCKS[0].plate), "{first:#}");
    assert_eq!(codes(&first), vec![TRUCKS[0].carried], "{first:#}");
    assert_eq!(outcome(&first), "release", "reasons {:?}: {first:#}", reasons(&first));
    assert_eq!(first["exit"], "drove_through");

    let held = until(&run, "decision on the second truck", |t, v| {
        t.ends_with("/decision") && v["plate"] == TRUCKS[1].plate
    });
    assert_eq!(held["decision"]["outcome"], "hold", "{held:#}");
    let why: Vec<&str> =
        held["decision"]["reasons"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(why.contains(&"container_mismatch"), "{held:#}");
    // The box the camera filmed, not the declared one the simulation knows.
    assert_eq!(held["containers"], serde_json::json!([TRUCKS[1].carried]), "{held:#}");
    run.stop(&rt);
}
