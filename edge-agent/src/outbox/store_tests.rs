//! Tests of the outbox store: classes in order (results before images before telemetry), what survives reopening, the quota that drops telemetry never evidence.

use super::*;

fn open(quota: u64) -> (tempfile::TempDir, Outbox) {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&dir.path().join("outbox.db"), quota).unwrap();
    (dir, outbox)
}

fn msg(class: Class, topic: &str, payload: &[u8]) -> Message {
    Message { class, topic: topic.into(), body: Body::Bytes(payload.to_vec()), retain: false }
}

fn push(o: &mut Outbox, class: Class, topic: &str, payload: &[u8]) -> i64 {
    o.push(&msg(class, topic, payload), 1).unwrap().unwrap()
}

fn ids(rows: &[Stored]) -> Vec<i64> {
    rows.iter().map(|s| s.id).collect()
}

#[test]
fn results_go_before_images_before_telemetry() {
    let (_d, mut o) = open(1 << 20);
    let t = push(&mut o, Class::Telemetry, "t", b"1");
    let i = push(&mut o, Class::Image, "i", b"2");
    let r = push(&mut o, Class::Result, "r", b"3");
    assert_eq!(ids(&o.next(&HashSet::new(), 10).unwrap()), [r, i, t]);
    assert_eq!(ids(&o.next(&HashSet::from([r]), 1).unwrap()), [i], "skipped ids are left out");
}

#[test]
fn only_a_removal_forgets_and_everything_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.db");
    let mut o = Outbox::open(&path, 1 << 20).unwrap();
    let a = push(&mut o, Class::Result, "a", b"x");
    let retained = Message { retain: true, ..msg(Class::Result, "b", b"y") };
    let b = o.push(&retained, 2).unwrap().unwrap();
    assert_eq!(o.remove(a).unwrap(), Some(Removed { class: Class::Result, file: None }));
    assert_eq!(o.remove(a).unwrap(), None, "a second ack of the same row removes nothing");
    drop(o);
    let mut o = Outbox::open(&path, 1 << 20).unwrap();
    let left = o.next(&HashSet::new(), 10).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!((left[0].id, left[0].retain, &left[0].body), (b, true, &Body::Bytes(b"y".to_vec())));
}

#[test]
fn file_rows_point_into_the_store_and_say_when_no_row_reads_a_file_any_more() {
    let (dir, mut o) = open(1 << 20);
    let file = dir.path().join("img.jpg");
    let part = |offset, len| FilePart { path: file.clone(), offset, len };
    let a = o.push(&Message::image_chunk("c/0".into(), part(0, 4)), 1).unwrap().unwrap();
    let b = o.push(&Message::image_chunk("c/1".into(), part(4, 6)), 1).unwrap().unwrap();
    let rows = o.next(&HashSet::new(), 10).unwrap();
    assert_eq!(rows[1].body, Body::File(part(4, 6)));
    let name = file.to_string_lossy().to_string();
    assert_eq!(o.remove(a).unwrap().unwrap().file.as_deref(), Some(name.as_str()));
    assert!(o.references(&name).unwrap(), "chunk 1 still waits");
    o.remove(b).unwrap();
    assert!(!o.references(&name).unwrap(), "every chunk delivered");
    assert_eq!(o.depth().unwrap().bytes, 0, "file rows take no payload bytes");
}

#[test]
fn the_quota_drops_telemetry_never_evidence() {
    let (_d, mut o) = open(100);
    push(&mut o, Class::Telemetry, "t", &[0; 40]);
    push(&mut o, Class::Result, "r", &[0; 40]);
    push(&mut o, Class::Image, "i", &[0; 40]);
    let d = o.depth().unwrap();
    assert_eq!((d.telemetry, d.results, d.images), (0, 1, 1), "telemetry made room");
    let err = o.push(&msg(Class::Result, "r2", &[0; 40]), 4).unwrap_err();
    assert!(matches!(err, OutboxError::Full { .. }), "{err}");
    assert_eq!(o.depth().unwrap().messages, 2, "nothing was deleted for it");
    assert_eq!(o.push(&msg(Class::Telemetry, "t2", &[0; 40]), 5).unwrap(), None);
}

#[test]
fn a_rolled_back_transaction_leaves_the_count_right() {
    let (_d, mut o) = open(100);
    push(&mut o, Class::Result, "r", &[0; 30]);
    o.begin().unwrap();
    push(&mut o, Class::Result, "r", &[0; 30]);
    o.rollback();
    push(&mut o, Class::Result, "r", &[0; 30]);
    push(&mut o, Class::Result, "r", &[0; 30]);
    assert!(o.push(&msg(Class::Result, "r", &[0; 30]), 1).is_err(), "the undone row no longer counts");
    assert_eq!(o.depth().unwrap().messages, 3);
}
