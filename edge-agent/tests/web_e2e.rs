//! The technician page and /metrics of the agent binary on the simulated lane,
//! over real TCP, with the lane publishing to a real Mosquitto.

#[path = "web_support/mod.rs"]
mod web_support;

use std::collections::BTreeSet;
use std::time::Duration;

use hil_tests::{Mosquitto, Subscriber};
use sha2::{Digest, Sha256};
use web_support::{series, total, Agent};

const TRAFFIC: &str = "[web]\nlisten = \"127.0.0.1:{web_port}\"\n[sim]\nvehicles = 3\nseed = 5\narrival_gap = \"20ms\"\nbarrier_move = \"10ms\"\n\
    drive_in = \"5ms\"\ndrive_clear = \"10ms\"\npatience = \"500ms\"\n";

fn passages(sub: &Subscriber, n: usize) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    while ids.len() < n {
        let (topic, payload, _) = sub.next(Duration::from_secs(60)).expect("passage records arrive");
        if topic.ends_with("/passage") {
            let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
            ids.insert(v["id"].as_str().unwrap().to_string());
        }
    }
    ids
}

#[test]
fn page_status_passages_images_and_metrics() {
    let broker = Mosquitto::start();
    let sub = Subscriber::connect(broker.port, "lanectl/DEMO/G01/#");
    let agent = Agent::start(broker.port, TRAFFIC, None);
    let ids = passages(&sub, 3);

    let page = agent.get("/");
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(page.text().contains("Last passages") && page.text().contains("Cycle barrier"));

    // Counted when the records were published, which was before they reached us.
    let m = agent.get("/metrics");
    assert_eq!(m.status, 200);
    let m = m.text();
    assert_eq!(total(&m, "edge_passages_total"), 3.0, "{m}");
    assert_eq!(series(&m, "edge_stage_duration_seconds_count{stage=\"capture\"}"), Some(3.0), "{m}");
    assert_eq!(series(&m, "edge_passage_duration_seconds_count"), Some(3.0), "{m}");
    assert!(total(&m, "edge_decisions_total") >= 3.0, "one decision per passage at least: {m}");
    assert_eq!(series(&m, "edge_device_up{device=\"barrier\",kind=\"barrier\"}"), Some(1.0), "{m}");
    assert_eq!(
        m.lines().filter(|l| l.starts_with("edge_device_up{")).count(),
        10,
        "every device of the demo lane"
    );
    assert_eq!(series(&m, "edge_uplink_connected"), Some(1.0));
    assert!(
        series(&m, "edge_outbox_bytes").is_some() && series(&m, "edge_outbox_oldest_age_seconds").is_some()
    );
    assert!(series(&m, "edge_lane_loop_beats_total").unwrap() >= 1.0);

    let s = agent.get("/api/status").json();
    assert_eq!(s["lane"], "G01");
    assert_eq!(s["uplink"]["connected"], true);
    assert_eq!(s["state"]["devices"].as_array().unwrap().len(), 10);
    assert!(s["state"]["devices"].as_array().unwrap().iter().all(|d| d["health"]["state"] == "ok"), "{s}");

    // The archive's newest passages are the ones central received.
    let list = agent.get("/api/passages?n=3").json();
    let listed: BTreeSet<String> =
        list.as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(listed, ids);
    let image = list[0]["captures"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|c| c["image"].as_object().cloned())
        .expect("a captured image");
    assert!(image.get("preview_jpeg").is_none(), "previews are left out of the list");
    let sha = image["sha256"].as_str().unwrap();
    let ext = if image["format"] == "png" { "png" } else { "jpg" };
    let got = agent.get(&format!("/images/{sha}.{ext}"));
    assert_eq!(got.status, 200, "{image:?}");
    assert!(got.header("content-type").is_some_and(|t| t.starts_with("image/")));
    assert_eq!(hex::encode(Sha256::digest(&got.body)), sha, "the stored image, byte for byte");
}

#[test]
fn actions_and_bad_requests() {
    let broker = Mosquitto::start();
    let sub = Subscriber::connect(broker.port, "lanectl/DEMO/G01/#");
    let agent = Agent::start(broker.port, TRAFFIC, None);
    passages(&sub, 3);

    // A snapshot from a camera, stored and served by its hash.
    let snap = agent.post("/api/snapshot?device=plate-front", b"");
    assert_eq!(snap.status, 200, "{}", snap.text());
    let url = snap.json()["image"]["url"].as_str().unwrap().to_string();
    let img = agent.get(&url);
    assert_eq!(img.status, 200);
    assert!(image_is_jpeg(&img.body));
    let missing = agent.post("/api/snapshot?device=no-such-camera", b"");
    assert_eq!(missing.status, 404);
    // A code the page says in its own language, and the detail in English.
    assert_eq!(missing.json()["code"], "no_device", "{}", missing.text());
    assert!(missing.json()["error"].as_str().unwrap().contains("no-such-camera"));
    assert_eq!(agent.post("/api/snapshot?device=barrier", b"").status, 404, "the barrier is no camera");
    let seals = agent.post("/api/seals", b"");
    assert_eq!(seals.status, 200, "{}", seals.text());
    assert!(seals.json()["seals"].is_array());

    // Traffic is over: the lane is idle and the barrier closed, so a cycle runs.
    let cycle = agent.post("/api/barrier/cycle", b"");
    assert_eq!(cycle.status, 200, "{}", cycle.text());
    assert!(cycle.json()["message"].as_str().unwrap().starts_with("opened and closed"));

    // An action without the page's header (what a cross-site form sends).
    let forged = web_support::http(agent.web_port, "POST", "/api/barrier/cycle", &[], b"");
    assert_eq!(forged.status, 403);
    // DNS rebinding: a foreign Host on the loopback page.
    let foreign = web_support::parse(&web_support::raw(
        agent.web_port,
        b"GET /api/status HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    ));
    assert_eq!(foreign.status, 403);

    // Log filter at run time; a bad one is refused and the old one stays.
    assert_eq!(agent.post("/api/log-filter", b"info,edge_agent::lane=debug").status, 200);
    assert_eq!(agent.get("/api/log-filter").text().trim(), "info,edge_agent::lane=debug");
    let bad = agent.post("/api/log-filter", b"edge_agent=[[[");
    assert_eq!((bad.status, bad.json()["code"].as_str()), (400, Some("bad_filter")));

    // The page's words: the lane's vocabulary in both languages, the browser's wish, and
    // the lane file's choice (none here).
    let words = web_support::http(
        agent.web_port,
        "GET",
        "/api/words",
        &[("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8")],
        b"",
    );
    let words = words.json();
    assert_eq!(words["accept"], "zh");
    assert!(words["configured"].is_null());
    assert_eq!(words["terms"]["kind"]["area_camera"]["zh"], "抓拍相机");
    assert_eq!(words["terms"]["kind"]["area_camera"]["en"], "area camera");
    assert_eq!(words["terms"]["reason"]["targeted"]["zh"], "布控");
    assert_eq!(agent.get("/api/status").json()["log_filter"], "info,edge_agent::lane=debug");

    for path in [
        "/images/..%2F..%2Fetc%2Fpasswd",
        "/images/abc.jpg",
        &format!("/images/{}.exe", "a".repeat(64)),
        &format!("/images/{}.jpg", "0".repeat(64)),
        "/nope",
    ] {
        assert_eq!(agent.get(path).status, 404, "{path}");
    }
    assert_eq!(agent.get("/api/passages?n=lots").status, 400);
    let garbage = web_support::raw(agent.web_port, b"\x00\x01 not http at all\r\n\r\n");
    assert!(
        garbage.is_empty() || garbage.starts_with(b"HTTP/1.1 400"),
        "{:?}",
        String::from_utf8_lossy(&garbage)
    );
    // And the agent is still there.
    assert_eq!(agent.get("/api/status").status, 200);
}

fn image_is_jpeg(b: &[u8]) -> bool {
    b.starts_with(&[0xFF, 0xD8, 0xFF])
}

#[test]
fn a_password_is_required_off_loopback() {
    let broker = Mosquitto::start();
    let agent = Agent::start(
        broker.port,
        "[web]\nlisten = \"0.0.0.0:{web_port}\"\npassword = \"lane-g01-secret\"\n",
        None,
    );
    let basic = |cred: &str| format!("Basic {}", base64_encode(cred));
    let none = agent.get("/api/status");
    assert_eq!(none.status, 401);
    assert!(none.header("www-authenticate").unwrap().starts_with("Basic"));
    let wrong = web_support::http(
        agent.web_port,
        "GET",
        "/api/status",
        &[("Authorization", &basic("tech:lane-g01-secreT"))],
        b"",
    );
    assert_eq!(wrong.status, 401);
    let junk = web_support::http(agent.web_port, "GET", "/metrics", &[("Authorization", "Basic %%%")], b"");
    assert_eq!(junk.status, 401);
    let right = web_support::http(
        agent.web_port,
        "GET",
        "/api/status",
        &[("Authorization", &basic("tech:lane-g01-secret"))],
        b"",
    );
    assert_eq!(right.status, 200);
    assert_eq!(right.json()["lane"], "G01");
}

#[test]
fn check_config_refuses_an_exposed_page_without_password() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lane.toml");
    std::fs::write(&file, web_support::config(1883, dir.path(), "[web]\nlisten = \"0.0.0.0:8080\"\n"))
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("`web.listen` = \"0.0.0.0:8080\" is reachable from other machines")
            && err.contains("set `web.password`"),
        "{err}"
    );
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
