//! Gate barrier on dry contacts: open / close / stop relay outputs pulsed like a
//! push button, and opened / closed limit switches read back.
//!
//! Safety, in the order the code enforces it (the software is never the safety
//! function, EN 12453 puts that in the drive's own presence input, but it must
//! never make things worse):
//! * `close()` is refused while the presence sensor under the arm reports
//!   occupied, checked synchronously right before the close relay is energised;
//! * while the close relay is energised or the arm is travelling down, the
//!   presence is watched: if it turns occupied the close relay is released at
//!   once and the arm is sent back up (an open pulse reverses every common drive);
//! * a movement that does not reach its limit in time is a fault (the lane holds
//!   and raises an alarm) and the device goes `down` until a movement succeeds;
//! * the state at power-up is read from the limit switches, never assumed.

use std::time::Duration;

use async_trait::async_trait;
use embedded_hal::digital::{InputPin, OutputPin};
use tokio::sync::watch;
use tokio::time::{sleep, timeout, Instant};
use tracing::{info, warn};

use super::pin_error;
use crate::transport::HealthReporter;
use crate::{Barrier, BarrierState, DeviceError, Health};

#[derive(Debug, Clone)]
pub struct GpioBarrierConfig {
    /// How long a relay is closed for one command (a push on the button).
    pub pulse: Duration,
    /// Longest travel between the limits before it is a fault.
    pub move_timeout: Duration,
    /// How often the limit switches are read while moving.
    pub poll: Duration,
    /// Relay driven by a high level (false: by a low level).
    pub outputs_active_high: bool,
    /// Limit switch reads high when reached (false: low, e.g. a pull-up and a contact to ground).
    pub limits_active_high: bool,
}

impl Default for GpioBarrierConfig {
    fn default() -> Self {
        GpioBarrierConfig {
            pulse: Duration::from_millis(500),
            move_timeout: Duration::from_secs(8),
            poll: Duration::from_millis(20),
            outputs_active_high: true,
            limits_active_high: true,
        }
    }
}

/// The five lines of a dry-contact barrier.
pub struct BarrierPins<O, C, S, LO, LC> {
    pub open: O,
    pub close: C,
    pub stop: S,
    pub opened: LO,
    pub closed: LC,
}

pub struct GpioBarrier<O, C, S, LO, LC> {
    pins: BarrierPins<O, C, S, LO, LC>,
    /// Debounced presence under the arm: true = occupied.
    occupied: watch::Receiver<bool>,
    cfg: GpioBarrierConfig,
    health: HealthReporter,
}

#[derive(Clone, Copy)]
enum Relay {
    Open,
    Close,
    Stop,
}

impl<O, C, S, LO, LC> GpioBarrier<O, C, S, LO, LC>
where
    O: OutputPin + Send,
    C: OutputPin + Send,
    S: OutputPin + Send,
    LO: InputPin + Send,
    LC: InputPin + Send,
{
    /// Releases every relay, then reads where the arm is. `occupied` is the
    /// under-arm presence (e.g. [`super::GpioPresence::watch`]).
    pub fn new(
        name: &str,
        pins: BarrierPins<O, C, S, LO, LC>,
        occupied: watch::Receiver<bool>,
        cfg: GpioBarrierConfig,
    ) -> Result<Self, DeviceError> {
        let mut b = GpioBarrier { pins, occupied, cfg, health: HealthReporter::new(name) };
        for r in [Relay::Open, Relay::Close, Relay::Stop] {
            b.relay(r, false)?;
        }
        let state = b.read_state()?;
        info!(device = name, state = ?state, "barrier state at power-up");
        b.health.ok();
        if state == BarrierState::Between {
            b.health.degraded("arm between the limits at power-up");
        }
        Ok(b)
    }

    pub fn health(&self) -> watch::Receiver<Health> {
        self.health.subscribe()
    }

    fn relay(&mut self, r: Relay, on: bool) -> Result<(), DeviceError> {
        let level = on == self.cfg.outputs_active_high;
        let res = match r {
            Relay::Open => if level { self.pins.open.set_high() } else { self.pins.open.set_low() }
                .map_err(|e| pin_error("open relay", e)),
            Relay::Close => if level { self.pins.close.set_high() } else { self.pins.close.set_low() }
                .map_err(|e| pin_error("close relay", e)),
            Relay::Stop => if level { self.pins.stop.set_high() } else { self.pins.stop.set_low() }
                .map_err(|e| pin_error("stop relay", e)),
        };
        res.inspect_err(|e| self.health.down(e.to_string()))
    }

    fn read_state(&mut self) -> Result<BarrierState, DeviceError> {
        let ah = self.cfg.limits_active_high;
        let opened = self.pins.opened.is_high().map_err(|e| pin_error("opened limit", e))? == ah;
        let closed = self.pins.closed.is_high().map_err(|e| pin_error("closed limit", e))? == ah;
        Ok(match (opened, closed) {
            (true, false) => BarrierState::Opened,
            (false, true) => BarrierState::Closed,
            (true, true) => {
                self.health.degraded("both limit switches report reached: check the wiring");
                BarrierState::Between
            }
            (false, false) => BarrierState::Between,
        })
    }

    async fn pulse(&mut self, r: Relay) -> Result<(), DeviceError> {
        self.relay(r, true)?;
        sleep(self.cfg.pulse).await;
        self.relay(r, false)
    }

    /// Energises the close relay only while the lane under the arm is clear.
    /// Returns false if the presence interrupted the pulse.
    async fn close_pulse(&mut self) -> Result<bool, DeviceError> {
        // Checked and acted on with no await in between.
        if *self.occupied.borrow_and_update() {
            return Ok(false);
        }
        self.relay(Relay::Close, true)?;
        let mut occ = self.occupied.clone();
        let interrupted = timeout(self.cfg.pulse, occ.wait_for(|o| *o)).await.is_ok();
        self.relay(Relay::Close, false)?;
        Ok(!interrupted)
    }

    /// Polls the limits until `target`; while closing, also watches presence.
    async fn reach(&mut self, target: BarrierState, watch_presence: bool) -> Result<bool, DeviceError> {
        let deadline = Instant::now() + self.cfg.move_timeout;
        loop {
            if self.read_state()? == target {
                self.health.ok();
                return Ok(true);
            }
            if Instant::now() >= deadline {
                let why = format!(
                    "barrier did not reach {target:?} within {:?}: arm stuck or drive unpowered",
                    self.cfg.move_timeout
                );
                warn!(device = self.health.device(), target = ?target, "barrier movement timed out");
                self.health.down(why.clone());
                return Err(DeviceError::Fault(why));
            }
            if watch_presence {
                let mut occ = self.occupied.clone();
                if timeout(self.cfg.poll, occ.wait_for(|o| *o)).await.is_ok() {
                    return Ok(false);
                }
            } else {
                sleep(self.cfg.poll).await;
            }
        }
    }

    async fn reverse(&mut self) -> Result<(), DeviceError> {
        warn!(device = self.health.device(), "lane under the arm became occupied while closing; reopening");
        self.pulse(Relay::Open).await
    }
}

#[async_trait]
impl<O, C, S, LO, LC> Barrier for GpioBarrier<O, C, S, LO, LC>
where
    O: OutputPin + Send,
    C: OutputPin + Send,
    S: OutputPin + Send,
    LO: InputPin + Send,
    LC: InputPin + Send,
{
    async fn open(&mut self) -> Result<(), DeviceError> {
        if self.read_state()? == BarrierState::Opened {
            return Ok(());
        }
        self.pulse(Relay::Open).await?;
        self.reach(BarrierState::Opened, false).await.map(|_| ())
    }

    async fn close(&mut self) -> Result<(), DeviceError> {
        let refused = || DeviceError::Refused("the lane under the arm is occupied".into());
        if *self.occupied.borrow() {
            return Err(refused());
        }
        if self.read_state()? == BarrierState::Closed {
            return Ok(());
        }
        if !self.close_pulse().await? {
            self.reverse().await?;
            return Err(refused());
        }
        if !self.reach(BarrierState::Closed, true).await? {
            self.reverse().await?;
            return Err(DeviceError::Refused(
                "the lane under the arm became occupied while closing; reopened".into(),
            ));
        }
        Ok(())
    }

    async fn stop(&mut self) -> Result<(), DeviceError> {
        self.pulse(Relay::Stop).await
    }

    async fn state(&mut self) -> Result<BarrierState, DeviceError> {
        self.read_state()
    }
}

#[cfg(test)]
mod tests;
