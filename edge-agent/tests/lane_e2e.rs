//! The agent as a real process on the simulated lane, publishing to a real
//! Mosquitto: 100 vehicles pass, 100 passage records with stage timings and a
//! decision arrive, and the retained status flips to offline on kill -9.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use hil_tests::{Mosquitto, Subscriber};
use serde_json::Value;

fn config(port: u16, data: &std::path::Path, vehicles: u64) -> String {
    // Same lane as the demo, at test speed, against the test's broker.
    let lane =
        hil_tests::demo_lane(&format!("host = \"127.0.0.1\"\nport = {port}"), &data.display().to_string())
            .replace("review = \"20s\"", "review = \"10s\"");
    format!(
        "{lane}\n[sim]\nvehicles = {vehicles}\nseed = 42\narrival_gap = \"5ms\"\nbarrier_move = \"5ms\"\ndrive_in = \"2ms\"\n\
         drive_clear = \"5ms\"\npatience = \"1s\"\nlow_confidence_every = 7\ntampered_seal_every = 9\n\
         declared_empty_every = 4\ntargeted_every = 11\nundeclared_every = 13\n"
    )
}

#[test]
fn hundred_vehicles_reach_central_and_kill_flips_status_offline() {
    let broker = Mosquitto::start();
    let sub = Subscriber::connect(broker.port, "lanectl/DEMO/G01/#");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lane.toml");
    std::fs::write(&file, config(broker.port, &dir.path().join("data"), 100)).unwrap();

    let mut agent = Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .args(["run", "--config"])
        .arg(&file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let mut records = Vec::new();
    let mut online = false;
    while records.len() < 100 {
        let Some((topic, payload, _)) = sub.next(Duration::from_secs(60)) else {
            let _ = agent.kill();
            panic!("only {} passage records arrived", records.len());
        };
        if topic.contains("/image/") {
            continue; // images: manifests and raw chunks, checked in outbox_e2e
        }
        let v: Value = serde_json::from_slice(&payload).expect("every other message is JSON");
        if topic.ends_with("/status") && v["state"] == "online" {
            online = true;
        }
        if topic.ends_with("/passage") {
            records.push(v);
        }
    }
    assert!(online, "the lane announced itself online");

    let ids: HashSet<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 100, "every record has its own id");
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for r in &records {
        assert_eq!(r["schema"], "lanectl.passage/1");
        let decision = &r["decision"];
        assert!(decision["outcome"].is_string(), "a decision in {}", r["id"]);
        let stages = r["stages"].as_array().unwrap();
        // A driver who gives up before the lane decided leaves after capture alone.
        let left_early =
            decision["reasons"].as_array().is_some_and(|w| w.iter().any(|w| w == "vehicle_left"));
        assert!(stages.len() >= if left_early { 1 } else { 3 }, "stage timings in {}", r["id"]);
        for s in stages {
            assert!(
                s["started_at"].is_string() && s["ended_at"].is_string() && s["duration_ms"].is_u64(),
                "{s}"
            );
        }
        let outcome = r["review"]["outcome"].as_str().or(decision["outcome"].as_str()).unwrap().to_string();
        let exit = r["exit"].as_str().unwrap();
        // No barrier opens without a release: only released vehicles drive through.
        assert_eq!(exit == "drove_through", outcome == "release", "{}: {outcome} but {exit}", r["id"]);
        *outcomes.entry(outcome).or_default() += 1;
    }
    // The plan mixes in problems: all three outcomes must show up.
    assert!(outcomes.len() == 3, "{outcomes:?}");
    assert!(outcomes["release"] > 50, "{outcomes:?}");

    agent.kill().unwrap(); // SIGKILL: no goodbye, the broker sends the last will
    agent.wait().unwrap();
    let mut offline = false;
    while let Some((topic, payload, _)) = sub.next(Duration::from_secs(20)) {
        if topic.ends_with("/status") {
            let v: Value = serde_json::from_slice(&payload).unwrap();
            if v["state"] == "offline" {
                offline = true;
                break;
            }
        }
    }
    assert!(offline, "the last will set the status offline");
    // A newcomer sees the retained offline status.
    let late = Subscriber::connect(broker.port, "lanectl/DEMO/G01/status");
    let (_, payload, retained) = late.next(Duration::from_secs(10)).expect("retained status");
    let v: Value = serde_json::from_slice(&payload).unwrap();
    assert!(retained);
    assert_eq!(v["state"], "offline");
}
