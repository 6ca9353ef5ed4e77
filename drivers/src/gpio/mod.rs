//! Dry-contact devices on GPIO lines: the gate barrier's relays and limit
//! switches, and presence sensors (loops, photocells) with a relay output.
//!
//! Drivers are generic over embedded-hal 1.0 digital traits and never open a
//! `/dev/gpiochip` themselves: the binary builds linux-embedded-hal `CdevPin`s
//! from config (chip + line offset) and hands them in; tests hand in simulated
//! pins ([`sim`]) or embedded-hal-mock pins. The pin traits are blocking, which
//! is fine for a GPIO register or a cdev ioctl (microseconds); the timing (pulse
//! lengths, debounce, travel timeouts) is async on tokio time, so tests pause it.

mod barrier;
mod presence;
pub mod sim;

pub use barrier::{BarrierPins, GpioActuator, GpioBarrier, GpioBarrierConfig};
pub use presence::{Condition, Debouncer, GpioPresence, PresenceConfig};

use crate::DeviceError;

/// A pin operation failed: the line is gone (chip unplugged, permissions), which
/// the technician must fix; the device is down.
pub(crate) fn pin_error<E: embedded_hal::digital::Error>(what: &str, e: E) -> DeviceError {
    DeviceError::Fault(format!("GPIO {what} failed: {:?}", e.kind()))
}
