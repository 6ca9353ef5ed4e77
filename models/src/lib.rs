//! On-device recognition for the inspection lane.
//!
//! The lane hands a passage's images to an [`engine::Engine`] and gets [`Reads`] back. The crate
//! is grouped by concept, and the groups depend on each other in one direction only:
//! - [`ocr`]: text in pixels, knowing nothing of plates or containers. ONNX Runtime sessions,
//!   DB detection, CTC recognition (plain and layout-constrained) and the line pipeline with its
//!   dedicated paths for tight crops and vertically stacked characters.
//! - [`read`]: what the lane is after, built on `ocr`'s lines: ISO 6346 container codes, GA 36
//!   Chinese plates, and [`read::image`], which turns one image into an [`read::image::ImageResult`].
//! - [`engine`]: the worker thread that owns the sessions and serves requests.
//! - [`eval`]: accuracy over labelled folders (plain, perturbed, grouped by source).
//! - [`uvss`] and [`empty`]: under-vehicle comparison and the container-empty check (classical
//!   vision, no models);
//! - [`synth`]: rendered plates and container codes with known truth (simulated cameras, tests).
//!
//! Errors are typed ([`error`]): a model problem stops recognition until an installer acts, an
//! input problem loses one image only.

pub mod cli;
pub mod empty;
pub mod engine;
pub mod error;
pub mod eval;
pub mod imgops;
pub mod manifest;
pub mod ocr;
pub mod read;
pub mod reads;
pub mod synth;
pub mod uvss;

pub use error::{InputError, ModelError, OcrError, RecognitionError, UnusableImage};
pub use reads::{ContainerRead, PlateColor, PlateRead, Reads};
