//! `edge-agent --help` as a newcomer reads it: commands grouped by what one is doing, running
//! the lane first, with the exit codes; every command's own help has an example.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_edge-agent")).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}");
    String::from_utf8_lossy(&out.stdout).into()
}

#[test]
fn commands_are_grouped_with_running_the_lane_first() {
    let text = help(&["--help"]);
    let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s:?} missing:\n{text}"));
    let groups = [
        "Run the lane:",
        "Check a lane:",
        "Diagnose devices and results:",
        "Evaluate recognition and vision:",
        "Central-side tools:",
    ];
    for pair in groups.windows(2) {
        assert!(at(pair[0]) < at(pair[1]), "{pair:?}:\n{text}");
    }
    assert!(at("  run ") < at("  check-config ") && at("  check-config ") < at("  uvss "), "{text}");
    assert!(at("  declare ") < at("Check a lane:"), "declare is listed under running the lane");
    assert!(
        text.contains("Exit codes: 0 done and all well; 1 done, and something checked was wrong"),
        "{text}"
    );
    assert!(!text.contains("--log-format"), "log format is run's option only");
}

#[test]
fn each_command_shows_an_example() {
    for cmd in [
        "run",
        "declare",
        "release",
        "check-config",
        "outbox",
        "stats",
        "diag",
        "follow",
        "ocr",
        "ocr-eval",
        "empty-check",
        "tail",
        "verify",
        "schema",
    ] {
        let text = help(&[cmd, "--help"]);
        assert!(text.contains("Example") && text.contains(&format!("edge-agent {cmd}")), "{cmd}:\n{text}");
    }
    for (cmd, sub) in [
        ("audit", "verify"),
        ("audit", "show"),
        ("command", "sign"),
        ("command", "keygen"),
        ("operator", "hash"),
    ] {
        let text = help(&[cmd, sub, "--help"]);
        assert!(text.contains("Example"), "{cmd} {sub}:\n{text}");
    }
}
