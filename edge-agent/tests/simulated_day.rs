//! A simulated day on one lane: declared and undeclared cargo, low-confidence
//! reads, tampered seals, targeted vehicles, empty containers, tailgaters, a
//! plate camera that drops out now and then, and the uplink's broker going
//! away twice while traffic goes on. Central (a subscriber on a real
//! Mosquitto) receives every record, and every vehicle gets exactly one final
//! decision; no barrier opens without a release (checked against the audit
//! trail itself), the audit trail verifies, and tampering with it is found.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use common::*;
use drivers::sim::{SimPlan, SimTiming};
use edge_agent::audit::{verify_file, Entry};
use hil_tests::{Mosquitto, Subscriber};
use serde_json::Value;

/// A morning: small enough for the default suite (about a minute on two
/// loaded cores), with everything the day has, outages included.
#[test]
fn a_morning_of_traffic() {
    day(120, 60);
}

/// A day of 1,000 vehicles, several minutes: run by `scripts/soak`.
#[test]
#[ignore]
fn a_day_of_traffic() {
    day(1000, 200);
}

/// Passage records in the lane's archive (kept before they are sent).
fn archived(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("records")).map_or(0, |d| {
        d.filter_map(Result::ok).filter(|e| e.path().extension().is_some_and(|x| x == "json")).count()
    })
}

/// What central received: one payload per id, a repeat (QoS 1 redelivery
/// after an outage) only ever byte-identical to the first.
#[derive(Default)]
struct Central {
    records: HashMap<String, Vec<u8>>,
    order: Vec<String>,
    decisions: HashMap<String, Vec<u8>>,
}

impl Central {
    fn take(&mut self, topic: &str, payload: Vec<u8>) {
        let (map, key) = if topic.ends_with("/passage") {
            (&mut self.records, "id")
        } else if topic.ends_with("/decision") {
            (&mut self.decisions, "passage")
        } else {
            return;
        };
        let v: Value = serde_json::from_slice(&payload).unwrap();
        let id = v[key].as_str().unwrap().to_string();
        match map.get(&id) {
            Some(first) => assert_eq!(first, &payload, "{id} arrived twice with different contents"),
            None => {
                if topic.ends_with("/passage") {
                    self.order.push(id.clone());
                }
                map.insert(id, payload);
            }
        }
    }
}

fn day(vehicles: usize, camera_every: usize) {
    let rt = runtime();
    let mut broker = Mosquitto::start_persistent();
    let sub = Subscriber::persistent(broker.port, "lanectl/DEMO/G01/#", "central-day");
    let plan = SimPlan {
        vehicles: vehicles as u64,
        seed: 2026,
        low_confidence_every: 7,
        tampered_seal_every: 11,
        uvss_anomaly_every: 0, // the under-vehicle comparison is not in the policy yet
        declared_empty_every: 5,
        targeted_every: 17,
        undeclared_every: 19,
        tailgate_every: 97.min(vehicles as u64 / 2),
        returning_every: 0,
    };
    // Held drivers back out after their patience; long enough that a loaded
    // machine still decides before a released driver gives up.
    let timing = SimTiming { patience: Duration::from_millis(500), ..SimTiming::fast() };
    let mut lane = Running::start_uplinked(&rt, plan, timing, broker.port);
    let data = lane.dir.path().to_path_buf();

    // The plate camera fails for a stretch every `camera_every` records; the
    // broker goes away twice, while the lane keeps deciding.
    let outages = [vehicles * 2 / 5, vehicles * 4 / 5];
    let mut central = Central::default();
    let mut last = Instant::now();
    let mut outages_done = 0;
    while central.records.len() < vehicles {
        let n = central.records.len();
        if outages.get(outages_done).is_some_and(|&at| n >= at) {
            outages_done += 1;
            broker.stop();
            let before = archived(&data);
            let until = Instant::now() + Duration::from_secs(60);
            while archived(&data) < before + 10 && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50)); // polling the archive, an observable
            }
            assert!(archived(&data) >= before + 10, "the lane kept deciding while the uplink was down");
            broker.start_again();
            last = Instant::now();
        }
        let Some((topic, payload, _)) = sub.next(Duration::from_millis(500)) else {
            assert!(
                last.elapsed() < Duration::from_secs(30),
                "stalled after {n} records (archived {})",
                archived(&data)
            );
            continue;
        };
        last = Instant::now();
        central.take(&topic, payload);
        let n = central.records.len();
        if n % camera_every == camera_every / 2 {
            lane.sim.set_down("plate-front", true);
        } else if n % camera_every == camera_every / 2 + 5 {
            lane.sim.set_down("plate-front", false);
        }
    }
    let records: Vec<Value> =
        central.order.iter().map(|id| serde_json::from_slice(&central.records[id]).unwrap()).collect();
    let decided = records.iter().filter(|r| !r["decision"].is_null()).count();
    // Decisions go out before their records; allow stragglers of the last outage.
    let until = Instant::now() + Duration::from_secs(30);
    while central.decisions.len() < decided && Instant::now() < until {
        if let Some((topic, payload, _)) = sub.next(Duration::from_millis(500)) {
            central.take(&topic, payload);
        }
    }
    lane.stop(&rt);
    assert_eq!(archived(&data), vehicles, "central has exactly what the lane archived");
    for r in &records {
        let id = r["id"].as_str().unwrap();
        match central.decisions.get(id) {
            Some(d) => {
                let d: Value = serde_json::from_slice(d).unwrap();
                assert_eq!(d["decision"], r["decision"], "the announced decision is the recorded one");
            }
            None => assert!(r["decision"].is_null(), "{id}: decision never reached central"),
        }
    }
    assert_eq!(central.decisions.len(), decided, "one decision per decided vehicle, no strays");

    // Exactly one final decision per vehicle (tailgaters, who never stopped, excepted and flagged).
    let mut outcomes = BTreeMap::<String, usize>::new();
    let mut reasons_seen = BTreeMap::<String, usize>::new();
    let mut ids = std::collections::HashSet::new();
    for r in &records {
        assert!(ids.insert(r["id"].as_str().unwrap().to_string()), "one record per vehicle");
        let faulted = r["flags"].as_array().unwrap().iter().any(|f| f == "barrier_fault");
        if r["exit"] == "tailgated" {
            assert!(
                r["decision"].is_null() && r["flags"].as_array().unwrap().iter().any(|f| f == "tailgate"),
                "{r}"
            );
            *outcomes.entry("tailgated".into()).or_default() += 1;
            continue;
        }
        assert!(r["decision"]["outcome"].is_string(), "a decision: {r}");
        let o = outcome(r).to_string();
        if r["exit"] == "drove_through" {
            // Or, under an arm still up for the vehicle before, flagged as the tailgate it is.
            let tailgated = r["flags"].as_array().unwrap().iter().any(|f| f == "tailgate");
            assert!(o == "release" || tailgated, "only released vehicles drive through unflagged: {r}");
        } else if o == "release" {
            // A drive that failed to open (on a badly loaded machine, a timeout)
            // leaves a released vehicle waiting; it may back out.
            assert!(faulted, "a released vehicle drives through unless the barrier failed: {r}");
        }
        for why in reasons(r) {
            *reasons_seen.entry(why.split(':').next().unwrap().to_string()).or_default() += 1;
        }
        *outcomes.entry(o).or_default() += 1;
    }
    println!("outcomes {outcomes:?}\nreasons {reasons_seen:?}");
    for expected in
        ["low_confidence", "seal_tampered", "not_declared", "targeted", "device_down", "capture_failed"]
    {
        assert!(reasons_seen.contains_key(expected), "the day had {expected}: {reasons_seen:?}");
    }
    assert!(outcomes["release"] > vehicles / 3, "{outcomes:?}");

    // Statistics from the archive agree with what central received.
    let stats = edge_agent::stats::from_archive(
        &lane.dir.path().join("records"),
        "DEMO",
        "G01",
        chrono::Duration::hours(24),
    )
    .unwrap();
    assert_eq!(stats.passages as usize, vehicles);
    for (o, n) in &outcomes {
        assert_eq!(stats.outcomes.get(o), Some(&(*n as u64)), "{o}: {stats:?}");
    }
    let direct =
        records.iter().filter(|r| r["review"].is_null() && r["decision"]["outcome"] == "release").count();
    assert!((stats.direct_release_ratio - direct as f64 / vehicles as f64).abs() < 1e-9);
    assert!(
        stats.time_in_lane_ms.p95 >= stats.time_in_lane_ms.mean as u64
            && stats.stages_ms.contains_key("capture")
    );
    println!("{}", edge_agent::cli::stats::render(&stats));

    // The audit trail: intact, and no barrier opening without a release before it.
    let data = data.as_path();
    let log = data.join("audit.log");
    let signer = edge_agent::signing::load_or_create(&data.join("signing.key"), "DEMO-G01").unwrap();
    let keys = vec![signer.key_entry()];
    let verified = verify_file(&log, &keys).expect("the audit trail verifies");
    assert!(verified.checkpoints as usize >= vehicles / 100, "{verified:?}");
    let entries: Vec<Entry> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut released = HashMap::<String, bool>::new();
    let mut decisions = HashMap::<String, usize>::new();
    for e in &entries {
        let Some(p) = &e.passage else { continue };
        match e.kind.as_str() {
            "decision" => {
                *decisions.entry(p.clone()).or_default() += 1;
                released.insert(p.clone(), e.data["outcome"] == "release");
            }
            "barrier" if e.data["op"] == "open" => {
                assert_eq!(released.get(p), Some(&true), "barrier opened for {p} without a release")
            }
            _ => {}
        }
    }
    let decided = records.iter().filter(|r| !r["decision"].is_null()).count();
    assert_eq!(decisions.len(), decided, "one decision entry per decided vehicle");
    assert!(decisions.values().all(|&n| n == 1), "exactly one decision each");

    // Tampering is found, whatever kind of entry it touches: each kind's
    // entry nearest the middle changed, deleted, swapped with the next.
    tampering_is_found(&log, &keys);
}

/// For every kind of entry in the trail at `log`, tampers with one and checks
/// `verify_file` finds it; the trail is left as it was.
fn tampering_is_found(log: &std::path::Path, keys: &[(String, ed25519_dalek::VerifyingKey)]) {
    let original = std::fs::read_to_string(log).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    let kind = |l: &str| serde_json::from_str::<Value>(l).unwrap()["kind"].as_str().unwrap().to_string();
    let mut picked = BTreeMap::<String, usize>::new();
    for (i, l) in lines.iter().enumerate() {
        // The last entry has no next one to swap with.
        if i + 1 < lines.len() {
            let mid = lines.len() / 2;
            let best = picked.entry(kind(l)).or_insert(i);
            if i.abs_diff(mid) < best.abs_diff(mid) {
                *best = i;
            }
        }
    }
    for kind in ["start", "passage", "decision", "barrier", "checkpoint"] {
        assert!(picked.contains_key(kind), "the day's trail has {kind} entries: {:?}", picked.keys());
    }
    let write = |lines: &[String]| std::fs::write(log, lines.join("\n") + "\n").unwrap();
    let owned: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    for (kind, &at) in &picked {
        let mut entry: Value = serde_json::from_str(lines[at]).unwrap();
        // Written back unchanged (keys in another order), the entry still verifies:
        // what the checks below find is the change, not the rewriting.
        let mut relaid = owned.clone();
        relaid[at] = entry.to_string();
        write(&relaid);
        verify_file(log, keys).unwrap_or_else(|e| panic!("{kind} entry rewritten unchanged: {e}"));

        tamper(&mut entry);
        let mut modified = owned.clone();
        modified[at] = entry.to_string();
        let mut deleted = owned.clone();
        deleted.remove(at);
        let mut swapped = owned.clone();
        swapped.swap(at, at + 1);
        for (what, tampered) in [("modified", modified), ("deleted", deleted), ("swapped", swapped)] {
            assert_ne!(tampered, owned, "{what} {kind} entry: the tampering changed nothing");
            write(&tampered);
            assert!(verify_file(log, keys).is_err(), "{what} {kind} entry (line {}) not detected", at + 1);
        }
    }
    std::fs::write(log, original).unwrap();
}

/// Changes one value of an audit entry as a forger would: a decision's outcome
/// turned round, otherwise the first value in its data, or its time.
fn tamper(entry: &mut Value) {
    if let Some(outcome) = entry["data"].get_mut("outcome").filter(|o| o.is_string()) {
        *outcome = if outcome == "release" { "hold".into() } else { "release".into() };
    } else if !change_first_value(&mut entry["data"]) {
        let at: chrono::DateTime<chrono::Utc> = serde_json::from_value(entry["at"].clone()).unwrap();
        entry["at"] = serde_json::to_value(at + chrono::Duration::milliseconds(1)).unwrap();
    }
}

/// Changes the first scalar found depth-first; false if there is none.
fn change_first_value(v: &mut Value) -> bool {
    match v {
        Value::Object(map) => map.values_mut().any(change_first_value),
        Value::Array(items) => items.iter_mut().any(change_first_value),
        Value::String(s) => {
            s.push('x');
            true
        }
        Value::Bool(b) => {
            *b = !*b;
            true
        }
        Value::Number(n) => {
            *v = match n.as_u64() {
                Some(u) => u.wrapping_add(1).into(),
                None => (n.as_f64().unwrap() + 1.0).into(),
            };
            true
        }
        Value::Null => {
            *v = true.into();
            true
        }
    }
}
