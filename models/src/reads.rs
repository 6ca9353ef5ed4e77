//! What recognition made of a passage: the types the lane decides on and records.
//!
//! Kept apart from the pipeline's internals (lines, alternatives, timings) so the record and the
//! decision depend on a small, stable shape. They travel inside the passage record, so they are
//! defined in the wire contract (`contract::reads`) and re-exported here for the engines that
//! fill them in.

pub use contract::reads::{ContainerRead, PlateColor, PlateRead, Reads, TextLine};
