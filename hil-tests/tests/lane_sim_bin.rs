//! The `lane-sim` binary as the demo and an agent use it: start it, read the
//! endpoints from its JSON line, and drive every device through the real
//! drivers and the production connectors (a serial port path, TCP, HTTP).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use drivers::emptybox::{EmptyBoxConfig, EmptyBoxDriver};
use drivers::gpio::PresenceConfig;
use drivers::http_camera::auth::Credentials;
use drivers::http_camera::{HttpCamera, HttpCameraConfig};
use drivers::modbus::{ModbusBarrier, ModbusBarrierConfig, ModbusBus, ModbusConfig, ModbusPresence};
use drivers::seal_reader::{SealReaderConfig, SealReaderDriver};
use drivers::transport::{SerialConnector, TcpConnector};
use drivers::uvss::{UvssConfig, UvssDriver};
use drivers::{AreaCamera, Barrier, BarrierState, DeviceError, EmptyBoxDetector, HealthState, SealReader};
use hil_tests::sim::testkit::{fast_backoff, wait_health};
use serde_json::Value;

struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(scenario: &str) -> (Sim, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lane-sim"))
        .args(["--scenario", scenario, "--vehicle-every", "300ms", "--cameras", "plate,rear"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lane-sim starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("endpoint line");
    let v: Value = serde_json::from_str(&line).expect("the first line is JSON");
    (Sim(child), v)
}

#[tokio::test]
async fn every_device_of_the_simulated_lane_works_through_the_real_drivers() {
    let (_sim, ep) = start("normal");
    assert_eq!(ep["event"], "listening");
    assert_eq!(ep["scenario"], "normal");
    let limit = Duration::from_secs(10);

    let seal_cfg =
        SealReaderConfig { backoff: fast_backoff(), window: Duration::from_millis(50), ..Default::default() };
    let mut seal = SealReaderDriver::spawn(
        "seal",
        SerialConnector::new(ep["seal"]["path"].as_str().unwrap(), 115_200),
        seal_cfg,
    );
    wait_health(&mut seal.health(), HealthState::Ok, limit).await;
    assert_eq!(seal.interrogate().await.unwrap().len(), 2);

    let eb_cfg = EmptyBoxConfig { backoff: fast_backoff(), ..Default::default() };
    let mut eb =
        EmptyBoxDriver::spawn("emptybox", TcpConnector::new(ep["emptybox"].as_str().unwrap()), eb_cfg);
    wait_health(&mut eb.health(), HealthState::Ok, limit).await;
    assert!(eb.scan(Some("CSQU3054384")).await.unwrap().interior.is_some());

    let uvss_cfg = UvssConfig { backoff: fast_backoff(), scan_wait: limit, ..Default::default() };
    let mut uvss = UvssDriver::spawn("uvss", TcpConnector::new(ep["uvss"].as_str().unwrap()), uvss_cfg);
    let scan = uvss.next_assembled().await.unwrap();
    assert!(scan.height > 0);

    let cams = &ep["cameras"];
    assert_eq!(cams["auth"], "digest");
    let addr = cams["addr"].as_str().unwrap();
    let mut cfg = HttpCameraConfig::new(addr, cams["paths"]["rear"].as_str().unwrap());
    cfg.credentials = Some(Credentials {
        user: cams["user"].as_str().unwrap().into(),
        password: cams["password"].as_str().unwrap().into(),
    });
    let mut cam = HttpCamera::new("camera.rear", addr, cfg);
    assert_eq!(cam.snapshot().await.unwrap().width, 640);
}

#[tokio::test]
async fn disconnect_scenario_drops_the_serial_link_and_the_driver_reopens_the_path() {
    let (_sim, ep) = start("disconnect");
    let cfg = SealReaderConfig {
        backoff: fast_backoff(),
        keepalive: Duration::from_millis(200),
        ..Default::default()
    };
    let seal = SealReaderDriver::spawn(
        "seal",
        SerialConnector::new(ep["seal"]["path"].as_str().unwrap(), 115_200),
        cfg,
    );
    let mut h = seal.health();
    // Up, dropped (a USB unplug as the agent sees it), and up again on a new PTY.
    wait_health(&mut h, HealthState::Ok, Duration::from_secs(10)).await;
    wait_health(&mut h, HealthState::Down, Duration::from_secs(10)).await;
    wait_health(&mut h, HealthState::Ok, Duration::from_secs(10)).await;
}

fn modbus(ep: &Value) -> (ModbusBus, ModbusPresence, ModbusBarrierConfig) {
    let m = &ep["modbus"];
    let cfg = ModbusConfig { backoff: fast_backoff(), ..Default::default() };
    let bus = ModbusBus::spawn("rs485", SerialConnector::new(m["path"].as_str().unwrap(), 9600), cfg);
    let input = m["under_arm_input"].as_u64().unwrap() as u16;
    let unit = m["registers"]["unit"].as_u64().unwrap() as u8;
    let presence = ModbusPresence::spawn(
        "loop.under_arm",
        bus.clone(),
        unit,
        input,
        PresenceConfig { poll: Duration::from_millis(20), ..Default::default() },
    );
    let registers = serde_json::from_value(m["registers"].clone()).unwrap();
    let cfg = ModbusBarrierConfig {
        registers,
        pulse: Duration::from_millis(100),
        move_timeout: Duration::from_secs(4),
        poll: Duration::from_millis(50),
    };
    (bus, presence, cfg)
}

#[tokio::test]
async fn stuck_barrier_scenario_is_a_fault_through_the_modbus_driver() {
    let (_sim, ep) = start("stuck-barrier");
    let (bus, presence, cfg) = modbus(&ep);
    let mut barrier = ModbusBarrier::new("barrier", bus, cfg, presence.watch()).await.unwrap();
    assert_eq!(barrier.state().await.unwrap(), BarrierState::Closed);
    assert!(matches!(barrier.open().await, Err(DeviceError::Fault(_))));
    assert_eq!(barrier.health().borrow().state, HealthState::Down);
}

#[tokio::test]
async fn chattering_sensor_scenario_degrades_the_modbus_loop() {
    let (_sim, ep) = start("chattering-sensor");
    let (_bus, presence, _) = modbus(&ep);
    let h = wait_health(&mut presence.health(), HealthState::Degraded, Duration::from_secs(10)).await;
    assert!(h.reason.unwrap().contains("chattering"));
}
