//! Signed commands end to end: keys made and commands signed with the
//! `edge-agent command` CLI, sent with `mosquitto_pub` through a real
//! Mosquitto to the agent running a simulated lane. A held vehicle is released
//! by central exactly once; forged, expired, wrongly addressed, unknown-key,
//! malformed and replayed commands are each rejected with their reason.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use hil_tests::{Mosquitto, Subscriber};

const BIN: &str = env!("CARGO_BIN_EXE_edge-agent");
const CMD_TOPIC: &str = "lanectl/DEMO/G01/cmd";

fn cli(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn keygen(file: &Path) -> String {
    cli(&["command", "keygen", file.to_str().unwrap()])
}

fn sign(key: &Path, key_id: &str, lane: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "command",
        "sign",
        "--key",
        key.to_str().unwrap(),
        "--key-id",
        key_id,
        "--site",
        "DEMO",
        "--lane",
        lane,
        "--by",
        "reviewer.li",
    ];
    args.extend_from_slice(extra);
    cli(&args)
}

fn send(port: u16, payload: &str) {
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", CMD_TOPIC, "-m", payload])
        .status()
        .unwrap();
    assert!(status.success());
}

fn agent(dir: &Path, port: u16, public: &str) -> Child {
    let lane = hil_tests::demo_lane(
        &format!("host = \"127.0.0.1\"\nport = {port}"),
        &dir.join("data").display().to_string(),
    )
    .replace("review = \"20s\"", "review = \"120s\"");
    // One vehicle, undeclared: held for review; its driver waits as long as it takes.
    let sim = "[sim]\nvehicles = 1\nseed = 3\narrival_gap = \"5ms\"\nbarrier_move = \"5ms\"\ndrive_in = \"2ms\"\ndrive_clear = \"5ms\"\n\
               patience = \"300s\"\nundeclared_every = 1\n";
    let file = dir.join("lane.toml");
    std::fs::write(
        &file,
        format!("{lane}\n[commands]\nkeys = {{ central-1 = \"{public}\" }}\nmax_validity = \"10m\"\n\n{sim}"),
    )
    .unwrap();
    Command::new(BIN)
        .args(["run", "--config"])
        .arg(&file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn central_releases_a_held_vehicle_and_bad_commands_are_refused() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (key, other) = (dir.path().join("central.key"), dir.path().join("intruder.key"));
    let public = keygen(&key);
    keygen(&other);
    let sub = Subscriber::connect(broker.port, "lanectl/DEMO/G01/#");
    let mut agent = agent(dir.path(), broker.port, &public);
    let _kill = scopeguard(&mut agent);

    let status = sub.wait_for("/status", "online status", |v| v["state"] == "online");
    let lane_key = status["signing_key"].clone();
    let held = sub.wait_for("/decision", "hold decision", |v| v["decision"]["outcome"] == "hold");
    let passage = held["passage"].as_str().unwrap().to_string();
    let release = ["--action", "release", "--passage", passage.as_str()];

    // (command, expected rejection reason); each gets its own id.
    let bad = [
        (sign(&other, "central-1", "G01", &release), "bad_signature"),
        (sign(&key, "central-9", "G01", &release), "unknown_key"),
        (sign(&key, "central-1", "G02", &release), "wrong_target"),
        (sign(&key, "central-1", "G01", &[&release[..], &["--valid=-5"]].concat()), "expired"),
        (sign(&key, "central-1", "G01", &[&release[..], &["--valid", "86400"]].concat()), "too_long"),
        ("{\"key_id\": 1}".to_string(), "malformed"),
        ("not json at all".to_string(), "malformed"),
    ];
    for (payload, reason) in &bad {
        send(broker.port, payload);
        let ack = sub.wait_for("/ack", "rejection", |_| true);
        assert_eq!(ack["accepted"], false, "{payload} -> {ack}");
        assert_eq!(ack["reason"], *reason, "{payload} -> {ack}");
        assert!(!ack["detail"].as_str().unwrap().is_empty());
    }

    // Still held after all that: no barrier opened.
    let not_yet =
        sign(&key, "central-1", "G01", &["--action", "hold", "--passage", &passage, "--id", "keep-holding"]);
    send(broker.port, &not_yet);
    let ack = sub.wait_for("/ack", "hold ack", |_| true);
    assert_eq!((ack["accepted"].as_bool(), ack["outcome"].as_str()), (Some(true), Some("held")), "{ack}");

    let good = sign(&key, "central-1", "G01", &[&release[..], &["--id", "release-1"]].concat());
    send(broker.port, &good);
    let ack = sub.wait_for("/ack", "release ack", |_| true);
    assert_eq!(ack["id"], "release-1");
    assert_eq!((ack["accepted"].as_bool(), ack["outcome"].as_str()), (Some(true), Some("released")), "{ack}");
    let record = sub.wait_for("/passage", "passage record", |v| v["id"] == passage.as_str());
    assert_eq!(record["review"]["outcome"], "release", "{record}");
    assert_eq!(record["review"]["by"], "central:reviewer.li");
    assert_eq!(record["exit"], "drove_through");

    // The record is signed with the key the lane announced; altering it breaks that.
    let lane_key =
        format!("{}={}", lane_key["key_id"].as_str().unwrap(), lane_key["public_key"].as_str().unwrap());
    let saved = dir.path().join("record.json");
    std::fs::write(&saved, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
    let out = Command::new(BIN).args(["verify", "--key", &lane_key]).arg(&saved).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let mut forged = record.clone();
    forged["review"]["by"] = "central:someone.else".into();
    std::fs::write(&saved, serde_json::to_vec(&forged).unwrap()).unwrap();
    let out = Command::new(BIN).args(["verify", "--key", &lane_key]).arg(&saved).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stdout).contains("does not match"));

    // The very same bytes again: a replay, refused, and nothing runs twice.
    send(broker.port, &good);
    let ack = sub.wait_for("/ack", "replay rejection", |_| true);
    assert_eq!((ack["accepted"].as_bool(), ack["reason"].as_str()), (Some(false), Some("replayed")), "{ack}");

    // Central asks for the record again: the same signed bytes come back.
    let resend = sign(&key, "central-1", "G01", &["--action", "resend", "--passage", &passage]);
    send(broker.port, &resend);
    // Results go out in order: the record, then (after its images) the ack.
    let again = sub.wait_for("/passage", "resent record", |v| v["id"] == passage.as_str());
    assert_eq!(again, record);
    let ack = sub.wait_for("/ack", "resend ack", |_| true);
    assert_eq!((ack["accepted"].as_bool(), ack["outcome"].as_str()), (Some(true), Some("resent")), "{ack}");
    assert!(ack["detail"].as_str().unwrap().contains("images queued again"), "{ack}");

    // A release for a passage that is gone does nothing, and says so.
    let late = sign(&key, "central-1", "G01", &["--action", "release", "--passage", &passage]);
    send(broker.port, &late);
    let ack = sub.wait_for("/ack", "late release ack", |_| true);
    assert_eq!(
        (ack["accepted"].as_bool(), ack["outcome"].as_str()),
        (Some(true), Some("not_applicable")),
        "{ack}"
    );
}

/// Kills the agent however the test ends.
fn scopeguard(child: &mut Child) -> impl Drop + '_ {
    struct Guard<'a>(&'a mut Child);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    Guard(child)
}
