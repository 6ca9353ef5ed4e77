//! The outlet's promises, checked at the publishing boundary: a passage number
//! is in the journal before anything carrying it is sent, `flushed` resolves
//! only after what was queued before it, a finished passage leaves the
//! journal only once it is archived and stored for good, and a record the
//! outbox could not confirm is sent again after a stop, never lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use contract::decision::{DecisionEvent, DecisionRecord, Outcome};
use contract::device::ImageFormat;
use contract::image::ImageRef;
use contract::passage::PassageRecord;
use contract::Topics;

use super::*;
use crate::audit::AuditLog;

/// Records every message with the journal's last number at that moment.
struct Probe {
    journal: std::path::PathBuf,
    seen: Mutex<Vec<(String, u64)>>,
    /// The outbox cannot confirm results (a disk full past its reserve).
    refuse_durable: AtomicBool,
}

impl Probe {
    fn note(&self, topic: String) {
        let on_disk = std::fs::read(&self.journal)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["last_seq"].as_u64())
            .unwrap_or(0);
        self.seen.lock().unwrap().push((topic, on_disk));
    }
}

impl Publish for Probe {
    fn publish(&self, m: Message) -> bool {
        self.note(m.topic);
        true
    }

    fn publish_durable(&self, m: Message) -> bool {
        self.note(m.topic);
        !self.refuse_durable.load(Ordering::SeqCst)
    }
}

fn record(seq: u64) -> PassageRecord {
    serde_json::from_value(serde_json::json!({
        "schema": contract::passage::PASSAGE_SCHEMA, "id": format!("G07-20261123T080000.000Z-{seq:04}"),
        "site": "S", "lane": "G07", "seq": seq, "arrived_at": "2026-11-23T08:00:00Z",
        "stages": [], "captures": [], "flags": []
    }))
    .unwrap()
}

/// The policy's decision on `r`, as the lane announces it.
fn decided(r: &PassageRecord, outcome: Outcome) -> DecisionEvent {
    DecisionEvent {
        passage: r.id.clone(),
        site: "S".into(),
        lane: "G07".into(),
        plate: None,
        containers: vec![],
        decision: DecisionRecord {
            outcome,
            reasons: vec![],
            checks: vec![],
            by: "policy".into(),
            at: r.arrived_at,
        },
        snapshot: None,
    }
}

fn outlet(dir: &std::path::Path) -> (Outlet, Arc<Probe>) {
    let (outlet, probe, _) = outlet_with_metrics(dir);
    (outlet, probe)
}

fn outlet_with_metrics(dir: &std::path::Path) -> (Outlet, Arc<Probe>, Arc<Metrics>) {
    let probe = Arc::new(Probe {
        journal: dir.join("passages.json"),
        seen: Mutex::new(vec![]),
        refuse_durable: AtomicBool::new(false),
    });
    let metrics = Arc::new(Metrics::default());
    let topics = Topics::new("lanectl", "S", "G07");
    let signer = || crate::signing::load_or_create(&dir.join("key"), "S-G07").unwrap();
    let audit = AuditWriter::start(
        AuditLog::open(&dir.join("audit.log")).unwrap(),
        signer(),
        probe.clone(),
        topics.clone(),
        metrics.clone(),
    )
    .unwrap();
    let parts = Parts {
        publisher: probe.clone(),
        topics,
        signer: signer(),
        archive: crate::archive::Archive::open(&dir.join("records"), 100).unwrap(),
        journal: Journal::open(&dir.join("passages.json")).0,
        images: crate::images::ImageStore::open(&dir.join("images")).unwrap(),
        chunk_size: 4,
        uvss: None,
        audit,
        site: "S".into(),
        lane: "G07".into(),
        metrics: metrics.clone(),
        storage: DiskGuard::unlimited(dir),
    };
    (Outlet::start(parts).unwrap(), probe, metrics)
}

/// The value of the unlabelled series `name` in a scrape taken now.
fn scraped(metrics: &Metrics, name: &str) -> f64 {
    let now = crate::metrics::Now {
        devices: vec![],
        outbox: None,
        now_ms: chrono::Utc::now().timestamp_millis(),
        uplink_connected: false,
        loop_beats: 0,
        completed: 0,
        link: None,
        outbox_counters: None,
        storage: None,
    };
    let text = metrics.render(&now);
    let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).expect("series rendered");
    line[name.len() + 1..].parse().expect("a number")
}

#[tokio::test]
async fn a_number_is_on_disk_before_anything_carrying_it_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (outlet, probe) = outlet(dir.path());
    let mut r = record(7);
    outlet.journal(7, Some(&r));
    let image = ImageRef {
        sha256: "ab".repeat(32),
        format: ImageFormat::Jpeg,
        width: 1,
        height: 1,
        bytes: 10,
        preview_jpeg: None,
    };
    outlet.image(&r.id, "plate-front", &image);
    let event = decided(&r, Outcome::Hold);
    r.decision = Some(event.decision.clone());
    outlet.announce(event);
    outlet.flushed().await.unwrap();
    let seen = probe.seen.lock().unwrap().clone();
    // A manifest, three chunks of 4 bytes, the decision.
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen.iter().all(|(_, on_disk)| *on_disk == 7), "{seen:?}");
    assert!(seen.last().unwrap().0.ends_with("/decision"));
}

#[tokio::test]
async fn a_finished_passage_leaves_the_journal_once_archived_and_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (outlet, probe) = outlet(dir.path());
    let r = record(3);
    outlet.journal(3, Some(&r));
    outlet.complete(Box::new(r.clone()), None);
    outlet.flushed().await.unwrap();
    let (journal, _) = Journal::open(&dir.path().join("passages.json"));
    assert_eq!((journal.last_seq(), journal.open_passages().len()), (3, 0));
    let kept = std::fs::read(dir.path().join("records").join(format!("{}.json", r.id))).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&kept).unwrap();
    assert_eq!(v["id"], r.id.as_str());
    assert!(v["signature"]["value"].is_string(), "archived as published: signed");
    let topics: Vec<String> = probe.seen.lock().unwrap().iter().map(|(t, _)| t.clone()).collect();
    assert!(topics.iter().any(|t| t.ends_with("/passage")) && topics.iter().any(|t| t.ends_with("/stats")));
}

/// After a stop between archive and journal: the archived record goes out
/// again, the same bytes, and the passage leaves the journal.
#[tokio::test]
async fn a_record_archived_before_a_stop_is_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let r = record(9);
    let (mut journal, _) = Journal::open(&dir.path().join("passages.json"));
    journal.note(9, Some(&r)).unwrap();
    let (outlet, probe) = outlet(dir.path());
    let signed =
        crate::signing::load_or_create(&dir.path().join("key"), "S-G07").unwrap().sign_json(&r).unwrap();
    outlet.unsent(signed);
    outlet.flushed().await.unwrap();
    assert_eq!(Journal::open(&dir.path().join("passages.json")).0.open_passages(), vec![]);
    assert!(probe.seen.lock().unwrap().iter().any(|(t, _)| t.ends_with("/passage")));
}

/// The outbox could not confirm the record (the disk refused it even with the
/// reserve): the passage stays in the journal, and the next start finds the
/// archived record and sends it again — the same bytes, not an interrupted twin.
#[tokio::test]
async fn a_record_the_outbox_did_not_confirm_stays_in_the_journal_and_is_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let (first, probe) = outlet(dir.path());
    probe.refuse_durable.store(true, Ordering::SeqCst);
    let r = record(4);
    first.journal(4, Some(&r));
    first.complete(Box::new(r.clone()), None);
    first.flushed().await.unwrap();
    let (journal, _) = Journal::open(&dir.path().join("passages.json"));
    let open: Vec<String> = journal.open_passages().into_iter().map(|p| p.id).collect();
    assert_eq!(open, vec![r.id.clone()], "not confirmed: still in the journal");
    let archive = crate::archive::Archive::open(&dir.path().join("records"), 100).unwrap();
    let archived = archive.get(&r.id).expect("archived before it was sent");
    let sent = probe.seen.lock().unwrap().iter().filter(|(t, _)| t.ends_with("/passage")).count();
    assert_eq!(sent, 1);
    // What the next start does with it (see `build.rs`): the archived bytes again.
    drop(first);
    let (outlet, probe) = outlet(dir.path());
    outlet.unsent(archived);
    outlet.flushed().await.unwrap();
    assert_eq!(Journal::open(&dir.path().join("passages.json")).0.open_passages(), vec![]);
    assert!(probe.seen.lock().unwrap().iter().any(|(t, _)| t.ends_with("/passage")));
}

/// The journal cannot be written (no descriptor, no space): nothing queued after the number goes
/// out until the number is on disk. Going on without it once let a restart give the number of a
/// published passage to another vehicle.
#[tokio::test]
async fn what_follows_a_journal_write_the_disk_refused_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let (outlet, probe, metrics) = outlet_with_metrics(dir.path());
    outlet.journal(6, None);
    outlet.flushed().await.unwrap();
    assert_eq!(scraped(&metrics, "edge_journal_stalled_seconds"), 0.0);
    // A directory where the journal's temporary file goes: every write fails.
    let in_the_way = dir.path().join("passages.json.tmp");
    std::fs::create_dir(&in_the_way).unwrap();
    let r = record(7);
    outlet.journal(7, Some(&r));
    outlet.complete(Box::new(r.clone()), None);
    let mut flushed = outlet.flushed();
    let waited = tokio::time::timeout(Duration::from_millis(300), &mut flushed).await;
    assert!(waited.is_err(), "nothing goes on while the number is not on disk");
    assert!(probe.seen.lock().unwrap().iter().all(|(t, _)| !t.ends_with("/passage")));
    // An operator's scrape says so: the stall is at least as old as the wait above.
    assert!(scraped(&metrics, "edge_journal_stalled_seconds") >= 0.3);
    assert!(scraped(&metrics, "edge_journal_write_failures_total") >= 1.0);
    std::fs::remove_dir(&in_the_way).unwrap();
    flushed.await.unwrap();
    assert_eq!(scraped(&metrics, "edge_journal_stalled_seconds"), 0.0, "written again");
    let seen = probe.seen.lock().unwrap().clone();
    let passage = seen.iter().find(|(t, _)| t.ends_with("/passage")).expect("sent once written");
    assert_eq!(passage.1, 7, "the number was on disk when the record went: {seen:?}");
    assert_eq!(Journal::open(&dir.path().join("passages.json")).0.open_passages(), vec![]);
}

/// The archive refused the record (no descriptor, no space past the reserve): it is not sent
/// until it is archived. Sent unarchived, a stop would close its passage as interrupted and a
/// second, different record would go out under the same id.
#[tokio::test]
async fn a_record_the_archive_refused_is_sent_only_once_archived() {
    let dir = tempfile::tempdir().unwrap();
    let (outlet, probe) = outlet(dir.path());
    let r = record(8);
    outlet.journal(8, Some(&r));
    outlet.flushed().await.unwrap();
    let records = dir.path().join("records");
    std::fs::rename(&records, dir.path().join("records.away")).unwrap();
    std::fs::write(&records, b"in the way").unwrap();
    outlet.complete(Box::new(r.clone()), None);
    outlet.flushed().await.unwrap();
    let sent = |probe: &Probe| probe.seen.lock().unwrap().iter().any(|(t, _)| t.ends_with("/passage"));
    assert!(!sent(&probe), "not sent while not archived");
    let open = Journal::open(&dir.path().join("passages.json")).0.open_passages();
    assert_eq!(open, vec![r.clone()], "a stop now closes it as interrupted: nothing of it went out");
    std::fs::remove_file(&records).unwrap();
    std::fs::rename(dir.path().join("records.away"), &records).unwrap();
    until_archived(&outlet, &records.join(format!("{}.json", r.id))).await;
    assert!(sent(&probe), "sent once archived");
    assert_eq!(Journal::open(&dir.path().join("passages.json")).0.open_passages(), vec![]);
}

/// Held records are tried again every second: waits (at most 10 s) until `path` is archived and
/// everything queued after that is done.
async fn until_archived(outlet: &Outlet, path: &std::path::Path) {
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(std::time::Instant::now() < end, "{} never archived", path.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    outlet.flushed().await.unwrap();
}

/// A decision the outbox could not store: the flush a release waits on is not answered, so the
/// barrier is not opened for it.
#[tokio::test]
async fn a_release_whose_decision_was_not_stored_gets_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (outlet, probe) = outlet(dir.path());
    let r = record(11);
    outlet.journal(11, Some(&r));
    probe.refuse_durable.store(true, Ordering::SeqCst);
    outlet.announce(decided(&r, Outcome::Release));
    assert!(outlet.flushed().await.is_err(), "not stored: no answer");
    probe.refuse_durable.store(false, Ordering::SeqCst);
    outlet.flushed().await.expect("the next flush, with nothing unstored, is answered");
}
