//! The passage state machine. No I/O, no clock: `handle(now, event)` changes the
//! state and returns the effects the runtime must carry out, and
//! `next_deadline()` says when it wants to be woken with `Event::Tick`.
//!
//! Safety rule kept here (and again in the barrier driver): `CloseBarrier` is only
//! emitted while the zone under the arm is clear.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use crate::config::Timeouts;
use crate::words::wire_word;
use contract::decision::{DecisionRecord, Outcome};
use contract::lane::{Alarm, AlarmKind};
use contract::passage::{
    CaptureKind, CaptureOutcome, CaptureRecord, EmptyCheckRecord, ExitKind, Flag, Stage, StageOutcome,
};

use super::event::{BarrierError, Effect, EmptyCheckNeed, Event, Time, Zone};
use super::passage::Passage;

/// What the machine needs to know about the lane; built from the configuration.
#[derive(Debug, Clone)]
pub struct FlowConfig {
    pub site: String,
    pub lane: String,
    pub timeouts: Timeouts,
    /// Capture devices and what each captures.
    pub captures: Vec<(String, CaptureKind)>,
    pub empty_box: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarrierPos {
    Closed,
    Opening,
    Opened,
    Closing,
    /// After a fault, or before the first reading.
    Unknown,
}

pub struct Flow {
    pub(super) cfg: FlowConfig,
    arrival: bool,
    pub(super) under_arm: bool,
    pub(super) barrier: BarrierPos,
    /// After a barrier fault: when to read the arm's position again. Without
    /// it an arm left up (or half-way) after a timed-out move stays that way
    /// with nobody around, and the lane stops being a checkpoint.
    pub(super) recheck_at: Option<Duration>,
    /// A fault alarm is out; repeats stay quiet until the arm works again.
    pub(super) fault_alarmed: bool,
    pub(super) current: Option<Passage>,
    /// Arrival times of vehicles waiting behind the current one.
    queue: VecDeque<Time>,
    /// Tailgaters' records with their arrival, completed right after the passage they
    /// followed, so records arrive in the order the vehicles left the lane.
    followers: Vec<(contract::passage::PassageRecord, Time)>,
    /// The last passage number given out; the next passage gets the one after.
    seq: u64,
}

impl Flow {
    pub fn new(cfg: FlowConfig) -> Self {
        Flow {
            cfg,
            arrival: false,
            under_arm: false,
            barrier: BarrierPos::Unknown,
            recheck_at: None,
            fault_alarmed: false,
            current: None,
            queue: VecDeque::new(),
            followers: Vec::new(),
            seq: 0,
        }
    }

    /// Numbers passages on from `last_seq` (the last one given out before a
    /// restart), so a lane's `seq` never repeats.
    pub fn continuing_after(mut self, last_seq: u64) -> Self {
        self.seq = last_seq;
        self
    }

    /// The last passage number given out (0: none yet).
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    pub fn barrier(&self) -> BarrierPos {
        self.barrier
    }

    pub fn current(&self) -> Option<&Passage> {
        self.current.as_ref()
    }

    /// Tailgaters' records waiting for the passage they followed to complete (the lane
    /// journals them like the passage in progress).
    pub fn followers(&self) -> impl Iterator<Item = &contract::passage::PassageRecord> {
        self.followers.iter().map(|(r, _)| r)
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    pub fn under_arm_occupied(&self) -> bool {
        self.under_arm
    }

    /// When the machine next needs a `Tick`.
    pub fn next_deadline(&self) -> Option<Duration> {
        let passage = self.current.as_ref().and_then(|p| p.deadline);
        let recheck = self.recheck_at.filter(|_| self.barrier == BarrierPos::Unknown);
        passage.into_iter().chain(recheck).min()
    }

    pub fn handle(&mut self, now: Time, event: Event) -> Vec<Effect> {
        let mut out = Vec::new();
        match event {
            Event::Presence { zone, occupied } => self.presence(now, zone, occupied, &mut out),
            Event::Captured(record, passage) => {
                if let Some(p) = self.passage_in(&passage, Stage::Capture) {
                    p.captured(record);
                    if p.pending.is_empty() {
                        self.after_capture(now, StageOutcome::Ok, &mut out);
                    }
                }
            }
            Event::Recognized { passage, result, empty_check } => {
                if let Some(p) = self.passage_in(&passage, Stage::Recognition) {
                    match result {
                        Ok(reads) => p.record.reads = Some(reads),
                        Err(e) => p.record.recognition_error = Some(e),
                    }
                    let outcome =
                        if p.record.reads.is_some() { StageOutcome::Ok } else { StageOutcome::Failed };
                    self.after_recognition(now, outcome, empty_check, &mut out);
                }
            }
            Event::EmptyChecked { passage, record } => {
                if let Some(p) = self.passage_in(&passage, Stage::EmptyCheck) {
                    let outcome = if record.outcome == CaptureOutcome::Ok {
                        StageOutcome::Ok
                    } else {
                        StageOutcome::Failed
                    };
                    p.record.empty_check = Some(record);
                    self.go_to_decision(now, outcome, &mut out);
                }
            }
            Event::Vision { passage, uvss, empty_image } => {
                if let Some(p) =
                    self.current.as_mut().filter(|p| p.record.id == passage && p.record.decision.is_none())
                {
                    if uvss.is_some() {
                        p.record.uvss = uvss.map(|u| *u);
                    }
                    if empty_image.is_some() {
                        p.record.empty_image = empty_image;
                    }
                }
            }
            Event::Decided { passage, decision } => {
                if self.passage_in(&passage, Stage::Decision).is_some() {
                    self.decided(now, decision, StageOutcome::Ok, &mut out);
                }
            }
            Event::Reviewed { passage, decision } => self.reviewed(now, &passage, decision, &mut out),
            Event::BarrierDone { op, result } => self.barrier_done(now, op, result, &mut out),
            Event::BarrierObserved { opened } => {
                // Only a position read while nothing moves it counts: a reading
                // taken mid-move would be stale by the time it arrives.
                if matches!(self.barrier, BarrierPos::Unknown | BarrierPos::Opened | BarrierPos::Closed) {
                    self.barrier = if opened { BarrierPos::Opened } else { BarrierPos::Closed };
                    if opened {
                        self.released_through_late_arm(now, &mut out);
                    } else {
                        self.fault_alarmed = false;
                    }
                }
            }
            Event::Tick => {}
        }
        self.check_deadline(now, &mut out);
        self.secure(now, &mut out);
        out
    }

    fn passage_in(&mut self, id: &str, stage: Stage) -> Option<&mut Passage> {
        self.current.as_mut().filter(|p| p.record.id == id && p.stage == stage)
    }

    fn presence(&mut self, now: Time, zone: Zone, occupied: bool, out: &mut Vec<Effect>) {
        match zone {
            Zone::Arrival => {
                if self.arrival == occupied {
                    return;
                }
                self.arrival = occupied;
                if occupied {
                    self.vehicle_arrived(now, out);
                } else {
                    self.arrival_cleared(now, out);
                }
            }
            Zone::UnderArm => {
                if self.under_arm == occupied {
                    return;
                }
                self.under_arm = occupied;
                if let Some(p) = self.current.as_mut() {
                    if occupied {
                        p.under_arm_entries += 1;
                        if p.under_arm_entries > 1 && matches!(p.stage, Stage::Exit | Stage::Closing) {
                            self.tailgate(now, SECOND_VEHICLE, out);
                        }
                    } else {
                        p.passed_arm = true;
                    }
                }
                self.maybe_close(now, out);
            }
            Zone::Exit => {}
        }
    }

    fn vehicle_arrived(&mut self, now: Time, out: &mut Vec<Effect>) {
        if self.current.is_some() {
            self.queue.push_back(now);
        } else {
            self.start(now, now, out);
        }
    }

    fn arrival_cleared(&mut self, now: Time, out: &mut Vec<Effect>) {
        let Some(p) = self.current.as_mut() else {
            self.queue.pop_front();
            return;
        };
        if p.on_arrival {
            p.on_arrival = false;
            if p.before_release() {
                // Backed out or diverted before anyone let it through; or went under an arm
                // still up for the vehicle before it (its close held off by this one under the
                // arm), or that came up after the machine gave up on it. Through without a
                // release of its own is a tailgate, whatever let it through.
                let exit = if p.under_arm_entries > 0 {
                    self.tailgate(now, "a vehicle passed under the open barrier before it was released", out);
                    ExitKind::DroveThrough
                } else {
                    ExitKind::LeftUnreleased
                };
                self.finish(now, StageOutcome::Abandoned, exit, out);
            } else {
                self.maybe_close(now, out);
            }
        } else if let Some(arrived) = self.queue.pop_front() {
            if self.barrier != BarrierPos::Closed {
                // A waiting vehicle left the capture zone while the arm was up:
                // it drove through behind the current one.
                self.tailgate(now, SECOND_VEHICLE, out);
                self.tailgater_record(arrived);
            }
        }
    }

    fn start(&mut self, arrived: Time, now: Time, out: &mut Vec<Effect>) {
        let mut p = self.next_passage(arrived);
        p.enter(Stage::Capture, now, Some(self.cfg.timeouts.capture));
        for (device, _) in &self.cfg.captures {
            p.pending.insert(device.clone());
            out.push(Effect::Capture { passage: p.record.id.clone(), device: device.clone() });
        }
        let nothing_to_capture = p.pending.is_empty();
        self.current = Some(p);
        if nothing_to_capture {
            self.after_capture(now, StageOutcome::Ok, out);
        }
    }

    /// A new passage with the next number: `<lane>-<arrival time>-<seq>`.
    fn next_passage(&mut self, arrived: Time) -> Passage {
        self.seq += 1;
        let id = format!("{}-{}-{:04}", self.cfg.lane, arrived.utc.format("%Y%m%dT%H%M%S%3fZ"), self.seq);
        Passage::new(&self.cfg.site, &self.cfg.lane, id, self.seq, arrived)
    }

    fn after_capture(&mut self, now: Time, outcome: StageOutcome, out: &mut Vec<Effect>) {
        let p = self.current.as_mut().expect("capture stage has a passage");
        let pending: BTreeSet<String> = std::mem::take(&mut p.pending);
        for device in pending {
            let kind = self
                .cfg
                .captures
                .iter()
                .find(|(d, _)| *d == device)
                .map_or(CaptureKind::PlateImage, |(_, k)| *k);
            p.record.captures.push(CaptureRecord {
                device,
                kind,
                outcome: CaptureOutcome::Timeout,
                at: now.utc,
                error: Some(format!("no answer within {:?}", self.cfg.timeouts.capture)),
                image: None,
                seals: vec![],
                uvss: None,
            });
        }
        p.end(now, outcome);
        p.enter(Stage::Recognition, now, Some(self.cfg.timeouts.recognition));
        out.push(Effect::Recognize { passage: p.record.id.clone() });
    }

    fn after_recognition(
        &mut self,
        now: Time,
        outcome: StageOutcome,
        need: EmptyCheckNeed,
        out: &mut Vec<Effect>,
    ) {
        let p = self.current.as_mut().expect("recognition stage has a passage");
        match (need, &self.cfg.empty_box) {
            (EmptyCheckNeed::Yes { container }, Some(device)) => {
                p.end(now, outcome);
                p.enter(Stage::EmptyCheck, now, Some(self.cfg.timeouts.empty_check));
                out.push(Effect::CheckEmpty {
                    passage: p.record.id.clone(),
                    device: device.clone(),
                    container,
                });
            }
            _ => self.go_to_decision(now, outcome, out),
        }
    }

    fn go_to_decision(&mut self, now: Time, outcome: StageOutcome, out: &mut Vec<Effect>) {
        let p = self.current.as_mut().expect("a passage is deciding");
        p.end(now, outcome);
        p.enter(Stage::Decision, now, Some(self.cfg.timeouts.decision));
        out.push(Effect::Decide { record: Box::new(p.record.clone()) });
    }

    fn decided(&mut self, now: Time, decision: DecisionRecord, outcome: StageOutcome, out: &mut Vec<Effect>) {
        let p = self.current.as_mut().expect("a passage is deciding");
        p.end(now, outcome);
        let release = decision.outcome == Outcome::Release;
        p.record.decision = Some(decision);
        out.push(Effect::Announce { record: Box::new(p.record.clone()) });
        if release {
            self.open(now, out);
        } else {
            p.enter(Stage::Review, now, Some(self.cfg.timeouts.review));
        }
    }

    fn reviewed(&mut self, now: Time, passage: &str, decision: DecisionRecord, out: &mut Vec<Effect>) {
        let Some(p) = self.current.as_mut().filter(|p| p.record.id == passage) else { return };
        if p.stage != Stage::Review {
            return;
        }
        let release = decision.outcome == Outcome::Release;
        p.record.review = Some(decision);
        if release {
            self.open(now, out);
        }
    }

    /// Flags the current passage as tailgated (once) and raises the alarm with `message`.
    fn tailgate(&mut self, now: Time, message: &str, out: &mut Vec<Effect>) {
        let Some(p) = self.current.as_mut() else { return };
        if p.record.flags.contains(&Flag::Tailgate) {
            return;
        }
        p.flag(Flag::Tailgate);
        out.push(Effect::Alarm(Alarm {
            kind: AlarmKind::Tailgate,
            passage: Some(p.record.id.clone()),
            device: None,
            message: message.into(),
            at: now.utc,
        }));
    }

    /// A record for a vehicle that slipped through without a passage of its own.
    fn tailgater_record(&mut self, arrived: Time) {
        let mut p = self.next_passage(arrived);
        p.flag(Flag::Tailgate);
        p.record.exit = Some(ExitKind::Tailgated);
        // Completed with the passage it followed (see `finish`); the alarm went out at once.
        self.followers.push((p.record, arrived));
    }

    pub(super) fn finish(&mut self, now: Time, outcome: StageOutcome, exit: ExitKind, out: &mut Vec<Effect>) {
        let Some(mut p) = self.current.take() else { return };
        p.end(now, outcome);
        if p.record.decision.is_none() {
            // Every passage ends with a decision; one that left before the lane
            // decided was, in effect, held.
            p.record.decision = Some(DecisionRecord {
                outcome: Outcome::Hold,
                reasons: vec!["vehicle_left".into()],
                checks: vec![],
                by: "policy".into(),
                at: now.utc,
            });
            out.push(Effect::Announce { record: Box::new(p.record.clone()) });
        }
        p.record.exit = Some(exit);
        p.record.completed_at = Some(now.utc);
        p.record.total_ms = Some(now.mono.saturating_sub(p.arrived.mono).as_millis() as u64);
        let id = p.record.id.clone();
        out.push(Effect::Complete { record: Box::new(p.record) });
        out.push(Effect::Forget { passage: id });
        for (mut record, arrived) in self.followers.drain(..) {
            record.completed_at = Some(now.utc);
            record.total_ms = Some(now.mono.saturating_sub(arrived.mono).as_millis() as u64);
            out.push(Effect::Complete { record: Box::new(record) });
        }
        if let Some(arrived) = self.queue.pop_front() {
            self.start(arrived, now, out);
        }
    }

    fn check_deadline(&mut self, now: Time, out: &mut Vec<Effect>) {
        let Some(p) = self.current.as_mut() else { return };
        if p.deadline.is_none_or(|d| now.mono < d) {
            return;
        }
        let stage = p.stage;
        match stage {
            Stage::Capture => self.after_capture(now, StageOutcome::Timeout, out),
            Stage::Recognition => {
                p.record.recognition_error = Some("recognition timed out".into());
                self.after_recognition(now, StageOutcome::Timeout, EmptyCheckNeed::No, out);
            }
            Stage::EmptyCheck => {
                let device = self.cfg.empty_box.clone().unwrap_or_default();
                p.record.empty_check = Some(EmptyCheckRecord {
                    device,
                    container: None,
                    outcome: CaptureOutcome::Timeout,
                    verdict: None,
                    confidence: None,
                    error: Some("no result in time".into()),
                    image: None,
                });
                self.go_to_decision(now, StageOutcome::Timeout, out);
            }
            Stage::Decision => {
                let hold = DecisionRecord {
                    outcome: Outcome::Hold,
                    reasons: vec!["decision_timeout".into()],
                    checks: vec![],
                    by: "policy".into(),
                    at: now.utc,
                };
                self.decided(now, hold, StageOutcome::Timeout, out);
            }
            Stage::Opening => {
                self.open_failed(now, &BarrierError::Fault("open limit not reached in time".into()), out)
            }
            Stage::Closing => {
                self.lost_barrier(now);
                self.barrier_alarm(now, "closed limit not reached in time", out);
                self.finish(now, StageOutcome::Timeout, ExitKind::DroveThrough, out);
            }
            Stage::Review | Stage::Exit => {
                // Waiting for a person, or for a vehicle to move: raise it once and
                // keep waiting. The barrier never moves because a timer ran out.
                let (flag, kind, message) = if stage == Stage::Review {
                    (Flag::ReviewOverdue, AlarmKind::ReviewOverdue, review_overdue_message(&p.record.review))
                } else {
                    (
                        Flag::ExitOverdue,
                        AlarmKind::ExitOverdue,
                        "released vehicle has not cleared the barrier".to_string(),
                    )
                };
                p.flag(flag);
                p.deadline = None;
                out.push(Effect::Alarm(Alarm {
                    kind,
                    passage: Some(p.record.id.clone()),
                    device: None,
                    message,
                    at: now.utc,
                }));
            }
        }
    }
}

/// The review timer's words: a held vehicle nobody has decided on is waiting for review; one a
/// reviewer kept (hold for documents, inspection) is not, but still blocks the lane (only a
/// release opens), which is worth the same alarm.
fn review_overdue_message(review: &Option<DecisionRecord>) -> String {
    match review {
        None => "held vehicle still waiting for review".into(),
        Some(r) => {
            format!("held vehicle still at the barrier after review: {} by {}", wire_word(&r.outcome), r.by)
        }
    }
}

/// The tailgate alarm's words when a second vehicle follows a released one under the arm.
const SECOND_VEHICLE: &str = "a second vehicle passed under the open barrier";
