//! What the lane publishes: passage records, decisions, alarms, status and health.
//!
//! These types are the MQTT contract. The JSON Schemas in `docs/schema/` are
//! generated from them (`edge-agent schema --out docs/schema`) and a test fails
//! when the committed files drift from the code.

use chrono::{DateTime, Utc};
use drivers::{EmptyVerdict, Health, ImageFormat, SealRead};
use models::Reads;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    /// Counts passages since the agent started.
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

/// A stored image, referenced by content hash. The full image follows on the
/// `image/<sha256>` topics; a small preview travels inside the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImageRef {
    pub sha256: String,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    /// A JPEG at most 160 pixels wide, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_jpeg: Option<String>,
}

pub const IMAGE_SCHEMA: &str = "lanectl.image/1";

/// Sent on `image/<sha256>` before the image's chunks (`image/<sha256>/<index>`,
/// raw bytes, `chunk_size` each but the last).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImageManifest {
    /// Always `lanectl.image/1` for this layout.
    pub schema: String,
    pub sha256: String,
    pub bytes: u64,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    pub camera: String,
    pub passage: String,
    pub chunks: u32,
    pub chunk_size: u32,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UvssCheckRecord {
    /// The under-vehicle camera.
    pub device: String,
    pub verdict: UvssVerdict,
    /// 0..1; at or above 0.5 the verdict is `anomaly`.
    pub score: f32,
    pub regions: Vec<UvssRegion>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExitKind {
    /// Released; drove under the arm and out.
    DroveThrough,
    /// Left the capture zone without being released (backed out, diverted).
    LeftUnreleased,
    /// Slipped through behind another vehicle without a passage of its own.
    Tailgated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    Tailgate,
    BarrierFault,
    ReviewOverdue,
    ExitOverdue,
}

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

/// Sent as soon as the lane has decided, so reviewers see held vehicles at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DecisionEvent {
    pub passage: String,
    pub site: String,
    pub lane: String,
    pub plate: Option<String>,
    pub containers: Vec<String>,
    pub decision: DecisionRecord,
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
