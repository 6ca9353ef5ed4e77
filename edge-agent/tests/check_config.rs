//! `edge-agent check-config` on broken fixtures: each names its expected
//! `line:col: message` in its first line, and the tool must say exactly that.

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

#[test]
fn broken_configs_are_rejected_at_the_right_spot() {
    let files = fixtures();
    assert!(files.len() >= 10, "at least ten broken fixtures");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expect =
            text.lines().next().unwrap().strip_prefix("# expect: ").expect("fixture names its expectation");
        let (code, _, stderr) = check(&file);
        assert_eq!(code, 2, "{}: exit code", file.display());
        let mut lines = stderr.lines();
        assert_eq!(lines.next().unwrap(), format!("{}:{expect}", file.display()));
        let help = lines.next().unwrap_or("");
        assert!(
            help.starts_with("  help: ") && help.len() > 20,
            "{}: a sentence on how to fix it, got {help:?}",
            file.display()
        );
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
    assert_eq!(errors.len(), 3, "{stderr}");
    assert!(
        errors[0].contains(":4:6:") && errors[1].contains(":11:11:") && errors[2].contains("baud"),
        "{stderr}"
    );
}

#[test]
fn missing_file_is_a_clear_error() {
    let (code, _, stderr) = check(Path::new("/nonexistent/lane.toml"));
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read the configuration file"), "{stderr}");
}
