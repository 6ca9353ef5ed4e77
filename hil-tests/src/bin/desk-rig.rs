//! `desk-rig`: the whole system for the desk's browser test — a real Mosquitto,
//! a throwaway PostgreSQL, `lane-central` with the desk, its users, and
//! simulated lanes (the `edge-agent` binary) whose drivers wait to be
//! reviewed — on free ports, torn down when stdin closes.
//!
//! stdout carries one JSON object per line: `{"event":"ready",...}` once the
//! desk answers and every lane's key is approved, then what the lanes publish
//! (`decision`, `passage`, `ack`), so a test can tell when a vehicle was held
//! and what the lane recorded. stdin takes `kill <LANE>` (the agent dies,
//! kill -9) and `quit`. Logs are in the rig's temp dir (named in `ready`).
//!
//!     cargo build -p edge-agent -p central -p hil-tests --bin desk-rig
//!     desk-rig --user li:reviewer:en:secret-password-1

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use hil_tests::postgres::Postgres;
use hil_tests::{demo_lane, free_port, repo_root, wait_for_port, Mosquitto, Subscriber};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(
    name = "desk-rig",
    about = "Broker, database, lane-central and simulated lanes for the desk's tests"
)]
struct Args {
    /// Lanes G01, G02, ... of site DEMO.
    #[arg(long, default_value_t = 3)]
    lanes: u32,
    /// How long central's commands are valid (a lane that does not answer in this time failed).
    #[arg(long, default_value = "8s")]
    validity: String,
    /// Every n-th vehicle is read with low confidence and held.
    #[arg(long, default_value_t = 2)]
    hold_every: u32,
    /// The desk's amber and red ages.
    #[arg(long, default_value = "30s")]
    amber: String,
    #[arg(long, default_value = "90s")]
    red: String,
    /// NAME:ROLE:LANGUAGE:PASSWORD, repeated.
    #[arg(long = "user")]
    users: Vec<String>,
}

fn bin(env: &str, name: &str) -> PathBuf {
    std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| repo_root().join("target/debug").join(name))
}

fn say(v: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::File::create(dir.join(name)).expect("a log file")
}

fn central_config(dir: &Path, db: &str, broker: u16, http: u16, a: &Args) -> PathBuf {
    let text = format!(
        "sites = [\"DEMO\"]\n\n[central]\ninstance = \"rig\"\n\n[mqtt]\nhost = \"127.0.0.1\"\nport = {broker}\n\n\
         [database]\nurl = \"{db}\"\nmax_connections = 12\n\n[store]\nurl = \"file://{store}\"\n\n\
         [commands]\nkey = \"{key}\"\nkey_id = \"central-1\"\nvalidity = \"{validity}\"\n\n\
         [completeness]\ncheck_every = \"500ms\"\n\n[http]\nlisten = \"127.0.0.1:{http}\"\n\n\
         [desk]\namber = \"{amber}\"\nred = \"{red}\"\nlease = \"30s\"\ntimezone = \"Asia/Shanghai\"\n",
        store = dir.join("images").display(),
        key = dir.join("central.key").display(),
        validity = a.validity,
        amber = a.amber,
        red = a.red,
    );
    let path = dir.join("central.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn lane_config(dir: &Path, lane: &str, index: u32, broker: u16, public: &str, hold_every: u32) -> PathBuf {
    let data = dir.join(lane);
    let base = demo_lane(&format!("host = \"127.0.0.1\"\nport = {broker}"), &data.display().to_string());
    assert!(base.contains("id = \"G01\""), "config/demo.toml changed: update desk-rig");
    let text = format!(
        "{}\n[commands]\nkeys = {{ central-1 = \"{public}\" }}\n\n[web]\nlisten = \"127.0.0.1:{}\"\n\n\
         [sim]\nvehicles = 0\nseed = {}\narrival_gap = \"700ms\"\nbarrier_move = \"400ms\"\ndrive_in = \"300ms\"\n\
         drive_clear = \"500ms\"\npatience = \"30m\"\nlow_confidence_every = {hold_every}\n",
        base.replace("id = \"G01\"", &format!("id = \"{lane}\"")),
        free_port(),
        11 + index,
    );
    let path = dir.join(format!("{lane}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn central_cli(central: &Path, config: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new(central)
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lane-central runs");
    if let Some(text) = stdin {
        let _ = child.stdin.take().unwrap().write_all(format!("{text}\n").as_bytes());
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// What the lanes publish, as short JSON lines for the test.
fn relay(sub: Subscriber) {
    loop {
        let Some((topic, payload, _)) = sub.next(Duration::from_secs(3600)) else { continue };
        let parts: Vec<&str> = topic.split('/').collect();
        let (Some(lane), Some(leaf)) = (parts.get(2), parts.get(3)) else { continue };
        let Ok(v) = serde_json::from_slice::<Value>(&payload) else { continue };
        match *leaf {
            "decision" => say(json!({"event": "decision", "lane": lane, "passage": v["passage"],
                "outcome": v["decision"]["outcome"], "by": v["decision"]["by"], "reasons": v["decision"]["reasons"]})),
            "passage" => say(
                json!({"event": "passage", "lane": lane, "passage": v["id"], "review_by": v["review"]["by"],
                "review": v["review"]["outcome"], "exit": v["exit"]}),
            ),
            "ack" => say(
                json!({"event": "ack", "lane": lane, "id": v["id"], "accepted": v["accepted"], "outcome": v["outcome"], "reason": v["reason"]}),
            ),
            _ => {}
        }
    }
}

fn main() {
    let a = Args::parse();
    let (agent, central) = (bin("EDGE_AGENT_BIN", "edge-agent"), bin("LANE_CENTRAL_BIN", "lane-central"));
    let dir = tempfile::Builder::new().prefix("desk-rig-").tempdir().expect("temp dir");
    let broker = Mosquitto::start();
    let pg = Postgres::start();
    let db = pg.database("desk");
    let keygen = Command::new(&agent)
        .args(["command", "keygen"])
        .arg(dir.path().join("central.key"))
        .output()
        .expect("edge-agent runs");
    assert!(keygen.status.success(), "keygen: {}", String::from_utf8_lossy(&keygen.stderr));
    let public = String::from_utf8_lossy(&keygen.stdout).trim().to_string();
    let http = free_port();
    let config = central_config(dir.path(), &db, broker.port, http, &a);
    let mut children: Vec<(String, Child)> = Vec::new();
    let c = Command::new(&central)
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info,sqlx=warn")
        .stdout(Stdio::null())
        .stderr(log_file(dir.path(), "central.log"))
        .spawn()
        .expect("lane-central starts");
    children.push(("central".into(), c));
    assert!(wait_for_port(http, Duration::from_secs(60)), "lane-central did not listen");
    for u in &a.users {
        let f: Vec<&str> = u.splitn(4, ':').collect();
        let [name, role, language, password] = f[..] else { panic!("--user NAME:ROLE:LANGUAGE:PASSWORD") };
        let (ok, out) = central_cli(
            &central,
            &config,
            &["user", "add", name, "--role", role, "--language", language],
            Some(password),
        );
        assert!(ok, "user add {name}: {out}");
    }
    let sub = Subscriber::connect(broker.port, "lanectl/#");
    std::thread::spawn(move || relay(sub));
    let lanes: Vec<String> = (1..=a.lanes).map(|i| format!("G{i:02}")).collect();
    for (i, lane) in lanes.iter().enumerate() {
        let path = lane_config(dir.path(), lane, i as u32, broker.port, &public, a.hold_every);
        let child = Command::new(&agent)
            .args(["run", "--config"])
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log_file(dir.path(), &format!("{lane}.log")))
            .spawn()
            .expect("edge-agent starts");
        children.push((lane.clone(), child));
    }
    // A lane's key is pending until approved; approve each as it appears.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut approved = Vec::new();
    while approved.len() < lanes.len() {
        assert!(Instant::now() < deadline, "lanes never appeared: {approved:?}");
        let waiting: Vec<&String> = lanes.iter().filter(|l| !approved.contains(*l)).collect();
        for lane in waiting {
            let (ok, _) =
                central_cli(&central, &config, &["lanes", "approve", &format!("DEMO/{lane}")], None);
            if ok {
                approved.push(lane.clone());
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    say(
        json!({"event": "ready", "desk": format!("http://127.0.0.1:{http}"), "dir": dir.path(), "lanes": lanes,
               "database": db, "broker": broker.port}),
    );
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[..] {
            ["kill", lane] => {
                if let Some((_, child)) = children.iter_mut().find(|(n, _)| n == lane) {
                    let _ = child.kill();
                    let _ = child.wait();
                    say(json!({"event": "killed", "lane": lane}));
                }
            }
            ["quit"] => break,
            _ => say(json!({"event": "error", "message": format!("unknown command {line:?}")})),
        }
    }
    for (_, mut child) in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    drop(pg);
    drop(broker);
    if std::env::var_os("DESK_RIG_KEEP").is_some() {
        let kept = dir.keep();
        eprintln!("desk-rig: kept {}", kept.display());
    }
}
