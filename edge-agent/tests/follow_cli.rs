//! `edge-agent follow` against a real Mosquitto: a broker that is not up yet is waited for
//! quietly (the demo's start-up race), results go to stdout in words and connection news to
//! stderr; Ctrl-C stops it even when it was started with SIGINT ignored.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hil_tests::Mosquitto;

/// Lines of a child's stream, as they come.
fn lines(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn publish(port: u16, topic: &str, payload: &str) {
    let ok = Command::new("mosquitto_pub")
        .args(["-p", &port.to_string(), "-q", "1", "-t", topic, "-m", payload])
        .status()
        .expect("mosquitto_pub (Debian's mosquitto-clients)")
        .success();
    assert!(ok, "published");
}

#[test]
fn waits_for_a_broker_that_is_starting_then_prints_in_words() {
    let port = hil_tests::free_port();
    let mut follow = Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .args(["follow", "--port", &port.to_string(), "--topic", "lanectl/#", "--count", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let news = lines(follow.stderr.take().unwrap());
    let out = lines(follow.stdout.take().unwrap());
    // No broker yet: one calm line, not an error.
    let first = news.recv_timeout(Duration::from_secs(30)).expect("a word about the broker");
    assert_eq!(first, format!("waiting for the broker at 127.0.0.1:{port}…"));
    let broker = Mosquitto::start_on(port);
    let following = news.recv_timeout(Duration::from_secs(30)).expect("connected");
    assert_eq!(following, format!("following lanectl/# on 127.0.0.1:{port}"));
    // Subscribed: what the lane publishes reads as sentences on stdout.
    let status = r#"{"state":"online","site":"DEMO","lane":"G01","agent_version":"0.1.0","since":"2026-11-23T09:00:00Z"}"#;
    publish(broker.port, "lanectl/DEMO/G01/status", status);
    let line = out.recv_timeout(Duration::from_secs(30)).expect("the status line");
    assert!(line.starts_with("lane DEMO/G01 is online (since "), "{line}");
    let stats = r#"{"schema":"lanectl.stats/1","site":"DEMO","lane":"G01","window_from":null,"window_to":null,"passages":1,"outcomes":{"release":1},"direct_release_ratio":1.0,"hold_reasons":{},"time_in_lane_ms":{"count":1,"mean":2573.0,"p95":2573},"stages_ms":{}}"#;
    publish(broker.port, "lanectl/DEMO/G01/stats", stats);
    let line = out.recv_timeout(Duration::from_secs(30)).expect("the stats line");
    assert_eq!(line, "stats DEMO/G01: 1 passage, direct release 100.0 %, p95 time in lane 2.6s");
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(news.try_iter().all(|l| !l.contains("not reachable")), "no alarm for a broker that came up");
}

/// A script started in the background by a non-interactive shell (the demo under a supervisor)
/// runs with SIGINT ignored, and its children inherit that: the script's Ctrl-C stopped the
/// agents and the central service, which handle it, but left `follow` running and the script
/// waiting on it.
#[test]
fn ctrl_c_stops_it_even_when_started_with_sigint_ignored() {
    let port = hil_tests::free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_edge-agent"));
    cmd.args(["follow", "--port", &port.to_string(), "--topic", "lanectl/#"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: between fork and exec only the async-signal-safe `signal` is called.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut follow = cmd.spawn().unwrap();
    let news = lines(follow.stderr.take().unwrap());
    // Its first word about the (absent) broker: it is following, its handlers are in place.
    let first = news.recv_timeout(Duration::from_secs(30)).expect("a word about the broker");
    assert!(first.starts_with("waiting for the broker"), "{first}");
    assert_eq!(unsafe { libc::kill(follow.id() as i32, libc::SIGINT) }, 0);
    let (done, exited) = mpsc::channel();
    let pid = follow.id();
    std::thread::spawn(move || {
        let _ = done.send(follow.wait());
    });
    match exited.recv_timeout(Duration::from_secs(30)) {
        Ok(status) => assert!(status.unwrap().success(), "a clean stop"),
        Err(_) => {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("follow ignored Ctrl-C");
        }
    }
}
