//! The gate barrier's movements and close interlock, written once for every
//! way of reaching a drive: the transport (GPIO relays, Modbus coils) is an
//! [`Actuator`] that only presses and releases the drive's command inputs and
//! reads its two limit switches; everything that decides *when* to press what
//! lives here, so a safety rule cannot hold on one transport and drift on the
//! other (it had: two copies, one of which re-pulsed an arm already in place).
//!
//! Safety, in the order the code enforces it (the software is never the safety
//! function, EN 12453 puts that in the drive's own presence input, but it must
//! never make things worse):
//! * `close()` is refused while the presence under the arm reports occupied,
//!   checked synchronously right before the close command is pressed;
//! * while the close command is pressed and while the arm travels down, the
//!   presence is watched: if it turns occupied the close command is released at
//!   once and the arm is sent back up (an open pulse reverses every common
//!   drive). A press may be a bus transaction of a few milliseconds, so the
//!   presence is read again the moment the press returns;
//! * a command is always released after it was pressed, even when the press
//!   itself failed (a write whose reply was lost may still have switched it on);
//! * a movement that does not reach its limit in time is a fault (the lane
//!   holds and raises an alarm) and the device is `down` until one succeeds,
//!   or until the limits show the arm got where that movement sent it (a slow
//!   drive that finished late works; an arm found anywhere else proves nothing);
//! * the state at power-up is read from the limit switches, never assumed, and
//!   power-up (every command released, limits read) runs again after any
//!   transport error, so a controller power-cycled meanwhile is not trusted to
//!   hold its old outputs.
//!
//! An arm already at the requested limit is not pulsed again: `open()` on an
//! open arm and `close()` on a closed one (lane clear) return at once. Many
//! drives take a pulse at a limit as "step" (start the opposite movement) or
//! restart their auto-close timer on it, the lane re-sends a release after a
//! fault, and a needless pulse costs its length on the path from decision to
//! open arm. The limit switches are what a movement is judged by anyway, so
//! trusting them here adds no new assumption.

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::time::{sleep, timeout, Instant};
use tracing::{info, warn};

use crate::transport::HealthReporter;
use crate::{Barrier, BarrierState, DeviceError, Health};

/// A command input of the drive, pressed like a push button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    Open,
    Close,
    Stop,
}

impl Button {
    pub const ALL: [Button; 3] = [Button::Open, Button::Close, Button::Stop];

    /// The button's name in the lane's vocabulary, for logs.
    pub fn word(self) -> &'static str {
        match self {
            Button::Open => "open",
            Button::Close => "close",
            Button::Stop => "stop",
        }
    }
}

/// The two limit switches, as read (true = reached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub opened: bool,
    pub closed: bool,
}

/// How a barrier drive is reached: press or release one command input, read
/// the limits. No timing, no policy; errors are the transport's.
#[async_trait]
pub trait Actuator: Send {
    /// Presses (`true`) or releases (`false`) one command input.
    async fn set(&mut self, button: Button, pressed: bool) -> Result<(), DeviceError>;
    async fn limits(&mut self) -> Result<Limits, DeviceError>;
}

/// How long things take on a barrier drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierTiming {
    /// How long a command is held for one press.
    pub pulse: Duration,
    /// Longest travel between the limits before it is a fault.
    pub move_timeout: Duration,
    /// How often the limits are read while the arm travels.
    pub poll: Duration,
}

/// A barrier on any [`Actuator`], with the close interlock on the presence
/// under the arm (`occupied`: debounced, true = occupied).
pub struct InterlockedBarrier<A> {
    actuator: A,
    timing: BarrierTiming,
    occupied: watch::Receiver<bool>,
    health: HealthReporter,
    /// Commands released and limits read since start or since the last
    /// transport error; until then every operation does that first.
    ready: bool,
    /// Where the last movement was going, while it stands timed out.
    missed: Option<BarrierState>,
    /// A command pressed and not yet released. Set before the press goes out, cleared by its
    /// release: if the operation is abandoned in between (its future dropped), the next
    /// operation releases it first, so no command stays pressed until its button's next use.
    held: Option<Button>,
}

impl<A: Actuator> InterlockedBarrier<A> {
    /// Without touching the drive yet (it may be unplugged when the lane starts):
    /// power-up runs before the first operation.
    pub fn over(name: &str, actuator: A, timing: BarrierTiming, occupied: watch::Receiver<bool>) -> Self {
        InterlockedBarrier {
            actuator,
            timing,
            occupied,
            health: HealthReporter::new(name),
            ready: false,
            missed: None,
            held: None,
        }
    }

    /// For a transport that did the power-up itself (every command released)
    /// and read `limits` right after.
    pub(crate) fn powered_up(
        name: &str,
        actuator: A,
        timing: BarrierTiming,
        occupied: watch::Receiver<bool>,
        limits: Limits,
    ) -> Self {
        let mut b = Self::over(name, actuator, timing, occupied);
        b.settle_power_up(limits);
        b
    }

    pub fn health(&self) -> watch::Receiver<Health> {
        self.health.subscribe()
    }

    /// Every command released and the limits read, unless done since the last
    /// transport error.
    pub(crate) async fn power_up(&mut self) -> Result<(), DeviceError> {
        if let Some(button) = self.held {
            warn!(
                device = self.health.device(),
                button = button.word(),
                "releasing a command an abandoned operation left pressed"
            );
            self.set(button, false).await?;
        }
        if self.ready {
            return Ok(());
        }
        for button in Button::ALL {
            self.set(button, false).await?;
        }
        let limits = self.limits().await?;
        self.settle_power_up(limits);
        Ok(())
    }

    fn settle_power_up(&mut self, limits: Limits) {
        let state = self.judge(limits);
        info!(device = self.health.device(), state = state.word(), "barrier state at power-up");
        self.ready = true;
        match (state, limits.opened && limits.closed) {
            (_, true) => self.health.degraded(BOTH_LIMITS),
            (BarrierState::Between, _) => self.health.degraded("arm between the limits at power-up"),
            _ => self.health.ok(),
        }
    }

    /// A transport error: down, and power-up again before the next operation.
    fn lost(&mut self, e: &DeviceError) {
        self.health.down(e.to_string());
        self.ready = false;
    }

    async fn set(&mut self, button: Button, pressed: bool) -> Result<(), DeviceError> {
        if pressed {
            self.held = Some(button);
        }
        let r = self.actuator.set(button, pressed).await;
        if !pressed && r.is_ok() && self.held == Some(button) {
            self.held = None;
        }
        r.inspect_err(|e| self.lost(e))
    }

    async fn limits(&mut self) -> Result<Limits, DeviceError> {
        let r = self.actuator.limits().await;
        r.inspect_err(|e| self.lost(e))
    }

    fn judge(&self, limits: Limits) -> BarrierState {
        match (limits.opened, limits.closed) {
            (true, false) => BarrierState::Opened,
            (false, true) => BarrierState::Closed,
            (true, true) => {
                self.health.degraded(BOTH_LIMITS);
                BarrierState::Between
            }
            (false, false) => BarrierState::Between,
        }
    }

    async fn read_state(&mut self) -> Result<BarrierState, DeviceError> {
        let limits = self.limits().await?;
        let state = self.judge(limits);
        if self.missed == Some(state) {
            self.missed = None;
            info!(
                device = self.health.device(),
                state = state.word(),
                "barrier got there late; working again"
            );
            self.health.ok();
        }
        Ok(state)
    }

    /// Releases `button` after a press, whatever the press returned.
    async fn release(&mut self, button: Button, pressed: Result<(), DeviceError>) -> Result<(), DeviceError> {
        let released = self.set(button, false).await;
        pressed?;
        released.map_err(|e| {
            DeviceError::Fault(format!(
                "the {button:?} command may still be pressed ({e}); check the barrier drive"
            ))
        })
    }

    async fn pulse(&mut self, button: Button) -> Result<(), DeviceError> {
        let pressed = self.set(button, true).await;
        if pressed.is_ok() {
            sleep(self.timing.pulse).await;
        }
        self.release(button, pressed).await
    }

    /// Presses close for one pulse unless the lane under the arm is occupied;
    /// releases it early the moment it becomes so.
    async fn close_pulse(&mut self) -> Result<ClosePress, DeviceError> {
        // Checked and acted on with no await in between.
        if *self.occupied.borrow_and_update() {
            return Ok(ClosePress::NotPressed);
        }
        let pressed = self.set(Button::Close, true).await;
        // `wait_for` looks at the current value first: an occupation that arrived
        // while the press was on its way ends the pulse at once.
        let mut occupied = self.occupied.clone();
        let interrupted =
            pressed.is_ok() && timeout(self.timing.pulse, occupied.wait_for(|o| *o)).await.is_ok();
        self.release(Button::Close, pressed).await?;
        Ok(if interrupted { ClosePress::Interrupted } else { ClosePress::Done })
    }

    /// Reads the limits until `target`; while closing, also watches presence.
    /// Ok(false): presence turned occupied on the way.
    async fn reach(&mut self, target: BarrierState, watch_presence: bool) -> Result<bool, DeviceError> {
        let deadline = Instant::now() + self.timing.move_timeout;
        // A new movement: whatever an earlier one missed is no longer the question.
        self.missed = None;
        loop {
            if self.read_state().await? == target {
                self.health.ok();
                return Ok(true);
            }
            if Instant::now() >= deadline {
                let why = format!(
                    "barrier did not reach the {} position within {:?}: arm stuck or drive unpowered",
                    target.word(),
                    self.timing.move_timeout
                );
                warn!(device = self.health.device(), target = target.word(), "barrier movement timed out");
                self.health.down(why.clone());
                self.missed = Some(target);
                return Err(DeviceError::Fault(why));
            }
            if watch_presence {
                let mut occupied = self.occupied.clone();
                if timeout(self.timing.poll, occupied.wait_for(|o| *o)).await.is_ok() {
                    return Ok(false);
                }
            } else {
                sleep(self.timing.poll).await;
            }
        }
    }

    async fn reverse(&mut self) -> Result<(), DeviceError> {
        warn!(device = self.health.device(), "lane under the arm became occupied while closing; reopening");
        self.pulse(Button::Open).await
    }
}

const BOTH_LIMITS: &str = "both limit switches report reached: check the wiring";

/// How a close press went.
enum ClosePress {
    /// The lane was occupied right before the press: the command never went out.
    NotPressed,
    /// Presence turned occupied during the press: released early.
    Interrupted,
    Done,
}

fn occupied_refusal() -> DeviceError {
    DeviceError::Refused("the lane under the arm is occupied".into())
}

fn reopened() -> DeviceError {
    DeviceError::Refused("the lane under the arm became occupied while closing; reopened".into())
}

#[async_trait]
impl<A: Actuator> Barrier for InterlockedBarrier<A> {
    async fn open(&mut self) -> Result<(), DeviceError> {
        self.power_up().await?;
        if self.read_state().await? == BarrierState::Opened {
            return Ok(());
        }
        self.pulse(Button::Open).await?;
        self.reach(BarrierState::Opened, false).await.map(|_| ())
    }

    async fn close(&mut self) -> Result<(), DeviceError> {
        self.power_up().await?;
        if *self.occupied.borrow() {
            return Err(occupied_refusal());
        }
        if self.read_state().await? == BarrierState::Closed {
            return Ok(());
        }
        match self.close_pulse().await? {
            // The arm was never commanded: nothing to undo.
            ClosePress::NotPressed => return Err(occupied_refusal()),
            ClosePress::Interrupted => {
                self.reverse().await?;
                return Err(reopened());
            }
            ClosePress::Done => {}
        }
        if !self.reach(BarrierState::Closed, true).await? {
            self.reverse().await?;
            return Err(reopened());
        }
        Ok(())
    }

    async fn stop(&mut self) -> Result<(), DeviceError> {
        self.power_up().await?;
        self.pulse(Button::Stop).await
    }

    async fn state(&mut self) -> Result<BarrierState, DeviceError> {
        self.power_up().await?;
        self.read_state().await
    }
}

#[cfg(test)]
mod tests;
