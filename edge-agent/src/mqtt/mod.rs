//! MQTT: topics and the uplink to central (the `follow` and `tail` consumers live in `crate::cli`).

pub mod topics;
pub mod uplink;

pub use topics::Topics;
pub use uplink::{class_of, start, Inbox, UplinkHandle, Will};
