//! Store-and-forward: nothing the lane publishes is lost to a broken uplink.
//! `store` is the SQLite table, `db` the thread that owns it.

mod db;
mod store;

pub use db::OutboxHandle;
pub use store::{Class, Depth, Outbox, OutboxError, Stored};
