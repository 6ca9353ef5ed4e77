//! Debouncing and the two sensor faults, on a simulated pin and paused time.

use std::time::Duration;

use super::*;
use crate::gpio::sim::SimPin;
use crate::HealthState;

fn cfg() -> PresenceConfig {
    PresenceConfig { max_occupied: Duration::from_secs(30), ..Default::default() }
}

async fn wait_state(h: &mut watch::Receiver<Health>, s: HealthState) -> Health {
    tokio::time::timeout(Duration::from_secs(120), h.wait_for(|x| x.state == s))
        .await
        .expect("health change")
        .unwrap()
        .clone()
}

#[tokio::test(start_paused = true)]
async fn glitches_are_ignored_and_real_changes_reported_after_the_debounce() {
    let pin = SimPin::new(false);
    let mut p = GpioPresence::spawn("loop", pin.clone(), cfg()).unwrap();
    assert!(!p.occupied().await.unwrap());
    pin.set(true);
    tokio::time::sleep(Duration::from_millis(20)).await;
    pin.set(false);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!p.occupied().await.unwrap(), "a 20 ms glitch is not a vehicle");
    pin.set(true);
    let t0 = Instant::now();
    assert!(p.changed().await.unwrap());
    assert!(t0.elapsed() >= Duration::from_millis(50));
}

#[tokio::test(start_paused = true)]
async fn power_up_state_is_read() {
    let p = GpioPresence::spawn("loop", SimPin::new(true), cfg()).unwrap();
    assert!(*p.watch().borrow());
    let inverted = PresenceConfig { active_high: false, ..cfg() };
    let p = GpioPresence::spawn("loop", SimPin::new(true), inverted).unwrap();
    assert!(!*p.watch().borrow());
}

#[tokio::test(start_paused = true)]
async fn chattering_degrades_and_recovers() {
    let pin = SimPin::new(false);
    let p = GpioPresence::spawn("loop", pin.clone(), cfg()).unwrap();
    let mut h = p.health();
    for i in 0..30 {
        pin.set(i % 2 == 0);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let got = wait_state(&mut h, HealthState::Degraded).await;
    assert!(got.reason.unwrap().contains("chattering"));
    pin.set(false);
    wait_state(&mut h, HealthState::Ok).await;
}

#[tokio::test(start_paused = true)]
async fn stuck_occupied_degrades_and_recovers_when_cleared() {
    let pin = SimPin::new(false);
    let mut p = GpioPresence::spawn("loop", pin.clone(), cfg()).unwrap();
    let mut h = p.health();
    pin.set(true);
    assert!(p.changed().await.unwrap());
    let got = wait_state(&mut h, HealthState::Degraded).await;
    assert!(got.reason.unwrap().contains("stuck"));
    pin.set(false);
    wait_state(&mut h, HealthState::Ok).await;
}

#[test]
fn debouncer_is_pure() {
    let t = Instant::now();
    let mut d = Debouncer::new(cfg(), false, t);
    assert_eq!(d.sample(true, t), None);
    assert_eq!(d.sample(true, t + Duration::from_millis(49)), None);
    assert_eq!(d.sample(true, t + Duration::from_millis(50)), Some(true));
    assert_eq!(d.condition(t + Duration::from_secs(31)), Condition::Stuck { for_s: 30 });
}

/// A pin that fails while its flag is set, as a gpiochip that went away does.
#[derive(Clone, Default)]
struct FlakyPin(std::sync::Arc<std::sync::atomic::AtomicBool>);

#[derive(Debug)]
struct Gone;

impl embedded_hal::digital::Error for Gone {
    fn kind(&self) -> embedded_hal::digital::ErrorKind {
        embedded_hal::digital::ErrorKind::Other
    }
}

impl embedded_hal::digital::ErrorType for FlakyPin {
    type Error = Gone;
}

impl InputPin for FlakyPin {
    fn is_high(&mut self) -> Result<bool, Gone> {
        if self.0.load(std::sync::atomic::Ordering::SeqCst) {
            Err(Gone)
        } else {
            Ok(false)
        }
    }

    fn is_low(&mut self) -> Result<bool, Gone> {
        self.is_high().map(|h| !h)
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_line_is_down_and_recovers() {
    let pin = FlakyPin::default();
    let p = GpioPresence::spawn("loop", pin.clone(), cfg()).unwrap();
    let mut h = p.health();
    pin.0.store(true, std::sync::atomic::Ordering::SeqCst);
    let got = wait_state(&mut h, HealthState::Down).await;
    assert!(got.reason.unwrap().contains("GPIO presence input failed"));
    pin.0.store(false, std::sync::atomic::Ordering::SeqCst);
    wait_state(&mut h, HealthState::Ok).await;
}
