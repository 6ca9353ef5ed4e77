//! Typed errors of the recognition crate.
//!
//! Two families, because the caller reacts differently: [`ModelError`] means the lane cannot
//! recognise anything until an installer acts (run `scripts/setup-models`, fix the path);
//! [`InputError`] means this one image is unusable and the next one may be fine.

use std::path::PathBuf;

/// The models or the runtime could not be loaded. Nothing can be recognised until fixed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model directory {dir} not found; run scripts/setup-models (or set LANECTL_CACHE)")]
    MissingDir { dir: PathBuf },
    #[error("model file {path} is missing; run scripts/setup-models")]
    MissingFile { path: PathBuf },
    #[error("{path}: sha256 {actual} does not match manifest {expected}; the file is corrupt or a different version, run scripts/setup-models --force")]
    Checksum { path: PathBuf, expected: String, actual: String },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("model manifest is invalid: {0}")]
    Manifest(String),
    #[error("ONNX Runtime library {path} could not be loaded: {reason}; run scripts/setup-models or set ORT_DYLIB_PATH")]
    Runtime { path: PathBuf, reason: String },
    #[error("model {path} could not be loaded by ONNX Runtime (corrupt file?): {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("recognition model has no `character` dictionary in its metadata")]
    NoDictionary,
    #[error("inference failed in {stage}: {reason}")]
    Inference { stage: &'static str, reason: String },
    #[error("recognition worker has stopped")]
    WorkerGone,
}

/// One input image cannot be used; other images are unaffected.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("input is empty (0 bytes)")]
    Empty,
    #[error("input is {size} bytes, larger than the {max}-byte limit")]
    TooLarge { size: u64, max: u64 },
    #[error("input is not a supported image (JPEG or PNG)")]
    NotAnImage,
    #[error("image is corrupt or truncated: {0}")]
    Corrupt(String),
    #[error("image is {width}x{height}; supported sizes are 8x8 up to {max}x{max} pixels")]
    BadDimensions { width: u32, height: u32, max: u32 },
}

/// Either family, for calls that load models and read an image in one go.
#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Input(#[from] InputError),
}

/// One image of a passage that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusableImage {
    pub camera: String,
    pub reason: String,
}

/// Why a passage's images gave no reads the lane can decide on.
///
/// Unlike [`OcrError`] this is cloneable and comparable: it travels with the passage through the
/// lane's state machine and ends up, as text, in the passage record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecognitionError {
    /// Nothing can be read until an installer acts (see [`ModelError`] for the causes).
    #[error("recognition models unavailable: {0}")]
    ModelsUnavailable(String),
    #[error("unusable image(s): {}", list(.0))]
    UnusableImages(Vec<UnusableImage>),
    /// The recogniser panicked; the next passage gets a fresh chance.
    #[error("recognizer crashed on this input")]
    Crashed,
}

fn list(images: &[UnusableImage]) -> String {
    images.iter().map(|i| format!("{}: {}", i.camera, i.reason)).collect::<Vec<_>>().join("; ")
}
