//! Backlog drain after an uplink outage, measured against `mosquitto_pub`
//! sending the same messages (same count, same sizes) through the same broker
//! to the same subscriber in the same run — so the ratio, not the absolute
//! number, is what to compare between machines.
//!
//! 1. The agent runs the simulated lane with no broker until BACKLOG passages
//!    (records and images) wait in its outbox; then it is killed (-9). The
//!    passage it was in the middle of (still in its journal) is backlog too.
//! 2. Mosquitto and a subscriber start; the agent starts again with live
//!    traffic on; we time until every backlog record and image has arrived, and
//!    note how long live results took to arrive meanwhile.
//! 3. `mosquitto_pub -q 1 -l` sends the same number of messages of the same
//!    sizes; we time until the subscriber has them all.
//!
//! Env: BACKLOG (passages, default 150).

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hil_tests::{Mosquitto, Subscriber};
use serde_json::Value;

fn config(port: u16, data: &Path, sim: &str) -> String {
    let lane =
        hil_tests::demo_lane(&format!("host = \"127.0.0.1\"\nport = {port}"), &data.display().to_string());
    format!("{lane}\n[sim]\nseed = 5\nbarrier_move = \"5ms\"\ndrive_in = \"2ms\"\ndrive_clear = \"5ms\"\npatience = \"2s\"\n{sim}")
}

fn agent(file: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .args(["run", "--config"])
        .arg(file)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("edge-agent runs")
}

/// Says why the backlog is not complete at the subscriber and stops: for each missing record,
/// whether the lane archived it and whether it still waits in the outbox; for each missing
/// image, whether the image store has it, how many of its bytes arrived and how many of its rows
/// still wait — so a message lost by the lane (stored, nothing waiting, never arrived) is told
/// apart from one that is merely slow, or one the bench should never have expected.
fn stalled(
    data: &Path,
    broker: &Mosquitto,
    records: &HashSet<String>,
    images_missing: &HashSet<String>,
    image_bytes: &std::collections::HashMap<String, (u64, u64)>,
) -> ! {
    let conn = rusqlite::Connection::open(data.join("outbox.db")).unwrap();
    let waiting = |pattern: &str| -> i64 {
        conn.query_row("SELECT count(*) FROM outbox WHERE topic LIKE ?1", [pattern], |r| r.get(0))
            .unwrap_or(-1)
    };
    for id in records.iter().take(10) {
        let archived = std::fs::read(data.join("records").join(format!("{id}.json")))
            .map(|p| String::from_utf8_lossy(&p).contains(id.as_str()))
            .unwrap_or(false);
        let journal = std::fs::read_to_string(data.join("passages.json")).unwrap_or_default();
        println!(
            "record {id}: archived {archived}, still in the journal {}, passage rows waiting in the outbox: {}",
            journal.contains(id.as_str()),
            waiting("%/passage")
        );
    }
    for sha in images_missing.iter().take(10) {
        let (want, got) = image_bytes.get(sha).copied().unwrap_or_default();
        let stored = std::fs::read_dir(data.join("images").join(&sha[..2]))
            .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with(sha.as_str())))
            .unwrap_or(false);
        println!(
            "image {sha}: in the image store {stored}; manifest says {want} bytes, {got} arrived; rows waiting {}",
            waiting(&format!("%/image/{sha}%"))
        );
    }
    let log = broker.log();
    let dropped: Vec<&str> = log.lines().filter(|l| l.contains("dropped")).take(5).collect();
    println!("broker log, dropped messages: {dropped:?}");
    panic!(
        "the drain stalled: {} backlog records and {} images missing at the subscriber",
        records.len(),
        images_missing.len()
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benches; nothing to list here
    }
    let backlog: usize = std::env::var("BACKLOG").ok().and_then(|v| v.parse().ok()).unwrap_or(150);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("lane.toml");
    let port = hil_tests::free_port();

    // 1. Outage: fill the outbox.
    std::fs::write(&file, config(port, &data, "vehicles = 0\narrival_gap = \"5ms\"\n")).unwrap();
    let mut first = agent(&file);
    let fill = Instant::now();
    while hil_tests::archived_ids(&data).len() < backlog {
        assert!(fill.elapsed() < Duration::from_secs(600), "the lane did not produce {backlog} passages");
        std::thread::sleep(Duration::from_millis(50));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let archived = hil_tests::archived_ids(&data);
    // The passage the kill cut short is backlog too: the next start closes it and sends it.
    let cut_short: HashSet<String> = std::fs::read(data.join("passages.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["open"].as_object().map(|o| o.keys().cloned().collect()))
        .unwrap_or_default();
    let stored: HashSet<String> = archived.union(&cut_short).cloned().collect();
    println!(
        "backlog: {} passages stored while offline ({:.1} s), {} of them cut short by the kill",
        stored.len(),
        fill.elapsed().as_secs_f64(),
        stored.len() - archived.len()
    );

    // 2. The link returns; live traffic continues at a realistic pace.
    let broker = Mosquitto::start_on(port);
    let sub = Subscriber::connect(broker.port, "#");
    std::fs::write(&file, config(port, &data, "vehicles = 0\narrival_gap = \"50ms\"\n")).unwrap();
    let start = Instant::now();
    let mut second = agent(&file);
    let (mut sizes, mut first_at, mut live_latency_ms) = (Vec::new(), None, Vec::new());
    let mut pending_records = stored.clone();
    // Backlog images: those referenced by a backlog record and not yet whole at the subscriber.
    let (mut images_missing, mut images_done, mut backlog_whole) =
        (HashSet::new(), HashSet::new(), HashSet::new());
    let mut image_bytes: std::collections::HashMap<String, (u64, u64)> = Default::default();
    let mut chunks_seen: HashSet<(String, String)> = HashSet::new();
    // Live traffic keeps messages coming, so "nothing arrives" never happens: progress on the
    // backlog is what is watched, and a drain that stops making any is explained, not waited on.
    // Only the backlog counts: live images completing once hid a stalled backlog for minutes.
    let mut progress = (usize::MAX, 0, Instant::now());
    while !pending_records.is_empty() || !images_missing.is_empty() {
        let now = (pending_records.len(), backlog_whole.len());
        if (now.0, now.1) != (progress.0, progress.1) {
            progress = (now.0, now.1, Instant::now());
        } else if progress.2.elapsed() > Duration::from_secs(60) {
            stalled(&data, &broker, &pending_records, &images_missing, &image_bytes);
        }
        let Some((topic, payload, _)) = sub.next(Duration::from_secs(120)) else {
            stalled(&data, &broker, &pending_records, &images_missing, &image_bytes);
        };
        first_at.get_or_insert_with(Instant::now);
        if topic.ends_with("/passage") {
            let v: Value = serde_json::from_slice(&payload).unwrap();
            let id = v["id"].as_str().unwrap().to_string();
            if pending_records.remove(&id) {
                sizes.push(payload.len());
                for c in v["captures"].as_array().unwrap() {
                    if let Some(sha) = c["image"]["sha256"].as_str() {
                        if images_done.contains(sha) {
                            backlog_whole.insert(sha.to_string());
                        } else {
                            images_missing.insert(sha.to_string());
                        }
                    }
                }
            } else if !stored.contains(&id) {
                let done: chrono::DateTime<chrono::Utc> =
                    v["completed_at"].as_str().unwrap().parse().unwrap();
                live_latency_ms.push((chrono::Utc::now() - done).num_milliseconds());
            }
        } else if let Some((_, rest)) = topic.split_once("/image/") {
            sizes.push(payload.len());
            let sha = rest.split('/').next().unwrap().to_string();
            let e = image_bytes.entry(sha.clone()).or_default();
            match rest.split_once('/') {
                None => e.0 = serde_json::from_slice::<Value>(&payload).unwrap()["bytes"].as_u64().unwrap(),
                // An image may be sent twice (a restart queues again the images of the record
                // it cut short): each chunk counts once.
                Some((_, index)) => {
                    if chunks_seen.insert((sha.clone(), index.to_string())) {
                        e.1 += payload.len() as u64;
                    }
                }
            }
            if e.0 > 0 && e.1 >= e.0 {
                if images_missing.remove(&sha) {
                    backlog_whole.insert(sha.clone());
                }
                images_done.insert(sha);
            }
        }
    }
    let drained = Instant::now();
    second.kill().unwrap();
    second.wait().unwrap();
    let agent_secs = (drained - first_at.unwrap()).as_secs_f64();
    let total_secs = (drained - start).as_secs_f64();
    let bytes: usize = sizes.iter().sum();

    // 3. The anchor: the same messages from mosquitto_pub.
    let anchor_topic = "anchor/drain";
    let anchor_sub = Subscriber::connect(broker.port, anchor_topic);
    let mut input = Vec::with_capacity(bytes + sizes.len());
    for &s in &sizes {
        input.extend(std::iter::repeat_n(b'x', s.max(1)));
        input.push(b'\n');
    }
    let t = Instant::now();
    let mut publisher = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", anchor_topic, "-l"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("mosquitto_pub");
    let mut stdin = publisher.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let mut got = 0;
    while got < sizes.len() {
        if anchor_sub.next(Duration::from_secs(120)).is_none() {
            let log = broker.log();
            let dropped: Vec<&str> = log.lines().filter(|l| l.contains("dropped")).take(5).collect();
            panic!(
                "mosquitto_pub's messages did not all arrive: {got} of {}; broker: {dropped:?}",
                sizes.len()
            );
        }
        got += 1;
    }
    let anchor_secs = t.elapsed().as_secs_f64();
    feeder.join().unwrap().unwrap();
    publisher.wait().unwrap();

    let mb = bytes as f64 / 1e6;
    live_latency_ms.sort();
    let pct = |p: f64| {
        live_latency_ms.get(((live_latency_ms.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0)
    };
    println!(
        "drained: {} messages, {mb:.1} MB ({} backlog records, {} backlog images; {} images in all)",
        sizes.len(),
        stored.len(),
        backlog_whole.len(),
        images_done.len()
    );
    println!("edge-agent:    {agent_secs:.2} s from first message ({:.1} MB/s, {:.0} msg/s); {total_secs:.2} s from process start", mb / agent_secs, sizes.len() as f64 / agent_secs);
    println!(
        "mosquitto_pub: {anchor_secs:.2} s ({:.1} MB/s, {:.0} msg/s)",
        mb / anchor_secs,
        sizes.len() as f64 / anchor_secs
    );
    println!("ratio edge-agent / mosquitto_pub throughput: {:.2}", anchor_secs / agent_secs);
    println!(
        "live results during the drain: {} records, latency p50 {} ms, p95 {} ms, max {} ms",
        live_latency_ms.len(),
        pct(0.5),
        pct(0.95),
        pct(1.0)
    );
}
