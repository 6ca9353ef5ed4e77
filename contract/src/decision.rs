//! The lane's decision and how it is announced: a [`DecisionRecord`] inside the
//! passage record, and a [`DecisionEvent`] on `<base>/decision` as soon as the
//! lane has decided, so reviewers see a held vehicle at once rather than when
//! the passage completes.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Release,
    Hold,
    Inspection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    Pass,
    Fail,
    /// The device or input the check needs was not available.
    Unavailable,
}

/// One check of the decision policy, with the inputs it looked at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Check {
    pub name: String,
    pub result: CheckResult,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DecisionRecord {
    pub outcome: Outcome,
    /// Machine-readable reasons for anything but a release, e.g. `low_confidence`,
    /// `seal_tampered`, `device_down:plate-front`.
    pub reasons: Vec<String>,
    pub checks: Vec<Check>,
    /// `policy`, `central:<reviewer>` or `operator:<name>`.
    pub by: String,
    pub at: DateTime<Utc>,
}

/// Sent as soon as the lane has decided, so reviewers see held vehicles at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DecisionEvent {
    pub passage: String,
    pub site: String,
    pub lane: String,
    pub plate: Option<String>,
    pub containers: Vec<String>,
    pub decision: DecisionRecord,
    /// The passage record as it stood when the lane decided (captures with
    /// previews, reads, checks, stages so far; schema: passage.schema.json),
    /// so a reviewer sees the whole vehicle while it waits — the complete
    /// record follows only when the barrier has closed behind it. Absent from
    /// lanes that predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<serde_json::Value>,
}
