//! The lane-central .deb, built with `cargo deb -p central` and checked with
//! dpkg-deb: the binary, the unit (enabled, not started), the example config
//! as a conffile readable by the service user only, the design doc; the
//! packaged unit passes `systemd-analyze verify`. Ignored by default: it
//! builds the release binary and needs cargo-deb (`scripts/package` installs it).
//!
//!   cargo test -p central --test systemd_package -- --ignored
//!
//! With `CENTRAL_DEB_NO_BUILD=1` it packages `target/release/lane-central` as
//! it is (e.g. after `cargo bench -p central`) instead of building it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let out = Command::new("dpkg-deb").args(args).arg(deb).output().expect("dpkg-deb");
    assert!(out.status.success(), "dpkg-deb {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
#[ignore = "builds the release binary and the .deb: run with --ignored"]
fn the_package_holds_the_service_its_unit_and_config() {
    let mut cargo = Command::new("cargo");
    cargo.args(["deb", "-p", "central", "--output"]).arg(repo().join("target/debian"));
    if std::env::var_os("CENTRAL_DEB_NO_BUILD").is_some() {
        cargo.arg("--no-build");
    }
    let out = cargo.current_dir(repo()).output().expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo deb -p central (install it with `cargo install cargo-deb --locked`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deb = std::fs::read_dir(repo().join("target/debian"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("lane-central_")))
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .expect("a lane-central .deb in target/debian");

    let files = dpkg_deb(&["-c"], &deb);
    for path in [
        "./usr/bin/lane-central",
        "./etc/lane-central/central.toml",
        "lane-central.service",
        "./usr/share/doc/lane-central/central.md",
        "./usr/share/doc/lane-central/central.example.toml",
    ] {
        assert!(files.contains(path), "{path} is not in the package:\n{files}");
    }
    let info = dpkg_deb(&["-I"], &deb);
    assert!(info.contains("Package: lane-central"), "{info}");
    assert!(info.contains("adduser") && info.contains("Recommends: postgresql, mosquitto"), "{info}");

    let dir = tempfile::tempdir().unwrap();
    let control = dir.path().join("control");
    assert!(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control).status().unwrap().success());
    let read = |name: &str| std::fs::read_to_string(control.join(name)).unwrap_or_default();
    assert!(read("conffiles").lines().any(|l| l == "/etc/lane-central/central.toml"), "a conffile");
    let postinst = read("postinst");
    assert!(postinst.contains("adduser --system --group") && postinst.contains("chmod 0640"), "{postinst}");
    assert!(postinst.contains("deb-systemd-helper enable"), "the unit is enabled: {postinst}");
    assert!(!postinst.contains("systemctl --system start"), "not started before it is configured");

    // As installed: the packaged config is valid, the unit verifies.
    let root = dir.path().join("root");
    assert!(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root).status().unwrap().success());
    let bin = root.join("usr/bin/lane-central");
    let config = root.join("etc/lane-central/central.toml");
    let check = Command::new(&bin).arg("check-config").arg(&config).output().unwrap();
    assert!(check.status.success(), "the packaged config: {}", String::from_utf8_lossy(&check.stderr));
    let unit = ["lib/systemd/system", "usr/lib/systemd/system"]
        .iter()
        .map(|d| root.join(d).join("lane-central.service"))
        .find(|p| p.exists())
        .expect("the unit in the package");
    let text =
        std::fs::read_to_string(unit).unwrap().replace("/usr/bin/lane-central", &bin.display().to_string());
    let patched = dir.path().join("lane-central.service");
    std::fs::write(&patched, text).unwrap();
    if Command::new("systemd-analyze").arg("--version").output().is_ok() {
        let out = Command::new("systemd-analyze").arg("verify").arg(&patched).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}
