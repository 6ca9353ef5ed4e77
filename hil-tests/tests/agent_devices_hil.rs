//! The agent's device building (`edge_agent::lane::build_devices`) on a lane
//! file whose devices are all real transports, pointed at a running `lane-sim`:
//! the serial seal reader, the Modbus barrier and loops on one RS-485 bus (PTY),
//! the empty-box detector and UVSS camera over TCP, an area camera over HTTP
//! with digest auth. What the agent would do on a real lane, minus the lane loop.
//! Also one Modbus unit serving the barrier and the loops on different registers.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use drivers::{BarrierState, DeviceError, HealthState};
use edge_agent::lane::{build_devices, Capturer};
use hil_tests::sim::lane::{agent_lane_file as lane_file, start, LaneSimOptions};
use hil_tests::sim::modbus::UNDER_ARM_INPUT;
use hil_tests::sim::testkit::wait_health;
use serde_json::Value;

struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_sim() -> (Sim, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lane-sim"))
        // No simulated vehicles: the loops stay clear unless the test says otherwise.
        .args(["--vehicle-every", "0s", "--cameras", "plate"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lane-sim starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("endpoint line");
    (Sim(child), serde_json::from_str(&line).expect("the first line is JSON"))
}

/// Waits until `name` reports ok (its first reading is in), then reads it as the lane does.
async fn first_reading(devices: &mut edge_agent::lane::Devices, name: &str) -> bool {
    let (_, rx) = devices.health.iter_mut().find(|(n, _)| n == name).unwrap();
    wait_health(rx, HealthState::Ok, Duration::from_secs(10)).await;
    let (_, _, sensor) = devices.presence.iter_mut().find(|(n, _, _)| n == name).unwrap();
    sensor.occupied().await.unwrap()
}

#[tokio::test]
async fn a_lane_file_of_real_transports_builds_working_devices() {
    let (_sim, ep) = start_sim();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lane.toml");
    let cfg =
        edge_agent::config::from_str(&file, &lane_file(&ep, dir.path())).unwrap_or_else(|e| panic!("{e}"));
    let mut devices = build_devices(&cfg, None).unwrap_or_else(|e| panic!("{e}"));
    let limit = Duration::from_secs(10);

    let names: Vec<_> = devices.health.iter().map(|(n, _)| n.as_str()).collect();
    for device in ["arrival-loop", "arm-loop", "exit-loop", "barrier", "plate", "uvss", "seals", "empty-box"]
    {
        assert!(names.contains(&device), "{device} reports its own health: {names:?}");
    }
    assert_eq!(names.iter().filter(|n| n.starts_with("modbus:")).count(), 1, "four devices, one bus");

    // Until the lane has read the under-arm loop, the barrier driver will not close.
    let barrier = devices.barrier.1.clone();
    let mut barrier = barrier.lock().await;
    assert_eq!(tokio::time::timeout(limit, barrier.state()).await.unwrap().unwrap(), BarrierState::Closed);
    assert!(
        matches!(barrier.close().await, Err(DeviceError::Refused(_))),
        "unknown under-arm state is occupied"
    );
    assert!(!first_reading(&mut devices, "arm-loop").await);
    barrier.close().await.expect("closing with the loop read clear");

    for (name, (_, capturer)) in &devices.capturers {
        match &mut *capturer.lock().await {
            Capturer::Camera(c) => assert_eq!(c.snapshot().await.unwrap().width, 640, "{name}"),
            Capturer::Seals(s) => assert_eq!(s.interrogate().await.unwrap().len(), 2, "{name}"),
            // No vehicle drives over in this run; the UVSS path is in lane_sim_bin and uvss_hil.
            Capturer::Uvss(_) => {}
        }
    }
    let (_, eb) = devices.empty_box.as_ref().unwrap();
    assert!(eb.lock().await.scan(Some("CSQU3054384")).await.unwrap().interior.is_some());

    for (name, rx) in &mut devices.health {
        if name != "uvss" {
            let up = tokio::time::timeout(limit, rx.wait_for(|h| h.state != HealthState::Down)).await.is_ok();
            assert!(up, "{name} is up: {:?}", *rx.borrow());
        }
    }
}

#[tokio::test]
async fn the_barrier_driver_refuses_to_close_over_an_occupied_loop_as_the_lane_reads_it() {
    // The simulators in-process this time, so the test can occupy the loop.
    let dir = tempfile::tempdir().unwrap();
    let sim = start(LaneSimOptions::quiet(dir.path())).await.unwrap();
    let ep = serde_json::to_value(&sim.endpoints).unwrap();
    let cfg =
        edge_agent::config::from_str(&dir.path().join("lane.toml"), &lane_file(&ep, dir.path())).unwrap();
    let mut devices = build_devices(&cfg, None).unwrap();
    let limit = Duration::from_secs(10);
    let barrier = devices.barrier.1.clone();
    let mut barrier = barrier.lock().await;
    assert!(!first_reading(&mut devices, "arm-loop").await);
    barrier.open().await.unwrap();
    let (_, _, arm_loop) = devices.presence.iter_mut().find(|(n, _, _)| n == "arm-loop").unwrap();

    sim.gate.set_input(UNDER_ARM_INPUT, true);
    assert!(
        tokio::time::timeout(limit, arm_loop.changed()).await.unwrap().unwrap(),
        "the lane sees it occupied"
    );
    assert!(matches!(barrier.close().await, Err(DeviceError::Refused(_))));
    assert_eq!(
        sim.gate.closes_while_occupied.load(Ordering::SeqCst),
        0,
        "no close command reached the controller"
    );
    assert_eq!(barrier.state().await.unwrap(), BarrierState::Opened);

    sim.gate.set_input(UNDER_ARM_INPUT, false);
    assert!(!tokio::time::timeout(limit, arm_loop.changed()).await.unwrap().unwrap());
    barrier.close().await.unwrap();
    assert_eq!(barrier.state().await.unwrap(), BarrierState::Closed);
}

#[tokio::test]
async fn one_modbus_unit_serves_the_barrier_and_the_loops_on_different_registers() {
    // The simulated controller (unit 1) exposes the loops as its own discrete
    // inputs too: the lane file wires every loop to unit 1, on one bus master.
    let dir = tempfile::tempdir().unwrap();
    let sim = start(LaneSimOptions::quiet(dir.path())).await.unwrap();
    let ep = serde_json::to_value(&sim.endpoints).unwrap();
    let m = &ep["modbus"];
    let mut text = lane_file(&ep, dir.path());
    for (unit, input) in [
        ("arrival_unit", "arrival_input"),
        ("under_arm_unit", "under_arm_input"),
        ("exit_unit", "exit_input"),
    ] {
        let own = format!("unit = {}, presence_input = 0", m[unit]);
        text =
            text.replace(&own, &format!("unit = {}, presence_input = {}", m["registers"]["unit"], m[input]));
    }
    assert_eq!(text.matches("unit = 1,").count(), 4, "{text}");
    let cfg =
        edge_agent::config::from_str(&dir.path().join("lane.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
    let mut devices = build_devices(&cfg, None).unwrap();
    assert_eq!(
        devices.health.iter().filter(|(n, _)| n.starts_with("modbus:")).count(),
        1,
        "one master for the bus"
    );
    let limit = Duration::from_secs(10);

    for name in ["arrival-loop", "arm-loop", "exit-loop"] {
        assert!(!first_reading(&mut devices, name).await, "{name} reads clear");
    }
    let (_, _, arrival) = devices.presence.iter_mut().find(|(n, _, _)| n == "arrival-loop").unwrap();
    sim.gate.set_input(hil_tests::sim::modbus::ARRIVAL_INPUT, true);
    assert!(
        tokio::time::timeout(limit, arrival.changed()).await.unwrap().unwrap(),
        "the arrival loop, read from unit 1"
    );

    // The barrier and the loops' polling share the bus: requests are serialised, none is lost.
    let barrier = devices.barrier.1.clone();
    let mut barrier = barrier.lock().await;
    barrier.open().await.unwrap();
    let (_, _, arm) = devices.presence.iter_mut().find(|(n, _, _)| n == "arm-loop").unwrap();
    sim.gate.set_input(UNDER_ARM_INPUT, true);
    assert!(tokio::time::timeout(limit, arm.changed()).await.unwrap().unwrap());
    assert!(
        matches!(barrier.close().await, Err(DeviceError::Refused(_))),
        "occupied, as read from the same unit"
    );
    assert_eq!(sim.gate.closes_while_occupied.load(Ordering::SeqCst), 0);
    sim.gate.set_input(UNDER_ARM_INPUT, false);
    assert!(!tokio::time::timeout(limit, arm.changed()).await.unwrap().unwrap());
    barrier.close().await.unwrap();
    assert_eq!(barrier.state().await.unwrap(), BarrierState::Closed);
    let on_bus = ["arrival-loop", "arm-loop", "exit-loop", "barrier"];
    for (name, rx) in
        devices.health.iter().filter(|(n, _)| on_bus.contains(&n.as_str()) || n.starts_with("modbus:"))
    {
        assert_eq!(rx.borrow().state, HealthState::Ok, "{name}: {:?}", *rx.borrow());
    }
}
