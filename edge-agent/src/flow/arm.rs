//! The barrier arm inside the passage machine: opening for a released
//! vehicle, closing behind it (never onto one), and what a refused, failed or
//! late movement does to the passage. Apart from the passage's own steps
//! (`machine.rs`) because the arm has a life of its own: it is found open at
//! start-up, left up by a timed-out move, read again after a fault.

use contract::decision::Outcome;
use contract::lane::{Alarm, AlarmKind};
use contract::passage::{ExitKind, Flag, Stage, StageOutcome};

use super::event::{BarrierError, BarrierOp, Effect, Time};
use super::machine::{BarrierPos, Flow};

impl Flow {
    /// Keeps the arm down whenever no released vehicle needs it up: found open
    /// at start-up, left up by a move that timed out, opened late for a
    /// vehicle that has gone. Never closes onto the zone under the arm, and
    /// after a fault reads the position again (every `timeouts.barrier`)
    /// rather than assume it.
    pub(super) fn secure(&mut self, now: Time, out: &mut Vec<Effect>) {
        if !self.current.as_ref().is_none_or(|p| p.before_release()) {
            return;
        }
        match self.barrier {
            BarrierPos::Opened if !self.under_arm => {
                self.barrier = BarrierPos::Closing;
                out.push(Effect::CloseBarrier);
            }
            BarrierPos::Unknown if self.recheck_at.is_some_and(|t| now.mono >= t) => {
                self.recheck_at = Some(now.mono + self.cfg.timeouts.barrier);
                out.push(Effect::ObserveBarrier);
            }
            _ => {}
        }
    }

    /// The arm came up after the machine gave up on opening it (a slow drive):
    /// the vehicle waiting in review was released, so it may go now.
    pub(super) fn released_through_late_arm(&mut self, now: Time, out: &mut Vec<Effect>) {
        let Some(p) = self.current.as_mut() else { return };
        if p.stage != Stage::Review || p.record.final_outcome() != Some(Outcome::Release) {
            return;
        }
        p.end(now, StageOutcome::Ok);
        p.enter(Stage::Exit, now, Some(self.cfg.timeouts.exit));
        self.maybe_close(now, out);
    }

    /// The arm's position is no longer known (a failed or timed-out move).
    pub(super) fn lost_barrier(&mut self, now: Time) {
        self.barrier = BarrierPos::Unknown;
        self.recheck_at = Some(now.mono + self.cfg.timeouts.barrier);
    }

    pub(super) fn open(&mut self, now: Time, out: &mut Vec<Effect>) {
        let p = self.current.as_mut().expect("a passage is released");
        if p.stage == Stage::Review {
            p.end(now, StageOutcome::Ok);
        }
        if self.barrier == BarrierPos::Opened {
            p.enter(Stage::Exit, now, Some(self.cfg.timeouts.exit));
            return;
        }
        p.enter(Stage::Opening, now, Some(self.cfg.timeouts.barrier));
        self.barrier = BarrierPos::Opening;
        out.push(Effect::OpenBarrier);
    }

    pub(super) fn barrier_done(
        &mut self,
        now: Time,
        op: BarrierOp,
        result: Result<(), BarrierError>,
        out: &mut Vec<Effect>,
    ) {
        let stage = self.current.as_ref().map(|p| p.stage);
        match (op, result) {
            (BarrierOp::Open, Ok(())) => {
                self.barrier = BarrierPos::Opened;
                self.fault_alarmed = false;
                if stage == Some(Stage::Opening) {
                    let p = self.current.as_mut().expect("opening has a passage");
                    p.end(now, StageOutcome::Ok);
                    p.enter(Stage::Exit, now, Some(self.cfg.timeouts.exit));
                    self.maybe_close(now, out);
                } else {
                    self.released_through_late_arm(now, out);
                }
            }
            (BarrierOp::Open, Err(e)) => {
                self.lost_barrier(now);
                if stage == Some(Stage::Opening) {
                    self.open_failed(now, &e, out);
                }
            }
            (BarrierOp::Close, Ok(())) => {
                self.barrier = BarrierPos::Closed;
                self.fault_alarmed = false;
                if stage == Some(Stage::Closing) {
                    self.finish(now, StageOutcome::Ok, ExitKind::DroveThrough, out);
                }
            }
            (BarrierOp::Close, Err(BarrierError::Refused(_))) => {
                // The drive saw something under the arm and kept it up: wait for
                // the zone to clear and try again. The closing record stays open, so
                // the passage shows one exit and one closing however often the drive
                // stopped (the refusals are in the audit trail).
                self.barrier = BarrierPos::Opened;
                if stage == Some(Stage::Closing) {
                    let p = self.current.as_mut().expect("closing has a passage");
                    p.stage = Stage::Exit;
                    p.deadline = Some(now.mono + self.cfg.timeouts.exit);
                    self.maybe_close(now, out);
                }
            }
            (BarrierOp::Close, Err(BarrierError::Fault(e))) => {
                self.lost_barrier(now);
                self.barrier_alarm(now, &e, out);
                if stage == Some(Stage::Closing) {
                    self.finish(now, StageOutcome::Failed, ExitKind::DroveThrough, out);
                }
            }
        }
    }

    pub(super) fn open_failed(&mut self, now: Time, error: &BarrierError, out: &mut Vec<Effect>) {
        let message = match error {
            BarrierError::Refused(m) | BarrierError::Fault(m) => m.clone(),
        };
        self.lost_barrier(now);
        self.barrier_alarm(now, &message, out);
        // The vehicle cannot leave on its own now: a person must handle it.
        let p = self.current.as_mut().expect("opening has a passage");
        p.end(now, StageOutcome::Failed);
        p.enter(Stage::Review, now, Some(self.cfg.timeouts.review));
    }

    pub(super) fn barrier_alarm(&mut self, now: Time, message: &str, out: &mut Vec<Effect>) {
        let passage = self.current.as_mut().map(|p| {
            p.flag(Flag::BarrierFault);
            p.record.id.clone()
        });
        if std::mem::replace(&mut self.fault_alarmed, true) {
            return;
        }
        out.push(Effect::Alarm(Alarm {
            kind: AlarmKind::BarrierFault,
            passage,
            device: None,
            message: format!("barrier: {message}"),
            at: now.utc,
        }));
    }

    /// Closes behind a vehicle that has cleared the arm, never onto one.
    pub(super) fn maybe_close(&mut self, now: Time, out: &mut Vec<Effect>) {
        let Some(p) = self.current.as_mut() else { return };
        let cleared = (p.passed_arm || p.under_arm_entries == 0) && !p.on_arrival;
        if p.stage != Stage::Exit || self.under_arm || !cleared {
            return;
        }
        let resumed =
            p.record.stages.last().is_some_and(|s| s.stage == Stage::Closing && s.ended_at.is_none());
        if resumed {
            p.stage = Stage::Closing;
            p.deadline = Some(now.mono + self.cfg.timeouts.barrier);
        } else {
            p.end(now, StageOutcome::Ok);
            p.enter(Stage::Closing, now, Some(self.cfg.timeouts.barrier));
        }
        self.barrier = BarrierPos::Closing;
        out.push(Effect::CloseBarrier);
    }
}
