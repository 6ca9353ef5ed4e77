//! `edge-agent ocr` as a technician runs it: an unusable image is an error on stderr (not a
//! read with a meaningless time), and on real container photos (`../shared/testdata`, skipped
//! with a message when absent) the text shows only the reads that count — or the best one —
//! and agrees with `--json`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn ocr(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edge-agent")).arg("ocr").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The models are installed by scripts/setup-models; without them there is nothing to test.
fn models_missing(code: i32, stderr: &str) -> bool {
    if code == 2 {
        eprintln!("skipping: recognition models unavailable ({})", stderr.trim());
        return true;
    }
    false
}

#[test]
fn an_unusable_image_is_an_error_on_stderr_without_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("not-a-picture.jpg");
    std::fs::write(&bad, b"this is text, not a JPEG").unwrap();
    let bad = bad.to_str().unwrap();
    let (code, stdout, stderr) = ocr(&[bad]);
    if models_missing(code, &stderr) {
        return;
    }
    assert_eq!(code, 1, "exit 1: an image was unusable\n{stderr}");
    assert!(stdout.is_empty(), "nothing on stdout for an unusable image: {stdout:?}");
    assert!(stderr.starts_with(&format!("edge-agent ocr: {bad}: ")), "{stderr}");
    assert!(!stderr.contains("ms)") && !stderr.contains("error: "), "{stderr}");
    let (code, stdout, _) = ocr(&[bad, "--json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(v["file"], bad);
    assert!(v["error"].is_string(), "{v}");
}

fn testdata() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/containers");
    if dir.join("labels.tsv").is_file() {
        Some(dir)
    } else {
        eprintln!("skipping: {} is absent (real container photos)", dir.display());
        None
    }
}

#[test]
fn real_photos_show_what_counts_and_agree_with_json() {
    let Some(dir) = testdata() else { return };
    let labels = std::fs::read_to_string(dir.join("labels.tsv")).unwrap();
    // A handful of whole scenes (where the junk candidates were), deterministic.
    let files: Vec<String> = labels
        .lines()
        .skip(1)
        .filter(|l| l.split('\t').nth(2) == Some("scene"))
        .filter_map(|l| l.split('\t').next())
        .take(6)
        .map(|f| dir.join(f).display().to_string())
        .collect();
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let (code, text, stderr) = ocr(&args);
    if models_missing(code, &stderr) {
        return;
    }
    assert_eq!(code, 0, "{stderr}");
    let (_, json, _) = ocr(&[&args[..], &["--json"]].concat());
    let results: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(results.len(), files.len());
    for (file, r) in files.iter().zip(&results) {
        let block: Vec<&str> = text
            .split(&format!("{file}  ("))
            .nth(1)
            .unwrap_or_else(|| panic!("{file} has its own block:\n{text}"))
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .collect();
        let containers = r["containers"].as_array().unwrap();
        let counts =
            |c: &serde_json::Value| c["confidence"].as_f64().unwrap() >= 0.8 && c["check_digit_ok"] == true;
        let shown: Vec<&&str> = block.iter().filter(|l| l.starts_with("  container ")).collect();
        if containers.iter().any(counts) {
            assert_eq!(
                shown.len(),
                containers.iter().filter(|c| counts(c)).count(),
                "{file}:\n{}",
                block.join("\n")
            );
            assert!(shown.iter().all(|l| !l.contains("below 0.80")), "{file}: {shown:?}");
        } else {
            assert!(shown.len() <= 1, "at most the best uncertain read: {file}: {shown:?}");
        }
        for line in &shown {
            let code = line.split_whitespace().nth(1).unwrap();
            assert!(containers.iter().any(|c| c["code"] == code), "{file}: {code} is in --json too");
            assert!(!line.contains("->") && !line.contains('@'), "{file}: readable corrections: {line}");
        }
        let hidden = containers.len() - shown.len().min(containers.len());
        let plates_hidden = r["plates"]
            .as_array()
            .unwrap()
            .len()
            .saturating_sub(block.iter().filter(|l| l.starts_with("  plate ")).count());
        if hidden + plates_hidden > 0 {
            assert!(block.iter().any(|l| l.contains("not shown; --all lists them")), "{file}: {block:?}");
        }
    }
}
