//! A device's health as one small value (state, reason, since) that every
//! consumer shares: the technician page, the MQTT health topic and the decision
//! policy read the same [`Health`], so they can never disagree about a device.
//! It is published on `<base>/health/<device>`, so it is defined in the wire
//! contract (`contract::device`) and re-exported here for the drivers that
//! report it.

pub use contract::device::{Health, HealthState};
