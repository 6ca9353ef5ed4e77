//! The lane in-process on the simulated lane, its messages collected at the
//! publishing boundary: shared by the runtime tests and the simulated day.
#![allow(dead_code)] // each test file uses its own part

pub mod agent;
pub mod wire;

use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use drivers::sim::{Footage, SimLane, SimPlan, SimTiming};
use edge_agent::config;
use edge_agent::lane::{Lane, Publish};
use edge_agent::outbox::{Body, Message};
use serde_json::Value;
use tokio::sync::oneshot;

pub struct Collector(pub Mutex<mpsc::Sender<(String, Value)>>);

impl Publish for Collector {
    fn publish(&self, m: Message) -> bool {
        let Body::Bytes(payload) = &m.body else {
            return true; // an image chunk: raw bytes from the image store
        };
        let value = serde_json::from_slice(payload).expect("every message but image chunks is JSON");
        self.0.lock().unwrap().send((m.topic, value)).is_ok()
    }
}

pub fn lane_config(data: &Path) -> config::LaneConfig {
    let text = hil_tests::with_sim_truth(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo.toml")).unwrap(),
    );
    let text =
        text.split("\n[sim]").next().unwrap().replace("../.cache/demo-data", &data.display().to_string());
    let text = text.replace("review = \"20s\"", "review = \"5s\"\nbarrier = \"500ms\"");
    config::from_str(Path::new("test.toml"), &text).expect("valid config")
}

/// The demo lane's configuration as the demo runs it, with the real recognition: the models
/// `scripts/setup-models` installed, found where the `models` crate looks for them.
pub fn reading_lane_config(data: &Path) -> config::LaneConfig {
    let opts = models::engine::EngineOptions::discover().expect("model paths (scripts/setup-models)");
    let models = opts.paths.models_dir;
    assert!(models.is_dir(), "models not installed in {}: run scripts/setup-models", models.display());
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo.toml")).unwrap();
    assert!(text.contains("engine = \"ppocr\""), "config/demo.toml no longer runs the real recognition");
    let text = text
        .split("\n[sim]")
        .next()
        .unwrap()
        .replace("../.cache/demo-data", &data.display().to_string())
        .replace(
            "models_dir = \"../.cache/models\"",
            &format!("models_dir = {:?}", models.display().to_string()),
        )
        .replace("review = \"20s\"", "review = \"5s\"\nbarrier = \"500ms\"");
    let cfg = config::from_str(Path::new("test.toml"), &text).expect("valid config");
    assert_eq!(cfg.recognition.models_dir, models, "config/demo.toml changed: update reading_lane_config");
    cfg
}

pub struct Running {
    pub rx: mpsc::Receiver<(String, Value)>,
    pub sim: SimLane,
    stop: Option<oneshot::Sender<()>>,
    pub dir: tempfile::TempDir,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub fn start(rt: &tokio::runtime::Runtime, plan: SimPlan, before: impl FnOnce(&SimLane)) -> Self {
        Self::start_with(
            rt,
            plan,
            SimTiming { patience: Duration::from_millis(1000), ..SimTiming::fast() },
            before,
        )
    }

    pub fn start_with(
        rt: &tokio::runtime::Runtime,
        plan: SimPlan,
        timing: SimTiming,
        before: impl FnOnce(&SimLane),
    ) -> Self {
        Self::start_in(rt, tempfile::tempdir().unwrap(), plan, timing, before)
    }

    /// Like [`Running::start_with`] in a data directory the test has prepared.
    pub fn start_in(
        rt: &tokio::runtime::Runtime,
        dir: tempfile::TempDir,
        plan: SimPlan,
        timing: SimTiming,
        before: impl FnOnce(&SimLane),
    ) -> Self {
        let (tx, rx) = mpsc::channel();
        Self::launch(rt, dir, plan, timing, before, rx, |_| Arc::new(Collector(Mutex::new(tx))))
    }

    /// The lane publishing through its real outbox and uplink to a broker on
    /// `port`, as `edge-agent run` wires it (`rx` stays empty: subscribe to
    /// the broker instead).
    pub fn start_uplinked(rt: &tokio::runtime::Runtime, plan: SimPlan, timing: SimTiming, port: u16) -> Self {
        let (_, rx) = mpsc::channel();
        Self::launch(
            rt,
            tempfile::tempdir().unwrap(),
            plan,
            timing,
            |_| {},
            rx,
            |cfg| {
                let outbox =
                    edge_agent::outbox::OutboxHandle::open(&cfg.data_dir.join("outbox.db"), cfg.outbox_quota)
                        .unwrap();
                let topic = contract::Topics::new(&cfg.mqtt.topic_prefix, &cfg.site, &cfg.lane).status();
                let will = edge_agent::mqtt::Will { topic, status: Box::new(|_, _| b"{}".to_vec()) };
                Arc::new(edge_agent::mqtt::start(&cfg.mqtt, "127.0.0.1", port, will, outbox, None).unwrap())
            },
        )
    }

    fn launch<P: Publish>(
        rt: &tokio::runtime::Runtime,
        dir: tempfile::TempDir,
        plan: SimPlan,
        timing: SimTiming,
        before: impl FnOnce(&SimLane),
        rx: mpsc::Receiver<(String, Value)>,
        publisher: impl FnOnce(&config::LaneConfig) -> Arc<P>,
    ) -> Self {
        let cfg = lane_config(dir.path());
        let sim = SimLane::new(timing);
        before(&sim);
        Self::run_lane(rt, dir, cfg, sim, plan, rx, publisher)
    }

    /// The lane with the real recognition (see [`reading_lane_config`]) on a simulated lane whose
    /// cameras film `footage`, its messages collected.
    pub fn start_reading(
        rt: &tokio::runtime::Runtime,
        plan: SimPlan,
        timing: SimTiming,
        footage: Arc<dyn Footage>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cfg = reading_lane_config(dir.path());
        let (tx, rx) = mpsc::channel();
        let sim = SimLane::new(timing).with_footage(footage);
        Self::run_lane(rt, dir, cfg, sim, plan, rx, |_| Arc::new(Collector(Mutex::new(tx))))
    }

    fn run_lane<P: Publish>(
        rt: &tokio::runtime::Runtime,
        dir: tempfile::TempDir,
        cfg: config::LaneConfig,
        sim: SimLane,
        plan: SimPlan,
        rx: mpsc::Receiver<(String, Value)>,
        publisher: impl FnOnce(&config::LaneConfig) -> Arc<P>,
    ) -> Self {
        let (stop, stopped) = oneshot::channel();
        let _guard = rt.enter();
        let publisher = publisher(&cfg);
        let lane = Lane::new(cfg, Some(sim.clone()), publisher).unwrap();
        let handle = rt.spawn(lane.run(async {
            stopped.await.ok();
        }));
        rt.spawn(sim.clone().run_traffic(plan));
        Running { rx, sim, stop: Some(stop), handle: Some(handle), dir }
    }

    /// Collects messages until `n` passage records have arrived.
    pub fn passages(&self, n: usize) -> (Vec<Value>, Vec<(String, Value)>) {
        let mut records: Vec<Value> = Vec::new();
        let mut others = Vec::new();
        while records.len() < n {
            let Ok((topic, v)) = self.rx.recv_timeout(Duration::from_secs(20)) else {
                let seen: Vec<String> =
                    records.iter().map(|r| format!("{} {} {}", r["seq"], r["exit"], outcome(r))).collect();
                panic!(
                    "only {} of {n} passages: {seen:?}; sim finished {}",
                    records.len(),
                    self.sim.finished()
                );
            };
            if topic.ends_with("/passage") {
                records.push(v);
            } else {
                others.push((topic, v));
            }
        }
        (records, others)
    }
}

impl Running {
    /// Stops the lane and waits until it has finished (closing audit checkpoint written).
    pub fn stop(&mut self, rt: &tokio::runtime::Runtime) {
        let _ = self.stop.take().map(|s| s.send(()));
        if let Some(h) = self.handle.take() {
            rt.block_on(h).unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

pub fn outcome(r: &Value) -> &str {
    r["review"]["outcome"].as_str().or(r["decision"]["outcome"].as_str()).unwrap_or("none")
}

pub fn reasons(r: &Value) -> Vec<&str> {
    r["decision"]["reasons"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}
