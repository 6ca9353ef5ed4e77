//! Device health. The type is part of the wire contract (it is published on
//! `<base>/health/<device>`), so it is defined in `contract` and re-exported
//! here for the drivers that report it.

pub use contract::device::{Health, HealthState};
