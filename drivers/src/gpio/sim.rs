//! Simulated GPIO for tests and the lane simulator: pins that are plain shared
//! booleans, and a barrier drive that moves when its relays are pulsed, so the
//! real [`super::GpioBarrier`] can be exercised end to end (travel, limits, a
//! stuck arm) without a gpiochip.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
use tokio::sync::watch;

type Hook = Arc<dyn Fn(bool) + Send + Sync>;

/// A pin whose level is shared by its clones: one clone is the driver's, the
/// other the test's or the simulated device's.
#[derive(Clone, Default)]
pub struct SimPin {
    level: Arc<AtomicBool>,
    /// Called with the new level whenever the driver sets this pin as an output.
    on_set: Option<Hook>,
}

impl SimPin {
    pub fn new(high: bool) -> Self {
        let p = SimPin::default();
        p.set(high);
        p
    }

    /// Calls `hook(level)` on every `set_high`/`set_low` by the driver.
    pub fn with_hook(mut self, hook: impl Fn(bool) + Send + Sync + 'static) -> Self {
        self.on_set = Some(Arc::new(hook));
        self
    }

    /// Sets the level from the outside (a sensor, a limit switch).
    pub fn set(&self, high: bool) {
        self.level.store(high, Ordering::SeqCst);
    }

    pub fn level(&self) -> bool {
        self.level.load(Ordering::SeqCst)
    }

    fn drive(&self, high: bool) {
        self.set(high);
        if let Some(h) = &self.on_set {
            h(high);
        }
    }
}

impl ErrorType for SimPin {
    type Error = Infallible;
}

impl InputPin for SimPin {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(self.level())
    }

    fn is_low(&mut self) -> Result<bool, Infallible> {
        Ok(!self.level())
    }
}

impl OutputPin for SimPin {
    fn set_high(&mut self) -> Result<(), Infallible> {
        self.drive(true);
        Ok(())
    }

    fn set_low(&mut self) -> Result<(), Infallible> {
        self.drive(false);
        Ok(())
    }
}

/// The pins of a simulated barrier, as the driver sees them (active high).
#[derive(Clone, Default)]
pub struct SimGatePins {
    pub open: SimPin,
    pub close: SimPin,
    pub stop: SimPin,
    pub opened: SimPin,
    pub closed: SimPin,
}

/// A barrier drive: a pulse on open/close starts a travel of `travel`, after
/// which the matching limit switch closes; stop halts it between the limits.
/// While `stuck` is true the arm ignores commands.
pub fn spawn_gate(
    pins: SimGatePins,
    travel: Duration,
    stuck: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    pins.closed.set(true);
    tokio::spawn(async move {
        let tick = Duration::from_millis(5);
        // Where the arm is going, and when it gets there.
        let mut target: Option<(bool, tokio::time::Instant)> = None;
        loop {
            tokio::time::sleep(tick).await;
            let now = tokio::time::Instant::now();
            if *stuck.borrow() {
                continue;
            }
            if pins.stop.level() {
                target = None;
            } else if pins.open.level() && target.map(|t| !t.0).unwrap_or(!pins.opened.level()) {
                target = Some((true, now + travel));
                pins.closed.set(false);
            } else if pins.close.level() && target.map(|t| t.0).unwrap_or(!pins.closed.level()) {
                target = Some((false, now + travel));
                pins.opened.set(false);
            }
            if let Some((up, at)) = target {
                if now >= at {
                    if up {
                        pins.opened.set(true)
                    } else {
                        pins.closed.set(true)
                    }
                    target = None;
                }
            }
        }
    })
}
