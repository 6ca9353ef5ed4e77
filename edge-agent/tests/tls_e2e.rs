//! The uplink over mutual TLS to a real Mosquitto that requires client
//! certificates and enforces an ACL: a lane publishes only under its own prefix,
//! only central may publish commands, and an unknown certificate gets nowhere.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA, the broker's certificate for 127.0.0.1, and client certificates whose
/// common names become the MQTT usernames the ACL speaks of.
fn pki(dir: &Path) {
    for ca in ["ca", "rogue-ca"] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={ca}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
            ],
        );
    }
    // X.509 v3 leaves with the usual extensions; webpki refuses v1 certificates.
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
        .unwrap();
    let leaf = |name: &str, ca: &str, ext: &str| {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        let mut args = vec!["x509", "-req", "-in", &*format!("{name}.csr")]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        args.extend(
            [
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &format!("{name}.pem"),
            ]
            .map(String::from),
        );
        args.extend(["-extfile".to_string(), ext.to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        openssl(dir, &args);
    };
    leaf("broker", "ca", "server.ext");
    leaf("lane-DEMO-G01", "ca", "client.ext");
    leaf("central", "ca", "client.ext");
    leaf("intruder", "rogue-ca", "client.ext");
}

/// The ACL docs/mqtt.md recommends: each lane writes its own leaves and reads
/// its own commands; only central writes commands.
const ACL: &str = "user lane-DEMO-G01
topic write lanectl/DEMO/G01/status
topic write lanectl/DEMO/G01/passage
topic write lanectl/DEMO/G01/decision
topic write lanectl/DEMO/G01/alarm
topic write lanectl/DEMO/G01/ack
topic write lanectl/DEMO/G01/stats
topic write lanectl/DEMO/G01/audit/checkpoint
topic write lanectl/DEMO/G01/health/#
topic write lanectl/DEMO/G01/image/#
topic read lanectl/DEMO/G01/cmd

user central
topic readwrite lanectl/#
";

struct Broker {
    child: Child,
    port: u16,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn broker(dir: &Path) -> Broker {
    let port = hil_tests::free_port();
    std::fs::write(dir.join("acl"), ACL).unwrap();
    let conf = format!(
        "{}listener {port} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/broker.pem\nkeyfile {d}/broker.key\nrequire_certificate true\nuse_identity_as_username true\nacl_file {d}/acl\npersistence false\n",
        hil_tests::mosquitto_user_line(),
        d = dir.display()
    );
    std::fs::write(dir.join("mosquitto.conf"), conf).unwrap();
    let log = std::fs::File::create(dir.join("mosquitto.log")).unwrap();
    let child = Command::new("/usr/sbin/mosquitto")
        .arg("-c")
        .arg(dir.join("mosquitto.conf"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let up = hil_tests::wait_for_port(port, Duration::from_secs(10));
    assert!(up, "mosquitto: {}", std::fs::read_to_string(dir.join("mosquitto.log")).unwrap_or_default());
    Broker { child, port }
}

fn client(dir: &Path, port: u16, who: &str) -> (Client, rumqttc::Connection) {
    let mut options = MqttOptions::new(format!("{who}-{}", hil_tests::free_port()), "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(4 << 20, 4 << 20);
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    let ca = if who == "intruder" { "rogue-ca.pem" } else { "ca.pem" };
    options.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
        ca: read(ca),
        alpn: None,
        client_auth: Some((read(&format!("{who}.pem")), read(&format!("{who}.key")))),
    }));
    Client::new(options, 16)
}

/// Runs a connection until `stop` says so or the time is up; returns what it saw.
fn drive(mut conn: rumqttc::Connection, limit: Duration, mut stop: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let start = Instant::now();
    let mut seen = Vec::new();
    for event in conn.iter() {
        match event {
            Ok(e) => {
                let done = stop(&e);
                seen.push(e);
                if done {
                    break;
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
        if start.elapsed() > limit {
            break;
        }
    }
    seen
}

fn lane_config(dir: &Path, port: u16) -> PathBuf {
    let broker = format!("host = \"127.0.0.1\"\nport = {port}\ntls = {{ ca = \"ca.pem\", cert = \"lane-DEMO-G01.pem\", key = \"lane-DEMO-G01.key\" }}");
    let lane = hil_tests::demo_lane(&broker, "data");
    let file = dir.join("lane.toml");
    std::fs::write(&file, format!("{lane}\n[sim]\nvehicles = 5\narrival_gap = \"5ms\"\nbarrier_move = \"5ms\"\ndrive_in = \"2ms\"\ndrive_clear = \"5ms\"\npatience = \"2s\"\n")).unwrap();
    file
}

#[test]
fn lane_over_mutual_tls_with_acl() {
    let dir = tempfile::tempdir().unwrap();
    pki(dir.path());
    let broker = broker(dir.path());

    let (central, conn) = client(dir.path(), broker.port, "central");
    central.subscribe("lanectl/#", QoS::AtLeastOnce).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drive(conn, Duration::from_secs(120), |e| {
            if let Event::Incoming(Packet::Publish(p)) = e {
                return tx.send(p.topic.clone()).is_err();
            }
            false
        })
    });

    let config = lane_config(dir.path(), broker.port);
    let log = std::fs::File::create(dir.path().join("agent.log")).unwrap();
    let mut agent = Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut passages = 0;
    let start = Instant::now();
    while passages < 5 && start.elapsed() < Duration::from_secs(60) {
        if let Ok(topic) = rx.recv_timeout(Duration::from_secs(1)) {
            passages += topic.ends_with("/passage") as usize;
        }
    }
    let _ = agent.kill();
    let _ = agent.wait();
    let log = std::fs::read_to_string(dir.path().join("agent.log")).unwrap();
    let broker_log = std::fs::read_to_string(dir.path().join("mosquitto.log")).unwrap_or_default();
    assert_eq!(
        passages, 5,
        "the lane's records reached central over mutual TLS; agent log:\n{log}\nbroker log:\n{broker_log}"
    );

    // The lane's certificate may not publish outside its prefix, nor commands.
    let (lane, conn) = client(dir.path(), broker.port, "lane-DEMO-G01");
    lane.publish("lanectl/DEMO/G02/passage", QoS::AtLeastOnce, false, b"{}".to_vec()).unwrap();
    lane.publish("lanectl/DEMO/G01/cmd", QoS::AtLeastOnce, false, b"{}".to_vec()).unwrap();
    lane.publish("lanectl/DEMO/G01/alarm", QoS::AtLeastOnce, false, b"{}".to_vec()).unwrap();
    let mut acks = 0;
    drive(conn, Duration::from_secs(10), |e| {
        acks += matches!(e, Event::Incoming(Packet::PubAck(_))) as usize;
        acks == 3
    });
    let mut seen = Vec::new();
    while let Ok(topic) = rx.recv_timeout(Duration::from_secs(2)) {
        seen.push(topic);
    }
    assert!(seen.contains(&"lanectl/DEMO/G01/alarm".to_string()), "its own prefix is allowed: {seen:?}");
    assert!(!seen.iter().any(|t| t.contains("/G02/") || t.ends_with("/cmd")), "denied by the ACL: {seen:?}");

    // A certificate from another CA is refused at the handshake.
    let (_intruder, conn) = client(dir.path(), broker.port, "intruder");
    let events = drive(conn, Duration::from_secs(3), |e| matches!(e, Event::Incoming(Packet::ConnAck(_))));
    assert!(
        !events.iter().any(|e| matches!(e, Event::Incoming(Packet::ConnAck(_)))),
        "no session for an unknown certificate"
    );
}
