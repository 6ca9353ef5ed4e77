//! MQTT: the uplink to central (the `follow` and `tail` consumers live in `crate::cli`, the
//! topics in the contract).
//!
//! The uplink is three parts: `flight` (what is in flight, pure), `link` (the task polling
//! rumqttc), `uplink` (the task that owns the flight and feeds the client from the outbox);
//! `inbound` is what becomes of messages from central.

mod flight;
mod inbound;
mod link;
pub mod uplink;

pub use inbound::{Inbound, Inbox, LinkCounters};
pub use uplink::{start, StatusFor, UplinkHandle, Will};
