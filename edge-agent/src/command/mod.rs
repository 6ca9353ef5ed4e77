//! Commands from central, the lane's side of them: the durable memory of which
//! command ids were received ([`Replay`]), and `edge-agent command` for
//! installers. The command, its envelope and its verification are the
//! contract's ([`contract::command`]), shared with central.

mod replay;

pub use replay::Replay;

#[cfg(test)]
mod tests;
