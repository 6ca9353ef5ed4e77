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
