//! What devices report that travels on the wire: their health, the format of
//! their images, the seals and empty-box verdicts they read.
//!
//! These are defined here and not in `drivers` because they are part of the
//! published records; `drivers` re-exports them, so a driver and a consumer of
//! the records name the very same type and neither can drift from the other.

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Jpeg,
    Png,
}

impl ImageFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
        }
    }
}

/// ISO 18185 seal status as the reader reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SealStatus {
    Sealed,
    Opened,
    Tampered,
}

/// One electronic seal heard by the reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SealRead {
    /// ISO 18185 id: manufacturer code and serial, written `MMMM-SSSSSSSS`.
    pub id: String,
    pub status: SealStatus,
    pub sealed_at: Option<DateTime<Utc>>,
    /// Battery charge, 0–100 %.
    pub battery_pct: u8,
    /// Received signal strength, dBm.
    pub rssi_dbm: i16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmptyVerdict {
    Empty,
    NotEmpty,
    Inconclusive,
}
