//! MQTT: topics, the uplink to central, and the follower used by `edge-agent follow`.
//!
//! The uplink is three parts: `flight` (what is in flight, pure), `link` (the task polling
//! rumqttc), `uplink` (the task that owns the flight and feeds the client from the outbox);
//! `inbound` is what becomes of messages from central.

mod flight;
pub mod follow;
mod inbound;
mod link;
pub mod tail;
pub mod topics;
pub mod uplink;

pub use inbound::{Inbound, Inbox, LinkCounters};
pub use topics::Topics;
pub use uplink::{start, StatusFor, UplinkHandle, Will};
