//! Descriptor exhaustion: hundreds of half-open connections to the technician page of an agent
//! with a small descriptor limit, while vehicles pass. The page must not take the descriptors
//! the lane needs: every passage and every image of it reaches central whole, and the page
//! answers again once the idle connections are cut.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hil_tests::central::Received;
use hil_tests::{KillOnDrop, Mosquitto, Subscriber};

const VEHICLES: usize = 25;
/// The agent's descriptor limit (soft and hard), well under the connections thrown at it.
const NOFILE: u64 = 256;
/// A limit the lane itself runs out under while the page holds its connections (the page takes
/// at most 64; the lane needs about 30). At 88 the old outlet's faults showed only now and then;
/// at 76 it published every number before keeping it.
const STARVED_NOFILE: u64 = 76;
/// Vehicles in quick succession while starved: many journal and archive writes to fail.
const STARVED_VEHICLES: usize = 40;
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

/// The demo lane with `vehicles` simulated vehicles, its page on `web_port`.
fn lane_file(dir: &Path, broker_port: u16, web_port: u16, vehicles: usize, gap_ms: u64) -> PathBuf {
    let lane = hil_tests::demo_lane(
        &format!("host = \"127.0.0.1\"\nport = {broker_port}"),
        &dir.join("data").display().to_string(),
    );
    let file = dir.join("lane.toml");
    std::fs::write(
        &file,
        format!(
            "{lane}\n[web]\nlisten = \"127.0.0.1:{web_port}\"\n\n[sim]\nvehicles = {vehicles}\nseed = 4\n\
             arrival_gap = \"{gap_ms}ms\"\nbarrier_move = \"5ms\"\ndrive_in = \"2ms\"\ndrive_clear = \"5ms\"\npatience = \"2s\"\n"
        ),
    )
    .unwrap();
    file
}

/// The agent with at most `nofile` descriptors (soft and hard), its log appended to `log`.
fn agent_limited(file: &Path, nofile: u64, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_edge-agent"));
    cmd.args(["run", "--config"]).arg(file).env("RUST_LOG", "warn").stdout(Stdio::null()).stderr(log);
    // SAFETY: only async-signal-safe setrlimit between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit { rlim_cur: nofile, rlim_max: nofile };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().unwrap()
}

/// Connections that never send a request, held open by the test.
fn attack(web_port: u16) -> Vec<TcpStream> {
    (0..ATTACKERS).filter_map(|_| TcpStream::connect(("127.0.0.1", web_port)).ok()).collect()
}

/// As [`attack`], but only until the listen queue is full: a starved page accepts nothing, and a
/// connect to a full queue waits on SYN retries for a minute or more.
fn attack_until_full(web_port: u16) -> Vec<TcpStream> {
    let to = std::net::SocketAddr::from(([127, 0, 0, 1], web_port));
    (0..ATTACKERS).map_while(|_| TcpStream::connect_timeout(&to, Duration::from_millis(500)).ok()).collect()
}

#[test]
fn half_open_connections_to_the_page_cost_the_lane_nothing() {
    let broker = Mosquitto::start();
    let sub = Subscriber::connect(broker.port, "lanectl/DEMO/G01/#");
    let dir = tempfile::tempdir().unwrap();
    let web_port = hil_tests::free_port();
    let file = lane_file(dir.path(), broker.port, web_port, VEHICLES, 300);
    let mut agent = KillOnDrop::new(agent_limited(&file, NOFILE, &dir.path().join("agent.log")));
    assert!(hil_tests::wait_for_port(web_port, Duration::from_secs(60)), "the page comes up");

    let attackers = attack(web_port);
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
    assert!(agent.get().try_wait().unwrap().is_none(), "the agent is still running");
    drop(attackers);
    drop(agent);
}

/// Descriptors so few that the lane itself runs out while the page holds its connections: the
/// archive, the journal and image reads fail for a while. An outsider's drill once found two
/// different records published for one passage, and a number given to a second vehicle after a
/// restart. Whatever fails, each passage goes out as one record and each number once, through
/// the starvation, a clean stop and the next start.
#[test]
fn a_lane_out_of_descriptors_sends_one_record_per_passage_and_never_reuses_a_number() {
    let broker = Mosquitto::start();
    let sub = Subscriber::connect(broker.port, "lanectl/DEMO/G01/#");
    let dir = tempfile::tempdir().unwrap();
    let web_port = hil_tests::free_port();
    let file = lane_file(dir.path(), broker.port, web_port, STARVED_VEHICLES, 50);
    // The lane waits for the arm longer than the starvation lasts: a release then waits until it
    // is stored and opens. (Past the barrier timeout it never opens: the passage goes to review,
    // for a person, and this scenario would stand still.)
    let lane = std::fs::read_to_string(&file).unwrap();
    assert!(lane.contains("\n[timeouts]\n"), "config/demo.toml has a [timeouts] table");
    std::fs::write(&file, lane.replacen("\n[timeouts]\n", "\n[timeouts]\nbarrier = \"60s\"\n", 1)).unwrap();
    let log = dir.path().join("agent.log");
    let first = KillOnDrop::new(agent_limited(&file, STARVED_NOFILE, &log));
    assert!(hil_tests::wait_for_port(web_port, Duration::from_secs(60)), "the page comes up");
    let attackers = attack_until_full(web_port);
    let mut central = Received::default();
    let data = dir.path().join("data");
    let mut ahead = Vec::new();
    // Starved for a while (the scenario's length, not a wait for something), then relieved:
    // until central has everything the lane archived, and half the vehicles at least (queued
    // behind a barrier that waited, some come through as one: not every vehicle is a passage).
    take_watching(&mut central, &sub, &data, &mut ahead, Duration::from_secs(20), |_| false);
    drop(attackers);
    let relieved = take_watching(&mut central, &sub, &data, &mut ahead, Duration::from_secs(120), |c| {
        c.ids.len() >= STARVED_VEHICLES / 2 && hil_tests::archived_ids(&data).is_subset(&c.ids)
    });
    let starved = std::fs::read_to_string(&log).unwrap();
    assert!(relieved, "{} passages at central; the agent's log:\n{starved}", central.ids.len());
    assert!(starved.contains("Too many open files"), "the lane did run out of descriptors");
    // A number at central beyond every number kept on the lane is one the next start gives out again.
    assert!(
        ahead.is_empty(),
        "(published, kept on the lane) numbers published before they were kept: {ahead:?}"
    );
    terminate(first.take());
    let archived = hil_tests::archived_ids(&data);
    let last_seq = kept_seq(&data);

    // The next start sends what the stop left and goes on numbering; a record numbered past the
    // last one comes after all of that (the outlet keeps order).
    let second = KillOnDrop::new(agent_limited(&file, NOFILE, &log));
    let went_on = central.take(&sub, Duration::from_secs(60), |c| {
        c.records.iter().any(|r| r["seq"].as_u64().is_some_and(|s| s > last_seq))
    });
    terminate(second.take());
    assert!(went_on, "the lane went on after the restart");
    let lost: Vec<_> = archived.difference(&central.ids).collect();
    assert!(lost.is_empty(), "archived before the stop, never at central: {lost:?}");
    assert!(central.twins.is_empty(), "two different records for one passage: {:?}", central.twins);
    assert!(central.reused_seqs.is_empty(), "numbers given twice: {:?}", central.reused_seqs);
}

/// The highest passage number the lane keeps on disk: its journal's, or its archive's (the
/// next start numbers on from the larger).
fn kept_seq(data: &Path) -> u64 {
    let journal = std::fs::read(data.join("passages.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["last_seq"].as_u64())
        .unwrap_or(0);
    let archived = hil_tests::archived_ids(data)
        .iter()
        .filter_map(|id| id.rsplit('-').next()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    journal.max(archived)
}

/// Reads until `done` holds or `limit` passed (says which), noting each decision, alarm or record
/// whose number the lane did not keep on disk when central got it.
fn take_watching(
    central: &mut Received,
    sub: &Subscriber,
    data: &Path,
    ahead: &mut Vec<(u64, u64)>,
    limit: Duration,
    done: impl Fn(&Received) -> bool,
) -> bool {
    let end = Instant::now() + limit;
    while !done(central) {
        if Instant::now() >= end {
            return false;
        }
        let Some((topic, payload, _)) = sub.next(Duration::from_millis(500)) else { continue };
        // A decision or an alarm names its passage, whose id ends in its number; a record
        // carries it.
        let v = || serde_json::from_slice::<serde_json::Value>(&payload).unwrap();
        let seq = match topic.rsplit('/').next() {
            Some("passage") => v()["seq"].as_u64(),
            Some("decision" | "alarm") => {
                v()["passage"].as_str().and_then(|id| id.rsplit('-').next()?.parse().ok())
            }
            _ => None,
        };
        if let Some(seq) = seq {
            let kept = kept_seq(data);
            if seq > kept {
                ahead.push((seq, kept));
            }
        }
        central.read(&topic, payload);
    }
    true
}

fn terminate(mut child: Child) {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(child.wait().unwrap().success(), "a clean stop exits 0");
}
