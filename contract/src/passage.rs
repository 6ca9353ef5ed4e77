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

    /// Every image the record refers to, with the camera it is published under (the topic's
    /// manifest names it) and its role: captures, the UVSS overlay, the empty check's image.
    pub fn images(&self) -> Vec<RecordImage<'_>> {
        let mut out = Vec::new();
        for c in &self.captures {
            if let Some(image) = &c.image {
                let role = match c.kind {
                    CaptureKind::PlateImage => "plate_image",
                    CaptureKind::ContainerImage => "container_image",
                    CaptureKind::UvssScan => "uvss_scan",
                    CaptureKind::Seals => "seals",
                };
                out.push(RecordImage { image, camera: c.device.clone(), role });
            }
        }
        if let Some(u) = &self.uvss {
            if let Some(image) = &u.overlay {
                out.push(RecordImage {
                    image,
                    camera: format!("{}-overlay", u.device),
                    role: "uvss_overlay",
                });
            }
        }
        if let Some(e) = &self.empty_check {
            if let Some(image) = &e.image {
                out.push(RecordImage { image, camera: e.device.clone(), role: "empty_check" });
            }
        }
        out
    }
}

/// One image a passage record refers to ([`PassageRecord::images`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordImage<'a> {
    pub image: &'a ImageRef,
    /// The device it came from, as its manifest names it.
    pub camera: String,
    /// What it shows, as central files it: `plate_image`, `container_image`, `uvss_scan`,
    /// `seals`, `uvss_overlay` or `empty_check`.
    pub role: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(sha: char) -> serde_json::Value {
        serde_json::json!({"sha256": sha.to_string().repeat(64), "format": "jpeg", "width": 1, "height": 1, "bytes": 9})
    }

    #[test]
    fn images_lists_captures_the_uvss_overlay_and_the_empty_check_each_under_its_camera() {
        let record: PassageRecord = serde_json::from_value(serde_json::json!({
            "schema": PASSAGE_SCHEMA, "id": "G01-1", "site": "S", "lane": "G01", "seq": 1,
            "arrived_at": "2026-12-06T08:00:00Z", "stages": [], "flags": [],
            "captures": [
                {"device": "plate-front", "kind": "plate_image", "outcome": "ok", "at": "2026-12-06T08:00:00Z", "image": image('a')},
                {"device": "seal-reader", "kind": "seals", "outcome": "ok", "at": "2026-12-06T08:00:00Z", "image": null},
                {"device": "uvss", "kind": "uvss_scan", "outcome": "ok", "at": "2026-12-06T08:00:00Z", "image": image('b')}
            ],
            "uvss": {"device": "uvss", "verdict": "clean", "score": 0.1, "regions": [], "overlay": image('c'), "duration_ms": 5},
            "empty_check": {"device": "interior", "container": null, "outcome": "ok", "image": image('d')}
        }))
        .unwrap();
        let listed: Vec<(char, String, &str)> = record
            .images()
            .into_iter()
            .map(|i| (i.image.sha256.chars().next().unwrap(), i.camera, i.role))
            .collect();
        assert_eq!(
            listed,
            vec![
                ('a', "plate-front".into(), "plate_image"),
                ('b', "uvss".into(), "uvss_scan"),
                ('c', "uvss-overlay".into(), "uvss_overlay"),
                ('d', "interior".into(), "empty_check"),
            ]
        );
    }
}
