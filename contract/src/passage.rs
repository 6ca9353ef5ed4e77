//! The passage record: one vehicle's way through the lane, published once on
//! `<base>/passage` when the barrier has closed behind it, signed by the lane.
//!
//! Every part a reviewer or auditor needs travels inside the record (stages,
//! captures, reads, checks, decisions) and images are referenced by content
//! hash, so a record can be verified and stored on its own and its images
//! fetched or resent independently.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::decision::{DecisionRecord, Outcome};
use crate::device::{EmptyVerdict, SealRead};
use crate::image::ImageRef;
use crate::reads::Reads;

pub const PASSAGE_SCHEMA: &str = "lanectl.passage/1";

/// One vehicle's way through the lane, from arrival to the barrier closing behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PassageRecord {
    /// Always `lanectl.passage/1` for this layout.
    pub schema: String,
    /// Stable and unique per lane: consumers deduplicate on it.
    pub id: String,
    pub site: String,
    pub lane: String,
    /// The lane's passage number: strictly increasing per lane, never reused,
    /// across restarts and crashes. A number missing at central is a passage
    /// it has not received (ask for it with a `resend` command).
    pub seq: u64,
    pub arrived_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Arrival to completion, milliseconds.
    pub total_ms: Option<u64>,
    /// Every stage the passage went through, in order, with start and end times.
    pub stages: Vec<StageRecord>,
    pub captures: Vec<CaptureRecord>,
    pub reads: Option<Reads>,
    /// Why recognition produced nothing, when it did not.
    pub recognition_error: Option<String>,
    pub empty_check: Option<EmptyCheckRecord>,
    /// The under-vehicle scan compared with the vehicle's reference scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uvss: Option<UvssCheckRecord>,
    /// The image-based empty check on the detector's interior image, beside its own verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_image: Option<EmptyImageRecord>,
    /// The lane's own decision.
    pub decision: Option<DecisionRecord>,
    /// A person's decision on a held vehicle (central reviewer or local operator).
    pub review: Option<DecisionRecord>,
    pub exit: Option<ExitKind>,
    pub flags: Vec<Flag>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Capture,
    Recognition,
    EmptyCheck,
    Decision,
    /// Held or sent to inspection: waiting for a person.
    Review,
    Opening,
    /// Barrier open, vehicle driving through.
    Exit,
    Closing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StageOutcome {
    Ok,
    Timeout,
    Failed,
    /// The vehicle left the lane during this stage.
    Abandoned,
    /// The agent stopped or crashed during this stage (its end is not known).
    Interrupted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StageRecord {
    pub stage: Stage,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<u64>,
    pub outcome: Option<StageOutcome>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaptureKind {
    PlateImage,
    ContainerImage,
    UvssScan,
    Seals,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaptureOutcome {
    Ok,
    Failed,
    Timeout,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UvssMeta {
    pub rows_per_metre: f32,
    pub speed_kmh: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CaptureRecord {
    pub device: String,
    pub kind: CaptureKind,
    pub outcome: CaptureOutcome,
    pub at: DateTime<Utc>,
    pub error: Option<String>,
    pub image: Option<ImageRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seals: Vec<SealRead>,
    pub uvss: Option<UvssMeta>,
}

/// Outcome of the under-vehicle comparison. `unavailable`: no scan, no plate to find the
/// reference by, or the comparison could not run (`reason` says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UvssVerdict {
    Anomaly,
    Clean,
    NoReference,
    Inconclusive,
    Unavailable,
}

/// A changed region, in pixels of the new scan; score 0..1 (0.5 is the threshold).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UvssRegion {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    pub score: f32,
}

/// Why an under-vehicle comparison is `inconclusive` (the sentence is in `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UvssInconclusiveReason {
    /// Scanner resolutions or scan lengths too far apart to bring to a common scale.
    TooDifferentInSize,
    /// A scan too dark to show the underside (lamps).
    TooDark,
    /// A scan mostly saturated.
    Overexposed,
    /// A blank scan: no structure at all.
    NoStructure,
    /// The scans could not be aligned (another vehicle, or too different a pass).
    RegistrationFailed,
    /// Aligned, but different almost everywhere.
    DiffersEverywhere,
    /// The new scan covers too little of the reference.
    PartialScan,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UvssCheckRecord {
    /// The under-vehicle camera.
    pub device: String,
    pub verdict: UvssVerdict,
    /// 0..1; at or above 0.5 the verdict is `anomaly`.
    pub score: f32,
    pub regions: Vec<UvssRegion>,
    /// Set exactly when the verdict is `inconclusive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inconclusive_reason: Option<UvssInconclusiveReason>,
    /// For a person: why inconclusive, unavailable or no_reference.
    pub reason: Option<String>,
    /// The heat-map overlay for the reviewer (sent like the other images).
    pub overlay: Option<ImageRef>,
    pub duration_ms: u64,
}

/// Outcome of the image-based empty check (`unavailable`: no interior image, or unreadable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmptyImageVerdict {
    Empty,
    NotEmpty,
    Inconclusive,
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EmptyImageRecord {
    pub verdict: EmptyImageVerdict,
    /// Loaded-ness 0..1 (0 empty).
    pub score: f32,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EmptyCheckRecord {
    pub device: String,
    pub container: Option<String>,
    pub outcome: CaptureOutcome,
    pub verdict: Option<EmptyVerdict>,
    pub confidence: Option<f32>,
    pub error: Option<String>,
    pub image: Option<ImageRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExitKind {
    /// Released; drove under the arm and out.
    DroveThrough,
    /// Left the capture zone without being released (backed out, diverted).
    LeftUnreleased,
    /// Slipped through behind another vehicle without a passage of its own.
    Tailgated,
    /// The agent stopped or crashed during the passage. The record was closed
    /// with what was known (stages so far, any decision already published)
    /// when the agent started again; `completed_at` is that moment.
    Interrupted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    Tailgate,
    BarrierFault,
    ReviewOverdue,
    ExitOverdue,
}

impl PassageRecord {
    pub fn plate(&self) -> Option<&str> {
        let reads = self.reads.as_ref()?;
        reads.plates.first().map(|p| p.text.as_str())
    }

    pub fn container_codes(&self) -> Vec<String> {
        self.reads.as_ref().map(|r| r.containers.iter().map(|c| c.code.clone()).collect()).unwrap_or_default()
    }

    /// The decision that counts: a person's review over the lane's own.
    pub fn final_outcome(&self) -> Option<Outcome> {
        self.review.as_ref().or(self.decision.as_ref()).map(|d| d.outcome)
    }

    pub fn stage(&self, stage: Stage) -> Option<&StageRecord> {
        self.stages.iter().find(|s| s.stage == stage)
    }
}
