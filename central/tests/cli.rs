//! `lane-central` as an administrator meets it: the help grouped by what one is doing, and
//! the desk's account commands telling a mistyped role, language or site at once — in
//! words, with a "did you mean", as `lane-central CMD SUB: …` on stderr and exit 2 — before
//! any database is opened (the example config's database is never reached here).

use std::path::{Path, PathBuf};
use std::process::Command;

fn central(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lane-central")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/central.example.toml")
}

#[test]
fn the_help_groups_the_commands_and_gives_the_exit_codes() {
    let (code, help, _) = central(&["--help"]);
    assert_eq!(code, 0);
    let at = |s: &str| help.find(s).unwrap_or_else(|| panic!("{s:?} in\n{help}"));
    assert!(at("Run central:\n  run") < at("Check central:\n  check-config"), "{help}");
    assert!(at("Reviewers and lanes:\n  user") < at("Evaluate recognition:\n  export"), "{help}");
    assert!(help.contains("Exit codes: 0 done and all well"), "{help}");
    let (_, add, _) = central(&["user", "add", "--help"]);
    assert!(add.contains("Example:\n  echo") && add.contains("--role <ROLE>"), "{add}");
}

#[test]
fn a_mistyped_role_language_or_site_is_told_before_the_database() {
    let config = example();
    let config = config.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["user", "add", "wang", "--role", "revewer"],
            "lane-central user add: there is no role \"revewer\": did you mean \"reviewer\"?",
        ),
        (
            &["user", "add", "wang", "--role", "reviewer", "--language", "zh"],
            "lane-central user add: there is no page language \"zh\": use \"zh-CN\" or \"en\"",
        ),
        (
            &["user", "set", "wang", "--sites", "CNSHA-YZ"],
            "lane-central user set: central receives no site \"CNSHA-YZ\": did you mean \"CNSHA-YS\"?",
        ),
        (
            &["user", "set", "wang", "--disable", "--enable"],
            "lane-central user set: give --disable or --enable, not both",
        ),
    ];
    for (args, expect) in cases {
        let mut all = args.to_vec();
        all.extend(["--config", config]);
        let (code, stdout, stderr) = central(&all);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert_eq!(stderr.trim_end(), expect, "{args:?}");
    }
}

#[test]
fn a_missing_config_is_named_with_its_command() {
    let (code, _, stderr) = central(&["lanes", "list", "--config", "/nonexistent/central.toml"]);
    assert_eq!(code, 2);
    assert!(
        stderr
            .starts_with("/nonexistent/central.toml: cannot read the configuration file: it does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("os error") && !stderr.contains("lane-central lanes list: \n"), "{stderr}");
}

#[test]
fn a_database_that_is_not_there_is_named_with_the_real_cause() {
    // A port nothing listens on: bound, then given back.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(example()).unwrap();
    let url = text.lines().find(|l| l.starts_with("url = \"postgres")).expect("the example's database url");
    let config = dir.path().join("central.toml");
    std::fs::write(&config, text.replace(url, &format!("url = \"postgres://c:secret@127.0.0.1:{port}/c\"")))
        .unwrap();
    let (code, stdout, stderr) = central(&["lanes", "list", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let last = stderr.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!(
            "lane-central lanes list: cannot use the database c at 127.0.0.1:{port} (from [database] url): \
             error communicating with database: connection refused"
        ),
        "the real cause, once, in words:\n{stderr}"
    );
    assert_eq!(stderr.matches("not reachable yet").count(), 1, "one warning per cause:\n{stderr}");
    assert!(!stderr.contains('\u{1b}') && !stderr.contains("secret"), "plain text, no password:\n{stderr}");
}
