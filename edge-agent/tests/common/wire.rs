//! The lane in-process on the wire-level simulators (`lane-sim`'s, started in
//! the test), and its messages read one at a time keeping the latest health
//! state per device: what the wire-level lane tests wait on instead of sleeping.

use std::collections::HashMap;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use edge_agent::lane::{Lane, Technician};
use hil_tests::sim::lane::{agent_lane_file, start, LaneSim, LaneSimOptions};
use serde_json::Value;

use super::Collector;

/// A lane running on its own simulators; stops the lane when dropped.
pub struct WireLane {
    pub sim: LaneSim,
    pub watch: Watch,
    /// Commands as they would arrive on the command topic.
    pub commands: tokio::sync::mpsc::Sender<Vec<u8>>,
    /// The lane's own view (what it believes of the loops and the barrier).
    pub technician: Technician,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<()>>,
    pub dir: tempfile::TempDir,
}

impl WireLane {
    /// Starts the simulators with `opts` (links and ports from
    /// [`LaneSimOptions::quiet`] in a fresh directory) and the lane on them, its
    /// lane file [`agent_lane_file`] followed by `extra`.
    pub fn start(
        rt: &tokio::runtime::Runtime,
        opts: impl FnOnce(LaneSimOptions) -> LaneSimOptions,
        extra: &str,
        patience: Duration,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sim = rt.block_on(start(opts(LaneSimOptions::quiet(dir.path())))).unwrap();
        let ep = serde_json::to_value(&sim.endpoints).unwrap();
        let text = agent_lane_file(&ep, dir.path()) + extra;
        let cfg = edge_agent::config::from_str(&dir.path().join("lane.toml"), &text)
            .unwrap_or_else(|e| panic!("{e}"));
        let (tx, rx) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (commands, command_rx) = tokio::sync::mpsc::channel(8);
        let (lane, technician) = {
            let _rt = rt.enter();
            let lane = Lane::new(cfg, None, Arc::new(Collector(Mutex::new(tx)))).unwrap();
            lane.accept_commands(command_rx);
            let technician = lane.technician();
            (lane, technician)
        };
        let running = rt.spawn(lane.run(async {
            stopped.await.ok();
        }));
        WireLane {
            sim,
            watch: Watch::new(rx, patience),
            commands,
            technician,
            stop: Some(stop),
            running: Some(running),
            dir,
        }
    }

    /// Stops the lane and waits until it has finished.
    pub fn stop(&mut self, rt: &tokio::runtime::Runtime) {
        let _ = self.stop.take().map(|s| s.send(()));
        if let Some(h) = self.running.take() {
            rt.block_on(h).unwrap();
        }
    }
}

impl Drop for WireLane {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
    }
}

/// Device name -> (state, reason), as last published.
pub type Book = HashMap<String, (String, Option<String>)>;

pub struct Watch {
    pub rx: mpsc::Receiver<(String, Value)>,
    pub health: Book,
    /// How long [`Watch::until`] waits before it fails the test.
    pub patience: Duration,
    /// Every message seen, for assertions over a whole phase.
    pub seen: Vec<(String, Value)>,
}

impl Watch {
    pub fn new(rx: mpsc::Receiver<(String, Value)>, patience: Duration) -> Self {
        Watch { rx, health: HashMap::new(), patience, seen: Vec::new() }
    }

    /// Reads messages until `done` says so; returns the message that satisfied it.
    pub fn until(&mut self, what: &str, done: impl Fn(&Book, &str, &Value) -> bool) -> (String, Value) {
        let end = Instant::now() + self.patience;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let (topic, v) = self
                .rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("never: {what}; health {:?}", self.health));
            if let Some(device) = topic.split("/health/").nth(1) {
                let h = &v["health"];
                self.health.insert(
                    device.to_string(),
                    (h["state"].as_str().unwrap().to_string(), h["reason"].as_str().map(str::to_string)),
                );
            }
            self.seen.push((topic.clone(), v.clone()));
            if done(&self.health, &topic, &v) {
                return (topic, v);
            }
        }
    }

    /// The latest state published for `device` ("ok" before any message).
    pub fn state(&self, device: &str) -> &str {
        self.health.get(device).map_or("ok", |(s, _)| s.as_str())
    }
}
