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
