//! The lane's own state on the wire: its retained status (with the key it signs
//! with), each device's retained health, and alarms.
//!
//! Status and health are retained so a consumer that connects late learns the
//! current state at once; alarms are events and are not.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::device::Health;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    Tailgate,
    BarrierFault,
    ReviewOverdue,
    ExitOverdue,
    DeviceDown,
    UplinkBacklog,
    /// The audit trail cannot be written (disk full or failing).
    AuditFailing,
    /// The data disk is below its floor: images and telemetry are not kept, every vehicle is
    /// held for review (`storage_full`) until there is room again.
    StorageFull,
}

/// Something a person at the lane or in the review room should look at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Alarm {
    pub kind: AlarmKind,
    pub passage: Option<String>,
    pub device: Option<String>,
    pub message: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LaneState {
    Online,
    /// Set by the broker from the agent's last will when the connection drops.
    Offline,
}

/// Retained on `<prefix>/<site>/<lane>/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LaneStatus {
    pub state: LaneState,
    pub site: String,
    pub lane: String,
    pub agent_version: String,
    pub since: DateTime<Utc>,
    /// The key this lane signs its results with, for verifiers that trust the
    /// broker's retained status; others get it from the installer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<SigningKeyInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SigningKeyInfo {
    pub key_id: String,
    /// Ed25519 public key, base64 of 32 bytes.
    pub public_key: String,
}

/// Retained on `<prefix>/<site>/<lane>/health/<device>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeviceHealthEvent {
    pub device: String,
    pub kind: String,
    pub health: Health,
}
