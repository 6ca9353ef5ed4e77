//! A device's health as one small value (state, reason, since) that every
//! consumer shares: the technician page, the MQTT health topic and the decision
//! policy read the same [`Health`], so they can never disagree about a device.
//! It is part of the wire contract (serialised, with a JSON Schema).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Ok,
    /// Working, but something is off (retries, slow answers, a chattering input).
    Degraded,
    Down,
}

/// A device's health as the technician page, the decision policy and central see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    pub state: HealthState,
    /// Why the device is not ok; `None` when it is.
    pub reason: Option<String>,
    pub since: DateTime<Utc>,
}

impl Health {
    pub fn ok(now: DateTime<Utc>) -> Self {
        Health { state: HealthState::Ok, reason: None, since: now }
    }

    pub fn down(now: DateTime<Utc>, reason: impl Into<String>) -> Self {
        Health { state: HealthState::Down, reason: Some(reason.into()), since: now }
    }

    pub fn degraded(now: DateTime<Utc>, reason: impl Into<String>) -> Self {
        Health { state: HealthState::Degraded, reason: Some(reason.into()), since: now }
    }

    /// Same state and reason: a repeat that need not be reported again.
    pub fn same_as(&self, other: &Health) -> bool {
        self.state == other.state && self.reason == other.reason
    }
}
