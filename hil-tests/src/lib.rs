//! Harness for hardware-in-the-loop and end-to-end tests: a real Mosquitto on a
//! free port, an MQTT subscriber that collects messages, and the agent binary.

pub mod central;
pub mod disk;
pub mod postgres;
pub mod seaweed;
pub mod sim;

pub use disk::TinyDisk;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rumqttc::{Client, Connection, Event, MqttOptions, Packet, QoS};

/// A Mosquitto broker for one test, on a free loopback port; stopped on drop.
pub struct Mosquitto {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn mosquitto_binary() -> Option<PathBuf> {
    ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Mosquitto started as root drops to the `mosquitto` user, which cannot read
/// a test's private temp dir; tell it to stay who it is.
pub fn mosquitto_user_line() -> &'static str {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if root {
        "user root\n"
    } else {
        ""
    }
}

/// Waits until something accepts TCP connections on the port.
pub fn wait_for_port(port: u16, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

impl Mosquitto {
    pub fn start() -> Self {
        Self::with_persistence(false, free_port())
    }

    /// A broker that keeps sessions and queued messages across a graceful restart.
    pub fn start_persistent() -> Self {
        Self::with_persistence(true, free_port())
    }

    /// A broker on a given port, for a client configured before it started.
    pub fn start_on(port: u16) -> Self {
        Self::with_persistence(false, port)
    }

    /// A persistent broker configured as central needs one: no limit on the
    /// QoS 1 messages queued per client (Mosquitto's default, 1000, silently
    /// drops the rest for a consumer that is busy or away — whole images).
    /// Every test broker has that limit lifted (see `with_config`).
    pub fn start_for_central() -> Self {
        Self::with_config(true, free_port(), "")
    }

    fn with_persistence(persist: bool, port: u16) -> Self {
        Self::with_config(persist, port, "")
    }

    /// A broker with `extra` lines of configuration (benchmarks: no
    /// persistence).
    pub fn with_config(persist: bool, port: u16, extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = dir.path().join("mosquitto.conf");
        let persistence = if persist {
            format!("persistence true\npersistence_location {}/\nautosave_interval 1\n", dir.path().display())
        } else {
            "persistence false\n".to_string()
        };
        // The broker's log in its directory (`Mosquitto::log`), for a test to show what the broker
        // saw when something did not arrive. `max_queued_messages 0`: by default Mosquitto keeps
        // at most 1,000 QoS 1 messages for a subscriber that lags and silently drops the rest
        // ("Outgoing messages are being dropped"); a test's subscriber lagging behind a backlog
        // drain then waits for messages the lane did deliver. Central's broker wants the same.
        let log = dir.path().join("mosquitto.log");
        std::fs::write(
            &conf,
            format!(
                "{}listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n{persistence}\
                 log_dest file {}\nlog_type error\nlog_type warning\nlog_type notice\n{extra}",
                mosquitto_user_line(),
                log.display()
            ),
        )
        .unwrap();
        let child = Self::spawn(&conf, port);
        Mosquitto { child, port, dir }
    }

    fn spawn(conf: &Path, port: u16) -> Child {
        let binary =
            mosquitto_binary().expect("mosquitto is not installed: run scripts/test, which installs it");
        let child = Command::new(binary)
            .arg("-c")
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts");
        assert!(wait_for_port(port, Duration::from_secs(10)), "mosquitto did not come up on {port}");
        child
    }

    /// What the broker logged (errors, warnings, notices) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// The broker's process id (benchmarks measure its CPU).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the broker gracefully (SIGTERM, so it saves its state).
    pub fn stop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port with the same state.
    pub fn restart(&mut self) {
        self.stop();
        self.child = Self::spawn(&self.dir.path().join("mosquitto.conf"), self.port);
    }

    pub fn start_again(&mut self) {
        self.child = Self::spawn(&self.dir.path().join("mosquitto.conf"), self.port);
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A subscriber that hands each received publish to the test, in order.
pub struct Subscriber {
    rx: std::sync::mpsc::Receiver<(String, Vec<u8>, bool)>,
}

impl Subscriber {
    /// Subscribes to `filter` and returns once the broker confirmed it.
    pub fn connect(port: u16, filter: &str) -> Self {
        Self::with_session(port, filter, &format!("test-sub-{}", free_port()), true)
    }

    /// A subscriber whose session (and the QoS 1 messages queued for it) the
    /// broker keeps while it is away; it reconnects and resubscribes by itself.
    pub fn persistent(port: u16, filter: &str, id: &str) -> Self {
        Self::with_session(port, filter, id, false)
    }

    fn with_session(port: u16, filter: &str, id: &str, clean: bool) -> Self {
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_max_packet_size(16 << 20, 16 << 20);
        options.set_keep_alive(Duration::from_secs(30));
        options.set_clean_session(clean);
        let (client, connection) = Client::new(options, 64);
        let (tx, rx) = std::sync::mpsc::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let filter = filter.to_string();
        std::thread::spawn(move || pump(client, connection, filter, tx, ready_tx));
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("subscription acknowledged");
        Subscriber { rx }
    }

    /// The next message, or None after `limit` without one.
    pub fn next(&self, limit: Duration) -> Option<(String, Vec<u8>, bool)> {
        self.rx.recv_timeout(limit).ok()
    }

    /// The next JSON message on a topic ending in `leaf` that `want` accepts (others are
    /// skipped); fails the test, naming `what`, when none comes for a minute.
    pub fn wait_for(
        &self,
        leaf: &str,
        what: &str,
        want: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        loop {
            let (topic, payload, _) =
                self.next(Duration::from_secs(60)).unwrap_or_else(|| panic!("no {what}"));
            if topic.ends_with(leaf) {
                let v: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
                if want(&v) {
                    return v;
                }
            }
        }
    }
}

fn pump(
    client: Client,
    mut connection: Connection,
    filter: String,
    tx: std::sync::mpsc::Sender<(String, Vec<u8>, bool)>,
    ready: std::sync::mpsc::Sender<()>,
) {
    for event in connection.iter() {
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                let _ = client.try_subscribe(filter.clone(), QoS::AtLeastOnce);
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                let _ = ready.send(());
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if tx.send((p.topic.clone(), p.payload.to_vec(), p.retain)).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The repository root, for configs and fixtures.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The demo lane's configuration text with recognition switched from the real models to the
/// ground truth the simulated cameras carry (`sim-truth`): for tests of the lane's logic, which
/// must not depend on how well a vehicle's rendered plate reads.
pub fn with_sim_truth(demo: &str) -> String {
    const REAL: &str = "engine = \"ppocr\"";
    assert!(demo.contains(REAL), "config/demo.toml changed: update hil_tests::with_sim_truth");
    demo.replacen(REAL, "engine = \"sim-truth\"", 1)
}

/// The demo lane's configuration (`config/demo.toml`) without its `[sim]`
/// section, with `sim-truth` recognition (see [`with_sim_truth`]), pointed at a test's broker (`broker`: the lines that replace the
/// embedded-broker line, e.g. `host = "127.0.0.1"\nport = 1883`) and data dir.
/// Tests append their own `[sim]` plan and sections.
pub fn demo_lane(broker: &str, data_dir: &str) -> String {
    let base = std::fs::read_to_string(repo_root().join("config/demo.toml")).expect("config/demo.toml");
    let base = with_sim_truth(&base);
    let lane = base.split("\n[sim]").next().expect("split always yields one part");
    let out = lane.replace("embedded_listen = \"127.0.0.1:18830\"", broker).replace(
        "data_dir = \"../.cache/demo-data\"   # relative to this file",
        &format!("data_dir = {data_dir:?}"),
    );
    assert!(
        !out.contains("embedded_listen") && !out.contains("demo-data"),
        "config/demo.toml changed: update hil_tests::demo_lane"
    );
    out
}

/// Bytes of every file under `dir` (store and database sizes in benchmarks).
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

/// The ids of the passage records the lane archived under `data` (`records/<id>.json`). A
/// record being written when the agent was killed is only a `<id>.json.tmp`: it was never
/// archived (its passage is still in the journal and is closed on the next start), and its
/// file stem (`<id>.json`) is not an id — counting it once made the drain benchmark wait for
/// a passage no one would ever publish.
pub fn archived_ids(data: &Path) -> std::collections::HashSet<String> {
    let Ok(dir) = std::fs::read_dir(data.join("records")) else { return Default::default() };
    dir.flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| e.path().file_stem()?.to_str().map(str::to_string))
        .collect()
}

/// A child process (the agent, usually) killed and reaped when dropped, so a test that fails
/// midway leaves nothing running; [`KillOnDrop::take`] hands it back for a deliberate stop.
pub struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    pub fn new(child: Child) -> Self {
        KillOnDrop(Some(child))
    }

    pub fn take(mut self) -> Child {
        self.0.take().expect("taken once")
    }

    pub fn get(&mut self) -> &mut Child {
        self.0.as_mut().expect("not taken")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_cut_short_by_a_kill_is_not_an_archived_id() {
        let dir = tempfile::tempdir().unwrap();
        let records = dir.path().join("records");
        std::fs::create_dir(&records).unwrap();
        std::fs::write(records.join("G01-20261206T042229660Z-0025.json"), b"{}").unwrap();
        std::fs::write(records.join("G01-20261206T042229660Z-0026.json.tmp"), b"").unwrap();
        let ids = archived_ids(dir.path());
        assert_eq!(ids, ["G01-20261206T042229660Z-0025".to_string()].into());
    }
}
