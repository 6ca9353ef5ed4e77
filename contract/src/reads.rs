//! What recognition made of a passage's images, as it is published in the passage
//! record. Defined here (not in `models`) because it is part of the wire
//! contract; `models` re-exports it and fills it in.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Everything recognition made of one passage's images.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Reads {
    pub plates: Vec<PlateRead>,
    pub containers: Vec<ContainerRead>,
    /// Model names and versions that produced these reads.
    pub models: Vec<String>,
    /// Every line of text found, with its box and confidence, per camera: a
    /// reviewer sees where each read came from. Empty when the engine has no
    /// positions (the simulated reader).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<TextLine>,
}

/// One line of text the recogniser found in one camera's image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TextLine {
    pub camera: String,
    pub text: String,
    pub confidence: f32,
    /// `[x0, y0, x1, y1]` in the image's pixels.
    #[serde(rename = "box")]
    pub bbox: [i32; 4],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlateColor {
    Blue,
    Yellow,
    Green,
    White,
    Black,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlateRead {
    pub text: String,
    /// 0..1: the probability that this is exactly the plate's text, from the two recognisers'
    /// agreement, the margin over the runner-up text and the weakest character, calibrated on
    /// labelled images and conservative by the lane's costs (docs/design/recognition.md).
    pub confidence: f32,
    pub color: Option<PlateColor>,
    /// Cameras whose images produced this read.
    pub cameras: Vec<String>,
    /// `name version` of the models that produced this read (detectors and recognisers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContainerRead {
    /// ISO 6346 code, 11 characters.
    pub code: String,
    /// 0..1: the probability that this code is exactly right, from the weakest character and
    /// whether the check digit verifies the code as read, conservative by the lane's costs;
    /// several cameras' reads of one code are fused (docs/design/recognition.md).
    pub confidence: f32,
    pub check_digit_ok: bool,
    /// Characters changed by check-digit-guided correction, e.g. `"O->0@4"`.
    pub corrected: Vec<String>,
    /// ISO 6346 size/type code (`22G1`, `45G1`) when visible.
    pub size_type: Option<String>,
    pub cameras: Vec<String>,
    /// `name version` of the models that produced this read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
}
