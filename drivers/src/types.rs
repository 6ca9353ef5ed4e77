//! What devices hand back. These cross into passage records, so they serialise.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// Readings that go into published records are part of the wire contract and
// defined there; drivers produce them under the same names.
pub use contract::device::{EmptyVerdict, ImageFormat, SealRead, SealStatus};

/// An encoded image as a device produced it (JPEG from IP cameras, PNG from
/// assembled line scans). Kept encoded: it is stored and sent as is.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub bytes: Bytes,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    pub captured_at: DateTime<Utc>,
    /// Ground truth attached by simulated devices only, so that a simulated lane can
    /// run end to end before recognition models are installed. Real drivers leave
    /// it empty and the `sim-truth` engine refuses to run on real devices.
    pub sim_truth: Option<SimTruth>,
}

/// What a simulated camera "shows": the text a perfect reader would read, and the
/// confidence the simulated reader should report for it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SimTruth {
    pub plate: Option<String>,
    pub containers: Vec<String>,
    pub confidence: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BarrierState {
    Opened,
    Closed,
    /// Between the limits: moving, stopped half-way, or limit switches disagree.
    Between,
}

impl BarrierState {
    /// The position in a technician's words, for logs and messages (`open`, not `Opened`).
    pub fn word(self) -> &'static str {
        match self {
            BarrierState::Opened => "open",
            BarrierState::Closed => "closed",
            BarrierState::Between => "half-way",
        }
    }
}

/// The empty-box detector's own verdict on one container.
#[derive(Debug, Clone, PartialEq)]
pub struct EmptyBoxResult {
    pub container: Option<String>,
    pub verdict: EmptyVerdict,
    pub confidence: f32,
    /// Depth profile along the box, metres of free space per sample.
    pub depth_profile: Vec<f32>,
    pub interior: Option<Image>,
}

/// One under-vehicle pass, assembled from line-scan rows.
#[derive(Debug, Clone, PartialEq)]
pub struct UvssScan {
    pub image: Image,
    /// Rows per metre of travel after speed normalisation.
    pub rows_per_metre: f32,
    pub speed_kmh: f32,
}
