//! `edge-agent uvss compare` as a technician runs it, on synthetic scans of one chassis
//! (`models::uvss::synth`): the text and `--json` say the same things (verdict words,
//! match, coverage, speed ratio, timings whose total is the largest), a missing reference is
//! `no_reference` in both, an unusable scan is named (reference or new) on stderr, and an
//! inconclusive verdict always carries its reason code and sentence.

use std::path::Path;
use std::process::Command;

use models::uvss::synth;
use serde_json::Value;

fn compare(args: &[&str]) -> (i32, String, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_edge-agent")).args(["uvss", "compare"]).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A reference and a new scan of the same chassis, with a planted object in the new one.
fn scans(dir: &Path) -> (String, String) {
    let pair = synth::pair(43, true, 300, 900);
    let (r, n) = (dir.join("reference.png"), dir.join("new.png"));
    pair.reference.save(&r).unwrap();
    pair.probe.save(&n).unwrap();
    (r.to_str().unwrap().to_string(), n.to_str().unwrap().to_string())
}

#[test]
fn the_text_and_the_json_say_the_same_things() {
    let dir = tempfile::tempdir().unwrap();
    let (reference, new) = scans(dir.path());
    let overlay = dir.path().join("overlay.png");
    let (code, text, stderr) = compare(&[&reference, &new, "--out", overlay.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(overlay.exists(), "the overlay is written");
    let (code, json, stderr) = compare(&[&reference, &new, "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let j: Value = serde_json::from_str(json.trim()).expect("one JSON object");

    let verdict = j["verdict"].as_str().unwrap();
    assert!(text.starts_with(&format!("{verdict}: score {:.2}, ", j["score"].as_f64().unwrap())), "{text}");
    let (m, coverage, speed) =
        (j["match"].as_f64().unwrap(), j["coverage"].as_f64().unwrap(), j["speed_ratio"].as_f64().unwrap());
    assert!((0.0..=1.0).contains(&m) && (0.0..=1.0).contains(&coverage), "{json}");
    assert!(speed > 0.5 && speed < 2.0, "the two passes' speed ratio: {json}");
    assert!(
        text.contains(&format!("match {m:.2}, coverage {:.0}%, speed ratio {speed:.3}", coverage * 100.0)),
        "{text}"
    );
    let regions = j["regions"].as_array().unwrap().len();
    assert_eq!(text.lines().count(), 1 + regions, "a line per region: {text}");

    let timings = j["timings_ms"].as_object().unwrap();
    let total = timings["total"].as_f64().unwrap();
    for key in ["load", "compare"] {
        assert!(timings.contains_key(key), "{key} in {json}");
    }
    for (key, ms) in timings {
        assert!(ms.as_f64().unwrap() <= total, "{key} longer than the total: {json}");
    }
}

#[test]
fn a_missing_reference_is_no_reference_in_both() {
    let dir = tempfile::tempdir().unwrap();
    let (_, new) = scans(dir.path());
    let absent = dir.path().join("never-scanned.png");
    let absent = absent.to_str().unwrap();
    let (code, text, stderr) = compare(&[absent, &new]);
    assert_eq!(code, 0, "no reference is a verdict, not an error: {stderr}");
    assert!(text.starts_with("no_reference: "), "the help's word, not `noreference`: {text}");
    assert!(!text.contains("match") && !text.contains("coverage"), "nothing was measured: {text}");
    assert!(stderr.contains(absent), "{stderr}");
    let (_, json, _) = compare(&[absent, &new, "--json"]);
    let j: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(j["verdict"], "no_reference");
    assert!(j["match"].is_null() && j["coverage"].is_null() && j["speed_ratio"].is_null(), "{json}");
}

#[test]
fn an_unusable_scan_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (reference, new) = scans(dir.path());
    let text_file = dir.path().join("notes.txt");
    std::fs::write(&text_file, "not a scan").unwrap();
    let text_file = text_file.to_str().unwrap();

    let (code, stdout, stderr) = compare(&[text_file, &new]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.starts_with(&format!("edge-agent uvss compare: the reference scan {text_file}: it is not")),
        "{stderr}"
    );

    let (code, _, stderr) = compare(&[&reference, text_file]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.starts_with(&format!("edge-agent uvss compare: the new scan {text_file}: ")), "{stderr}");

    let missing = dir.path().join("gone.png");
    let (code, _, stderr) = compare(&[&reference, missing.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot read it: it does not exist") && !stderr.contains("os error"), "{stderr}");
}

#[test]
fn inconclusive_always_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (reference, _) = scans(dir.path());
    // The lamps failed: a black scan.
    let dark = dir.path().join("dark.png");
    image::RgbImage::from_pixel(900, 300, image::Rgb([6, 6, 6])).save(&dark).unwrap();
    let dark = dark.to_str().unwrap();
    let (code, out, _) = compare(&[&reference, dark, "--json"]);
    assert_eq!(code, 0);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (j["verdict"].as_str(), j["inconclusive_reason"].as_str()),
        (Some("inconclusive"), Some("too_dark")),
        "{j}"
    );
    assert!(j["reason"].as_str().unwrap().contains("new scan is too dark"), "{j}");
    let (_, text, _) = compare(&[&reference, dark]);
    assert!(
        text.starts_with("inconclusive: ") && text.contains("(too_dark: the new scan is too dark"),
        "{text}"
    );
    // Another vehicle altogether: it cannot be registered or differs everywhere, never clean;
    // inconclusive with a code and a sentence.
    let other = dir.path().join("other.png");
    synth::vehicle_scan(99, 3, false, 300, 900).save(&other).unwrap();
    let (_, out, _) = compare(&[&reference, other.to_str().unwrap(), "--json"]);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_ne!(j["verdict"], "clean", "{j}");
    if j["verdict"] == "inconclusive" {
        assert!(j["inconclusive_reason"].is_string() && j["reason"].is_string(), "{j}");
    }
}
