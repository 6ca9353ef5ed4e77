//! The agent speaks systemd's notify protocol on a real unix datagram socket:
//! READY=1 once the lane is up (with its own pid), WATCHDOG=1 heartbeats from
//! the lane loop at the pace WATCHDOG_USEC asks, STOPPING=1 on SIGTERM — and
//! nothing from the embedded broker it starts, which must not inherit the socket.

#[path = "web_support/mod.rs"]
mod web_support;

use std::time::{Duration, Instant};

use web_support::Agent;

#[test]
fn ready_then_watchdog_heartbeats_then_stopping() {
    // No broker configured: the agent starts its own Mosquitto, which is built
    // with systemd support and would send its own READY=1 if it inherited
    // NOTIFY_SOCKET.
    let broker_port = hil_tests::free_port();
    let dir = tempfile::tempdir().unwrap();
    let demo = hil_tests::with_sim_truth(
        &std::fs::read_to_string(hil_tests::repo_root().join("config/demo.toml")).unwrap(),
    );
    let lane = demo
        .split("\n[sim]")
        .next()
        .unwrap()
        .replace("127.0.0.1:18830", &format!("127.0.0.1:{broker_port}"))
        .replace("../.cache/demo-data", &dir.path().join("data").display().to_string());
    let web_port = hil_tests::free_port();
    let file = dir.path().join("lane.toml");
    std::fs::write(&file, format!("{lane}\n[web]\nlisten = \"127.0.0.1:{web_port}\"\n")).unwrap();
    let sock = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .args(["run", "--config"])
        .arg(&file)
        .env("NOTIFY_SOCKET", &sock)
        .env("WATCHDOG_USEC", "400000")
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let mut agent = Agent { child, notify, web_port, dir: tempfile::tempdir().unwrap() };
    let pid = agent.child.id();

    let ready =
        agent.wait_for(|m| m.contains("READY=1"), Duration::from_secs(60)).expect("READY=1 within 60 s");
    assert!(ready.contains(&format!("MAINPID={pid}")), "READY=1 comes from the agent itself: {ready:?}");
    // The page is up when READY=1 is sent.
    assert_eq!(agent.get("/api/status").status, 200);

    // 400 ms watchdog: a heartbeat at least every 200 ms. Five in a row, each
    // well within the watchdog period.
    let mut last = Instant::now();
    for i in 0..5 {
        let m = agent
            .wait_for(|m| m.contains("WATCHDOG=1") || m.contains("READY=1"), Duration::from_millis(400))
            .unwrap_or_else(|| panic!("heartbeat {i} missing"));
        assert_eq!(m, "WATCHDOG=1", "only the agent's heartbeats, nobody else's READY=1");
        assert!(last.elapsed() < Duration::from_millis(400), "heartbeats at half the watchdog period");
        last = Instant::now();
    }

    agent.terminate();
    assert!(
        agent.wait_for(|m| m.contains("STOPPING=1"), Duration::from_secs(10)).is_some(),
        "STOPPING=1 on SIGTERM"
    );
    let status = agent.child.wait().unwrap();
    assert!(status.success(), "clean exit after SIGTERM: {status}");
}

#[test]
fn no_heartbeats_without_a_watchdog() {
    let broker = hil_tests::Mosquitto::start();
    let agent = Agent::start(broker.port, "[web]\nlisten = \"127.0.0.1:{web_port}\"\n", None);
    // The lane beats every 500 ms; without WATCHDOG_USEC none of them is sent.
    assert_eq!(agent.wait_for(|m| m.contains("WATCHDOG=1"), Duration::from_millis(1500)), None);
}
