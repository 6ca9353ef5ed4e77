//! On-device recognition for the inspection lane.
//!
//! The lane hands a passage's images to an [`engine::Engine`] and gets [`Reads`] back.
//! Pipeline: PP-OCRv4 detection and recognition on ONNX Runtime ([`runtime`], [`det`], [`rec`]),
//! dedicated paths for tight line crops and vertically stacked container codes ([`pipeline`],
//! [`vertical`]), then domain parsers: ISO 6346 container codes ([`iso6346`], [`container`]) and
//! GA 36 Chinese plates ([`plate`]).

pub mod ctc_layout;
pub mod det;
pub mod error;
pub mod imgops;
pub mod iso6346;
pub mod manifest;
pub mod reads;
pub mod rec;
pub mod runtime;

pub use error::{InputError, ModelError, OcrError};
pub use reads::{ContainerRead, PlateColor, PlateRead, Reads};
pub mod checkdigit;
pub mod cli;
pub mod container;
pub mod empty;
pub mod engine;
pub mod eval;
pub mod perturb;
pub mod pipeline;
pub mod plate;
pub mod plate_find;
pub mod plate_read;
pub mod recognize;
pub mod uvss;
pub mod vertical;
