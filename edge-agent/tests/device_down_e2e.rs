//! The `device_down` alarm as central receives it: the agent binary on the
//! wire-level simulators (started in the test, so one can fall silent),
//! publishing to a real Mosquitto. Devices still connecting at start raise
//! none; the empty-box detector, once it has worked, going silent raises one
//! (naming it and saying why), once for the outage, and its health comes back
//! by itself when it answers again.

mod common;

use std::time::{Duration, Instant};

use common::agent::Agent;
use hil_tests::sim::lane::{agent_lane_file, start, LaneSimOptions, SimDevice};
use hil_tests::sim::Scenario;
use hil_tests::{Mosquitto, Subscriber};
use serde_json::Value;

/// The recognition models left out: nothing in this test needs them, and the
/// agent starts faster.
const NO_MODELS: &str = "\n[recognition]\nmodels_dir = \"/nonexistent/edge-agent-models\"\n";

/// What central has heard from the lane so far.
struct Central {
    sub: Subscriber,
    /// (leaf, payload) of every JSON message, in order.
    seen: Vec<(String, Value)>,
}

impl Central {
    /// Reads messages until `done` holds for one; returns it.
    fn until(&mut self, what: &str, done: impl Fn(&str, &Value) -> bool) -> Value {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let Some((topic, payload, _)) = self.sub.next(left) else {
                panic!("never: {what}; heard {:?}", self.seen.iter().map(|(l, _)| l).collect::<Vec<_>>())
            };
            if topic.contains("/image/") {
                continue;
            }
            let leaf = topic.splitn(4, '/').nth(3).unwrap_or_default().to_string();
            let v: Value = serde_json::from_slice(&payload).expect("JSON");
            self.seen.push((leaf.clone(), v.clone()));
            if done(&leaf, &v) {
                return v;
            }
        }
    }

    /// Like [`Central::until`], but a message already heard counts too.
    fn ever(&mut self, what: &str, done: impl Fn(&str, &Value) -> bool) -> Value {
        match self.seen.iter().find(|(l, v)| done(l, v)) {
            Some((_, v)) => v.clone(),
            None => self.until(what, done),
        }
    }

    fn device_down_alarms(&self) -> Vec<&Value> {
        self.seen.iter().filter(|(l, v)| l == "alarm" && v["kind"] == "device_down").map(|(_, v)| v).collect()
    }
}

fn health_is(leaf: &str, v: &Value, device: &str, state: &str) -> bool {
    leaf == format!("health/{device}") && v["health"]["state"] == state
}

#[test]
fn a_device_that_had_worked_going_down_raises_device_down_at_central() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let broker = Mosquitto::start();
    let mut central =
        Central { sub: Subscriber::connect(broker.port, "lanectl/HIL/G09/#"), seen: Vec::new() };
    let dir = tempfile::tempdir().unwrap();
    // Only the empty-box detector follows the scenario; every other simulator stays normal.
    let sim = rt
        .block_on(start(LaneSimOptions {
            only: Some(SimDevice::EmptyBox),
            ..LaneSimOptions::quiet(dir.path())
        }))
        .unwrap();
    let ep = serde_json::to_value(&sim.endpoints).unwrap();
    let file = dir.path().join("lane.toml");
    let mqtt = format!("\n[mqtt]\nhost = \"127.0.0.1\"\nport = {}\n", broker.port);
    std::fs::write(&file, agent_lane_file(&ep, &dir.path().join("data")) + &mqtt + NO_MODELS).unwrap();
    let _agent = Agent::run(&file);

    // Start-up: devices report `down` ("not connected yet") until they connect; no alarm for that.
    central.until("the detector working", |l, v| health_is(l, v, "empty-box", "ok"));
    central.ever("the lane online", |l, v| l == "status" && v["state"] == "online");
    assert_eq!(central.device_down_alarms(), Vec::<&Value>::new(), "no alarm for devices still connecting");

    // The detector falls silent: its keepalive goes unanswered.
    sim.ctl.set(Scenario::Silent);
    let alarm = central.until("the device_down alarm", |l, v| l == "alarm" && v["kind"] == "device_down");
    assert_eq!(alarm["device"], "empty-box", "{alarm}");
    let message = alarm["message"].as_str().unwrap();
    assert!(message.starts_with("empty-box is down: ") && message.contains("does not answer"), "{alarm}");
    assert!(alarm["at"].is_string() && alarm["passage"].is_null(), "no vehicle in the lane: {alarm}");
    // Its health says so too (before the alarm or after: alarms go first when the link is busy).
    central.ever("the detector's health down", |l, v| health_is(l, v, "empty-box", "down"));

    // It answers again: ok by itself, and the outage raised exactly one alarm.
    sim.ctl.set(Scenario::Normal);
    central.until("the detector ok again", |l, v| health_is(l, v, "empty-box", "ok"));
    assert_eq!(central.device_down_alarms().len(), 1, "one alarm per outage");
}
