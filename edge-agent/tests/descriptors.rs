//! Descriptor exhaustion: hundreds of half-open connections to the technician page of an agent
//! with a small descriptor limit, while vehicles pass. The page must not take the descriptors
//! the lane needs: every passage and every image of it reaches central whole, and the page
//! answers again once the idle connections are cut.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hil_tests::central::Received;
use hil_tests::{Mosquitto, Subscriber};

const VEHICLES: usize = 25;
/// The agent's descriptor limit (soft and hard), well under the connections thrown at it.
const NOFILE: u64 = 256;
const ATTACKERS: usize = 600;

fn status_answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out.starts_with(b"HTTP/1.1 200")
}

#[test]
fn half_open_connections_to_the_page_cost_the_lane_nothing() {
    let broker = Mosquitto::start();
    let sub = Subscriber::connect(broker.port, "lanectl/DEMO/G01/#");
    let dir = tempfile::tempdir().unwrap();
    let web_port = hil_tests::free_port();
    let lane = hil_tests::demo_lane(
        &format!("host = \"127.0.0.1\"\nport = {}", broker.port),
        &dir.path().join("data").display().to_string(),
    );
    let file = dir.path().join("lane.toml");
    std::fs::write(
        &file,
        format!(
            "{lane}\n[web]\nlisten = \"127.0.0.1:{web_port}\"\n\n[sim]\nvehicles = {VEHICLES}\nseed = 4\n\
             arrival_gap = \"300ms\"\nbarrier_move = \"5ms\"\ndrive_in = \"2ms\"\ndrive_clear = \"5ms\"\npatience = \"2s\"\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_edge-agent"));
    cmd.args(["run", "--config"]).arg(&file).env("RUST_LOG", "warn").stdout(Stdio::null());
    // SAFETY: only async-signal-safe setrlimit between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: NOFILE, rlim_max: NOFILE };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut agent = cmd.spawn().unwrap();
    assert!(hil_tests::wait_for_port(web_port, Duration::from_secs(60)), "the page comes up");

    // Connections that never send a request, held open by the test.
    let attackers: Vec<TcpStream> =
        (0..ATTACKERS).filter_map(|_| TcpStream::connect(("127.0.0.1", web_port)).ok()).collect();
    assert!(attackers.len() > NOFILE as usize, "the kernel accepted them all on the agent's behalf");

    let mut central = Received::default();
    central.take(&sub, Duration::from_secs(180), |c| c.ids.len() >= VEHICLES && c.images_complete());
    assert_eq!(central.ids.len(), VEHICLES, "every passage reached central");
    let missing: Vec<_> = central.referenced.difference(&central.images).collect();
    let referenced = central.referenced.len();
    assert!(missing.is_empty(), "{} of {referenced} images never arrived whole: {missing:?}", missing.len());

    // The idle connections are cut by the page itself; then it answers again, with the
    // attackers' sockets still open on the test's side.
    let end = Instant::now() + Duration::from_secs(60);
    while !status_answers(web_port) {
        assert!(Instant::now() < end, "the page never answered again");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(agent.try_wait().unwrap().is_none(), "the agent is still running");
    drop(attackers);
    let _ = agent.kill();
    let _ = agent.wait();
}
