//! Device health as the lane sees it: every operation's result updates it, and a
//! change is reported once (retained on MQTT, logged, fed to the policy).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use drivers::{DeviceError, Health, HealthState};

use crate::config::LaneConfig;
use crate::record::DeviceHealthEvent;

pub struct HealthBook {
    devices: BTreeMap<String, Entry>,
}

struct Entry {
    kind: &'static str,
    required: bool,
    health: Health,
}

impl HealthBook {
    pub fn new(cfg: &LaneConfig, now: DateTime<Utc>) -> Self {
        let devices = cfg
            .devices
            .iter()
            .map(|d| (d.name.clone(), Entry { kind: d.kind.name(), required: d.required, health: Health::ok(now) }))
            .collect();
        HealthBook { devices }
    }

    /// Records an operation's result; returns an event when the health changed.
    pub fn update(&mut self, device: &str, result: Result<(), &DeviceError>, now: DateTime<Utc>) -> Option<DeviceHealthEvent> {
        let entry = self.devices.get_mut(device)?;
        let health = match result {
            Ok(()) => Health::ok(now),
            // A refusal is the device doing its job, not a sign of trouble.
            Err(DeviceError::Refused(_)) => return None,
            Err(e @ DeviceError::Protocol(_)) => Health::degraded(now, e.to_string()),
            Err(e) => Health::down(now, e.to_string()),
        };
        if entry.health.same_as(&health) {
            return None;
        }
        entry.health = health.clone();
        Some(DeviceHealthEvent { device: device.to_string(), kind: entry.kind.to_string(), health })
    }

    pub fn all(&self) -> Vec<DeviceHealthEvent> {
        self.devices
            .iter()
            .map(|(name, e)| DeviceHealthEvent { device: name.clone(), kind: e.kind.to_string(), health: e.health.clone() })
            .collect()
    }

    /// State and whether the policy needs the device, for the decision.
    pub fn for_policy(&self) -> BTreeMap<String, (HealthState, bool)> {
        self.devices.iter().map(|(n, e)| (n.clone(), (e.health.state, e.required))).collect()
    }
}
