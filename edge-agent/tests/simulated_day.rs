//! A simulated day on one lane: 1,000 vehicles with declared and undeclared
//! cargo, low-confidence reads, tampered seals,
//! targeted vehicles, empty containers, tailgaters and a plate camera that
//! drops out now and then. Every vehicle gets exactly one final decision, no
//! barrier opens without a release (checked against the audit trail itself),
//! the audit trail verifies, and tampering with it is found.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::*;
use drivers::sim::{SimPlan, SimTiming};
use edge_agent::audit::{verify_file, Entry};
use serde_json::Value;

const VEHICLES: usize = 1000;

/// Four minutes of traffic: run by `scripts/soak`. It stalled once (no passage
/// for 30 s after 447 vehicles) in three runs on a loaded machine; until that
/// is understood it stays out of the default suite rather than flake CI.
#[test]
#[ignore]
fn a_day_of_traffic() {
    let rt = runtime();
    let plan = SimPlan {
        vehicles: VEHICLES as u64,
        seed: 2026,
        low_confidence_every: 7,
        tampered_seal_every: 11,
        uvss_anomaly_every: 0, // the under-vehicle comparison is not in the policy yet
        declared_empty_every: 5,
        targeted_every: 17,
        undeclared_every: 19,
        tailgate_every: 97,
    };
    // Drivers wait long enough for a decision; held ones then back out.
    let timing = SimTiming { patience: Duration::from_millis(200), ..SimTiming::fast() };
    let mut lane = Running::start_with(&rt, plan, timing, |_| {});

    // Collect every record; the plate camera fails for a stretch every 200 vehicles.
    let mut records: Vec<Value> = Vec::new();
    while records.len() < VEHICLES {
        let (topic, v) = lane.rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| panic!("stalled after {} records", records.len()));
        if topic.ends_with("/passage") {
            records.push(v);
            match records.len() % 200 {
                100 => lane.sim.set_down("plate-front", true),
                110 => lane.sim.set_down("plate-front", false),
                _ => {}
            }
        }
    }
    lane.stop(&rt);

    // Exactly one final decision per vehicle (tailgaters, who never stopped, excepted and flagged).
    let mut outcomes = BTreeMap::<String, usize>::new();
    let mut reasons_seen = BTreeMap::<String, usize>::new();
    let mut ids = std::collections::HashSet::new();
    for r in &records {
        assert!(ids.insert(r["id"].as_str().unwrap().to_string()), "one record per vehicle");
        if r["exit"] == "tailgated" {
            assert!(r["decision"].is_null() && r["flags"].as_array().unwrap().iter().any(|f| f == "tailgate"), "{r}");
            *outcomes.entry("tailgated".into()).or_default() += 1;
            continue;
        }
        assert!(r["decision"]["outcome"].is_string(), "a decision: {r}");
        let o = outcome(r).to_string();
        assert_eq!(r["exit"] == "drove_through", o == "release", "only released vehicles drive through: {r}");
        for why in reasons(r) {
            *reasons_seen.entry(why.split(':').next().unwrap().to_string()).or_default() += 1;
        }
        *outcomes.entry(o).or_default() += 1;
    }
    println!("outcomes {outcomes:?}\nreasons {reasons_seen:?}");
    for expected in ["low_confidence", "seal_tampered", "not_declared", "targeted", "device_down", "capture_failed"] {
        assert!(reasons_seen.contains_key(expected), "the day had {expected}: {reasons_seen:?}");
    }
    assert!(outcomes["release"] > VEHICLES / 3, "{outcomes:?}");

    // Statistics from the archive agree with what central received.
    let stats = edge_agent::stats::from_archive(&lane.dir.path().join("records"), "DEMO", "G01", chrono::Duration::hours(24)).unwrap();
    assert_eq!(stats.passages as usize, VEHICLES);
    for (o, n) in &outcomes {
        assert_eq!(stats.outcomes.get(o), Some(&(*n as u64)), "{o}: {stats:?}");
    }
    let direct = records.iter().filter(|r| r["review"].is_null() && r["decision"]["outcome"] == "release").count();
    assert!((stats.direct_release_ratio - direct as f64 / VEHICLES as f64).abs() < 1e-9);
    assert!(stats.time_in_lane_ms.p95 >= stats.time_in_lane_ms.mean as u64 && stats.stages_ms.contains_key("capture"));
    println!("{}", edge_agent::stats::render(&stats));

    // The audit trail: intact, and no barrier opening without a release before it.
    let data = lane.dir.path();
    let log = data.join("audit.log");
    let signer = edge_agent::signing::ResultSigner::load_or_create(&data.join("signing.key"), "DEMO-G01").unwrap();
    let keys = vec![(signer.key_id.clone(), edge_agent::command::public_key(&signer.public_b64()).unwrap())];
    let verified = verify_file(&log, &keys).expect("the audit trail verifies");
    assert!(verified.checkpoints >= 10, "{verified:?}");
    let entries: Vec<Entry> = std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut released = HashMap::<String, bool>::new();
    let mut decisions = HashMap::<String, usize>::new();
    for e in &entries {
        let Some(p) = &e.passage else { continue };
        match e.kind.as_str() {
            "decision" => {
                *decisions.entry(p.clone()).or_default() += 1;
                released.insert(p.clone(), e.data["outcome"] == "release");
            }
            "barrier" if e.data["op"] == "open" => assert_eq!(released.get(p), Some(&true), "barrier opened for {p} without a release"),
            _ => {}
        }
    }
    let decided = records.iter().filter(|r| !r["decision"].is_null()).count();
    assert_eq!(decisions.len(), decided, "one decision entry per decided vehicle");
    assert!(decisions.values().all(|&n| n == 1), "exactly one decision each");

    // Tampering is found: one entry changed, one deleted, two swapped.
    let original = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    let mid = lines.len() / 2;
    let attempts: [Vec<String>; 3] = [
        lines.iter().enumerate().map(|(i, l)| if i == mid { l.replacen("\"hold\"", "\"release\"", 1).replacen("\"release\"", "\"hold\"", 1) } else { l.to_string() }).collect(),
        lines.iter().enumerate().filter(|(i, _)| *i != mid).map(|(_, l)| l.to_string()).collect(),
        {
            let mut v: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            v.swap(mid, mid + 1);
            v
        },
    ];
    for (what, tampered) in ["modified", "deleted", "swapped"].iter().zip(attempts) {
        if tampered.join("\n") == original.trim_end() {
            continue; // the modification found nothing to change in that entry
        }
        std::fs::write(&log, tampered.join("\n") + "\n").unwrap();
        assert!(verify_file(&log, &keys).is_err(), "{what} entry not detected");
    }
}
