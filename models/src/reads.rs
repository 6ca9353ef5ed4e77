//! What recognition produces. The types are part of the wire contract (they
//! travel inside the passage record), so they are defined in `contract` and
//! re-exported here for the engines that fill them in.

pub use contract::reads::{ContainerRead, PlateColor, PlateRead, Reads};
