//! Wire-level device simulators: each plays one lane device over the transport
//! the real one uses (a PTY for the seal reader, TCP for the empty-box detector
//! and the UVSS camera, HTTP for the area cameras), with the same codecs the
//! drivers use, so a test or the demo exercises the real driver code paths.
//!
//! Faults are scenarios ([`Scenario`]) that can be switched while a simulator
//! runs ([`ScenarioCtl`]), so a test can inject a fault, watch the driver react,
//! switch back to normal and watch it recover. How a scenario mangles bytes on
//! the wire is in [`faults`], shared by every simulator.

pub mod camera;
pub mod emptybox;
pub mod faults;
pub mod jpeg;
pub mod lane;
pub mod modbus;
pub mod pty;
pub mod seal;
pub mod testkit;
pub mod uvss;

use std::fmt;

use serde::Serialize;
use tokio::sync::watch;

/// What the simulated devices do wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Everything answers correctly.
    Normal,
    /// Random bytes on the line before and after every frame.
    Garbage,
    /// Replies are cut off part-way.
    Truncated,
    /// Replies carry a wrong checksum.
    BadCrc,
    /// The devices stop answering (the link stays up).
    Silent,
    /// Links are dropped and come back a moment later.
    Disconnect,
    /// The barrier does not move when commanded.
    StuckBarrier,
    /// A presence sensor flips many times a second.
    ChatteringSensor,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s =
            serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        f.write_str(&s)
    }
}

/// Switches the scenario of running simulators. Cheap to clone.
#[derive(Clone)]
pub struct ScenarioCtl {
    tx: std::sync::Arc<watch::Sender<Scenario>>,
}

impl ScenarioCtl {
    pub fn new(initial: Scenario) -> Self {
        ScenarioCtl { tx: std::sync::Arc::new(watch::channel(initial).0) }
    }

    pub fn set(&self, s: Scenario) {
        self.tx.send_replace(s);
    }

    pub fn get(&self) -> Scenario {
        *self.tx.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<Scenario> {
        self.tx.subscribe()
    }
}
