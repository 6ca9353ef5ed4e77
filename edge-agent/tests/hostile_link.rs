//! The MQTT link against a hostile or careless central, through a real Mosquitto: an oversized
//! command, garbage and a forged command must neither cut the lane off nor make its acks say
//! what an outsider wants; the lane's status says when it was last seen; a clean stop sends the
//! final audit checkpoint before it goes offline.

mod web_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hil_tests::{Mosquitto, Subscriber};
use serde_json::Value;
use web_support::Agent;

const BIN: &str = env!("CARGO_BIN_EXE_edge-agent");
const BASE: &str = "lanectl/DEMO/G01";

fn cli(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn sign(key: &Path, extra: &[&str]) -> String {
    let key = key.to_str().unwrap();
    let base = ["command", "sign", "--key", key, "--key-id", "central-1", "--site", "DEMO", "--lane", "G01"];
    cli(&[&base[..], &["--by", "reviewer.li"], extra].concat())
}

/// Publishes `payload` (from a file: it may be megabytes) on the lane's command topic, QoS 1.
fn send(port: u16, payload: &[u8]) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), payload).unwrap();
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", &format!("{BASE}/cmd"), "-f"])
        .arg(file.path())
        .status()
        .unwrap();
    assert!(status.success());
}

fn metric(agent: &Agent, series: &str) -> Option<f64> {
    let text = agent.get("/metrics").text();
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn lane_extra(public: &str) -> String {
    format!(
        "[commands]\nkeys = {{ central-1 = \"{public}\" }}\nmax_validity = \"10m\"\n\n\
         [web]\nlisten = \"127.0.0.1:{{web_port}}\"\n\n\
         [sim]\nvehicles = 0\nseed = 3\narrival_gap = \"200ms\"\nbarrier_move = \"5ms\"\ndrive_in = \"2ms\"\n\
         drive_clear = \"5ms\"\npatience = \"2s\"\n"
    )
}

#[test]
fn an_oversized_command_is_refused_and_the_link_stays_up() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (key, intruder) = (dir.path().join("central.key"), dir.path().join("intruder.key"));
    let public = cli(&["command", "keygen", key.to_str().unwrap()]);
    cli(&["command", "keygen", intruder.to_str().unwrap()]);
    let sub = Subscriber::connect(broker.port, &format!("{BASE}/#"));
    let agent = Agent::start(broker.port, &lane_extra(&public), None);
    sub.wait_for("/status", "online status", |v| v["state"] == "online");

    // 5 MB at QoS 1 on a persistent session: today's lane limit is 1 MiB.
    let huge =
        format!("{{\"key_id\":\"central-1\",\"payload\":\"{}\",\"signature\":\"\"}}", "A".repeat(5 << 20));
    send(broker.port, huge.as_bytes());
    let ack = sub.wait_for("/ack", "rejection of the oversized command", |_| true);
    assert_eq!(
        (ack["accepted"].as_bool(), ack["reason"].as_str()),
        (Some(false), Some("too_large")),
        "{ack}"
    );
    assert!(ack["id"].is_null(), "nothing of an unread command is trusted: {ack}");

    send(broker.port, b"\x00\xffnot json");
    let ack = sub.wait_for("/ack", "rejection of garbage", |_| true);
    assert_eq!(ack["reason"], "malformed", "{ack}");

    // A command whose signature fails: its id is whatever an outsider chose, never echoed.
    let forged = sign(&intruder, &["--action", "resend", "--passage", "any", "--id", "outsider-chosen"]);
    send(broker.port, forged.as_bytes());
    let ack = sub.wait_for("/ack", "rejection of the forged command", |_| true);
    assert_eq!(ack["reason"], "bad_signature", "{ack}");
    assert!(ack["id"].is_null(), "a forged command's id must not be echoed: {ack}");

    // The link is still the first one, and commands still work.
    let good = sign(&key, &["--action", "resend", "--passage", "any", "--id", "after-the-flood"]);
    send(broker.port, good.as_bytes());
    let ack = sub.wait_for("/ack", "ack of a good command", |_| true);
    assert_eq!(
        (ack["id"].as_str(), ack["accepted"].as_bool()),
        (Some("after-the-flood"), Some(true)),
        "{ack}"
    );
    sub.wait_for("/passage", "a passage record after it all", |_| true);
    assert_eq!(metric(&agent, "edge_uplink_connects_total"), Some(1.0), "never reconnected");
    assert_eq!(metric(&agent, "edge_inbound_messages_total{what=\"too_large\"}"), Some(1.0));
    assert_eq!(metric(&agent, "edge_commands_total{result=\"rejected\",why=\"too_large\"}"), Some(1.0));
}

#[test]
fn the_offline_status_says_since_when_the_lane_was_last_connected() {
    let mut broker = Mosquitto::start();
    let sub = Subscriber::connect(broker.port, &format!("{BASE}/status"));
    let started = chrono::Utc::now();
    let mut agent = Agent::start(broker.port, "[web]\nlisten = \"127.0.0.1:{web_port}\"\n", None);
    sub.wait_for("/status", "online status", |v| v["state"] == "online");

    broker.stop();
    broker.start_again();
    let online = sub.wait_for("/status", "online again", |v| v["state"] == "online");
    let reconnected: chrono::DateTime<chrono::Utc> = online["since"].as_str().unwrap().parse().unwrap();
    assert!(reconnected > started);

    agent.child.kill().unwrap(); // the broker publishes the last will
    let offline = sub.wait_for("/status", "offline status", |v| v["state"] == "offline");
    let since: chrono::DateTime<chrono::Utc> = offline["since"].as_str().unwrap().parse().unwrap();
    assert!(since >= reconnected, "last seen on the connection that broke, not at start: {offline}");
}

#[test]
fn a_clean_stop_sends_the_final_checkpoint_before_going_offline() {
    let broker = Mosquitto::start();
    let sub = Subscriber::connect(broker.port, &format!("{BASE}/#"));
    let extra =
        "[web]\nlisten = \"127.0.0.1:{web_port}\"\n\n[sim]\nvehicles = 3\nseed = 3\narrival_gap = \"5ms\"\n\
                 barrier_move = \"5ms\"\ndrive_in = \"2ms\"\ndrive_clear = \"5ms\"\npatience = \"2s\"\n";
    let mut agent = Agent::start(broker.port, extra, None);
    for _ in 0..3 {
        sub.wait_for("/passage", "a passage", |_| true);
    }
    agent.terminate();
    let mut checkpoint = None;
    loop {
        let (topic, payload, _) = sub.next(Duration::from_secs(30)).expect("the stop is announced");
        let v: Value = serde_json::from_slice(&payload).unwrap_or_default();
        if topic.ends_with("/audit/checkpoint") {
            checkpoint = Some(v);
        } else if topic.ends_with("/status") && v["state"] == "offline" {
            break;
        }
    }
    assert!(agent.child.wait().unwrap().success());
    let checkpoint = checkpoint.expect("the final checkpoint arrived before the offline status");
    let log = std::fs::read_to_string(agent.dir.path().join("data/audit.log")).unwrap();
    let last: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["kind"].as_str(), &last["data"]),
        (Some("checkpoint"), &checkpoint),
        "the very last entry"
    );
    let db = rusqlite::Connection::open(agent.dir.path().join("data/outbox.db")).unwrap();
    let results: i64 = db.query_row("SELECT count(*) FROM outbox WHERE class = 0", [], |r| r.get(0)).unwrap();
    assert_eq!(results, 0, "no result left waiting for the next start");
}
