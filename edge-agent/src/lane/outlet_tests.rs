//! The outlet's promises, checked at the publishing boundary: a passage number
//! is in the journal before anything carrying it is sent, `flushed` resolves
//! only after what was queued before it, and a finished passage leaves the
//! journal only once it is archived and handed over.

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
    fn publish(&self, topic: String, _: Vec<u8>, _: bool) -> bool {
        self.note(topic);
        true
    }

    fn publish_file(&self, topic: String, _: std::path::PathBuf, _: u64, _: u64) -> bool {
        self.note(topic);
        true
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

fn outlet(dir: &std::path::Path) -> (Outlet, Arc<Probe>) {
    let probe = Arc::new(Probe { journal: dir.join("passages.json"), seen: Mutex::new(vec![]) });
    let topics = Topics::new("lanectl", "S", "G07");
    let signer = || crate::signing::load_or_create(&dir.join("key"), "S-G07").unwrap();
    let audit = AuditWriter::start(
        AuditLog::open(&dir.join("audit.log")).unwrap(),
        signer(),
        probe.clone(),
        topics.clone(),
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
    };
    (Outlet::start(parts).unwrap(), probe)
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
    let decision = DecisionRecord {
        outcome: Outcome::Hold,
        reasons: vec![],
        checks: vec![],
        by: "policy".into(),
        at: r.arrived_at,
    };
    r.decision = Some(decision.clone());
    outlet.announce(DecisionEvent {
        passage: r.id.clone(),
        site: "S".into(),
        lane: "G07".into(),
        plate: None,
        containers: vec![],
        decision,
        snapshot: None,
    });
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
