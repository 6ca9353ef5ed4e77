//! `edge-agent outbox [status] [--watch]` against a real outbox database: the
//! depth, a drain followed to the end, and a clear error where there is none.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use edge_agent::outbox::{FilePart, Message, Outbox};

fn lane(dir: &std::path::Path) -> std::path::PathBuf {
    let cfg = dir.join("lane.toml");
    std::fs::write(
        &cfg,
        hil_tests::demo_lane("host = \"127.0.0.1\"\nport = 1", &dir.join("data").display().to_string()),
    )
    .unwrap();
    cfg
}

fn agent(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_edge-agent"));
    c.args(args);
    c
}

#[test]
fn shows_the_depth_and_follows_a_drain_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = lane(dir.path());
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let db = dir.path().join("data/outbox.db");
    let mut outbox = Outbox::open(&db, 1 << 30).unwrap();
    let mut ids = Vec::new();
    for k in 0..30 {
        let m = Message::result("lanectl/x/passage".into(), vec![b'r'; 100]);
        ids.push(outbox.push(&m, 1000 + k).unwrap().unwrap());
    }
    let image = dir.path().join("image.jpg");
    std::fs::write(&image, vec![0u8; 5000]).unwrap();
    let chunk = Message::image_chunk(
        "lanectl/x/image".into(),
        FilePart { path: image.clone(), offset: 0, len: 5000 },
    );
    ids.push(outbox.push(&chunk, 2000).unwrap().unwrap());

    let out = agent(&["outbox", "--config", cfg.to_str().unwrap(), "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["messages"].as_u64(), v["results"].as_u64(), v["images"].as_u64()),
        (Some(31), Some(30), Some(1))
    );
    assert_eq!((v["bytes"].as_u64(), v["file_bytes"].as_u64()), (Some(3000), Some(5000)), "{v}");

    let out = agent(&["outbox", "status", "--config", cfg.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("31 messages") && text.contains("7.8 KiB waiting"), "{text}");

    // Follow a drain: the watcher's first sample is the full backlog; acknowledge half, then the
    // rest, each time after the watcher has reported the previous state.
    let mut watch = agent(&[
        "outbox",
        "status",
        "--watch",
        "--json",
        "--interval",
        "20ms",
        "--config",
        cfg.to_str().unwrap(),
    ])
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut next = || serde_json::from_str::<serde_json::Value>(&lines.next().unwrap().unwrap()).unwrap();
    let first = next();
    assert_eq!(first["messages"].as_u64(), Some(31));
    assert_eq!(first["done"].as_f64(), Some(0.0));
    outbox.ack_all(&ids[..15]).unwrap();
    let mut sample = next();
    while sample["messages"].as_u64() == Some(31) {
        sample = next();
    }
    assert_eq!(sample["messages"].as_u64(), Some(16));
    assert!(sample["messages_per_s"].as_f64().unwrap() > 0.0, "{sample}");
    assert!(sample["eta_s"].as_f64().is_some(), "{sample}");
    outbox.ack_all(&ids[15..]).unwrap();
    while sample["messages"].as_u64() != Some(0) {
        sample = next();
    }
    assert_eq!(sample["done"].as_f64(), Some(1.0));
    assert!(watch.wait().unwrap().success(), "the watcher ends by itself once the outbox is empty");
}

#[test]
fn a_lane_without_an_outbox_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = lane(dir.path());
    let out = agent(&["outbox", "status", "--watch", "--config", cfg.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no outbox here"), "{err}");
}
