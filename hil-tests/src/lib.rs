//! Harness for hardware-in-the-loop and end-to-end tests: a real Mosquitto on a
//! free port, an MQTT subscriber that collects messages, and the agent binary.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rumqttc::{Client, Connection, Event, MqttOptions, Packet, QoS};

/// A Mosquitto broker for one test, on a free loopback port; stopped on drop.
pub struct Mosquitto {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn mosquitto_binary() -> Option<PathBuf> {
    ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto"].iter().map(PathBuf::from).find(|p| p.exists())
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
        let binary = mosquitto_binary().expect("mosquitto is not installed: run scripts/test, which installs it");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(&conf, format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")).unwrap();
        let child = Command::new(binary).arg("-c").arg(&conf).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("mosquitto starts");
        assert!(wait_for_port(port, Duration::from_secs(10)), "mosquitto did not come up on {port}");
        Mosquitto { child, port, _dir: dir }
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
        let mut options = MqttOptions::new(format!("test-sub-{}", free_port()), "127.0.0.1", port);
        options.set_max_packet_size(16 << 20, 16 << 20);
        options.set_keep_alive(Duration::from_secs(30));
        let (client, connection) = Client::new(options, 64);
        client.subscribe(filter, QoS::AtLeastOnce).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || pump(client, connection, tx, ready_tx));
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("subscription acknowledged");
        Subscriber { rx }
    }

    /// The next message, or None after `limit` without one.
    pub fn next(&self, limit: Duration) -> Option<(String, Vec<u8>, bool)> {
        self.rx.recv_timeout(limit).ok()
    }
}

fn pump(_client: Client, mut connection: Connection, tx: std::sync::mpsc::Sender<(String, Vec<u8>, bool)>, ready: std::sync::mpsc::Sender<()>) {
    for event in connection.iter() {
        match event {
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

/// The `edge-agent` binary of this workspace, built if it is not there yet.
pub fn agent_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/edge-agent
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir layout");
    let agent = profile_dir.join("edge-agent");
    if !agent.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "edge-agent", "--bin", "edge-agent"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building edge-agent failed");
    }
    agent
}

/// The repository root, for configs and fixtures.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}
