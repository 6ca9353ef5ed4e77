//! GPIO devices from configuration: the lines are requested here, as
//! linux-embedded-hal `CdevPin`s on the character device (`/dev/gpiochipN`),
//! with the consumer label "edge-agent" (what `gpioinfo` shows), and handed to
//! the drivers, which only know embedded-hal traits.
//!
//! Levels: `CdevPin` reads and writes physical levels (it undoes the kernel's
//! active-low flag), so lines are requested without that flag and the config's
//! `active_low` goes to the drivers instead. Outputs are requested at their
//! inactive level, so claiming a relay line never pulses it.
//!
//! Every line is claimed while the lane is being built: a wrong chip or a line
//! held by another program fails the build with the reason, and whatever was
//! claimed before is released again as the half-built devices are dropped. The
//! lane never runs with part of its barrier wired.

use std::time::Duration;

use drivers::gpio::{BarrierPins, GpioBarrier, GpioBarrierConfig, GpioPresence, PresenceConfig};
use drivers::{Barrier, Health, PresenceSensor};
use embedded_hal::digital::{ErrorType, OutputPin};
use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
use linux_embedded_hal::{CdevPin, CdevPinError};
use tokio::sync::watch;

use super::BuildError;
use crate::config::{DeviceConfig, GpioConfig};

/// What `gpioinfo` shows as the user of the lines.
pub const CONSUMER: &str = "edge-agent";

/// `gpiochip0` or `/dev/gpiochip0`, as the lane file gives it.
fn chip_path(chip: &str) -> String {
    if chip.contains('/') {
        chip.to_string()
    } else {
        format!("/dev/{chip}")
    }
}

/// An I/O error's sentence without the "(os error N)" the technician cannot use.
fn plain(e: impl std::fmt::Display) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// One gpiochip, with the device its lines are for (for messages).
struct Lines<'a> {
    chip: Chip,
    path: String,
    device: &'a str,
    active_low: bool,
}

impl<'a> Lines<'a> {
    fn open(d: &'a DeviceConfig, g: &GpioConfig) -> Result<Self, BuildError> {
        let path = chip_path(&g.chip);
        let chip = Chip::new(&path).map_err(|e| BuildError::Gpio {
            device: d.name.clone(),
            message: format!(
                "cannot open {path}: {} — is the GPIO chip name right? `ls /dev/gpiochip*`",
                plain(e)
            ),
        })?;
        Ok(Lines { chip, path, device: &d.name, active_low: g.active_low })
    }

    fn request(&mut self, line: u32, output: bool, what: &str) -> Result<CdevPin, BuildError> {
        let (flags, inactive) = match output {
            true => (LineRequestFlags::OUTPUT, u8::from(self.active_low)),
            false => (LineRequestFlags::INPUT, 0),
        };
        let path = &self.path;
        self.chip
            .get_line(line)
            .and_then(|l| l.request(flags, inactive, CONSUMER))
            .and_then(CdevPin::new)
            .map_err(|e| BuildError::Gpio {
                device: self.device.to_string(),
                message: format!(
                    "cannot claim line {line} of {path} for the {what}: {} — check the line offset, and `gpioinfo` for another program holding it",
                    plain(e)
                ),
            })
    }
}

pub fn presence(
    d: &DeviceConfig,
    g: &GpioConfig,
) -> Result<(Box<dyn PresenceSensor>, watch::Receiver<Health>), BuildError> {
    let mut lines = Lines::open(d, g)?;
    let line = g.line.ok_or_else(|| BuildError::Missing { device: d.name.clone(), key: "line" })?;
    let pin = lines.request(line, false, "presence input")?;
    let cfg =
        PresenceConfig { debounce: g.debounce, active_high: !g.active_low, ..PresenceConfig::default() };
    let sensor = GpioPresence::spawn(&d.name, pin, cfg)
        .map_err(|e| BuildError::Gpio { device: d.name.clone(), message: e.to_string() })?;
    let health = sensor.health();
    Ok((Box::new(sensor), health))
}

/// The stop relay is optional on a dry-contact barrier.
pub enum StopLine {
    Line(CdevPin),
    /// Not wired: a stop then only leaves the other relays released.
    Absent,
}

impl ErrorType for StopLine {
    type Error = CdevPinError;
}

impl OutputPin for StopLine {
    fn set_low(&mut self) -> Result<(), CdevPinError> {
        match self {
            StopLine::Line(p) => p.set_low(),
            StopLine::Absent => Ok(()),
        }
    }

    fn set_high(&mut self) -> Result<(), CdevPinError> {
        match self {
            StopLine::Line(p) => p.set_high(),
            StopLine::Absent => Ok(()),
        }
    }
}

/// `occupied`: the under-arm presence for the driver's own close interlock;
/// `limit`: how long the lane gives one movement.
pub fn barrier(
    d: &DeviceConfig,
    g: &GpioConfig,
    occupied: watch::Receiver<bool>,
    limit: Duration,
) -> Result<(Box<dyn Barrier>, watch::Receiver<Health>), BuildError> {
    let missing = |key| BuildError::Missing { device: d.name.clone(), key };
    let mut lines = Lines::open(d, g)?;
    let pins = BarrierPins {
        open: lines.request(g.open.ok_or_else(|| missing("open"))?, true, "open relay")?,
        close: lines.request(g.close.ok_or_else(|| missing("close"))?, true, "close relay")?,
        stop: match g.stop {
            Some(l) => StopLine::Line(lines.request(l, true, "stop relay")?),
            None => StopLine::Absent,
        },
        opened: lines.request(g.opened.ok_or_else(|| missing("opened"))?, false, "opened limit switch")?,
        closed: lines.request(g.closed.ok_or_else(|| missing("closed"))?, false, "closed limit switch")?,
    };
    let pulse = GpioBarrierConfig::default().pulse;
    let cfg = GpioBarrierConfig {
        // Inside the lane's limit, so the driver ends a stuck movement itself.
        move_timeout: limit.saturating_sub(pulse + Duration::from_millis(500)).max(Duration::from_secs(1)),
        outputs_active_high: !g.active_low,
        limits_active_high: !g.active_low,
        ..GpioBarrierConfig::default()
    };
    // Relays released and the limits read now: the state at power-up is read, not assumed.
    let b = GpioBarrier::new(&d.name, pins, occupied, cfg)
        .map_err(|e| BuildError::Gpio { device: d.name.clone(), message: e.to_string() })?;
    let health = b.health();
    Ok((Box::new(b), health))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chip_names_and_paths_both_work() {
        assert_eq!(chip_path("gpiochip0"), "/dev/gpiochip0");
        assert_eq!(chip_path("/dev/gpiochip1"), "/dev/gpiochip1");
        assert_eq!(plain(std::io::Error::from_raw_os_error(2)), "No such file or directory");
    }
}
