//! Barrier behaviour on simulated pins and a simulated drive, on paused tokio
//! time; the power-up read on embedded-hal-mock transactions; and the property
//! that no sequence of commands and presence changes ever gets the close relay
//! energised while the lane under the arm is occupied.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as T};
use proptest::prelude::*;
use tokio::sync::{mpsc, watch};

use super::*;
use crate::gpio::sim::{spawn_gate, SimGatePins, SimPin};
use crate::HealthState;

type SimBarrier = GpioBarrier<SimPin, SimPin, SimPin, SimPin, SimPin>;

fn cfg() -> GpioBarrierConfig {
    GpioBarrierConfig {
        pulse: Duration::from_millis(200),
        move_timeout: Duration::from_secs(3),
        ..Default::default()
    }
}

fn barrier(pins: &SimGatePins, occupied: watch::Receiver<bool>) -> SimBarrier {
    let p = pins.clone();
    let pins = BarrierPins { open: p.open, close: p.close, stop: p.stop, opened: p.opened, closed: p.closed };
    GpioBarrier::new("barrier", pins, occupied, cfg()).unwrap()
}

#[test]
fn power_up_state_is_read_from_the_limits() {
    let release = |_| vec![T::set(State::Low)];
    let (mut o, mut c, mut s) =
        (PinMock::new(&release(0)), PinMock::new(&release(1)), PinMock::new(&release(2)));
    let mut lo = PinMock::new(&[T::get(State::Low)]);
    let mut lc = PinMock::new(&[T::get(State::High)]);
    let pins = BarrierPins {
        open: o.clone(),
        close: c.clone(),
        stop: s.clone(),
        opened: lo.clone(),
        closed: lc.clone(),
    };
    let (_tx, rx) = watch::channel(false);
    let b = GpioBarrier::new("barrier", pins, rx, cfg()).unwrap();
    assert_eq!(b.health.current().state, HealthState::Ok);
    for m in [&mut o, &mut c, &mut s, &mut lo, &mut lc] {
        m.done();
    }
}

#[tokio::test(start_paused = true)]
async fn opens_and_closes_against_the_limits() {
    let pins = SimGatePins::default();
    let (_stuck_tx, stuck) = watch::channel(false);
    spawn_gate(pins.clone(), Duration::from_millis(800), stuck);
    let (_occ, rx) = watch::channel(false);
    let mut b = barrier(&pins, rx);
    assert_eq!(b.state().await.unwrap(), BarrierState::Closed, "read at power-up");
    b.open().await.unwrap();
    assert_eq!(b.state().await.unwrap(), BarrierState::Opened);
    b.close().await.unwrap();
    assert_eq!(b.state().await.unwrap(), BarrierState::Closed);
}

#[tokio::test(start_paused = true)]
async fn close_is_refused_while_occupied_without_touching_the_relay() {
    let close_pulses = Arc::new(AtomicUsize::new(0));
    let n = close_pulses.clone();
    let pins = SimGatePins {
        close: SimPin::default().with_hook(move |h| {
            if h {
                n.fetch_add(1, Ordering::SeqCst);
            }
        }),
        ..Default::default()
    };
    pins.opened.set(true);
    let (_occ, rx) = watch::channel(true);
    let mut b = barrier(&pins, rx);
    assert!(matches!(b.close().await, Err(DeviceError::Refused(_))));
    assert_eq!(close_pulses.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn presence_while_closing_reverses_the_arm() {
    let pins = SimGatePins::default();
    let (_stuck_tx, stuck) = watch::channel(false);
    spawn_gate(pins.clone(), Duration::from_millis(1000), stuck);
    let (occ, rx) = watch::channel(false);
    let mut b = barrier(&pins, rx);
    b.open().await.unwrap();
    let closing = tokio::spawn(async move { (b.close().await, b) });
    tokio::time::sleep(Duration::from_millis(500)).await;
    occ.send_replace(true);
    let (res, mut b) = closing.await.unwrap();
    assert!(matches!(res, Err(DeviceError::Refused(_))), "{res:?}");
    assert!(!pins.close.level());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(b.state().await.unwrap(), BarrierState::Opened, "sent back up");
}

#[tokio::test(start_paused = true)]
async fn stuck_arm_is_a_fault_and_health_recovers_after_a_good_move() {
    let pins = SimGatePins::default();
    let (stuck_tx, stuck) = watch::channel(true);
    spawn_gate(pins.clone(), Duration::from_millis(500), stuck);
    let (_occ, rx) = watch::channel(false);
    let mut b = barrier(&pins, rx);
    let mut health = b.health();
    let err = b.open().await.unwrap_err();
    assert!(matches!(&err, DeviceError::Fault(m) if m.contains("did not reach Opened")), "{err:?}");
    assert_eq!(health.borrow_and_update().state, HealthState::Down);
    stuck_tx.send_replace(false);
    b.open().await.unwrap();
    assert_eq!(health.borrow_and_update().state, HealthState::Ok);
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
    let close = SimPin::default().with_hook(move |high| {
        if high && o.load(Ordering::SeqCst) {
            v.fetch_add(1, Ordering::SeqCst);
        }
    });
    let pins = SimGatePins { close, ..Default::default() };
    let (_stuck_tx, stuck) = watch::channel(false);
    spawn_gate(pins.clone(), Duration::from_millis(600), stuck);
    let (occ_tx, occ_rx) = watch::channel(false);
    let mut b = barrier(&pins, occ_rx);
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
