//! Decision latency on the simulated lane with real recognition (PP-OCR on
//! ONNX Runtime): for every auto-released vehicle, the time from its last
//! capture to the barrier's open command, p50 and p95 — both as the lane
//! decided it (the `opening` stage begins) and as the barrier got it (the
//! simulated arm starts to move: after the decision is durable in the audit
//! trail and the outbox) — and, as the anchor
//! measured in the same run on the same images, the recognition alone
//! (the same reader called directly on the same shots), so the report reads
//! "decision latency = X ms = N x recognition alone".
//!
//! The lane publishes as the agent does: through the outbox (results stored
//! for good before the call returns) and the uplink, here towards a broker
//! that is not there, so every result pays its fsync as in the field.
//!
//! The simulated cameras show real plate and container-code crops from
//! ../shared/testdata (labelled; never copied into the repo); each simulated
//! vehicle is staged as the truck in its pictures and declared as such, so a
//! correct read is released. It reports the share released directly (the
//! policies want it high) and every vehicle released on a read that is not its
//! truth (there must be none). Skips with a message when the data or the
//! models (scripts/setup-models) are absent.
//!
//!     cargo bench -p edge-agent --bench decision_latency
//!
//! Env: VEHICLES (default 30), TESTDATA (default ../shared/testdata), WORKERS (recognition
//! workers, default config/demo.toml's), DUMP_RECORDS=FILE
//! (every passage record, one JSON object per line: its stages show where the time went).

use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use contract::passage::CaptureKind;
use drivers::sim::{CameraView, Footage, SimLane, SimPlan, SimTiming, SimVehicle};
use drivers::{Image, ImageFormat};
use edge_agent::lane::{Lane, Publish};
use edge_agent::outbox::Message;
use edge_agent::recognize::{PpOcrReader, Recognizer, Shot};
use serde_json::Value;

/// The agent's publisher (outbox and uplink), with a copy of every passage
/// record for the bench.
struct Tee {
    inner: edge_agent::mqtt::UplinkHandle,
    records: Mutex<mpsc::Sender<Value>>,
}

impl Tee {
    fn copy(&self, m: &Message) {
        if m.topic.ends_with("/passage") {
            let payload = m.payload().unwrap();
            let _ = self.records.lock().unwrap().send(serde_json::from_slice(&payload).unwrap());
        }
    }
}

impl Publish for Tee {
    fn publish(&self, m: Message) -> bool {
        self.copy(&m);
        Publish::publish(&self.inner, m)
    }

    fn publish_durable(&self, m: Message) -> bool {
        self.copy(&m);
        Publish::publish_durable(&self.inner, m)
    }
}

/// One truck of the footage: a plate crop and a container-code crop.
struct Truck {
    plate: String,
    container: String,
    plate_jpg: Bytes,
    container_jpg: Bytes,
}

struct Trucks(Vec<Truck>);

impl Trucks {
    fn of(&self, seq: u64) -> &Truck {
        &self.0[(seq as usize - 1) % self.0.len()]
    }
}

fn jpeg(bytes: &Bytes) -> Image {
    let (width, height) = image::load_from_memory(bytes).map(|i| (i.width(), i.height())).unwrap_or((0, 0));
    Image {
        bytes: bytes.clone(),
        format: ImageFormat::Jpeg,
        width,
        height,
        captured_at: Utc::now(),
        sim_truth: None,
    }
}

impl Footage for Trucks {
    fn stage(&self, v: &mut SimVehicle) {
        let t = self.of(v.seq);
        v.plate = t.plate.clone();
        v.containers = vec![t.container.clone()];
        v.seals.truncate(1);
    }

    fn picture(&self, v: &SimVehicle, view: CameraView) -> Option<Image> {
        let t = self.of(v.seq);
        Some(jpeg(if view == CameraView::Plate { &t.plate_jpg } else { &t.container_jpg }))
    }
}

fn labelled(dir: &Path, want: impl Fn(&str) -> bool) -> Vec<(String, Bytes)> {
    let Ok(tsv) = std::fs::read_to_string(dir.join("labels.tsv")) else { return vec![] };
    tsv.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() > 2 && f[2] == "crop" && want(f[1]))
                .then(|| Some((f[1].to_string(), Bytes::from(std::fs::read(dir.join(f[0])).ok()?))))?
        })
        .collect()
}

/// Whether a passage record's reads are the truck's truth: its first plate and its container codes.
fn reads_are_right(r: &Value, t: &Truck) -> bool {
    let plate = r["reads"]["plates"][0]["text"].as_str().unwrap_or("");
    let codes: Vec<&str> = r["reads"]["containers"]
        .as_array()
        .map_or(vec![], |a| a.iter().filter_map(|c| c["code"].as_str()).collect());
    plate == t.plate && codes == [t.container.as_str()]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(a: &Value) -> Option<DateTime<Utc>> {
    a.as_str()?.parse().ok()
}

/// When the simulated arm started to move up, each time.
type Times = Arc<Mutex<Vec<DateTime<Utc>>>>;

/// The moments the open command reached the barrier: the simulated arm leaving closed, as the
/// barrier signals its moves (a poll would wake thousands of times a second and take CPU from
/// the recognition it times). Runs until the task is aborted.
fn watch_arm(sim: SimLane, rt: &tokio::runtime::Runtime) -> (Times, tokio::task::JoinHandle<()>) {
    let opened = Arc::new(Mutex::new(Vec::new()));
    let times = opened.clone();
    let task = rt.spawn(async move {
        loop {
            sim.barrier_reaches(drivers::BarrierState::Closed).await;
            sim.barrier_leaves(drivers::BarrierState::Closed).await;
            times.lock().unwrap().push(Utc::now());
        }
    });
    (opened, task)
}

fn report(what: &str, mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let (p50, p95) = (percentile(&v, 0.5), percentile(&v, 0.95));
    println!("{what}: p50 {p50:.0} ms, p95 {p95:.0} ms, max {:.0} ms", v[v.len() - 1]);
    (p50, p95)
}

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let data = std::env::var_os("TESTDATA")
        .map_or_else(|| repo.join("../shared/testdata"), std::path::PathBuf::from);
    let models = repo.join(".cache/models");
    let plates = labelled(&data.join("plates"), |l| l.chars().count() == 7);
    let containers = labelled(&data.join("containers"), |l| !l.contains('|'));
    if plates.is_empty() || containers.is_empty() || !models.join("ch_PP-OCRv4_rec_infer.onnx").exists() {
        eprintln!(
            "decision_latency: skipped, needs {} and models in {} (scripts/setup-models)",
            data.display(),
            models.display()
        );
        return;
    }
    let vehicles: usize = std::env::var("VEHICLES").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let trucks = Arc::new(Trucks(
        plates
            .iter()
            .zip(containers.iter().cycle())
            .map(|((p, pj), (c, cj))| Truck {
                plate: p.clone(),
                container: c.clone(),
                plate_jpg: pj.clone(),
                container_jpg: cj.clone(),
            })
            .collect(),
    ));

    let dir = tempfile::tempdir().unwrap();
    let demo = std::fs::read_to_string(repo.join("config/demo.toml")).unwrap();
    let text = demo
        .split("\n[sim]")
        .next()
        .unwrap()
        .replace("../.cache/demo-data", &dir.path().display().to_string())
        .replace("models_dir = \"../.cache/models\"", &format!("models_dir = \"{}\"", models.display()));
    assert!(
        text.contains("engine = \"ppocr\"") && text.contains(&models.display().to_string()),
        "config/demo.toml changed"
    );
    let mut cfg = edge_agent::config::from_str(Path::new("bench.toml"), &text).expect("valid config");
    // `[recognition] workers`, as a lane PC with memory to spare may set it (docs/operations.md).
    if let Some(workers) = std::env::var("WORKERS").ok().and_then(|v| v.parse().ok()) {
        cfg.recognition.workers = workers;
    }
    let recognition = cfg.recognition.clone();

    // Drivers wait long enough for any decision; arrivals far enough apart
    // that each vehicle meets an idle recognizer (latency, not throughput).
    let timing = SimTiming {
        patience: Duration::from_secs(30),
        arrival_gap: Duration::from_millis(300),
        ..SimTiming::fast()
    };
    let sim = SimLane::new(timing).with_footage(trucks.clone());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (tx, rx) = mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = {
        let _guard = rt.enter();
        let outbox =
            edge_agent::outbox::OutboxHandle::open(&cfg.data_dir.join("outbox.db"), cfg.outbox_quota)
                .expect("the outbox");
        let nobody = hil_tests::free_port();
        let will = edge_agent::mqtt::Will { topic: "x".into(), status: Box::new(|_, _| vec![]) };
        let uplink = edge_agent::mqtt::start(&cfg.mqtt, "127.0.0.1", nobody, will, outbox, None).unwrap();
        let publisher = Arc::new(Tee { inner: uplink, records: Mutex::new(tx) });
        let lane = Lane::new(cfg, Some(sim.clone()), publisher).unwrap();
        let run = rt.spawn(lane.run(async {
            stopped.await.ok();
        }));
        rt.spawn(sim.clone().run_traffic(SimPlan {
            vehicles: vehicles as u64,
            seed: 9,
            ..SimPlan::default()
        }));
        run
    };
    let (arm_moves, arm) = watch_arm(sim.clone(), &rt);
    let mut records = Vec::new();
    for _ in 0..vehicles {
        records.push(rx.recv_timeout(Duration::from_secs(120)).expect("a passage record"));
    }
    arm.abort();
    if let Ok(path) = std::env::var("DUMP_RECORDS") {
        let lines: Vec<String> = records.iter().map(|r| r.to_string()).collect();
        std::fs::write(path, lines.join("\n")).expect("writing DUMP_RECORDS");
    }
    let arm_moves = std::mem::take(&mut *arm_moves.lock().unwrap());
    let mut latency = Vec::new();
    let mut commanded = Vec::new();
    let mut held = Vec::new();
    let mut released_wrong = Vec::new();
    for r in &records {
        let released = r["decision"]["outcome"] == "release" && r["decision"]["by"] == "policy";
        let seq = r["seq"].as_u64().unwrap();
        if released && !reads_are_right(r, trucks.of(seq)) {
            released_wrong
                .push(format!("{seq} {} {}", r["reads"]["plates"][0]["text"], r["reads"]["containers"]));
        }
        let last_capture = r["captures"].as_array().unwrap().iter().filter_map(|c| ms(&c["at"])).max();
        let opening = r["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == "opening")
            .and_then(|s| ms(&s["started_at"]));
        match (released, last_capture, opening) {
            // The first vehicle after start also pays the models' warm-up.
            (true, Some(_), Some(_)) if seq == 1 => {}
            (true, Some(c), Some(o)) => {
                latency.push((seq, (o - c).num_microseconds().unwrap() as f64 / 1000.0));
                // The arm's first move after the lane decided to open.
                if let Some(m) = arm_moves.iter().find(|m| **m >= o) {
                    commanded.push((*m - c).num_microseconds().unwrap() as f64 / 1000.0);
                }
            }
            _ => {
                let reasons = r["decision"]["reasons"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join("+"));
                held.push(format!("#{} {}", r["seq"], reasons.unwrap_or_default()));
            }
        }
    }
    let _ = stop.send(());
    rt.block_on(run).unwrap();

    // The anchor: the same reader on the same three pictures per vehicle.
    // Same vehicles as timed above, after one warm-up call like the lane's first vehicle.
    let mut reader = PpOcrReader::from_config(&recognition);
    let shots = |seq: u64| {
        let t = trucks.of(seq);
        vec![
            Shot { device: "plate-front".into(), kind: CaptureKind::PlateImage, image: jpeg(&t.plate_jpg) },
            Shot {
                device: "container-left".into(),
                kind: CaptureKind::ContainerImage,
                image: jpeg(&t.container_jpg),
            },
            Shot {
                device: "container-rear".into(),
                kind: CaptureKind::ContainerImage,
                image: jpeg(&t.container_jpg),
            },
        ]
    };
    let _ = reader.recognize(&shots(1));
    let mut ocr = Vec::new();
    for (seq, _) in &latency {
        let shots = shots(*seq);
        let start = Instant::now();
        let _ = reader.recognize(&shots);
        ocr.push(start.elapsed().as_secs_f64() * 1000.0);
    }

    let latency: Vec<f64> = latency.into_iter().map(|(_, ms)| ms).collect();
    println!(
        "vehicles {vehicles}: auto-released and timed {} (the first, with warm-up, not), held {} [{}]",
        latency.len(),
        held.len(),
        held.join(", ")
    );
    println!(
        "released directly {}/{vehicles} ({:.1} %, goal >= 95 %); released with a wrong read: {} {released_wrong:?}",
        vehicles - held.len(),
        100.0 * (vehicles - held.len()) as f64 / vehicles as f64,
        released_wrong.len()
    );
    if latency.is_empty() {
        println!("no vehicle was auto-released: nothing to time");
        return;
    }
    let (p50, p95) = report("last capture -> lane decides to open", latency);
    if !commanded.is_empty() {
        report("last capture -> barrier gets the open command", commanded);
    }
    let (o50, o95) = report("recognition alone (same images, same reader)", ocr);
    println!(
        "decision latency = {:.2}x recognition alone at p50, {:.2}x at p95 (goal < 1000 ms)",
        p50 / o50,
        p95 / o95
    );
}
