//! `edge-agent diag` on the simulated lane as a technician reads it: device kinds in words
//! (the JSON keeps the lane file's), a misspelt camera answered with a "did you mean", and a
//! scan capture that cannot happen said at once instead of a wait that fails.

use std::path::Path;
use std::process::Command;

fn demo(dir: &Path) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let text = std::fs::read_to_string(root.join("config/demo.toml"))
        .unwrap()
        .replace("../.cache/demo-data", &dir.join("data").display().to_string());
    let file = dir.join("lane.toml");
    std::fs::write(&file, text).unwrap();
    file
}

fn diag(file: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .arg("diag")
        .arg("--config")
        .arg(file)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn the_glance_uses_the_lane_words_and_json_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = demo(dir.path());
    let (code, text, stderr) = diag(&file, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(text.starts_with("lane DEMO/G01: 10 devices, all ok\n"), "{text}");
    assert!(
        text.contains(" area camera ")
            && text.contains(" under-vehicle camera ")
            && text.contains(" presence sensor "),
        "{text}"
    );
    assert!(!text.contains("area_camera") && !text.contains("Some("), "{text}");
    let (code, json, _) = diag(&file, &["--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (v["site"].as_str(), v["lane"].as_str(), v["ok"].as_bool()),
        (Some("DEMO"), Some("G01"), Some(true))
    );
    let devices = v["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 10);
    for d in devices {
        for field in
            ["device", "kind", "transport", "ok", "reachable", "protocol_ok", "reading", "last_error", "hint"]
        {
            assert!(d.get(field).is_some(), "{field} in {d}");
        }
    }
    assert!(devices.iter().any(|d| d["kind"] == "area_camera"), "the JSON keeps the file's words");
}

#[test]
fn a_misspelt_camera_gets_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let file = demo(dir.path());
    let (code, stdout, stderr) = diag(&file, &["camera", "plate-frnt", "--snapshot", "x.jpg"]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert_eq!(
        stderr.trim(),
        "edge-agent diag: the lane has no area camera named \"plate-frnt\"; did you mean \"plate-front\"? \
         its cameras: plate-front, container-left, container-rear"
    );
}

#[test]
fn a_simulated_scanner_is_not_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let file = demo(dir.path());
    let out = dir.path().join("scan.png");
    let (code, text, stderr) = diag(&file, &["uvss", "--capture", out.to_str().unwrap(), "--wait", "10m"]);
    assert_eq!(code, 1, "{text}{stderr}");
    assert!(!stderr.contains("waiting"), "no promise of a wait: {stderr}");
    assert!(text.starts_with("uvss: simulated, and diag runs the simulation without traffic"), "{text}");
    assert!(!out.exists());
    let (_, json, _) = diag(&file, &["uvss", "--capture", out.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (v["device"].as_str(), v["action"].as_str(), v["ok"].as_bool()),
        (Some("uvss"), Some("capture"), Some(false))
    );
    assert!(v["error"].as_str().unwrap().contains("no vehicle will drive over"));
}
