//! What goes into the passage state machine (events, with the time) and what
//! comes out of it (effects for the runtime to carry out).

use std::time::Duration;

use chrono::{DateTime, Utc};
use models::Reads;

use contract::decision::{DecisionRecord, Outcome};
use contract::lane::Alarm;
use contract::passage::{CaptureRecord, EmptyCheckRecord, EmptyImageRecord, PassageRecord, UvssCheckRecord};

/// The machine's notion of now: monotonic time for deadlines, UTC for records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Time {
    pub mono: Duration,
    pub utc: DateTime<Utc>,
}

impl Time {
    pub fn after(self, d: Duration) -> Time {
        Time { mono: self.mono + d, utc: self.utc + chrono::Duration::from_std(d).unwrap_or_default() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Zone {
    Arrival,
    UnderArm,
    Exit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarrierOp {
    Open,
    Close,
}

/// Why a barrier movement did not complete.
#[derive(Debug, Clone, PartialEq)]
pub enum BarrierError {
    /// The drive refused (obstacle under the arm); nothing is broken.
    Refused(String),
    /// Limit not reached, drive not answering: a fault someone must look at.
    Fault(String),
}

/// Whether recognition found the vehicle declared empty, which calls for the
/// empty-box detector. Known only after reading plate and containers.
#[derive(Debug, Clone, PartialEq)]
pub enum EmptyCheckNeed {
    No,
    Yes { container: Option<String> },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Presence {
        zone: Zone,
        occupied: bool,
    },
    Captured(CaptureRecord, String),
    Recognized {
        passage: String,
        result: Result<Reads, String>,
        empty_check: EmptyCheckNeed,
    },
    EmptyChecked {
        passage: String,
        record: EmptyCheckRecord,
    },
    /// Vision results (UVSS comparison, image-based empty check) for the record; they change
    /// no stage, and arrive before the event that moves the passage on.
    Vision {
        passage: String,
        uvss: Option<Box<UvssCheckRecord>>,
        empty_image: Option<EmptyImageRecord>,
    },
    Decided {
        passage: String,
        decision: DecisionRecord,
    },
    /// A person's decision on a held vehicle.
    Reviewed {
        passage: String,
        decision: DecisionRecord,
    },
    BarrierDone {
        op: BarrierOp,
        result: Result<(), BarrierError>,
    },
    /// The barrier position read from its limit switches at start-up.
    BarrierObserved {
        opened: bool,
    },
    /// Time passed; deadlines are checked on every event, this carries no news.
    Tick,
}

impl Event {
    pub fn captured(passage: &str, record: CaptureRecord) -> Event {
        Event::Captured(record, passage.to_string())
    }
}

/// What the machine asks the runtime to do. Effects, not commands: a command
/// on this lane is central's, signed ([`contract::command`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Capture {
        passage: String,
        device: String,
    },
    Recognize {
        passage: String,
    },
    CheckEmpty {
        passage: String,
        device: String,
        container: Option<String>,
    },
    /// Evaluate the decision policy on the record so far, answer with `Decided`.
    Decide {
        record: Box<PassageRecord>,
    },
    OpenBarrier,
    /// Only ever emitted while the zone under the arm is clear.
    CloseBarrier,
    /// Read the arm's position (answer with `BarrierObserved`).
    ObserveBarrier,
    /// The lane decided; publish it now so reviewers see held vehicles at once.
    Announce {
        record: Box<PassageRecord>,
    },
    /// The passage is over: publish and store the full record.
    Complete {
        record: Box<PassageRecord>,
    },
    Alarm(Alarm),
    /// Passage finished: the runtime may drop images and state it kept for it.
    Forget {
        passage: String,
    },
}

impl Effect {
    pub fn outcome(&self) -> Option<Outcome> {
        match self {
            Effect::Complete { record } => record.final_outcome(),
            _ => None,
        }
    }
}
