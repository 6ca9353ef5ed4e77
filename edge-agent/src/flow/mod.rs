//! The passage flow: arrival -> captures -> recognition -> (empty-box check) ->
//! decision -> barrier opens -> vehicle clears -> barrier closes -> complete.
//!
//! A pure state machine (see `machine.rs`); the lane runtime feeds it events and
//! time and carries out the effects it returns ([`Effect`]: what the machine
//! asks for; "command" on this lane means central's signed commands).

mod arm;
mod event;
mod machine;
mod passage;
#[cfg(test)]
mod tests;

pub use event::{BarrierError, BarrierOp, Effect, EmptyCheckNeed, Event, Time, Zone};
pub use machine::{BarrierPos, Flow, FlowConfig};
pub use passage::{close_interrupted, Passage};
