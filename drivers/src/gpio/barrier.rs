//! Gate barrier on dry contacts: open / close / stop relay outputs, and opened /
//! closed limit switches read back. This file only maps those five lines onto an
//! [`Actuator`] (levels and polarity); when to press what, the close interlock
//! and the fault rules are [`InterlockedBarrier`]'s, shared with Modbus.

use std::time::Duration;

use async_trait::async_trait;
use embedded_hal::digital::{InputPin, OutputPin};
use tokio::sync::watch;

use super::pin_error;
use crate::barrier::{Actuator, BarrierTiming, Button, InterlockedBarrier, Limits};
use crate::DeviceError;

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

/// The relays and limit switches of a dry-contact barrier as an [`Actuator`].
pub struct GpioActuator<O, C, S, LO, LC> {
    pins: BarrierPins<O, C, S, LO, LC>,
    outputs_active_high: bool,
    limits_active_high: bool,
}

/// A dry-contact barrier with the shared interlock.
pub type GpioBarrier<O, C, S, LO, LC> = InterlockedBarrier<GpioActuator<O, C, S, LO, LC>>;

impl<O, C, S, LO, LC> GpioActuator<O, C, S, LO, LC>
where
    O: OutputPin + Send,
    C: OutputPin + Send,
    S: OutputPin + Send,
    LO: InputPin + Send,
    LC: InputPin + Send,
{
    fn drive(&mut self, button: Button, pressed: bool) -> Result<(), DeviceError> {
        fn level<P: OutputPin>(pin: &mut P, high: bool, what: &str) -> Result<(), DeviceError> {
            if high { pin.set_high() } else { pin.set_low() }.map_err(|e| pin_error(what, e))
        }
        let high = pressed == self.outputs_active_high;
        match button {
            Button::Open => level(&mut self.pins.open, high, "open relay"),
            Button::Close => level(&mut self.pins.close, high, "close relay"),
            Button::Stop => level(&mut self.pins.stop, high, "stop relay"),
        }
    }

    fn read(&mut self) -> Result<Limits, DeviceError> {
        let reached = self.limits_active_high;
        Ok(Limits {
            opened: self.pins.opened.is_high().map_err(|e| pin_error("opened limit", e))? == reached,
            closed: self.pins.closed.is_high().map_err(|e| pin_error("closed limit", e))? == reached,
        })
    }
}

#[async_trait]
impl<O, C, S, LO, LC> Actuator for GpioActuator<O, C, S, LO, LC>
where
    O: OutputPin + Send,
    C: OutputPin + Send,
    S: OutputPin + Send,
    LO: InputPin + Send,
    LC: InputPin + Send,
{
    async fn set(&mut self, button: Button, pressed: bool) -> Result<(), DeviceError> {
        self.drive(button, pressed)
    }

    async fn limits(&mut self) -> Result<Limits, DeviceError> {
        self.read()
    }
}

impl<O, C, S, LO, LC> GpioBarrier<O, C, S, LO, LC>
where
    O: OutputPin + Send,
    C: OutputPin + Send,
    S: OutputPin + Send,
    LO: InputPin + Send,
    LC: InputPin + Send,
{
    /// Releases every relay, then reads where the arm is, right now: pins are
    /// local, so unlike a bus controller there is no reason to defer, and a
    /// wiring fault shows when the lane is built. `occupied` is the under-arm
    /// presence (e.g. [`super::GpioPresence::watch`]).
    pub fn new(
        name: &str,
        pins: BarrierPins<O, C, S, LO, LC>,
        occupied: watch::Receiver<bool>,
        cfg: GpioBarrierConfig,
    ) -> Result<Self, DeviceError> {
        let mut actuator = GpioActuator {
            pins,
            outputs_active_high: cfg.outputs_active_high,
            limits_active_high: cfg.limits_active_high,
        };
        for button in Button::ALL {
            actuator.drive(button, false)?;
        }
        let limits = actuator.read()?;
        let timing = BarrierTiming { pulse: cfg.pulse, move_timeout: cfg.move_timeout, poll: cfg.poll };
        Ok(InterlockedBarrier::powered_up(name, actuator, timing, occupied, limits))
    }
}

#[cfg(test)]
mod tests;
