//! Tests of the outbox worker: group commit and its confirmations, acks the disk refuses, unreadable chunks kept and resent, results stored below the floor while telemetry is evicted.

use std::sync::atomic::AtomicU64;

use super::*;
use crate::outbox::FilePart;
use crate::storage::{Limits, Probe};

fn worker(dir: &Path, free: Arc<AtomicU64>) -> Worker {
    let probe: Probe = Box::new(move |_| Ok(free.load(Ordering::SeqCst)));
    let guard = DiskGuard::with_probe(dir, Limits { floor: 1 << 20, reserve: 0 }, probe).unwrap();
    Worker::new(
        Outbox::open(&dir.join("outbox.db"), 1 << 20).unwrap(),
        Pressure { guard, images: Some(dir.join("images")) },
    )
}

fn roomy() -> Arc<AtomicU64> {
    Arc::new(AtomicU64::new(1 << 40))
}

fn push(w: &mut Worker, m: Message) -> Result<i64, String> {
    let (tx, rx) = mpsc::channel();
    w.run(vec![Cmd::Push { message: m, now_ms: 1, done: Some(Box::new(move |r| drop(tx.send(r)))) }]);
    rx.recv().unwrap()
}

fn next_ids(w: &mut Worker) -> Vec<i64> {
    w.next(HashSet::new(), 100).iter().map(|m| m.id).collect()
}

#[test]
fn a_batch_is_one_transaction_and_every_push_is_confirmed_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = worker(dir.path(), roomy());
    let (tx, rx) = mpsc::channel();
    let batch: Vec<Cmd> = (0..200)
        .map(|i| {
            let tx = tx.clone();
            Cmd::Push {
                message: Message::result(format!("r/{i}"), vec![1; 10]),
                now_ms: i,
                done: Some(Box::new(move |r| drop(tx.send(r)))),
            }
        })
        .collect();
    w.run(batch);
    let ids: Vec<i64> = rx.try_iter().map(|r| r.unwrap()).collect();
    assert_eq!(ids.len(), 200, "every push answered once the batch committed");
    assert_eq!(w.outbox.depth().unwrap().messages, 200);
    w.run(vec![Cmd::Ack(ids[..150].to_vec())]);
    assert_eq!(w.outbox.depth().unwrap().messages, 50);
}

#[test]
fn acks_the_disk_refuses_are_held_back_and_recorded_by_the_tick_without_new_acks() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = worker(dir.path(), roomy());
    let ids: Vec<i64> =
        (0..3).map(|_| push(&mut w, Message::result("t".into(), b"x".to_vec())).unwrap()).collect();

    w.outbox.refuse_writes(true);
    w.run(vec![Cmd::Ack(ids.clone())]);
    assert_eq!(w.unrecorded, ids.iter().copied().collect(), "kept in memory");
    assert_eq!(w.outbox.depth().unwrap().messages, 3, "nothing deleted while the disk refuses");
    assert!(next_ids(&mut w).is_empty(), "delivered messages are not sent again meanwhile");

    // Everything is held back, so no ack will ever come again: the tick must record them.
    w.outbox.refuse_writes(false);
    w.tick();
    assert!(w.unrecorded.is_empty());
    assert_eq!(w.outbox.depth().unwrap().messages, 0);
}

#[test]
fn an_unreadable_chunk_is_kept_and_sent_once_it_can_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = worker(dir.path(), roomy());
    let file = dir.path().join("later.jpg");
    let part = FilePart { path: file.clone(), offset: 0, len: 3 };
    let id = push(&mut w, Message::image_chunk("i/0".into(), part)).unwrap();

    assert!(next_ids(&mut w).is_empty(), "cannot be read now");
    assert!(w.outbox.contains(id).unwrap(), "a read error is never a reason to delete");
    assert_eq!(w.counters.read_retries.load(Ordering::SeqCst), 1);
    assert!(next_ids(&mut w).is_empty(), "not tried again before its time");

    std::fs::write(&file, b"abc").unwrap();
    w.unreadable = RetryBook::default(); // its time has come
    let due = w.next(HashSet::new(), 10);
    assert_eq!((due[0].id, due[0].payload.as_slice()), (id, &b"abc"[..]));
}

#[test]
fn below_the_floor_telemetry_is_refused_and_evicted_but_results_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let free = roomy();
    let mut w = worker(dir.path(), free.clone());
    let t = push(&mut w, Message::telemetry("s".into(), vec![0; 100], true)).unwrap();
    assert!(t > 0);
    free.store(1000, Ordering::SeqCst);
    w.tick();
    assert!(w.pressure.guard.is_full());
    assert!(!w.outbox.contains(t).unwrap(), "queued telemetry evicted");
    assert_eq!(push(&mut w, Message::telemetry("s".into(), vec![0; 100], true)).unwrap(), 0, "not kept");
    let r = push(&mut w, Message::result("r".into(), vec![0; 100])).unwrap();
    let i = push(&mut w, Message::image("m".into(), vec![0; 100])).unwrap();
    assert_eq!(next_ids(&mut w), [r, i], "evidence still goes in");
    assert_eq!(w.counters.telemetry_evicted.load(Ordering::SeqCst), 1);
}

#[test]
fn results_the_disk_refuses_wait_in_memory_and_are_stored_by_the_tick() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = worker(dir.path(), roomy());
    w.outbox.refuse_writes(true);
    let err = push(&mut w, Message::result("r".into(), b"evidence".to_vec())).unwrap_err();
    assert!(err.contains("kept in memory"), "{err}");
    assert_eq!(w.unstored.len(), 1);
    w.outbox.refuse_writes(false);
    w.tick();
    assert!(w.unstored.is_empty());
    let due = w.next(HashSet::new(), 10);
    assert_eq!(due[0].payload, b"evidence");
}

#[test]
fn an_image_whose_chunks_are_all_acknowledged_is_listed_as_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = worker(dir.path(), roomy());
    let file = dir.path().join("img.jpg");
    std::fs::write(&file, b"abcdef").unwrap();
    let part = |offset| FilePart { path: file.clone(), offset, len: 3 };
    let a = push(&mut w, Message::image_chunk("i/0".into(), part(0))).unwrap();
    let b = push(&mut w, Message::image_chunk("i/1".into(), part(3))).unwrap();
    w.run(vec![Cmd::Ack(vec![a])]);
    assert_eq!(w.delivered.len(), 0, "one chunk still waits");
    w.run(vec![Cmd::Ack(vec![b])]);
    assert_eq!(w.delivered.len(), 1);
}
