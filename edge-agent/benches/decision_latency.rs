//! Decision latency on the simulated lane with real recognition (PP-OCR on
//! ONNX Runtime): for every auto-released vehicle, the time from its last
//! capture to the barrier's open command, p50 and p95 — and, as the anchor
//! measured in the same run on the same images, the recognition alone
//! (the same reader called directly on the same shots), so the report reads
//! "decision latency = X ms = N x recognition alone".
//!
//! The simulated cameras show real plate and container-code crops from
//! ../shared/testdata (labelled; never copied into the repo); each simulated
//! vehicle is staged as the truck in its pictures and declared as such, so a
//! correct read is released. Skips with a message when the data or the
//! models (scripts/setup-models) are absent.
//!
//!     cargo bench -p edge-agent --bench decision_latency
//!
//! Env: VEHICLES (default 30), TESTDATA (default ../shared/testdata).

use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use contract::passage::CaptureKind;
use drivers::sim::{CameraView, Footage, SimLane, SimPlan, SimTiming, SimVehicle};
use drivers::{Image, ImageFormat};
use edge_agent::lane::{Lane, Publish};
use edge_agent::recognize::{PpOcrReader, Recognizer, Shot};
use serde_json::Value;

struct Collector(Mutex<mpsc::Sender<Value>>);

impl Publish for Collector {
    fn publish(&self, topic: String, payload: Vec<u8>, _: bool) -> bool {
        if topic.ends_with("/passage") {
            let _ = self.0.lock().unwrap().send(serde_json::from_slice(&payload).unwrap());
        }
        true
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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(a: &Value) -> Option<DateTime<Utc>> {
    a.as_str()?.parse().ok()
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
        .replace(
            "engine = \"sim-truth\"",
            &format!("engine = \"ppocr\"\nmodels_dir = \"{}\"", models.display()),
        );
    let cfg = edge_agent::config::from_str(Path::new("bench.toml"), &text).expect("valid config");
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
        let lane = Lane::new(cfg, Some(sim.clone()), Arc::new(Collector(Mutex::new(tx)))).unwrap();
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
    let mut latency = Vec::new();
    let mut held = Vec::new();
    for _ in 0..vehicles {
        let r = rx.recv_timeout(Duration::from_secs(120)).expect("a passage record");
        let released = r["decision"]["outcome"] == "release" && r["decision"]["by"] == "policy";
        let last_capture = r["captures"].as_array().unwrap().iter().filter_map(|c| ms(&c["at"])).max();
        let opening = r["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == "opening")
            .and_then(|s| ms(&s["started_at"]));
        let seq = r["seq"].as_u64().unwrap();
        match (released, last_capture, opening) {
            // The first vehicle after start also pays the models' warm-up.
            (true, Some(_), Some(_)) if seq == 1 => {}
            (true, Some(c), Some(o)) => {
                latency.push((seq, (o - c).num_microseconds().unwrap() as f64 / 1000.0))
            }
            _ => held.push(format!("{} {:?}", r["seq"], r["decision"]["reasons"])),
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

    let mut latency: Vec<f64> = latency.into_iter().map(|(_, ms)| ms).collect();
    latency.sort_by(f64::total_cmp);
    ocr.sort_by(f64::total_cmp);
    println!(
        "vehicles {vehicles}: auto-released and timed {} (the first, with warm-up, not), held {} {held:?}",
        latency.len(),
        held.len()
    );
    if latency.is_empty() {
        println!("no vehicle was auto-released: nothing to time");
        return;
    }
    let (p50, p95) = (percentile(&latency, 0.5), percentile(&latency, 0.95));
    let (o50, o95) = (percentile(&ocr, 0.5), percentile(&ocr, 0.95));
    println!(
        "last capture -> barrier open command: p50 {p50:.0} ms, p95 {p95:.0} ms, max {:.0} ms",
        latency[latency.len() - 1]
    );
    println!(
        "recognition alone (same images, same reader): p50 {o50:.0} ms, p95 {o95:.0} ms, max {:.0} ms",
        ocr[ocr.len() - 1]
    );
    println!(
        "decision latency = {:.2}x recognition alone at p50, {:.2}x at p95 (goal < 1000 ms)",
        p50 / o50,
        p95 / o95
    );
}
