//! Text in pixels: the PP-OCR models on ONNX Runtime and the line pipeline around them.
//!
//! Nothing here knows what a plate or a container code is; [`crate::read`] brings that knowledge.
//! The split keeps the model-facing code (tensor layouts, DB post-processing, CTC) testable on
//! its own and lets a different recogniser slot in without touching the domain parsers.
//! - [`runtime`]: sessions, verified against the manifest before loading;
//! - [`det`]: DB detection map → text boxes;
//! - [`rec`]: batched recognition and CTC decoding with per-character alternatives;
//! - [`ctc_layout`]: CTC decoding constrained to a layout (each position's allowed characters);
//! - [`vertical`]: re-assembling stacked upright characters into a line;
//! - [`rows`]: laying a two-row block's rows side by side as one line;
//! - [`pipeline`]: one image → recognised lines (shape paths, detection, the second look).

pub mod ctc_layout;
pub mod det;
pub mod narrow;
pub mod pipeline;
pub mod rec;
pub mod rows;
pub mod runtime;
pub mod vertical;
