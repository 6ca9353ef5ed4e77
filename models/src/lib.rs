//! On-device recognition for the inspection lane.
//!
//! The lane hands a passage's images to a [`Recognizer`] and gets [`Reads`] back.
//! What sits behind the trait (the PP-OCR pipeline on ONNX Runtime, or the
//! simulated reader of the demo lane) is chosen by configuration.

pub mod iso6346;
pub mod reads;

pub use reads::{ContainerRead, PlateColor, PlateRead, Reads};
