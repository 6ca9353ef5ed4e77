//! `edge-agent uvss compare` as a technician and a tool see it: the text line and the JSON carry
//! the same figures, timings add up, verdict names are the documented ones, an inconclusive
//! comparison says why, and an unusable file is named. Scans are rendered here
//! (`models::uvss::synth`), so no test data is needed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use models::uvss::synth;

fn agent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edge-agent")).args(args).output().expect("edge-agent runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Two passes of one simulated vehicle (the second with a parcel when `parcel`).
fn pair(dir: &Path, parcel: bool) -> (PathBuf, PathBuf) {
    let (r, n) = (dir.join("reference.png"), dir.join("new.png"));
    synth::vehicle_scan(7, 1, false, 300, 1000).save(&r).unwrap();
    synth::vehicle_scan(7, 2, parcel, 300, 1000).save(&n).unwrap();
    (r, n)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The number after `label ` in the text line (e.g. "match 0.93" -> 0.93; "coverage 97%" -> 97).
fn figure(text: &str, label: &str) -> f64 {
    let rest = &text[text.find(&format!("{label} ")).unwrap_or_else(|| panic!("no {label} in {text}"))
        + label.len()
        + 1..];
    rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect::<String>().parse().unwrap()
}

#[test]
fn json_carries_every_figure_the_text_shows() {
    let dir = tempfile::tempdir().unwrap();
    let (r, n) = pair(dir.path(), true);
    let text = agent(&["uvss", "compare", s(&r), s(&n)]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = stdout(&text);
    let json = agent(&["uvss", "compare", s(&r), s(&n), "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(j["verdict"], "anomaly", "{j}");
    assert!(text.starts_with("anomaly: score "), "{text}");
    let close = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol;
    assert!(close(figure(&text, "score"), j["score"].as_f64().unwrap(), 0.006), "{text} / {j}");
    assert!(close(figure(&text, "match"), j["match_quality"].as_f64().unwrap(), 0.006), "{text} / {j}");
    assert!(close(figure(&text, "coverage"), 100.0 * j["coverage"].as_f64().unwrap(), 0.6), "{text} / {j}");
    assert!(close(figure(&text, "residual"), j["residual"].as_f64().unwrap(), 0.006), "{text} / {j}");
    assert!(close(figure(&text, "speed ratio"), j["length_ratio"].as_f64().unwrap(), 0.0006), "{text} / {j}");
    assert!(close(figure(&text, "resolution ratio"), j["resolution_ratio"].as_f64().unwrap(), 0.006), "{j}");
    let regions = j["regions"].as_array().unwrap();
    assert!(!regions.is_empty());
    assert_eq!(text.lines().count(), 1 + regions.len(), "one line per region: {text}");
    assert!(j["inconclusive_reason"].is_null() && j["reason"].is_null(), "{j}");
}

#[test]
fn total_covers_every_stage() {
    let dir = tempfile::tempdir().unwrap();
    let (r, n) = pair(dir.path(), false);
    let overlay = dir.path().join("overlay.png");
    let out = agent(&["uvss", "compare", s(&r), s(&n), "--json", "--out", s(&overlay)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &j["timings_ms"];
    let ms = |k: &str| t[k].as_f64().unwrap_or_else(|| panic!("no {k} in {t}"));
    assert!(ms("total") >= ms("compare"), "{t}");
    assert!(ms("total") >= ms("load") + ms("compare") + ms("overlay"), "{t}");
    assert!(ms("compare") >= ms("prepare"), "{t}");
    // The overlay is the warped reference beside the new scan: twice the new scan's height.
    let img = image::open(&overlay).unwrap();
    let new = image::open(&n).unwrap();
    assert!(
        img.height() > 2 * (new.height() * img.width() / new.width()) - 2,
        "{}x{}",
        img.width(),
        img.height()
    );
}

#[test]
fn a_missing_reference_is_no_reference_as_the_help_says() {
    let dir = tempfile::tempdir().unwrap();
    let (_, n) = pair(dir.path(), false);
    let missing = dir.path().join("nothing-here.png");
    let out = agent(&["uvss", "compare", s(&missing), s(&n)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("no_reference: "), "{}", stdout(&out));
    assert!(stderr(&out).contains("no such reference scan"), "{}", stderr(&out));
    let j: serde_json::Value =
        serde_json::from_slice(&agent(&["uvss", "compare", s(&missing), s(&n), "--json"]).stdout).unwrap();
    assert_eq!(j["verdict"], "no_reference");
    assert!(j["match_quality"].is_null(), "no figures without a comparison: {j}");
    let help = stdout(&agent(&["uvss", "compare", "--help"]));
    assert!(help.contains("no_reference") && !help.contains("noreference"), "{help}");
    for code in ["too_dark", "registration_failed", "too_different_in_size"] {
        assert!(help.contains(code), "help lists the inconclusive reasons: {help}");
    }
}

#[test]
fn an_unsupported_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (r, n) = pair(dir.path(), false);
    let junk = dir.path().join("junk.jpg");
    std::fs::write(&junk, b"this is not an image").unwrap();
    let out = agent(&["uvss", "compare", s(&junk), s(&n)]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains(&format!("reference scan {}", junk.display())) && e.contains("not a supported image"),
        "{e}"
    );
    let out = agent(&["uvss", "compare", s(&r), s(&junk)]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains(&format!("new scan {}", junk.display())) && e.contains("not a supported image"),
        "{e}"
    );
    assert!(stdout(&out).is_empty(), "errors go to stderr only");
}

#[test]
fn inconclusive_always_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (r, _) = pair(dir.path(), false);
    // The lamps failed: a black scan.
    let dark = dir.path().join("dark.png");
    image::RgbImage::from_pixel(1000, 300, image::Rgb([6, 6, 6])).save(&dark).unwrap();
    let j: serde_json::Value =
        serde_json::from_slice(&agent(&["uvss", "compare", s(&r), s(&dark), "--json"]).stdout).unwrap();
    assert_eq!(
        (j["verdict"].as_str(), j["inconclusive_reason"].as_str()),
        (Some("inconclusive"), Some("too_dark")),
        "{j}"
    );
    assert!(j["reason"].as_str().unwrap().contains("new scan is too dark"), "{j}");
    let text = stdout(&agent(&["uvss", "compare", s(&r), s(&dark)]));
    assert!(
        text.starts_with("inconclusive: ") && text.contains("[too_dark] (the new scan is too dark"),
        "{text}"
    );
    // Another vehicle altogether: it cannot be registered or differs everywhere, never clean.
    let other = dir.path().join("other.png");
    synth::vehicle_scan(99, 3, false, 300, 1000).save(&other).unwrap();
    let j: serde_json::Value =
        serde_json::from_slice(&agent(&["uvss", "compare", s(&r), s(&other), "--json"]).stdout).unwrap();
    assert_ne!(j["verdict"], "clean", "{j}");
    if j["verdict"] == "inconclusive" {
        assert!(j["inconclusive_reason"].is_string() && j["reason"].is_string(), "{j}");
    }
}
