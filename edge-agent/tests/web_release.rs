//! Degraded operation: with the uplink down, a local operator releases a held
//! vehicle from the technician page with their own credential. The lane runs
//! in-process on simulated devices with its page on real TCP; the uplink's
//! state is the test's to set. Wrong passwords are refused, audited and lock
//! the operator out; only a held vehicle can be released; the record and the
//! audit trail say who released it.

#[path = "web_support/mod.rs"]
mod web_support;

use std::io::Write;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use drivers::sim::{SimLane, SimPlan, SimTiming};
use edge_agent::lane::{Lane, Publish};
use edge_agent::operator::{Credential, Operators, MAX_FAILURES, MIN_ITERATIONS};
use edge_agent::outbox::Message;
use edge_agent::{config, web};
use serde_json::{json, Value};

struct Records(Mutex<mpsc::Sender<Value>>);

impl Publish for Records {
    fn publish(&self, m: Message) -> bool {
        if m.topic.ends_with("/passage") {
            let _ = self.0.lock().unwrap().send(serde_json::from_slice(&m.payload().unwrap()).unwrap());
        }
        true
    }
}

fn release(port: u16, passage: &str, operator: &str, password: &str) -> web_support::Response {
    let body = json!({ "passage": passage, "operator": operator, "password": password }).to_string();
    web_support::http(
        port,
        "POST",
        "/api/release",
        &[("X-Edge-Agent", "1"), ("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

#[test]
fn a_local_operator_releases_a_held_vehicle_while_the_uplink_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let demo = hil_tests::with_sim_truth(
        &std::fs::read_to_string(web_support::repo().join("config/demo.toml")).unwrap(),
    );
    let wang = Credential::new("wang-secret-1", MIN_ITERATIONS);
    let li = Credential::new("li-secret-22", MIN_ITERATIONS);
    let text = demo
        .split("\n[sim]")
        .next()
        .unwrap()
        .replace("../.cache/demo-data", &dir.path().display().to_string())
        + &format!("\n[operators.wang]\ncredential = \"{wang}\"\n\n[operators.li]\ncredential = \"{li}\"\n");
    let cfg = config::from_str(Path::new("test.toml"), &text).unwrap();
    assert_eq!(cfg.operators.len(), 2);
    let operators = Arc::new(Operators::new(&cfg.operators));
    let rt = tokio::runtime::Runtime::new().unwrap();
    // One undeclared vehicle: held for review, and its driver waits.
    let sim = SimLane::new(SimTiming { patience: Duration::from_secs(120), ..SimTiming::fast() });
    let plan = SimPlan { vehicles: 1, undeclared_every: 1, ..SimPlan::default() };
    let (tx, records) = mpsc::channel();
    let (uplink, uplink_rx) = tokio::sync::watch::channel(true);
    let (port, stop) = rt.block_on(async {
        let outbox = edge_agent::outbox::OutboxHandle::open(&dir.path().join("outbox.db"), 1 << 24).unwrap();
        let lane = Lane::new(cfg, Some(sim.clone()), Arc::new(Records(Mutex::new(tx)))).unwrap();
        let sources = web::Sources {
            site: "DEMO".into(),
            lane: "G01".into(),
            technician: lane.technician(),
            outbox,
            uplink_connected: uplink_rx,
            metrics: Arc::default(),
            data_dir: dir.path().to_path_buf(),
            action_limit: Duration::from_secs(10),
            link: None,
            outbox_counters: None,
            storage: None,
            operators,
            language: None,
        };
        let server = web::start("127.0.0.1:0".parse().unwrap(), None, sources).await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(lane.run(async {
            stopped.await.ok();
        }));
        tokio::spawn(sim.clone().run_traffic(plan));
        (server.addr.port(), (server, stop, run))
    });

    let state = web_support::until_status(port, "a held vehicle", |s| s["stage"] == "review");
    let passage = state["passage"].as_str().unwrap().to_string();

    let up = release(port, &passage, "li", "li-secret-22");
    assert_eq!(up.status, 409, "central reviews while the uplink is up: {}", up.text());
    uplink.send_replace(false);

    // Wrong passwords: refused each time, then the operator is locked out
    // even with the right one; another operator is not affected.
    for _ in 0..MAX_FAILURES {
        let wrong = release(port, &passage, "wang", "guess");
        assert_eq!(wrong.status, 401, "{}", wrong.text());
    }
    let locked = release(port, &passage, "wang", "wang-secret-1");
    assert_eq!(locked.status, 429, "{}", locked.text());
    assert_eq!(release(port, &passage, "nobody", "wang-secret-1").status, 401);
    assert_eq!(sim.barrier(), drivers::BarrierState::Closed, "nothing moved");

    // Right credential, but not a held vehicle: refused by the lane.
    let other = release(port, "G01-20260101T000000000Z-0001", "li", "li-secret-22");
    assert_eq!(other.status, 409, "{}", other.text());

    let ok = release(port, &passage, "li", "li-secret-22");
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()["released_by"], "local:li");

    let record = records.recv_timeout(Duration::from_secs(20)).expect("the released vehicle drives through");
    assert_eq!(record["id"], passage.as_str());
    assert_eq!(record["decision"]["outcome"], "hold", "the lane held it: {record}");
    assert_eq!(record["review"]["outcome"], "release");
    assert_eq!(record["review"]["by"], "local:li");
    assert_eq!(record["exit"], "drove_through");

    let (server, stop, run) = stop;
    let _ = stop.send(());
    rt.block_on(async {
        run.await.unwrap();
        server.stop().await;
    });
    // The audit trail has every attempt, and still verifies.
    let log = dir.path().join("audit.log");
    let entries: Vec<Value> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let refused: Vec<&Value> = entries.iter().filter(|e| e["kind"] == "operator_refused").collect();
    assert_eq!(refused.len(), MAX_FAILURES as usize + 2, "wrong, locked and unknown attempts: {refused:?}");
    assert!(refused
        .iter()
        .any(|e| e["data"]["operator"] == "wang" && e["data"]["why"].as_str().unwrap().contains("too many")));
    let releases: Vec<&Value> = entries.iter().filter(|e| e["kind"] == "operator_release").collect();
    assert_eq!(releases.len(), 2, "{releases:?}");
    assert_eq!(releases[1]["data"], json!({"operator": "li", "by": "local:li", "accepted": true}));
    assert_eq!(releases[1]["passage"], passage.as_str());
    let signer = edge_agent::signing::load_or_create(&dir.path().join("signing.key"), "DEMO-G01").unwrap();
    let keys = vec![signer.key_entry()];
    edge_agent::audit::verify_file(&log, &keys).expect("the audit trail verifies");
}

/// `edge-agent operator hash` reads the password from stdin and prints a
/// credential the lane config accepts and that verifies only that password.
#[test]
fn operator_hash_makes_a_credential_the_config_accepts() {
    let mut cli = std::process::Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .args(["operator", "hash", "--iterations", "10000"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    cli.stdin.take().unwrap().write_all(b"a long passphrase\n").unwrap();
    let out = cli.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let line = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(!line.contains("passphrase"));
    let c: Credential = line.parse().unwrap();
    assert!(c.verify("a long passphrase") && !c.verify("a long passphrase "));
    let weak = std::process::Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .args(["operator", "hash", "--iterations", "10"])
        .output()
        .unwrap();
    assert_eq!(weak.status.code(), Some(2), "too few iterations refused");
}
