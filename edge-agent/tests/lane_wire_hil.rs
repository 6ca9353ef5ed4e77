//! The lane loop itself on wire-level devices (the `lane-sim` simulators,
//! in-process): Modbus loops and barrier on a PTY, the seal reader on a PTY,
//! UVSS and the empty-box detector over TCP, the plate camera over HTTP. What
//! the lane does when they are silent as it starts (health `down` published
//! with the reason; the barrier's position not assumed), when they answer
//! (`ok`, by itself, the barrier read), and with a vehicle it cannot read
//! (held, with the reason, captures from the real drivers in its record). The
//! decision table itself is tested on the in-process lane.

mod common;

use std::collections::HashMap;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::{outcome, reasons, runtime, Collector};
use edge_agent::lane::Lane;
use hil_tests::sim::lane::{agent_lane_file, start, LaneSimOptions};
use hil_tests::sim::modbus::ARRIVAL_INPUT;
use hil_tests::sim::Scenario;
use serde_json::Value;

type Book = HashMap<String, (String, Option<String>)>;

/// Messages from the lane, with the latest health state per device.
struct Watch {
    rx: mpsc::Receiver<(String, Value)>,
    health: Book,
}

impl Watch {
    /// Reads messages until `done` says so; returns the message that satisfied it.
    fn until(&mut self, what: &str, done: impl Fn(&Book, &str, &Value) -> bool) -> (String, Value) {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let (topic, v) = self.rx.recv_timeout(left).unwrap_or_else(|_| panic!("never: {what}; health {:?}", self.health));
            if let Some(device) = topic.split("/health/").nth(1) {
                let h = &v["health"];
                self.health.insert(device.to_string(), (h["state"].as_str().unwrap().to_string(), h["reason"].as_str().map(str::to_string)));
            }
            if done(&self.health, &topic, &v) {
                return (topic, v);
            }
        }
    }
}

/// Devices whose drivers notice silence while the lane is idle (polled loops,
/// heartbeats, status queries) and the barrier, read at start.
const WATCHED: [&str; 5] = ["arrival-loop", "arm-loop", "barrier", "uvss", "empty-box"];

fn all(h: &Book, state: &str) -> bool {
    WATCHED.iter().all(|d| h.get(*d).is_some_and(|(s, _)| s == state))
}

#[test]
fn devices_silent_at_start_are_down_then_come_back_and_an_unreadable_vehicle_is_held() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let sim = rt.block_on(start(LaneSimOptions { scenario: Scenario::Silent, ..LaneSimOptions::quiet(dir.path()) })).unwrap();
    let ep = serde_json::to_value(&sim.endpoints).unwrap();
    // No recognition models: every vehicle is held with that reason.
    let text = agent_lane_file(&ep, dir.path()) + "\n[recognition]\nmodels_dir = \"/nonexistent/edge-agent-models\"\n";
    let cfg = edge_agent::config::from_str(&dir.path().join("lane.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
    let (tx, rx) = mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let lane = {
        let _rt = rt.enter();
        Lane::new(cfg, None, Arc::new(Collector(Mutex::new(tx)))).unwrap()
    };
    let running = rt.spawn(lane.run(async { stopped.await.ok(); }));
    let mut watch = Watch { rx, health: HashMap::new() };

    watch.until("every watched device down", |h, _, _| all(h, "down"));
    for d in WATCHED {
        let reason = watch.health[d].1.clone().unwrap_or_default();
        assert!(reason.len() > 10, "{d} is down with a reason: {reason:?}");
    }
    sim.ctl.set(Scenario::Normal);
    watch.until("every watched device ok, by itself", |h, _, _| all(h, "ok"));

    // A vehicle on the arrival loop: captured through the real drivers, held.
    sim.gate.set_input(ARRIVAL_INPUT, true);
    sim.uvss.drive_over();
    let (_, decision) = watch.until("a decision", |_, t, _| t.ends_with("/decision"));
    assert_eq!(decision["decision"]["outcome"], "hold", "{decision}");
    sim.gate.set_input(ARRIVAL_INPUT, false);
    let (_, record) = watch.until("the passage record", |_, t, _| t.ends_with("/passage"));
    assert_eq!(outcome(&record), "hold", "{record:#}");
    assert!(reasons(&record).contains(&"recognition_failed"), "{:?}", reasons(&record));
    assert_eq!(record["exit"], "left_unreleased");
    let captured = |device: &str| record["captures"].as_array().unwrap().iter().find(|c| c["device"] == device).cloned().unwrap_or_default();
    assert!(captured("plate")["image"].is_object(), "the plate camera's snapshot over HTTP: {}", captured("plate"));
    assert_eq!(captured("seals")["seals"].as_array().map(Vec::len), Some(2), "seals over the PTY: {}", captured("seals"));
    assert_eq!(sim.gate.input(1), true, "the barrier never opened for a held vehicle");

    let _ = stop.send(());
    rt.block_on(running).unwrap();
}
