//! The pin mapping on embedded-hal-mock transactions: power-up releases every
//! relay and reads both limits, in either polarity. The movements and the
//! interlock are tested for GPIO and Modbus alike in `crate::barrier`.

use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as T};
use tokio::sync::watch;

use super::*;
use crate::{Barrier, BarrierState, HealthState};

type MockBarrier = GpioBarrier<PinMock, PinMock, PinMock, PinMock, PinMock>;

/// Builds on mocks expecting one release per relay and one read per limit.
fn on_mocks(release: State, opened: State, closed: State, active_high: bool) -> (MockBarrier, [PinMock; 5]) {
    let mocks = [
        PinMock::new(&[T::set(release)]),
        PinMock::new(&[T::set(release)]),
        PinMock::new(&[T::set(release)]),
        PinMock::new(&[T::get(opened)]),
        PinMock::new(&[T::get(closed)]),
    ];
    let [o, c, s, lo, lc] = mocks.clone();
    let pins = BarrierPins { open: o, close: c, stop: s, opened: lo, closed: lc };
    let cfg = GpioBarrierConfig {
        outputs_active_high: active_high,
        limits_active_high: active_high,
        ..GpioBarrierConfig::default()
    };
    let (_tx, rx) = watch::channel(false);
    (GpioBarrier::new("barrier", pins, rx, cfg).unwrap(), mocks)
}

#[test]
fn power_up_releases_every_relay_and_reads_the_limits() {
    let (b, mut mocks) = on_mocks(State::Low, State::Low, State::High, true);
    assert_eq!(b.health().borrow().state, HealthState::Ok);
    for m in &mut mocks {
        m.done();
    }
}

#[tokio::test]
async fn active_low_lines_are_inverted_both_ways() {
    // Released relay = high; a reached limit pulls its line low.
    let (mut b, mut mocks) = on_mocks(State::High, State::Low, State::High, false);
    assert_eq!(b.health().borrow().state, HealthState::Ok);
    for m in &mut mocks {
        m.done();
    }
    // One more read: opened reached (low), closed not (high).
    let [.., lo, lc] = &mut mocks;
    lo.update_expectations(&[T::get(State::Low)]);
    lc.update_expectations(&[T::get(State::High)]);
    assert_eq!(b.state().await.unwrap(), BarrierState::Opened);
    lo.done();
    lc.done();
}

#[test]
fn an_arm_between_the_limits_at_power_up_is_degraded() {
    let (b, mut mocks) = on_mocks(State::Low, State::Low, State::Low, true);
    let h = b.health().borrow().clone();
    assert_eq!(h.state, HealthState::Degraded);
    assert!(h.reason.unwrap().contains("between the limits"));
    for m in &mut mocks {
        m.done();
    }
}
