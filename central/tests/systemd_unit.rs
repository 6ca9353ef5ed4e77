//! The unit file and the package metadata agree with the binary: the unit
//! runs commands that exist, validates before starting, is Type=notify with a
//! watchdog; the .deb ships the unit, the binary and the config as a conffile.

use std::process::Command;

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

#[test]
fn the_unit_is_notify_with_a_watchdog_and_checks_the_config_first() {
    let unit = read("../systemd/lane-central.service");
    for line in ["Type=notify", "NotifyAccess=main", "User=lane-central", "Restart=on-failure"] {
        assert!(unit.lines().any(|l| l == line), "missing {line}");
    }
    let watchdog = unit.lines().find_map(|l| l.strip_prefix("WatchdogSec=")).expect("a watchdog");
    assert!(tomlcheck::duration::parse_duration(watchdog).unwrap().as_secs() >= 10);
    let pre = unit.lines().find_map(|l| l.strip_prefix("ExecStartPre=")).unwrap();
    let start = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).unwrap();
    assert_eq!(pre, "/usr/bin/lane-central check-config /etc/lane-central/central.toml");
    assert_eq!(start, "/usr/bin/lane-central run --config /etc/lane-central/central.toml");
    // The subcommands the unit names exist.
    for sub in ["check-config", "run"] {
        let out = Command::new(env!("CARGO_BIN_EXE_lane-central")).args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "lane-central {sub} --help");
    }
}

#[test]
fn the_package_ships_binary_unit_and_conffile() {
    let manifest = read("Cargo.toml");
    for needle in [
        "[package.metadata.deb]",
        "\"target/release/lane-central\", \"usr/bin/\"",
        "\"../config/central.example.toml\", \"etc/lane-central/central.toml\"",
        "conf-files = [\"/etc/lane-central/central.toml\"]",
        "unit-name = \"lane-central\"",
    ] {
        assert!(manifest.contains(needle), "central/Cargo.toml lacks {needle}");
    }
    let postinst = read("../systemd/deb-central/postinst");
    assert!(postinst.contains("adduser --system --group") && postinst.contains("#DEBHELPER#"));
}
