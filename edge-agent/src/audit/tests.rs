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
