//! The passage flow: arrival -> captures -> recognition -> (empty-box check) ->
//! decision -> barrier opens -> vehicle clears -> barrier closes -> complete.
//!
//! A pure state machine (see `machine.rs`); the lane runtime feeds it events and
//! time and carries out the commands it returns.

mod event;
mod machine;
mod passage;
#[cfg(test)]
mod tests;

pub use event::*;
pub use machine::{BarrierPos, Flow, FlowConfig};
pub use passage::{close_interrupted, Passage};
