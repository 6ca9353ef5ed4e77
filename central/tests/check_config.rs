//! `lane-central check-config` on broken fixtures: each names the
//! `line:col: message` it must produce in its first line; the example config
//! must pass.

use std::path::{Path, PathBuf};
use std::process::Command;

fn check(file: &Path) -> (i32, String, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_lane-central")).arg("check-config").arg(file).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn broken_configs_are_rejected_at_the_right_spot_with_a_fix() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
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
            "{}: a fix-it sentence, got {help:?}",
            file.display()
        );
    }
}

#[test]
fn the_example_config_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/central.example.toml");
    let (code, stdout, stderr) = check(&example);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(": ok"), "{stdout}");
}

#[test]
fn several_mistakes_are_reported_together_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("central.toml");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken/unknown_key.toml"),
    )
    .unwrap()
    .replace("host = \"127.0.0.1\"", "host = \"127.0.0.1\"\nport = \"1883\"\nkeepalive = \"30M\"");
    std::fs::write(&file, text).unwrap();
    let (code, stdout, stderr) = check(&file);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    let errors: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("  help: ")).collect();
    assert!(errors.iter().any(|l| l.ends_with("unknown key `hots` in [mqtt]")), "{stderr}");
    assert!(
        errors
            .iter()
            .any(|l| l.ends_with("`mqtt.port` must be a port number from 1 to 65535, not \"1883\" (text)")),
        "{stderr}"
    );
    assert!(errors.iter().any(|l| l.contains("\"30M\" is not a duration: `M` is not a unit")), "{stderr}");
    assert!(stderr.contains("did you mean `host`?") && !stderr.contains("expected u16"), "{stderr}");
}

#[test]
fn a_missing_file_has_no_position() {
    let (code, _, stderr) = check(Path::new("/nonexistent/central.toml"));
    assert_eq!(code, 2);
    assert!(
        stderr
            .starts_with("/nonexistent/central.toml: cannot read the configuration file: it does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains(":0:0"), "{stderr}");
}
