//! The inspection-lane edge controller.

pub mod config;
pub mod flow;
pub mod record;
