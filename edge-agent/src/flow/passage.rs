//! One vehicle's state inside the machine: its record being filled in, the stage
//! it is in and that stage's deadline.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use contract::passage::{
    CaptureRecord, ExitKind, Flag, PassageRecord, Stage, StageOutcome, StageRecord, PASSAGE_SCHEMA,
};

use super::event::Time;

#[derive(Debug, Clone)]
pub struct Passage {
    pub record: PassageRecord,
    pub stage: Stage,
    pub arrived: Time,
    pub deadline: Option<Duration>,
    pub(super) stage_started: Time,
    pub(super) pending: BTreeSet<String>,
    /// The vehicle still stands on the arrival loop.
    pub(super) on_arrival: bool,
    pub(super) under_arm_entries: u32,
    pub(super) passed_arm: bool,
}

impl Passage {
    /// A vehicle just arrived at lane `site`/`lane`, numbered `seq`.
    pub(super) fn new(site: &str, lane: &str, id: String, seq: u64, arrived: Time) -> Self {
        let record = PassageRecord {
            schema: PASSAGE_SCHEMA.into(),
            id,
            site: site.into(),
            lane: lane.into(),
            seq,
            arrived_at: arrived.utc,
            completed_at: None,
            total_ms: None,
            stages: vec![],
            captures: vec![],
            reads: None,
            recognition_error: None,
            empty_check: None,
            uvss: None,
            empty_image: None,
            decision: None,
            review: None,
            exit: None,
            flags: vec![],
        };
        Passage {
            record,
            stage: Stage::Capture,
            arrived,
            deadline: None,
            stage_started: arrived,
            pending: BTreeSet::new(),
            on_arrival: true,
            under_arm_entries: 0,
            passed_arm: false,
        }
    }

    pub(super) fn enter(&mut self, stage: Stage, now: Time, timeout: Option<Duration>) {
        self.stage = stage;
        self.stage_started = now;
        self.deadline = timeout.map(|t| now.mono + t);
        self.record.stages.push(StageRecord {
            stage,
            started_at: now.utc,
            ended_at: None,
            duration_ms: None,
            outcome: None,
        });
    }

    /// Closes the open stage record, if any.
    pub(super) fn end(&mut self, now: Time, outcome: StageOutcome) {
        let started = self.stage_started;
        if let Some(s) = self.record.stages.last_mut().filter(|s| s.ended_at.is_none()) {
            s.ended_at = Some(now.utc);
            s.duration_ms = Some(now.mono.saturating_sub(started.mono).as_millis() as u64);
            s.outcome = Some(outcome);
        }
        self.deadline = None;
    }

    pub(super) fn captured(&mut self, record: CaptureRecord) {
        if self.pending.remove(&record.device) {
            self.record.captures.push(record);
        }
    }

    pub(super) fn flag(&mut self, flag: Flag) {
        if !self.record.flags.contains(&flag) {
            self.record.flags.push(flag);
        }
    }

    /// Still in front of a closed barrier: nobody has let it through yet.
    pub(super) fn before_release(&self) -> bool {
        matches!(
            self.stage,
            Stage::Capture | Stage::Recognition | Stage::EmptyCheck | Stage::Decision | Stage::Review
        )
    }
}

/// Closes a passage the agent was in the middle of when it stopped or crashed,
/// with what was known: the stage it was in ends `interrupted` (when is not
/// known), and the record is complete as of `now`, the next start.
pub fn close_interrupted(mut record: PassageRecord, now: DateTime<Utc>) -> PassageRecord {
    if let Some(open) = record.stages.last_mut().filter(|s| s.ended_at.is_none()) {
        open.outcome = Some(StageOutcome::Interrupted);
    }
    // A tailgater's record waits in the journal for the passage it followed; it keeps
    // its own exit.
    record.exit = Some(record.exit.unwrap_or(ExitKind::Interrupted));
    record.completed_at = Some(now);
    record.total_ms = None;
    record
}
