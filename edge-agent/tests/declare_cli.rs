//! `edge-agent declare`: declarations from a file into the lane's store, all
//! or nothing, and listed back.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edge-agent")).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn loads_lists_and_refuses_a_bad_file_whole() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lane.toml");
    std::fs::write(
        &cfg,
        hil_tests::demo_lane(
            "host = \"127.0.0.1\"\nport = 1",
            &dir.path().join("data").display().to_string(),
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();

    let good = dir.path().join("good.json");
    std::fs::write(&good, r#"[{"plate": "沪A12345", "containers": ["CSQU3054383"], "seals": ["ABC-1"], "valid_until": "2099-01-01T00:00:00Z"},
                              {"plate": "沪B00001", "targeted": true}]"#).unwrap();
    let (ok, out) = run(&["declare", "--config", cfg, good.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("2 declarations loaded; 2 valid"), "{out}");

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"[{"plate": "沪C22222"}, {"plate": "沪D33333", "containers": ["CSQU3054384"]}]"#)
        .unwrap();
    let (ok, out) = run(&["declare", "--config", cfg, bad.to_str().unwrap()]);
    assert!(!ok && out.contains("CSQU3054384") && out.contains("nothing stored"), "{out}");

    let (ok, out) = run(&["declare", "--config", cfg, "--list"]);
    assert!(ok, "{out}");
    assert!(out.contains("沪A12345") && out.contains("CSQU3054383") && out.contains("TARGETED"), "{out}");
    assert!(!out.contains("沪C22222"), "the bad file stored nothing: {out}");
}
