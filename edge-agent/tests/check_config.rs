//! `edge-agent check-config` on broken fixtures: each names, in its first lines,
//! every `line:col: message` it must produce (`# expect: …`, in order) and the fix
//! for each (`#   help: …`); the tool must say exactly that, all in one run.

use std::path::{Path, PathBuf};
use std::process::Command;

fn check(file: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edge-agent")).arg("check-config").arg(file).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

/// (`line:col: message`, help) pairs a fixture announces in its header.
fn expectations(text: &str) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        if let Some(e) = line.strip_prefix("# expect: ") {
            out.push((e.to_string(), None));
        } else if let Some(h) = line.strip_prefix("#   help: ") {
            out.last_mut().expect("a help line follows an expect line").1 = Some(h.to_string());
        }
    }
    out
}

#[test]
fn broken_configs_are_rejected_at_the_right_spot() {
    let files = fixtures();
    assert!(files.len() >= 30, "a fixture per error class");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expected = expectations(&text);
        assert!(!expected.is_empty(), "{}: names its expectation", file.display());
        let (code, stdout, stderr) = check(&file);
        assert_eq!(code, 2, "{}: exit code", file.display());
        assert!(stdout.is_empty(), "{}: errors go to stderr only, got {stdout:?}", file.display());
        let lines: Vec<&str> = stderr.lines().collect();
        let errors: Vec<&str> = lines.iter().copied().filter(|l| !l.starts_with("  help: ")).collect();
        let summary = errors.last().copied().unwrap_or("");
        let errors = &errors[..errors.len().saturating_sub(1)];
        assert_eq!(
            errors.len(),
            expected.len(),
            "{}: one line per mistake, all at once:\n{stderr}",
            file.display()
        );
        let count = if expected.len() == 1 {
            "1 mistake".to_string()
        } else {
            format!("{} mistakes", expected.len())
        };
        assert_eq!(summary, format!("edge-agent check-config: {count} in {}", file.display()));
        for (i, (expect, help)) in expected.iter().enumerate() {
            let at = lines.iter().position(|l| *l == errors[i]).unwrap();
            assert_eq!(errors[i], format!("{}:{expect}", file.display()), "{}", file.display());
            let given_help = lines.get(at + 1).copied().unwrap_or("");
            assert!(
                given_help.starts_with("  help: ") && given_help.len() > 20,
                "{}: a sentence on how to fix it, got {given_help:?}",
                file.display()
            );
            if let Some(h) = help {
                assert_eq!(&given_help["  help: ".len()..], h, "{}", file.display());
            }
        }
    }
}

#[test]
fn messages_never_name_rust_types() {
    for file in fixtures() {
        let (_, _, stderr) = check(&file);
        for word in
            ["u8", "u16", "u32", "u64", "f64", "struct", "Raw", "Some(", "None", "expected a", "invalid type"]
        {
            assert!(!stderr.contains(word), "{}: {word:?} in {stderr}", file.display());
        }
        assert!(!stderr.contains(" a area") && !stderr.contains(" a under"), "{}: {stderr}", file.display());
    }
}

#[test]
fn shipped_configs_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for name in ["config/demo.toml", "config/lane.example.toml"] {
        let (code, stdout, stderr) = check(&root.join(name));
        assert_eq!(code, 0, "{name}: {stderr}");
        assert!(stdout.contains(": ok"), "{stdout}");
    }
}

#[test]
fn several_problems_are_reported_together() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lane.toml");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken/zero_timeout.toml"),
    )
    .unwrap()
    .replace("id = \"G07\"", "id = \"G 07\"")
    .replace("baud = 115200", "baud = 7");
    std::fs::write(&file, text).unwrap();
    let (code, _, stderr) = check(&file);
    assert_eq!(code, 2);
    let errors: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("  help")).collect();
    assert_eq!(errors.len(), 4, "three mistakes and the count: {stderr}");
    assert!(
        errors[0].contains(":4:6:") && errors[1].contains(":11:11:") && errors[2].contains("baud"),
        "{stderr}"
    );
}

#[test]
fn missing_file_is_a_clear_error_without_a_position() {
    let (code, stdout, stderr) = check(Path::new("/nonexistent/lane.toml"));
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    let first = stderr.lines().next().unwrap();
    assert_eq!(first, "/nonexistent/lane.toml: cannot read the configuration file: it does not exist");
    assert!(!stderr.contains(":0:0") && !stderr.contains("os error"), "{stderr}");
}

#[test]
fn a_valid_file_is_summarised_with_what_each_timeout_means() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lane.toml");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let text = std::fs::read_to_string(root.join("config/demo.toml"))
        .unwrap()
        .replace("review = \"20s\"", "review = \"10 minutes\"\nexit = \"90s\"")
        .replace("../.cache/demo-data", "data");
    std::fs::write(&file, text).unwrap();
    let (code, stdout, stderr) = check(&file);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with(&format!("{}: ok\n", file.display())), "{stdout}");
    assert!(
        stdout.contains("lane DEMO/G01 (Demo lane, simulated devices): 10 devices, all simulated"),
        "{stdout}"
    );
    assert!(
        stdout.contains("a held vehicle still waiting for a reviewer after 10m raises an alarm (it stays held, the barrier down)"),
        "{stdout}"
    );
    assert!(stdout.contains("still in the lane after 1m 30s raises an alarm"), "{stdout}");
    assert!(stdout.contains("area camera for plates over sim"), "{stdout}");
}
