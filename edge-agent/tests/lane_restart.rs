//! The real agent binary stopped and started again, as an installer or a crash
//! would: passage numbers go on where they stopped (central finds missing
//! passages by gaps in them), never repeating, through kill -9 and a clean
//! stop; and a passage the agent was in the middle of is closed on the next
//! start with what was known and published like any other.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hil_tests::{KillOnDrop, Mosquitto, Subscriber};
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

/// An archived record: its number, arrival and how it ended.
struct Kept {
    seq: u64,
    arrived_at: String,
    exit: String,
}

/// The archived records by id.
fn archived(data: &Path) -> BTreeMap<String, Kept> {
    let Ok(dir) = std::fs::read_dir(data.join("records")) else { return BTreeMap::new() };
    dir.flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| {
            let v: Value = serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
            let kept = Kept {
                seq: v["seq"].as_u64()?,
                arrived_at: v["arrived_at"].as_str()?.to_string(),
                exit: v["exit"].as_str().unwrap_or("-").to_string(),
            };
            Some((v["id"].as_str()?.to_string(), kept))
        })
        .collect()
}

/// Numbers from 1 to `upto` that no archived record carries.
fn gaps(all: &BTreeMap<String, Kept>, upto: u64) -> Vec<u64> {
    let seqs: std::collections::BTreeSet<u64> = all.values().map(|k| k.seq).collect();
    (1..=upto).filter(|s| !seqs.contains(s)).collect()
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
    let highest = after_kill.values().map(|k| k.seq).max().unwrap();
    assert!(given_out >= highest, "every archived number was on disk first: {given_out} < {highest}");

    let second = agent(&file);
    wait_until(limit, "second run", || archived(&data).len() >= after_kill.len() + 5);
    terminate(second);
    let after_stop = archived(&data);
    let given_out_2 = journal_seq(&data);
    assert_eq!(
        gaps(&after_stop, given_out),
        Vec::<u64>::new(),
        "every number given out before the kill has its record"
    );

    let third = agent(&file);
    wait_until(limit, "third run", || archived(&data).len() >= after_stop.len() + 5);
    kill_9(third);

    let all = archived(&data);
    assert_eq!(
        gaps(&all, given_out_2),
        Vec::<u64>::new(),
        "every number given out before the stop has its record"
    );
    // New passages (not the ones closed as interrupted) number on past what was given out.
    let new_since = |before: &BTreeMap<String, Kept>| -> Vec<u64> {
        all.iter()
            .filter(|(id, k)| !before.contains_key(*id) && k.exit != "interrupted")
            .map(|(_, k)| k.seq)
            .collect()
    };
    let (second_run, third_run) = (new_since(&after_kill), new_since(&after_stop));
    assert!(
        second_run.iter().all(|s| *s > given_out),
        "after kill -9 numbering goes on beyond {given_out}, even past a passage cut short: {second_run:?}"
    );
    assert!(third_run.iter().all(|s| *s > given_out_2), "after a clean stop: {third_run:?} vs {given_out_2}");
    let mut by_arrival: Vec<&Kept> = all.values().collect();
    by_arrival.sort_by(|a, b| (&a.arrived_at, a.seq).cmp(&(&b.arrived_at, b.seq)));
    let seqs: Vec<u64> = by_arrival.iter().map(|k| k.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "strictly increasing in order of arrival: {seqs:?}");
}

/// Every vehicle held for review (auto-release off) and a driver who waits two
/// minutes: a passage stands in review, its hold decision published, for as
/// long as the test needs. Publishes to a real broker on `port`.
fn held_config(dir: &Path, port: u16) -> PathBuf {
    let data = dir.join("data");
    let lane =
        hil_tests::demo_lane(&format!("host = \"127.0.0.1\"\nport = {port}"), &data.display().to_string())
            .replace("auto_release = true", "auto_release = false");
    let sim = "\n[sim]\nvehicles = 0\nseed = 3\narrival_gap = \"5ms\"\nbarrier_move = \"5ms\"\ndrive_in = \"2ms\"\ndrive_clear = \"5ms\"\npatience = \"120s\"\n";
    let file = dir.join("lane.toml");
    std::fs::write(&file, format!("{lane}{sim}")).unwrap();
    file
}

/// The passage in review as the journal has it: its id and decision.
fn held_in_journal(data: &Path) -> Option<(String, Value)> {
    let v: Value = serde_json::from_slice(&std::fs::read(data.join("passages.json")).ok()?).ok()?;
    let (id, r) = v["open"].as_object()?.iter().next()?;
    let review = r["stages"].as_array()?.last()?;
    (review["stage"] == "review").then(|| (id.clone(), r["decision"].clone()))
}

/// Messages on `topic_end` for `passage`, until one arrives or `limit`.
fn published(sub: &Subscriber, topic_end: &str, passage: &str, limit: Duration) -> Option<Value> {
    let start = Instant::now();
    while start.elapsed() < limit {
        let Some((topic, payload, _)) = sub.next(Duration::from_millis(200)) else { continue };
        if !topic.ends_with(topic_end) {
            continue;
        }
        let v: Value = serde_json::from_slice(&payload).unwrap();
        if v["id"] == passage || v["passage"] == passage {
            return Some(v);
        }
    }
    None
}

/// Stops the agent mid-passage with `stop`, starts it again, and returns what
/// central received: the decision before the stop and the record after.
fn interrupted_by(stop: impl FnOnce(Child)) -> (String, Value, Value, tempfile::TempDir) {
    let broker = Mosquitto::start();
    let sub = Subscriber::connect(broker.port, "lanectl/DEMO/G01/#");
    let dir = tempfile::tempdir().unwrap();
    let file = held_config(dir.path(), broker.port);
    let data = dir.path().join("data");
    let first = agent(&file);
    let mut held = None;
    wait_until(Duration::from_secs(60), "a vehicle held for review", || {
        held = held_in_journal(&data);
        held.is_some()
    });
    let (id, journal_decision) = held.unwrap();
    let decision =
        published(&sub, "/decision", &id, Duration::from_secs(30)).expect("the hold was published");
    assert_eq!(decision["decision"], journal_decision, "the journal has the decision that went out");
    stop(first);
    assert!(!data.join("records").join(format!("{id}.json")).exists(), "no record yet: it was cut short");

    let second = agent(&file);
    let record =
        published(&sub, "/passage", &id, Duration::from_secs(60)).expect("its record after the restart");
    terminate(second); // the trail is complete once it has stopped
    (id, decision, record, dir)
}

fn assert_closed_as_interrupted(id: &str, decision: &Value, record: &Value, data: &Path) {
    assert_eq!(record["id"], id);
    assert_eq!(record["exit"], "interrupted", "{record}");
    assert_eq!(record["decision"], decision["decision"], "the decision already published, unchanged");
    let stages: Vec<(&str, &str)> = record["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stage"].as_str().unwrap(), s["outcome"].as_str().unwrap_or("-")))
        .collect();
    assert_eq!(stages.first().map(|s| s.0), Some("capture"), "{stages:?}");
    assert_eq!(stages.last(), Some(&("review", "interrupted")), "{stages:?}");
    assert!(record["completed_at"].is_string());
    // Published like any other: signed, archived, in the trail.
    let key = std::fs::read_to_string(data.join("signing.key")).unwrap();
    let signer =
        contract::signing::ResultSigner::new("DEMO-G01", contract::signing::secret_key(&key).unwrap());
    contract::signing::verify(record, &[signer.key_entry()]).expect("signed by the lane");
    assert!(data.join("records").join(format!("{id}.json")).exists());
    let trail = std::fs::read_to_string(data.join("audit.log")).unwrap();
    assert!(
        trail
            .lines()
            .any(|l| l.contains("\"kind\":\"passage\"") && l.contains(id) && l.contains("interrupted")),
        "the trail has the interrupted passage"
    );
}

#[test]
fn a_passage_cut_short_by_kill_9_is_closed_on_the_next_start() {
    let (id, decision, record, dir) = interrupted_by(kill_9);
    assert_closed_as_interrupted(&id, &decision, &record, &dir.path().join("data"));
}

#[test]
fn a_passage_in_progress_at_sigterm_is_reported_and_closed_on_the_next_start() {
    let (id, decision, record, dir) = interrupted_by(terminate);
    let data = dir.path().join("data");
    assert_closed_as_interrupted(&id, &decision, &record, &data);
    let trail = std::fs::read_to_string(data.join("audit.log")).unwrap();
    let stop =
        trail.lines().find(|l| l.contains("\"kind\":\"stop\"")).expect("the clean stop is in the trail");
    assert!(stop.contains(&format!("\"interrupted\":\"{id}\"")), "the stop names the passage: {stop}");
}

/// The image shas a passage record names (its captures').
fn image_shas(record: &Value) -> Vec<String> {
    record["captures"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["image"]["sha256"].as_str().map(str::to_string))
        .collect()
}

/// A kill can land after a passage was journaled, or after its record was archived, and before
/// the outbox committed the rows of its images: those rows are simply gone. Staged here while
/// the agent is down, for both cases: the held passage in the journal (closed as interrupted on
/// the next start), and an archived record put back in the journal as if the kill had come
/// before it left (sent again on the next start); then the rows of their images are deleted.
/// The next start queues those images again, so central gets every image both records name.
#[test]
fn images_a_kill_kept_from_the_outbox_are_sent_again_with_their_record() {
    let dir = tempfile::tempdir().unwrap();
    let port = hil_tests::free_port();
    let file = held_config(dir.path(), port); // no broker yet: everything stays in the outbox
    let data = dir.path().join("data");
    // First passages that finish (released), then one held in review when the kill comes.
    let held_lane = std::fs::read_to_string(&file).unwrap();
    let releasing = held_lane.replace("auto_release = false", "auto_release = true");
    std::fs::write(&file, releasing.replace("patience = \"120s\"", "patience = \"2s\"")).unwrap();
    let first = KillOnDrop::new(agent(&file));
    wait_until(Duration::from_secs(60), "an archived record", || !archived(&data).is_empty());
    terminate(first.take());
    std::fs::write(&file, held_lane).unwrap();
    let first = KillOnDrop::new(agent(&file));
    let mut held = None;
    wait_until(Duration::from_secs(60), "a vehicle held for review", || {
        held = held_in_journal(&data);
        held.is_some()
    });
    kill_9(first.take());
    let (interrupted, _) = held.unwrap();
    let mut journal: Value =
        serde_json::from_slice(&std::fs::read(data.join("passages.json")).unwrap()).unwrap();
    let unsent = archived(&data).into_keys().next().unwrap();
    let unsent_record: Value =
        serde_json::from_slice(&std::fs::read(data.join("records").join(format!("{unsent}.json"))).unwrap())
            .unwrap();
    journal["open"][&unsent] = unsent_record.clone();
    std::fs::write(data.join("passages.json"), serde_json::to_vec(&journal).unwrap()).unwrap();
    let mut images = BTreeMap::new();
    for id in [&interrupted, &unsent] {
        images.insert(id.clone(), image_shas(&journal["open"][id]));
    }
    let outbox = rusqlite::Connection::open(data.join("outbox.db")).unwrap();
    assert!(images.values().all(|shas| !shas.is_empty()), "both have images: {images:?}");
    // The simulated cameras may show both vehicles alike: each image is stored (and queued) once.
    let distinct: std::collections::BTreeSet<&String> = images.values().flatten().collect();
    for sha in distinct {
        let deleted =
            outbox.execute("DELETE FROM outbox WHERE topic LIKE ?1", [format!("%/image/{sha}%")]).unwrap();
        assert!(deleted > 0, "{sha} was waiting in the outbox");
    }
    drop(outbox);

    let broker = Mosquitto::start_on(port);
    let sub = Subscriber::connect(broker.port, "lanectl/DEMO/G01/#");
    let second = KillOnDrop::new(agent(&file));
    let mut manifests = std::collections::HashSet::new();
    let mut records = BTreeMap::new();
    let all_in = |records: &BTreeMap<String, Value>,
                  manifests: &std::collections::HashSet<(String, String)>| {
        images.iter().all(|(id, shas)| {
            records.contains_key(id) && shas.iter().all(|s| manifests.contains(&(id.clone(), s.clone())))
        })
    };
    let start = Instant::now();
    while !all_in(&records, &manifests) && start.elapsed() < Duration::from_secs(60) {
        let Some((topic, payload, _)) = sub.next(Duration::from_millis(200)) else { continue };
        let v: Value = serde_json::from_slice(&payload).unwrap_or_default();
        if topic.ends_with("/passage") && images.contains_key(v["id"].as_str().unwrap_or("")) {
            records.insert(v["id"].as_str().unwrap().to_string(), v);
        } else if let Some((_, sha)) = topic.split_once("/image/") {
            if let (false, Some(passage)) = (sha.contains('/'), v["passage"].as_str()) {
                manifests.insert((passage.to_string(), sha.to_string()));
            }
        }
    }
    terminate(second.take());
    assert_eq!(records.get(&interrupted).map(|r| r["exit"].clone()), Some("interrupted".into()));
    assert_eq!(records.get(&unsent), Some(&unsent_record), "the archived record, sent again as it was");
    for (id, shas) in &images {
        let missing: Vec<_> =
            shas.iter().filter(|s| !manifests.contains(&((*id).clone(), (*s).clone()))).collect();
        assert!(missing.is_empty(), "images of {id} never sent again: {missing:?}");
    }
}
