//! The .deb, checked with dpkg-deb. Ignored by default: it builds the release
//! binary and the package (minutes on a lane-sized machine).
//!
//!   cargo test -p edge-agent --test systemd_package -- --ignored

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn dpkg_deb(args: &[&str], deb: &std::path::Path) -> String {
    let out = Command::new("dpkg-deb").args(args).arg(deb).output().expect("dpkg-deb");
    assert!(out.status.success(), "dpkg-deb {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
#[ignore = "builds the release binary and the .deb: run with --ignored"]
fn the_package_holds_the_service_and_its_parts() {
    let status = Command::new(repo().join("scripts/package")).status().expect("scripts/package");
    assert!(status.success(), "scripts/package failed");
    let deb = std::fs::read_dir(repo().join("target/debian"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .expect("a .deb in target/debian");

    let files = dpkg_deb(&["-c"], &deb);
    for path in [
        "./usr/bin/edge-agent",
        "./usr/lib/edge-agent/libonnxruntime.so.1.31.1",
        "./usr/lib/edge-agent/models/ch_PP-OCRv4_det_infer.onnx",
        "./usr/lib/edge-agent/models/ch_PP-OCRv4_rec_infer.onnx",
        "./usr/lib/edge-agent/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "./etc/edge-agent/lane.toml",
        "edge-agent.service",
        "./usr/share/doc/edge-agent/operations.md",
    ] {
        assert!(files.contains(path), "{path} is not in the package:\n{files}");
    }

    let info = dpkg_deb(&["-I"], &deb);
    assert!(info.contains("Package: edge-agent"), "{info}");
    assert!(info.contains("Depends:") && info.contains("adduser") && info.contains("mosquitto"), "{info}");

    let dir = tempfile::tempdir().unwrap();
    let control = dir.path().join("control");
    let out = Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control).output().unwrap();
    assert!(out.status.success());
    let read = |name: &str| std::fs::read_to_string(control.join(name)).unwrap_or_default();
    assert!(
        read("conffiles").lines().any(|l| l == "/etc/edge-agent/lane.toml"),
        "the lane file is a conffile"
    );
    let postinst = read("postinst");
    assert!(
        postinst.contains("adduser --system") && postinst.contains("dialout") && postinst.contains("gpio"),
        "{postinst}"
    );
    assert!(
        postinst.contains("systemctl") || postinst.contains("deb-systemd-helper"),
        "the unit is enabled: {postinst}"
    );
    let postrm = read("postrm");
    assert!(
        postrm.contains("purge") && postrm.contains("rm -rf /var/lib/edge-agent /etc/edge-agent"),
        "purge removes data: {postrm}"
    );

    // The packaged unit, as installed, still passes systemd-analyze verify.
    let unit = dir.path().join("edge-agent.service");
    let extracted = dir.path().join("root");
    assert!(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&extracted).status().unwrap().success());
    let found = ["lib/systemd/system", "usr/lib/systemd/system"]
        .iter()
        .map(|d| extracted.join(d).join("edge-agent.service"))
        .find(|p| p.exists())
        .expect("unit in the package");
    let text = std::fs::read_to_string(found)
        .unwrap()
        .replace("/usr/bin/edge-agent", &extracted.join("usr/bin/edge-agent").display().to_string());
    std::fs::write(&unit, text).unwrap();
    if Command::new("systemd-analyze").arg("--version").output().is_ok() {
        let out = Command::new("systemd-analyze").arg("verify").arg(&unit).output().unwrap();
        assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}
