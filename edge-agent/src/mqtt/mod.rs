//! MQTT: topics, the uplink to central, and the follower used by `edge-agent follow`.

pub mod follow;
pub mod tail;
pub mod uplink;

pub use uplink::{class_of, start, Inbox, UplinkHandle, Will};
