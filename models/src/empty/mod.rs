//! Image-based empty-container check: a second, independent opinion beside the empty-box
//! detector's own verdict.
//!
//! With an ONNX classifier configured ([`Params::onnx`]) the model decides; its file must exist,
//! a missing one is [`Error::ModelMissing`] (an installer's problem, not "inconclusive").
//! Without one, the classical method of [`classical`] measures how much of the interior
//! attenuates or breaks the box's row/column structure. The verdict is `empty` below
//! `empty_below`, `not_empty` at or above `loaded_from`, `inconclusive` in between.
//! See `docs/design/uvss.md`.

pub mod classical;

use std::path::PathBuf;

use image::RgbImage;
use serde::Serialize;

use crate::error::InputError;
pub use classical::{ClassicalParams, Measures};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Empty,
    NotEmpty,
    Inconclusive,
}

#[derive(Clone, Debug)]
pub struct Params {
    /// ONNX classifier: input 1x3x224x224 RGB in 0..1, output [p_empty, p_loaded].
    pub onnx: Option<PathBuf>,
    pub classical: ClassicalParams,
    pub empty_below: f32,
    pub loaded_from: f32,
}

impl Default for Params {
    fn default() -> Self {
        Params { onnx: None, classical: ClassicalParams::default(), empty_below: 0.25, loaded_from: 0.6 }
    }
}

/// `score` is the loaded-ness in 0..1: 0 clearly empty, 1 clearly loaded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EmptyVerdict {
    pub verdict: Verdict,
    pub score: f32,
    #[serde(skip)]
    pub measures: Option<Measures>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("empty-check classifier {path} not found; fix `onnx` in the configuration or remove it to use the classical check")]
    ModelMissing { path: PathBuf },
    #[error("empty-check classifier {path} cannot be used: {reason}")]
    Model { path: PathBuf, reason: String },
}

/// Read an interior image (JPEG or PNG, size-checked).
pub fn load(path: &std::path::Path) -> Result<RgbImage, Error> {
    Ok(crate::imgops::load_path(path)?)
}

/// Decide whether the container in `img` is empty.
pub fn check(img: &RgbImage, p: &Params) -> Result<EmptyVerdict, Error> {
    if img.width() < 8 || img.height() < 8 {
        return Err(InputError::BadDimensions {
            width: img.width(),
            height: img.height(),
            max: crate::imgops::MAX_SIDE,
        }
        .into());
    }
    if let Some(path) = &p.onnx {
        if !path.is_file() {
            return Err(Error::ModelMissing { path: path.clone() });
        }
        // The hook is here; no empty-box model is shipped or pinned yet, so a configured file
        // is refused rather than silently replaced by the classical method.
        return Err(Error::Model {
            path: path.clone(),
            reason: "ONNX empty-check inference is not wired yet (no model in the manifest)".into(),
        });
    }
    let m = classical::measure(img, &p.classical);
    let verdict = if m.loaded < p.empty_below {
        Verdict::Empty
    } else if m.loaded >= p.loaded_from {
        Verdict::NotEmpty
    } else {
        Verdict::Inconclusive
    };
    Ok(EmptyVerdict { verdict, score: m.loaded, measures: Some(m) })
}
