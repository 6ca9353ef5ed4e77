//! Device health as the lane sees it: every operation's result updates it, and a
//! change is reported once (retained on MQTT, logged, fed to the policy).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use drivers::{DeviceError, Health, HealthState};

use crate::config::LaneConfig;
use contract::lane::DeviceHealthEvent;

pub struct HealthBook {
    devices: BTreeMap<String, Entry>,
}

struct Entry {
    kind: &'static str,
    required: bool,
    health: Health,
    /// Has worked at least once since the start: only then is going down a loss worth an alarm
    /// (connection-oriented drivers report "not connected yet" until their first connect).
    worked: bool,
}

/// A change of a device's health.
pub struct Change {
    pub event: DeviceHealthEvent,
    /// A device that had been working is now down: raise the `device_down` alarm.
    pub lost: bool,
}

impl HealthBook {
    pub fn new(cfg: &LaneConfig, now: DateTime<Utc>) -> Self {
        let devices = cfg
            .devices
            .iter()
            .map(|d| {
                (
                    d.name.clone(),
                    Entry {
                        kind: d.kind.name(),
                        required: d.required,
                        health: Health::ok(now),
                        worked: false,
                    },
                )
            })
            .collect();
        HealthBook { devices }
    }

    /// Records an operation's result; returns an event when the health changed.
    pub fn update(
        &mut self,
        device: &str,
        result: Result<(), &DeviceError>,
        now: DateTime<Utc>,
    ) -> Option<Change> {
        let entry = self.devices.get_mut(device)?;
        let health = match result {
            Ok(()) => Health::ok(now),
            // A refusal is the device doing its job, not a sign of trouble.
            Err(DeviceError::Refused(_)) => return None,
            Err(e @ DeviceError::Protocol(_)) => Health::degraded(now, e.to_string()),
            Err(e) => Health::down(now, e.to_string()),
        };
        let lost =
            health.state == HealthState::Down && entry.worked && entry.health.state != HealthState::Down;
        entry.worked |= health.state == HealthState::Ok;
        if entry.health.same_as(&health) {
            return None;
        }
        entry.health = health.clone();
        Some(Change {
            event: DeviceHealthEvent { device: device.to_string(), kind: entry.kind.to_string(), health },
            lost,
        })
    }

    pub fn all(&self) -> Vec<DeviceHealthEvent> {
        self.devices
            .iter()
            .map(|(name, e)| DeviceHealthEvent {
                device: name.clone(),
                kind: e.kind.to_string(),
                health: e.health.clone(),
            })
            .collect()
    }

    /// State and whether the policy needs the device, for the decision.
    pub fn for_policy(&self) -> BTreeMap<String, (HealthState, bool)> {
        self.devices.iter().map(|(n, e)| (n.clone(), (e.health.state, e.required))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> HealthBook {
        let demo = include_str!("../../../config/demo.toml");
        let cfg = crate::config::from_str(std::path::Path::new("demo.toml"), demo).unwrap();
        HealthBook::new(&cfg, Utc::now())
    }

    #[test]
    fn only_a_device_that_had_worked_is_lost() {
        let mut book = book();
        let gone = DeviceError::Disconnected("cable".into());
        let now = Utc::now();
        // Down before it ever worked (start-up, not connected yet): a health event, no alarm.
        let c = book.update("barrier", Err(&gone), now).unwrap();
        assert!(!c.lost && c.event.health.state == HealthState::Down);
        assert!(book.update("barrier", Ok(()), now).is_some_and(|c| !c.lost));
        // Working, then down: lost, once.
        assert!(book.update("barrier", Err(&gone), now).is_some_and(|c| c.lost));
        assert!(book.update("barrier", Err(&gone), now).is_none(), "no repeat while it stays down");
        // Degraded is not lost; down after degraded is.
        book.update("barrier", Ok(()), now);
        let garbled = DeviceError::Protocol("bad CRC".into());
        assert!(book.update("barrier", Err(&garbled), now).is_some_and(|c| !c.lost));
        assert!(book.update("barrier", Err(&gone), now).is_some_and(|c| c.lost));
    }
}
