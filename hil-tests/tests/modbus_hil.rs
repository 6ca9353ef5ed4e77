//! The Modbus RTU barrier and presence drivers against the simulated barrier
//! controller over a PTY: movements, the close interlock, a stuck arm, a
//! chattering loop, wire faults, a hang-up, and recovery from each.

use std::sync::atomic::Ordering;
use std::time::Duration;

use drivers::gpio::PresenceConfig;
use drivers::modbus::{ModbusBarrier, ModbusBarrierConfig, ModbusBus, ModbusConfig, ModbusPresence};
use drivers::transport::SerialConnector;
use drivers::{Barrier, BarrierState, DeviceError, HealthState};
use hil_tests::sim::modbus::{registers, serve, ModbusGate, UNDER_ARM_INPUT, UNIT};
use hil_tests::sim::pty::pty_pair;
use hil_tests::sim::testkit::{fast_backoff, feed_connector, real_device, wait_health};
use hil_tests::sim::{Scenario, ScenarioCtl};
use tokio_serial::SerialStream;

const LIMIT: Duration = Duration::from_secs(5);

struct Rig {
    bus: ModbusBus,
    barrier: ModbusBarrier,
    presence: ModbusPresence,
    gate: ModbusGate,
    ctl: ScenarioCtl,
    feed: tokio::sync::mpsc::UnboundedSender<SerialStream>,
}

impl Rig {
    fn attach(&self) {
        let (master, slave) = pty_pair().unwrap();
        tokio::spawn(serve(master, self.gate.clone(), self.ctl.clone()));
        self.feed.send(slave).unwrap();
    }

    /// Sets the under-arm loop and waits until the driver's debounced view agrees.
    async fn under_arm(&self, occupied: bool) {
        self.gate.set_input(UNDER_ARM_INPUT, occupied);
        let mut w = self.presence.watch();
        tokio::time::timeout(LIMIT, w.wait_for(|o| *o == occupied)).await.expect("presence follows").unwrap();
    }
}

fn presence_cfg() -> PresenceConfig {
    PresenceConfig {
        poll: Duration::from_millis(10),
        debounce: Duration::from_millis(30),
        chatter_window: Duration::from_secs(1),
        ..Default::default()
    }
}

async fn rig() -> Rig {
    let ctl = ScenarioCtl::new(Scenario::Normal);
    let gate = ModbusGate::spawn(ctl.clone(), Duration::from_millis(300));
    let (connector, feed) = feed_connector::<SerialStream>("pty");
    // Generous per-reply timeout: a loaded 2-core machine must not turn a slow
    // PTY round trip into a "does not answer".
    let bus_cfg = ModbusConfig {
        timeout: Duration::from_millis(400),
        attempts: 2,
        backoff: fast_backoff(),
        echo: false,
    };
    let bus = ModbusBus::spawn("rs485", connector, bus_cfg);
    let (master, slave) = pty_pair().unwrap();
    tokio::spawn(serve(master, gate.clone(), ctl.clone()));
    feed.send(slave).unwrap();
    let presence =
        ModbusPresence::spawn("loop.under_arm", bus.clone(), UNIT, UNDER_ARM_INPUT, presence_cfg());
    let cfg = ModbusBarrierConfig {
        registers: registers(),
        pulse: Duration::from_millis(100),
        move_timeout: Duration::from_secs(1),
        poll: Duration::from_millis(20),
    };
    let barrier = ModbusBarrier::new("barrier", bus.clone(), cfg, presence.watch()).await.unwrap();
    wait_health(&mut bus.health(), HealthState::Ok, LIMIT).await;
    // The interlock counts the loop occupied until its first reading.
    wait_health(&mut presence.health(), HealthState::Ok, LIMIT).await;
    Rig { bus, barrier, presence, gate, ctl, feed }
}

#[tokio::test]
async fn barrier_moves_by_register_map() {
    let mut r = rig().await;
    assert_eq!(r.barrier.state().await.unwrap(), BarrierState::Closed, "read at power-up");
    r.barrier.open().await.unwrap();
    assert_eq!(r.barrier.state().await.unwrap(), BarrierState::Opened);
    r.barrier.close().await.unwrap();
    assert_eq!(r.barrier.state().await.unwrap(), BarrierState::Closed);
    assert_eq!(r.barrier.health().borrow().state, HealthState::Ok);
}

#[tokio::test]
async fn close_is_refused_while_the_loop_under_the_arm_is_occupied() {
    let mut r = rig().await;
    r.barrier.open().await.unwrap();
    r.under_arm(true).await;
    assert!(matches!(r.barrier.close().await, Err(DeviceError::Refused(_))));
    assert_eq!(
        r.gate.closes_while_occupied.load(Ordering::SeqCst),
        0,
        "no close command reached the controller"
    );
    r.under_arm(false).await;
    r.barrier.close().await.unwrap();
}

#[tokio::test]
async fn stuck_barrier_is_a_fault_and_recovers() {
    let mut r = rig().await;
    r.ctl.set(Scenario::StuckBarrier);
    let err = r.barrier.open().await.unwrap_err();
    assert!(matches!(&err, DeviceError::Fault(m) if m.contains("did not reach")), "{err:?}");
    let h = wait_health(&mut r.barrier.health(), HealthState::Down, LIMIT).await;
    assert!(h.reason.unwrap().contains("stuck"));
    r.ctl.set(Scenario::Normal);
    r.barrier.open().await.unwrap();
    assert_eq!(r.barrier.health().borrow().state, HealthState::Ok);
}

#[tokio::test]
async fn chattering_loop_degrades_and_recovers() {
    let r = rig().await;
    r.ctl.set(Scenario::ChatteringSensor);
    let h = wait_health(&mut r.presence.health(), HealthState::Degraded, LIMIT).await;
    assert!(h.reason.unwrap().contains("chattering"));
    r.ctl.set(Scenario::Normal);
    r.gate.set_input(UNDER_ARM_INPUT, false);
    wait_health(&mut r.presence.health(), HealthState::Ok, LIMIT).await;
}

#[tokio::test]
async fn garbage_on_the_bus_is_skipped_and_degrades() {
    let r = rig().await;
    r.ctl.set(Scenario::Garbage);
    let h = wait_health(&mut r.bus.health(), HealthState::Degraded, LIMIT).await;
    assert!(h.reason.unwrap().contains("recovered"));
    assert_eq!(r.presence.health().borrow().state, HealthState::Ok, "readings still arrive");
    r.ctl.set(Scenario::Normal);
    wait_health(&mut r.bus.health(), HealthState::Ok, LIMIT).await;
}

#[tokio::test]
async fn bad_crc_and_truncated_replies_degrade_the_sensor() {
    let r = rig().await;
    for s in [Scenario::BadCrc, Scenario::Truncated] {
        r.ctl.set(s);
        let h = wait_health(&mut r.presence.health(), HealthState::Degraded, LIMIT).await;
        assert!(h.reason.unwrap().contains("no clean reply"), "{s}");
        r.ctl.set(Scenario::Normal);
        wait_health(&mut r.presence.health(), HealthState::Ok, LIMIT).await;
    }
}

#[tokio::test]
async fn silent_controller_is_down_and_comes_back() {
    let r = rig().await;
    r.ctl.set(Scenario::Silent);
    let h = wait_health(&mut r.bus.health(), HealthState::Down, LIMIT).await;
    assert!(h.reason.unwrap().contains("does not answer"));
    wait_health(&mut r.presence.health(), HealthState::Down, LIMIT).await;
    r.ctl.set(Scenario::Normal);
    wait_health(&mut r.presence.health(), HealthState::Ok, LIMIT).await;
}

#[tokio::test]
async fn hang_up_reopens_by_itself() {
    let r = rig().await;
    r.ctl.set(Scenario::Disconnect);
    wait_health(&mut r.bus.health(), HealthState::Down, LIMIT).await;
    r.ctl.set(Scenario::Normal);
    r.attach();
    wait_health(&mut r.bus.health(), HealthState::Ok, LIMIT).await;
    wait_health(&mut r.presence.health(), HealthState::Ok, LIMIT).await;
}

#[tokio::test]
async fn barrier_built_before_the_controller_answers_reads_its_state_once_it_does() {
    // The agent builds devices at start, when the adapter may still be unplugged.
    let ctl = ScenarioCtl::new(Scenario::Normal);
    let gate = ModbusGate::spawn(ctl.clone(), Duration::from_millis(300));
    let (connector, feed) = feed_connector::<SerialStream>("pty");
    let cfg =
        ModbusConfig { timeout: Duration::from_millis(400), backoff: fast_backoff(), ..Default::default() };
    let bus = ModbusBus::spawn("rs485", connector, cfg);
    let (_tx, occupied) = tokio::sync::watch::channel(false);
    let cfg = ModbusBarrierConfig {
        registers: registers(),
        pulse: Duration::from_millis(100),
        move_timeout: Duration::from_secs(1),
        poll: Duration::from_millis(20),
    };
    let mut barrier = ModbusBarrier::deferred("barrier", bus.clone(), cfg, occupied);
    assert!(matches!(barrier.state().await, Err(DeviceError::Disconnected(_))));
    assert_eq!(barrier.health().borrow().state, HealthState::Down);
    // A stale close coil left on by the last run must be released at power-up.
    gate.set_coil(1, true);
    let (master, slave) = pty_pair().unwrap();
    tokio::spawn(serve(master, gate.clone(), ctl.clone()));
    feed.send(slave).unwrap();
    wait_health(&mut bus.health(), HealthState::Degraded, LIMIT).await;
    assert_eq!(barrier.state().await.unwrap(), BarrierState::Closed);
    assert!(!gate.coil(1), "power-up released the command coils");
    assert_eq!(barrier.health().borrow().state, HealthState::Ok);
}

#[tokio::test]
#[ignore = "needs a real Modbus barrier controller: \
            HIL_MODBUS_PORT=/dev/ttyUSB1 cargo test -p hil-tests --test modbus_hil -- --ignored"]
async fn real_controller_from_environment() {
    // Register map as in `sim::modbus::registers()`; the arm at rest at a limit, the loop clear.
    let port = real_device("HIL_MODBUS_PORT", "Modbus RTU barrier controller (register map of sim::modbus)");
    let bus = ModbusBus::spawn("rs485", SerialConnector::new(port, 9600), ModbusConfig::default());
    let presence =
        ModbusPresence::spawn("loop", bus.clone(), UNIT, UNDER_ARM_INPUT, PresenceConfig::default());
    let cfg = ModbusBarrierConfig {
        registers: registers(),
        pulse: Duration::from_millis(500),
        move_timeout: Duration::from_secs(8),
        poll: Duration::from_millis(50),
    };
    let mut barrier =
        ModbusBarrier::new("barrier", bus, cfg, presence.watch()).await.expect("controller answers");
    let state = barrier.state().await.expect("limits readable");
    assert_ne!(state, BarrierState::Between, "an arm at rest is at one of its limits");
    assert_eq!(barrier.health().borrow().state, HealthState::Ok);
    eprintln!("real barrier state: {state:?}");
}
