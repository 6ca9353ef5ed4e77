//! The unit file passes `systemd-analyze verify` and keeps what the issue asks
//! for. Verify needs the ExecStart binary to exist, so a copy of the unit points
//! at the binary cargo just built.

use std::process::Command;

fn unit() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../systemd/edge-agent.service")).unwrap()
}

#[test]
fn systemd_analyze_verify_passes() {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("SKIP: systemd-analyze is not installed (apt-get install systemd)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edge-agent.service");
    std::fs::write(&path, unit().replace("/usr/bin/edge-agent", env!("CARGO_BIN_EXE_edge-agent"))).unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Warnings (unknown keys, bad values) go to stderr without failing the run.
    let about_us: Vec<&str> = stderr.lines().filter(|l| l.contains("edge-agent.service")).collect();
    assert!(out.status.success() && about_us.is_empty(), "systemd-analyze verify: {stderr}");
}

#[test]
fn the_unit_asks_for_what_the_agent_does() {
    let u = unit();
    let has = |line: &str| u.lines().any(|l| l.trim() == line);
    for line in [
        "Type=notify",
        "Restart=on-failure",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/edge-agent",
        "NoNewPrivileges=true",
        "PrivateTmp=true",
        "DevicePolicy=closed",
        "ExecStartPre=/usr/bin/edge-agent check-config /etc/edge-agent/lane.toml",
    ] {
        assert!(has(line), "the unit lacks `{line}`");
    }
    assert!(u.lines().any(|l| l.starts_with("WatchdogSec=")), "a watchdog");
    assert!(u.lines().any(|l| l.starts_with("DeviceAllow=char-ttyUSB")), "serial devices allowed");
}

#[test]
fn check_config_in_exec_start_pre_never_touches_the_network() {
    // A broker that does not exist and devices that are not there: the check
    // still passes, because it reads the file only.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lane.toml");
    let lane = hil_tests::demo_lane("host = \"192.0.2.1\"\nport = 1883", &dir.path().display().to_string());
    std::fs::write(&file, lane).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edge-agent")).arg("check-config").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.path().join("outbox.db").exists(), "check-config created no data");
}
