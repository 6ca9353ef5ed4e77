//! MQTT: topics and the uplink to central (the `follow` and `tail` consumers live in `crate::cli`).

pub mod uplink;

pub use uplink::{class_of, start, Inbox, UplinkHandle, Will};
