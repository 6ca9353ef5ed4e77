//! The real agent binary stopped and started again, as an installer or a crash
//! would: passage numbers go on where they stopped (central finds missing
//! passages by gaps in them), never repeating, through kill -9 and a clean stop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The demo lane with steady simulated traffic and no broker (the records are
/// archived on the lane whether or not central is reachable).
fn config(dir: &Path) -> PathBuf {
    let port = hil_tests::free_port();
    let data = dir.join("data");
    let lane =
        hil_tests::demo_lane(&format!("host = \"127.0.0.1\"\nport = {port}"), &data.display().to_string());
    let sim = "\n[sim]\nvehicles = 0\nseed = 5\narrival_gap = \"5ms\"\nbarrier_move = \"5ms\"\ndrive_in = \"2ms\"\ndrive_clear = \"5ms\"\npatience = \"2s\"\n";
    let file = dir.join("lane.toml");
    std::fs::write(&file, format!("{lane}{sim}")).unwrap();
    file
}

fn agent(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// SIGTERM, as systemd stops the service; waits for the agent to exit.
fn terminate(mut child: Child) {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(child.wait().unwrap().success(), "a clean stop exits 0");
}

fn kill_9(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The archived records: id -> (seq, arrival).
fn archived(data: &Path) -> BTreeMap<String, (u64, String)> {
    let Ok(dir) = std::fs::read_dir(data.join("records")) else { return BTreeMap::new() };
    dir.flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| {
            let v: Value = serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
            let seq = v["seq"].as_u64()?;
            Some((v["id"].as_str()?.to_string(), (seq, v["arrived_at"].as_str()?.to_string())))
        })
        .collect()
}

/// Polls the files the agent writes until `done`; panics after `limit`.
fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn journal_seq(data: &Path) -> u64 {
    let v: Value = serde_json::from_slice(&std::fs::read(data.join("passages.json")).unwrap()).unwrap();
    v["last_seq"].as_u64().unwrap()
}

#[test]
fn passage_numbers_go_on_across_kill_9_and_a_clean_stop_and_never_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let file = config(dir.path());
    let data = dir.path().join("data");
    let limit = Duration::from_secs(120);

    let first = agent(&file);
    wait_until(limit, "first run", || archived(&data).len() >= 5);
    kill_9(first); // mid-traffic: a passage is usually in progress
    let after_kill = archived(&data);
    let given_out = journal_seq(&data);
    let highest = after_kill.values().map(|(s, _)| *s).max().unwrap();
    assert!(given_out >= highest, "every archived number was on disk first: {given_out} < {highest}");

    let second = agent(&file);
    wait_until(limit, "second run", || archived(&data).len() >= after_kill.len() + 5);
    terminate(second);
    let after_stop = archived(&data);
    let given_out_2 = journal_seq(&data);

    let third = agent(&file);
    wait_until(limit, "third run", || archived(&data).len() >= after_stop.len() + 5);
    kill_9(third);

    let all = archived(&data);
    let later = |before: &BTreeMap<String, (u64, String)>| -> Vec<u64> {
        all.iter().filter(|(id, _)| !before.contains_key(*id)).map(|(_, (s, _))| *s).collect()
    };
    let (second_run, third_run) = (later(&after_kill), later(&after_stop));
    assert!(
        second_run.iter().all(|s| *s > given_out),
        "after kill -9 numbering goes on beyond {given_out}, even past a passage cut short: {second_run:?}"
    );
    assert!(third_run.iter().all(|s| *s > given_out_2), "after a clean stop: {third_run:?} vs {given_out_2}");
    let mut by_arrival: Vec<&(u64, String)> = all.values().collect();
    by_arrival.sort_by(|a, b| (&a.1, a.0).cmp(&(&b.1, b.0)));
    let seqs: Vec<u64> = by_arrival.iter().map(|(s, _)| *s).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "strictly increasing in order of arrival: {seqs:?}");
}
