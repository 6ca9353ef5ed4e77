//! Tampering of every kind is found; a torn tail is recovered.

use serde_json::json;

use contract::signing::ResultSigner;

use super::*;

fn log_with(n: u64, dir: &std::path::Path) -> (std::path::PathBuf, ResultSigner) {
    let path = dir.join("audit.log");
    let signer = crate::signing::load_or_create(&dir.join("k"), "T-G01").unwrap();
    let mut log = AuditLog::open(&path).unwrap();
    for i in 0..n {
        log.append("decision", Some(&format!("p{i}")), json!({"outcome": "release", "i": i})).unwrap();
        log.checkpoint_if_due(&signer).unwrap();
    }
    (path, signer)
}

fn keys(s: &ResultSigner) -> Vec<(String, ed25519_dalek::VerifyingKey)> {
    vec![s.key_entry()]
}

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
}

fn rewrite(path: &std::path::Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn an_untouched_log_verifies_with_its_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let (path, signer) = log_with(250, dir.path());
    let v = verify_file(&path, &keys(&signer)).unwrap();
    assert_eq!((v.entries, v.checkpoints), (252, 2));
}

#[test]
fn every_single_modification_deletion_and_swap_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let (path, signer) = log_with(40, dir.path());
    let original = lines(&path);
    for i in 0..original.len() {
        let mut modified = original.clone();
        modified[i] = modified[i].replacen("release", "hold", 1).replacen("\"i\":", "\"j\":", 1);
        rewrite(&path, &modified);
        assert!(verify_file(&path, &keys(&signer)).is_err(), "modified entry {i} not found");

        let mut deleted = original.clone();
        deleted.remove(i);
        rewrite(&path, &deleted);
        // Deleting the very last entry is only visible against central's checkpoint copy.
        if i + 1 < original.len() {
            assert!(verify_file(&path, &keys(&signer)).is_err(), "deleted entry {i} not found");
        }

        if i + 1 < original.len() {
            let mut swapped = original.clone();
            swapped.swap(i, i + 1);
            rewrite(&path, &swapped);
            assert!(verify_file(&path, &keys(&signer)).is_err(), "swap of {i} and {} not found", i + 1);
        }
    }
}

#[test]
fn a_forged_checkpoint_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = log_with(100, dir.path());
    let other = crate::signing::load_or_create(&dir.path().join("other"), "T-G01").unwrap();
    let err = verify_file(&path, &keys(&other)).unwrap_err();
    assert!(matches!(err, Broken::Checkpoint { .. }), "{err}");
}

#[test]
fn a_torn_last_line_is_cut_and_recorded_and_the_chain_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (path, signer) = log_with(10, dir.path());
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, b"{\"seq\":11,\"at\":\"20").unwrap();
    drop(f);
    let mut log = AuditLog::open(&path).unwrap();
    log.append("decision", Some("p10"), json!({})).unwrap();
    let v = verify_file(&path, &keys(&signer)).unwrap();
    assert_eq!(v.entries, 12, "10 + recovered + 1");
    assert!(std::fs::read_to_string(&path).unwrap().contains("\"kind\":\"recovered\""));
}

/// What an older version left after a full disk: a torn piece of entry 11, then (on the same
/// line) a complete entry 11 written when the disk had room again, then more entries.
#[test]
fn a_torn_entry_inside_the_file_is_reported_then_repaired_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (path, signer) = log_with(10, dir.path());
    let copy = dir.path().join("copy.log");
    std::fs::copy(&path, &copy).unwrap();
    let mut log = AuditLog::open(&copy).unwrap();
    for i in 10..15 {
        log.append("decision", Some(&format!("p{i}")), json!({"i": i})).unwrap();
    }
    let later = lines(&copy)[10..].to_vec();
    let mut glued = lines(&path);
    glued.push(format!("{}{}", &later[0][..later[0].len() / 3], later[0]));
    glued.extend(later[1..].iter().cloned());
    rewrite(&path, &glued);

    let v = verify_file(&path, &keys(&signer)).expect("a torn write is not tampering");
    assert_eq!((v.entries, v.torn.clone()), (15, vec![11]));

    drop(log);
    let mut log = AuditLog::open(&path).unwrap();
    log.append("decision", Some("after"), json!({})).unwrap();
    let v = verify_file(&path, &keys(&signer)).unwrap();
    assert_eq!((v.entries, v.torn.len(), v.recovered), (17, 0, 1), "repaired, the repair recorded");
    let recovered = lines(&path).into_iter().find(|l| l.contains("\"kind\":\"recovered\"")).unwrap();
    assert!(recovered.contains("\"fragments\":[{\"bytes\":"), "{recovered}");
}

#[test]
fn a_whole_line_that_is_no_entry_is_still_broken() {
    let dir = tempfile::tempdir().unwrap();
    let (path, signer) = log_with(5, dir.path());
    let mut l = lines(&path);
    l[2] = "{\"not\": \"an entry\"}".into();
    rewrite(&path, &l);
    assert!(matches!(verify_file(&path, &keys(&signer)), Err(Broken::Unreadable { line: 3, .. })));
}

/// A disk that fills mid-entry: the torn write is undone at once, the entry waits in memory and
/// is written when there is room again; the trail verifies and nothing is missing.
#[test]
fn entries_the_disk_refuses_are_undone_kept_and_written_later() {
    let disk = match hil_tests::TinyDisk::mount(256 * 1024) {
        Ok(d) => d,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let path = disk.path().join("audit.log");
    let signer = crate::signing::load_or_create(&disk.path().join("k"), "T-G01").unwrap();
    let mut log = AuditLog::open(&path).unwrap();
    log.append("start", None, json!({})).unwrap();
    let filler = disk.fill(100);
    let big = json!({"text": "x".repeat(10_000)}); // more than the page the file has
    assert!(log.append("decision", Some("p1"), big.clone()).is_err(), "the disk is full");
    assert!(log.append("decision", Some("p2"), big.clone()).is_err());
    assert_eq!(log.pending(), 2);
    assert!(verify_file(&path, &keys(&signer)).unwrap().torn.is_empty(), "nothing torn left in the file");

    std::fs::remove_file(filler).unwrap();
    assert!(log.retry().unwrap().is_some());
    log.append("decision", Some("p3"), big).unwrap();
    let v = verify_file(&path, &keys(&signer)).unwrap();
    assert_eq!(v.entries, 4);
    let passages: Vec<String> =
        lines(&path).iter().filter_map(|l| serde_json::from_str::<Entry>(l).ok()?.passage).collect();
    assert_eq!(passages, ["p1", "p2", "p3"], "in order, none lost");
}
