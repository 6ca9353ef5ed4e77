//! The one interlock through both real actuators, on paused tokio time: GPIO on
//! simulated pins, and Modbus through the real bus master to an in-process
//! controller whose coils drive the same simulated arm ([`spawn_gate`]). Every
//! scenario runs on both. Transport failures, which neither simulation makes on
//! demand, are driven by a scripted actuator. The property that no sequence of
//! commands and presence changes gets the close relay energised while the lane
//! under the arm is occupied runs on GPIO, where a press takes no time; over a
//! bus an occupation may arrive while the write is on the wire, which is what
//! `presence_arriving_during_the_close_press_ends_it` covers instead.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
use embedded_hal::digital::OutputPin;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;

use super::*;
use crate::gpio::sim::{spawn_gate, SimGatePins, SimPin};
use crate::gpio::{BarrierPins, GpioBarrier, GpioBarrierConfig};
use crate::modbus::rtu::{self, RtuRequest, RtuResponse};
use crate::modbus::{BarrierRegisters, ModbusBarrier, ModbusBarrierConfig, ModbusBus, ModbusConfig};
use crate::transport::FnConnector;
use crate::HealthState;

#[derive(Debug, Clone, Copy)]
enum Drive {
    Gpio,
    Modbus,
}

const DRIVES: [Drive; 2] = [Drive::Gpio, Drive::Modbus];
const PULSE: Duration = Duration::from_millis(200);
const MOVE_TIMEOUT: Duration = Duration::from_secs(3);

/// A Modbus barrier controller: coils 0/1/2 press the simulated drive's
/// open/close/stop (through the pins' hooks, as a relay would), discrete
/// inputs 0/1 are its opened/closed limits.
async fn controller(mut link: DuplexStream, pins: SimGatePins) {
    let mut buf = BytesMut::new();
    loop {
        if link.read_buf(&mut buf).await.unwrap_or(0) == 0 {
            return;
        }
        while let Ok(Some((unit, req))) = rtu::decode_request(&mut buf) {
            let resp = match req {
                RtuRequest::WriteSingleCoil { addr, on } if addr < 3 => {
                    let mut pin = [&pins.open, &pins.close, &pins.stop][usize::from(addr)].clone();
                    let _ = if on { pin.set_high() } else { pin.set_low() };
                    RtuResponse::CoilWritten { addr, on }
                }
                RtuRequest::ReadDiscreteInputs { addr, count } if addr + count <= 2 => {
                    let limits = [pins.opened.level(), pins.closed.level()];
                    let bits = limits[usize::from(addr)..usize::from(addr + count)].to_vec();
                    RtuResponse::Bits { function: rtu::READ_DISCRETE_INPUTS, bits }
                }
                other => RtuResponse::Exception { function: other.function(), code: 2 },
            };
            let mut out = BytesMut::new();
            rtu::encode_response(unit, &resp, &mut out);
            if link.write_all(&out).await.is_err() {
                return;
            }
        }
    }
}

/// A barrier on `drive` over the simulated arm behind `pins`, and its health.
async fn barrier(
    drive: Drive,
    pins: &SimGatePins,
    occupied: watch::Receiver<bool>,
) -> (Box<dyn Barrier>, watch::Receiver<Health>) {
    let p = pins.clone();
    match drive {
        Drive::Gpio => {
            let pins = BarrierPins {
                open: p.open,
                close: p.close,
                stop: p.stop,
                opened: p.opened,
                closed: p.closed,
            };
            let cfg = GpioBarrierConfig { pulse: PULSE, move_timeout: MOVE_TIMEOUT, ..Default::default() };
            let b = GpioBarrier::new("barrier", pins, occupied, cfg).unwrap();
            let health = b.health();
            (Box::new(b), health)
        }
        Drive::Modbus => {
            let connector = FnConnector::new("duplex", move || {
                let pins = p.clone();
                async move {
                    let (host, device) = tokio::io::duplex(1024);
                    tokio::spawn(controller(device, pins));
                    Ok::<_, io::Error>(host)
                }
            });
            let bus = ModbusBus::spawn("rs485", connector, ModbusConfig::default());
            let registers = BarrierRegisters {
                unit: 1,
                open_coil: 0,
                close_coil: 1,
                stop_coil: 2,
                opened_input: 0,
                closed_input: 1,
            };
            let poll = Duration::from_millis(20);
            let cfg = ModbusBarrierConfig { registers, pulse: PULSE, move_timeout: MOVE_TIMEOUT, poll };
            let b = ModbusBarrier::new("barrier", bus, cfg, occupied).await.unwrap();
            let health = b.health();
            (Box::new(b), health)
        }
    }
}

/// A relay pin that calls `hook` when pressed.
fn on_press(hook: impl Fn() + Send + Sync + 'static) -> SimPin {
    SimPin::default().with_hook(move |high| {
        if high {
            hook();
        }
    })
}

/// Simulated pins whose relays count their presses.
fn counted_pins() -> (SimGatePins, [Arc<AtomicUsize>; 3]) {
    let counters = [(); 3].map(|_| Arc::new(AtomicUsize::new(0)));
    let counted = |n: &Arc<AtomicUsize>| {
        let n = n.clone();
        on_press(move || {
            n.fetch_add(1, Ordering::SeqCst);
        })
    };
    let pins = SimGatePins {
        open: counted(&counters[0]),
        close: counted(&counters[1]),
        stop: counted(&counters[2]),
        ..Default::default()
    };
    (pins, counters)
}

fn gate(pins: &SimGatePins, travel_ms: u64) -> watch::Sender<bool> {
    let (stuck_tx, stuck) = watch::channel(false);
    spawn_gate(pins.clone(), Duration::from_millis(travel_ms), stuck);
    stuck_tx
}

#[tokio::test(start_paused = true)]
async fn opens_and_closes_against_the_limits() {
    for drive in DRIVES {
        let pins = SimGatePins::default();
        let _stuck = gate(&pins, 800);
        let (_occ, rx) = watch::channel(false);
        let (mut b, _) = barrier(drive, &pins, rx).await;
        assert_eq!(b.state().await.unwrap(), BarrierState::Closed, "{drive:?}: read at power-up");
        b.open().await.unwrap();
        assert_eq!(b.state().await.unwrap(), BarrierState::Opened, "{drive:?}");
        b.close().await.unwrap();
        assert_eq!(b.state().await.unwrap(), BarrierState::Closed, "{drive:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_arm_already_in_place_is_not_pulsed_again() {
    for drive in DRIVES {
        let (pins, [opens, closes, _]) = counted_pins();
        let _stuck = gate(&pins, 800);
        let (_occ, rx) = watch::channel(false);
        let (mut b, _) = barrier(drive, &pins, rx).await;
        b.close().await.unwrap();
        assert_eq!(closes.load(Ordering::SeqCst), 0, "{drive:?}: closed at power-up, no press");
        b.open().await.unwrap();
        b.open().await.unwrap();
        assert_eq!(opens.load(Ordering::SeqCst), 1, "{drive:?}: the second open found the arm up");
        b.close().await.unwrap();
        b.close().await.unwrap();
        assert_eq!(closes.load(Ordering::SeqCst), 1, "{drive:?}: the second close found the arm down");
    }
}

#[tokio::test(start_paused = true)]
async fn power_up_releases_a_command_left_pressed() {
    for drive in DRIVES {
        let pins = SimGatePins::default();
        let _stuck = gate(&pins, 800);
        pins.close.set(true);
        let (_occ, rx) = watch::channel(false);
        let (b, _) = barrier(drive, &pins, rx).await;
        assert!(!pins.close.level(), "{drive:?}");
        drop(b);
    }
}

#[tokio::test(start_paused = true)]
async fn close_is_refused_while_occupied_without_pressing_close() {
    for drive in DRIVES {
        let (pins, [_, closes, _]) = counted_pins();
        pins.opened.set(true);
        let (_occ, rx) = watch::channel(true);
        let (mut b, _) = barrier(drive, &pins, rx).await;
        assert!(matches!(b.close().await, Err(DeviceError::Refused(_))), "{drive:?}");
        assert_eq!(closes.load(Ordering::SeqCst), 0, "{drive:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn presence_while_closing_reverses_the_arm() {
    for drive in DRIVES {
        let pins = SimGatePins::default();
        let _stuck = gate(&pins, 1000);
        let (occ, rx) = watch::channel(false);
        let (mut b, _) = barrier(drive, &pins, rx).await;
        b.open().await.unwrap();
        let closing = tokio::spawn(async move { (b.close().await, b) });
        tokio::time::sleep(Duration::from_millis(500)).await;
        occ.send_replace(true);
        let (res, mut b) = closing.await.unwrap();
        assert!(matches!(res, Err(DeviceError::Refused(_))), "{drive:?}: {res:?}");
        assert!(!pins.close.level(), "{drive:?}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(b.state().await.unwrap(), BarrierState::Opened, "{drive:?}: sent back up");
    }
}

#[tokio::test(start_paused = true)]
async fn presence_arriving_during_the_close_press_ends_it() {
    for drive in DRIVES {
        // The lane turns occupied the moment the close press reaches the drive;
        // the pin notes when it was pressed and for how long.
        let (occ, rx) = watch::channel(false);
        let held = Arc::new(Mutex::new((None, None)));
        let h = held.clone();
        let pins = SimGatePins {
            close: SimPin::default().with_hook(move |high| {
                let mut h = h.lock().unwrap();
                let now = tokio::time::Instant::now();
                if high {
                    h.0 = Some(now);
                    occ.send_replace(true);
                } else if h.0.is_some() {
                    h.1 = Some(now);
                }
            }),
            ..Default::default()
        };
        let _stuck = gate(&pins, 1000);
        let (mut b, _) = barrier(drive, &pins, rx).await;
        b.open().await.unwrap();
        let res = b.close().await;
        assert!(matches!(res, Err(DeviceError::Refused(_))), "{drive:?}: {res:?}");
        let (Some(pressed), Some(released)) = *held.lock().unwrap() else {
            panic!("{drive:?}: the close press went out and was released")
        };
        // Released at once, not after the full pulse.
        assert!(released - pressed < PULSE / 4, "{drive:?}: held {:?}", released - pressed);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(b.state().await.unwrap(), BarrierState::Opened, "{drive:?}: sent back up");
    }
}

#[tokio::test(start_paused = true)]
async fn stuck_arm_is_a_fault_and_health_recovers_after_a_good_move() {
    for drive in DRIVES {
        let pins = SimGatePins::default();
        let stuck = gate(&pins, 500);
        stuck.send_replace(true);
        let (_occ, rx) = watch::channel(false);
        let (mut b, mut health) = barrier(drive, &pins, rx).await;
        let err = b.open().await.unwrap_err();
        assert!(
            matches!(&err, DeviceError::Fault(m) if m.contains("did not reach the open position")),
            "{drive:?}: {err:?}"
        );
        assert_eq!(health.borrow_and_update().state, HealthState::Down, "{drive:?}");
        // Read where it stayed, not where it was sent: that proves nothing.
        assert_eq!(b.state().await.unwrap(), BarrierState::Closed, "{drive:?}");
        assert_eq!(health.borrow_and_update().state, HealthState::Down, "{drive:?}: still stuck");
        stuck.send_replace(false);
        b.open().await.unwrap();
        assert_eq!(health.borrow_and_update().state, HealthState::Ok, "{drive:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_arm_that_gets_there_after_the_timeout_is_healthy_again() {
    for drive in DRIVES {
        let pins = SimGatePins::default();
        let _stuck = gate(&pins, (MOVE_TIMEOUT + PULSE * 4).as_millis() as u64);
        let (_occ, rx) = watch::channel(false);
        let (mut b, mut health) = barrier(drive, &pins, rx).await;
        assert!(matches!(b.open().await, Err(DeviceError::Fault(_))), "{drive:?}: slower than the timeout");
        assert_eq!(health.borrow_and_update().state, HealthState::Down, "{drive:?}");
        assert_eq!(b.state().await.unwrap(), BarrierState::Between, "{drive:?}: still on its way");
        assert_eq!(health.borrow_and_update().state, HealthState::Down, "{drive:?}: half-way is not there");
        tokio::time::sleep(PULSE * 4).await;
        assert_eq!(b.state().await.unwrap(), BarrierState::Opened, "{drive:?}");
        assert_eq!(health.borrow_and_update().state, HealthState::Ok, "{drive:?}: got there, late");
    }
}

#[tokio::test(start_paused = true)]
async fn both_limits_reached_is_a_wiring_fault() {
    for drive in DRIVES {
        let pins = SimGatePins::default();
        pins.opened.set(true);
        pins.closed.set(true);
        let (_occ, rx) = watch::channel(false);
        let (mut b, health) = barrier(drive, &pins, rx).await;
        assert_eq!(b.state().await.unwrap(), BarrierState::Between, "{drive:?}");
        let h = health.borrow().clone();
        assert_eq!(h.state, HealthState::Degraded, "{drive:?}");
        assert!(h.reason.unwrap().contains("wiring"), "{drive:?}");
    }
}

/// Transport failures on demand: an actuator that fails the calls it is told
/// to and records every call.
#[derive(Clone, Default)]
struct Scripted {
    calls: Arc<Mutex<Vec<String>>>,
    /// Calls (by name, e.g. "press Open") that fail once each.
    fail: Arc<Mutex<Vec<String>>>,
}

impl Scripted {
    fn call(&self, name: String) -> Result<(), DeviceError> {
        self.calls.lock().unwrap().push(name.clone());
        let mut fail = self.fail.lock().unwrap();
        match fail.iter().position(|f| *f == name) {
            Some(i) => {
                fail.remove(i);
                Err(DeviceError::Disconnected(format!("{name} failed")))
            }
            None => Ok(()),
        }
    }

    fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut self.calls.lock().unwrap())
    }
}

#[async_trait]
impl Actuator for Scripted {
    async fn set(&mut self, button: Button, pressed: bool) -> Result<(), DeviceError> {
        self.call(format!("{} {button:?}", if pressed { "press" } else { "release" }))
    }

    async fn limits(&mut self) -> Result<Limits, DeviceError> {
        self.call("limits".into())?;
        Ok(Limits { opened: false, closed: true })
    }
}

/// The barrier, its actuator, and the (clear) presence under the arm.
fn scripted() -> (InterlockedBarrier<Scripted>, Scripted, watch::Sender<bool>) {
    let s = Scripted::default();
    let timing = BarrierTiming { pulse: PULSE, move_timeout: MOVE_TIMEOUT, poll: Duration::from_millis(20) };
    let (presence, rx) = watch::channel(false);
    (InterlockedBarrier::over("barrier", s.clone(), timing, rx), s, presence)
}

#[tokio::test(start_paused = true)]
async fn a_failed_press_is_still_released() {
    let (mut b, s, _presence) = scripted();
    b.state().await.unwrap();
    s.take_calls();
    s.fail.lock().unwrap().push("press Stop".into());
    assert!(matches!(b.stop().await, Err(DeviceError::Disconnected(_))));
    assert_eq!(s.take_calls(), ["press Stop", "release Stop"]);
}

#[tokio::test(start_paused = true)]
async fn a_command_left_pressed_by_an_abandoned_operation_is_released_first() {
    let (mut b, s, _presence) = scripted();
    b.state().await.unwrap();
    s.take_calls();
    // Given up on halfway through its pulse, as a caller's timeout would: the press went out,
    // its release never ran.
    assert!(timeout(PULSE / 2, b.stop()).await.is_err());
    assert_eq!(s.take_calls(), ["press Stop"]);
    b.state().await.unwrap();
    assert_eq!(s.take_calls(), ["release Stop", "limits"]);
    b.state().await.unwrap();
    assert_eq!(s.take_calls(), ["limits"], "released once, not on every operation");
}

#[tokio::test(start_paused = true)]
async fn a_release_that_fails_says_the_command_may_still_be_pressed() {
    let (mut b, s, _presence) = scripted();
    b.state().await.unwrap();
    s.fail.lock().unwrap().push("release Stop".into());
    let err = b.stop().await.unwrap_err();
    assert!(matches!(&err, DeviceError::Fault(m) if m.contains("may still be pressed")), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn a_transport_error_is_down_and_power_up_runs_again() {
    let (mut b, s, _presence) = scripted();
    let health = b.health();
    assert_eq!(health.borrow().state, HealthState::Down, "nothing assumed before power-up");
    b.state().await.unwrap();
    assert_eq!(s.take_calls(), ["release Open", "release Close", "release Stop", "limits", "limits"]);
    assert_eq!(health.borrow().state, HealthState::Ok);
    s.fail.lock().unwrap().push("limits".into());
    assert!(b.state().await.is_err());
    assert_eq!(health.borrow().state, HealthState::Down);
    s.take_calls();
    // The controller may have been power-cycled: every command released again first.
    assert_eq!(b.state().await.unwrap(), BarrierState::Closed);
    assert_eq!(s.take_calls(), ["release Open", "release Close", "release Stop", "limits", "limits"]);
    assert_eq!(health.borrow().state, HealthState::Ok);
}

#[derive(Debug, Clone)]
enum Ev {
    Occupy,
    Clear,
    Open,
    Close,
    Stop,
    Wait(u16),
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        1 => Just(Ev::Occupy),
        1 => Just(Ev::Clear),
        2 => Just(Ev::Open),
        3 => Just(Ev::Close),
        1 => Just(Ev::Stop),
        3 => (1u16..1500).prop_map(Ev::Wait),
    ]
}

async fn run_events(events: Vec<Ev>) -> usize {
    let violations = Arc::new(AtomicUsize::new(0));
    let occupied = Arc::new(AtomicBool::new(false));
    let (v, o) = (violations.clone(), occupied.clone());
    let close = on_press(move || {
        if o.load(Ordering::SeqCst) {
            v.fetch_add(1, Ordering::SeqCst);
        }
    });
    let pins = SimGatePins { close, ..Default::default() };
    let _stuck = gate(&pins, 600);
    let (occ_tx, occ_rx) = watch::channel(false);
    let (mut b, _) = barrier(Drive::Gpio, &pins, occ_rx).await;
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<Ev>(4);
    tokio::spawn(async move {
        while let Some(c) = cmd_rx.recv().await {
            let _ = match c {
                Ev::Open => b.open().await,
                Ev::Close => b.close().await,
                _ => b.stop().await,
            };
        }
    });
    for e in events {
        match e {
            Ev::Occupy | Ev::Clear => {
                let now = matches!(e, Ev::Occupy);
                occupied.store(now, Ordering::SeqCst);
                occ_tx.send_replace(now);
                for _ in 0..5 {
                    tokio::task::yield_now().await;
                }
                if now && pins.close.level() {
                    violations.fetch_add(1, Ordering::SeqCst);
                }
            }
            Ev::Wait(ms) => tokio::time::sleep(Duration::from_millis(ms.into())).await,
            cmd => {
                let _ = cmd_tx.try_send(cmd);
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    violations.load(Ordering::SeqCst)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn close_relay_is_never_energised_while_occupied(events in proptest::collection::vec(ev(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        prop_assert_eq!(rt.block_on(run_events(events)), 0);
    }
}
