//! `edge-agent diag` end to end against the wire-level simulators (`lane-sim`'s
//! devices, started in-process so a test can occupy a loop or silence a device):
//! Modbus over a PTY, the seal reader on a PTY, UVSS and the empty-box detector
//! over TCP, the plate camera over HTTP with digest auth. The binary builds the
//! real drivers from the lane file, as the agent does.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use hil_tests::sim::lane::{agent_lane_file, start, LaneSim, LaneSimOptions};
use hil_tests::sim::modbus::UNDER_ARM_INPUT;
use hil_tests::sim::Scenario;
use serde_json::Value;

struct Run {
    code: i32,
    stdout: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

async fn diag(config: &Path, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .arg("diag")
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    Run { code: out.status.code().unwrap_or(-1), stdout: String::from_utf8_lossy(&out.stdout).into() }
}

/// The simulators and a lane file pointing at them (edited by `edit`).
async fn lane(
    opts: impl FnOnce(&Path) -> LaneSimOptions,
    edit: impl FnOnce(String) -> String,
) -> (LaneSim, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(opts(dir.path())).await.unwrap();
    let ep = serde_json::to_value(&sim.endpoints).unwrap();
    let file = dir.path().join("lane.toml");
    std::fs::write(&file, edit(agent_lane_file(&ep, dir.path()))).unwrap();
    (sim, file, dir)
}

fn device<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device"] == name)
        .unwrap_or_else(|| panic!("{name} in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_device_at_a_glance_then_seals_snapshot_and_scan() {
    let (_sim, file, dir) =
        lane(|d| LaneSimOptions { vehicle_every: Duration::from_secs(1), ..LaneSimOptions::quiet(d) }, |s| s)
            .await;

    let run = diag(&file, &["--json"]).await;
    let report = run.json();
    assert_eq!(run.code, 0, "{report:#}");
    assert_eq!(report["devices"].as_array().unwrap().len(), 8);
    for d in report["devices"].as_array().unwrap() {
        assert!(d["ok"] == true && d["reachable"] == true && d["protocol_ok"] == true, "{d}");
    }
    assert_eq!(device(&report, "barrier")["reading"], "closed");
    assert!(device(&report, "seals")["reading"].as_str().unwrap().starts_with("2 seals in range"));
    assert!(device(&report, "plate")["reading"].as_str().unwrap().starts_with("snapshot JPEG 640×"));
    let arm = device(&report, "arm-loop")["reading"].clone();
    assert!(arm == "clear" || arm == "occupied", "vehicles pass in this run: {arm}");
    let human = diag(&file, &[]).await;
    assert!(human.stdout.starts_with("lane HIL/G09: 8 devices, all ok"), "{}", human.stdout);

    let seals = diag(&file, &["seal", "--read", "--json"]).await;
    assert_eq!(seals.code, 0, "{}", seals.stdout);
    let list = seals.json()["seals"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert!(
        list.iter().all(|s| s["id"].as_str().unwrap().contains('-') && s["status"].is_string()),
        "{list:?}"
    );

    let jpg = dir.path().join("out.jpg");
    let snap = diag(&file, &["camera", "plate", "--snapshot", jpg.to_str().unwrap()]).await;
    assert_eq!(snap.code, 0, "{}", snap.stdout);
    let bytes = std::fs::read(&jpg).unwrap();
    assert_eq!(image::guess_format(&bytes).unwrap(), image::ImageFormat::Jpeg);
    assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 640, "a JPEG that decodes");

    let png = dir.path().join("under.png");
    let scan = diag(&file, &["uvss", "--capture", png.to_str().unwrap(), "--wait", "30s", "--json"]).await;
    assert_eq!(scan.code, 0, "{}", scan.stdout);
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(image::guess_format(&bytes).unwrap(), image::ImageFormat::Png);
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!(
        (decoded.width(), decoded.height()),
        (scan.json()["width"].as_u64().unwrap() as u32, scan.json()["height"].as_u64().unwrap() as u32)
    );

    let unknown = diag(&file, &["camera", "nope", "--snapshot", jpg.to_str().unwrap()]).await;
    assert_eq!(unknown.code, 2, "a camera the lane does not have: could not run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_and_silent_devices_are_down_with_the_reason() {
    let (sim, file, _dir) = lane(LaneSimOptions::quiet, |s| {
        let absent = replace_value(&s, "seal_reader\"\nserial = { port = ", "\"/nonexistent/ttyUSB9\"");
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        replace_value(
            &absent,
            "under_vehicle_camera\"\ntcp = { address = ",
            &format!("{:?}", closed.to_string()),
        )
    })
    .await;

    let run = diag(&file, &["--json"]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    let report = run.json();
    let seals = device(&report, "seals");
    assert_eq!((seals["ok"].as_bool(), seals["reachable"].as_bool()), (Some(false), Some(false)), "{seals}");
    let why = seals["last_error"].as_str().unwrap();
    assert!(why.contains("/nonexistent/ttyUSB9") && why.contains("No such file or directory"), "{seals}");
    assert!(seals["hint"].as_str().unwrap().contains("diag ports"), "{seals}");
    let uvss = device(&report, "uvss");
    assert!(
        uvss["reachable"] == false && uvss["last_error"].as_str().unwrap().contains("Connection refused"),
        "{uvss}"
    );
    assert_eq!(device(&report, "barrier")["ok"], true, "the others are unaffected");

    // Every device stops answering, the links stay up.
    sim.ctl.set(Scenario::Silent);
    let run = diag(&file, &["--json"]).await;
    assert_eq!(run.code, 1);
    let report = run.json();
    for name in ["plate", "barrier", "arm-loop", "empty-box"] {
        let d = device(&report, name);
        assert!(d["ok"] == false && d["reachable"] == false && d["last_error"].is_string(), "{d}");
    }
    let human = diag(&file, &[]).await.stdout;
    assert!(human.contains("DOWN") && human.contains("not ok"), "{human}");
}

/// Replaces the quoted value that follows `key` (the first one) with `value`.
fn replace_value(text: &str, key: &str, value: &str) -> String {
    let at = text.find(key).unwrap_or_else(|| panic!("{key:?} in {text}")) + key.len();
    let end = at + 1 + text[at + 1..].find('"').unwrap() + 1;
    format!("{}{value}{}", &text[..at], &text[end..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_held_by_another_process_is_named_busy() {
    let (sim, file, _dir) = lane(LaneSimOptions::quiet, |s| s).await;
    // As the running agent holds it.
    let _held = hil_tests::sim::pty::open_exclusive(&sim.endpoints.seal.path, 115_200).unwrap();
    let run = diag(&file, &["seal", "--read"]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("cannot open serial://"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("port busy: another process holds it; a running edge-agent keeps its serial ports"),
        "{}",
        run.stdout
    );
}

async fn until(what: &str, ok: impl Fn() -> bool) {
    let wait = async {
        while !ok() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait).await.unwrap_or_else(|_| panic!("never: {what}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barrier_cycle_is_refused_while_the_zone_under_the_arm_is_occupied() {
    let (sim, file, _dir) = lane(LaneSimOptions::quiet, |s| s).await;
    let (opened, closed) = (0, 1);

    sim.gate.set_input(UNDER_ARM_INPUT, true);
    let run = diag(&file, &["barrier", "--cycle", "--json"]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.json()["error"].as_str().unwrap().contains("occupied"), "{}", run.stdout);
    assert!(sim.gate.input(closed), "nothing moved");
    assert_eq!(sim.gate.closes_while_occupied.load(Ordering::SeqCst), 0, "no close reached the controller");

    sim.gate.set_input(UNDER_ARM_INPUT, false);
    let run = diag(&file, &["barrier", "--cycle", "--json"]).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.json()["closed_ms"].as_u64().unwrap() > 0);
    assert!(sim.gate.input(closed));

    // A vehicle arrives under the arm once it is up: the close is refused and the
    // arm goes back up. (It may arrive within the loop's debounce, after the
    // close coil went on: the driver then releases it and reopens, which is why
    // the controller's count of closes-while-occupied is not asserted here.)
    // Counted, not looked at: the arm may be up for only one controller tick before
    // the close, which a look every few milliseconds on a loaded machine can miss.
    let ups = sim.gate.arrivals_up();
    let cycle = tokio::spawn({
        let file = file.clone();
        async move { diag(&file, &["barrier", "--cycle", "--json"]).await }
    });
    let gate = sim.gate.clone();
    let up = tokio::task::spawn_blocking(move || gate.wait_arrival_up(ups, Duration::from_secs(10)));
    assert!(up.await.unwrap(), "never: the arm is up");
    sim.gate.set_input(UNDER_ARM_INPUT, true);
    let run = cycle.await.unwrap();
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.json()["error"].as_str().unwrap().contains("occupied"), "{}", run.stdout);
    until("the arm is back up", || sim.gate.input(opened)).await;
}
