//! Every transition and timeout of the passage machine, on explicit time.

use std::time::Duration;

use chrono::{TimeZone, Utc};

use super::*;
use crate::config::Timeouts;
use contract::decision::{DecisionRecord, Outcome};
use contract::lane::{Alarm, AlarmKind};
use contract::passage::{
    CaptureKind, CaptureOutcome, CaptureRecord, EmptyCheckRecord, ExitKind, Flag, PassageRecord, Stage,
    StageOutcome,
};

struct Lane {
    flow: Flow,
    now: Time,
}

const T: Timeouts = Timeouts {
    capture: Duration::from_secs(5),
    recognition: Duration::from_secs(3),
    empty_check: Duration::from_secs(20),
    decision: Duration::from_secs(1),
    barrier: Duration::from_secs(8),
    exit: Duration::from_secs(60),
    review: Duration::from_secs(600),
};

fn config(empty_box: bool) -> FlowConfig {
    FlowConfig {
        site: "CNSHA".into(),
        lane: "G07".into(),
        timeouts: T,
        captures: vec![("plate".into(), CaptureKind::PlateImage), ("seals".into(), CaptureKind::Seals)],
        empty_box: empty_box.then(|| "ebd".into()),
    }
}

impl Lane {
    fn new() -> Self {
        Self::with(config(false))
    }

    fn with(cfg: FlowConfig) -> Self {
        let now = Time {
            mono: Duration::from_secs(100),
            utc: Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap(),
        };
        let mut lane = Lane { flow: Flow::new(cfg), now };
        assert!(lane.send(Event::BarrierObserved { opened: false }).is_empty());
        lane
    }

    fn send(&mut self, event: Event) -> Vec<Effect> {
        self.flow.handle(self.now, event)
    }

    fn advance(&mut self, ms: u64) -> Vec<Effect> {
        self.now = self.now.after(Duration::from_millis(ms));
        self.send(Event::Tick)
    }

    fn zone(&mut self, zone: Zone, occupied: bool) -> Vec<Effect> {
        self.send(Event::Presence { zone, occupied })
    }

    fn id(&self) -> String {
        self.flow.current().expect("a passage").record.id.clone()
    }

    fn stage(&self) -> Stage {
        self.flow.current().expect("a passage").stage
    }

    fn capture(&mut self, device: &str, kind: CaptureKind) -> Vec<Effect> {
        let id = self.id();
        let record = CaptureRecord {
            device: device.into(),
            kind,
            outcome: CaptureOutcome::Ok,
            at: self.now.utc,
            error: None,
            image: None,
            seals: vec![],
            uvss: None,
        };
        self.send(Event::captured(&id, record))
    }

    fn recognized(&mut self, need: EmptyCheckNeed) -> Vec<Effect> {
        let id = self.id();
        self.send(Event::Recognized { passage: id, result: Ok(models::Reads::default()), empty_check: need })
    }

    fn decide(&mut self, outcome: Outcome) -> Vec<Effect> {
        let id = self.id();
        self.send(Event::Decided { passage: id, decision: decision(outcome, "policy", self.now) })
    }

    /// Arrival through to the open barrier, every step asserted.
    fn released(&mut self) {
        let effects = self.zone(Zone::Arrival, true);
        assert_eq!(effects.len(), 2, "{effects:?}");
        assert!(self.capture("plate", CaptureKind::PlateImage).is_empty());
        let effects = self.capture("seals", CaptureKind::Seals);
        assert!(matches!(effects[..], [Effect::Recognize { .. }]), "{effects:?}");
        let effects = self.recognized(EmptyCheckNeed::No);
        assert!(matches!(effects[..], [Effect::Decide { .. }]), "{effects:?}");
        let effects = self.decide(Outcome::Release);
        assert!(matches!(effects[..], [Effect::Announce { .. }, Effect::OpenBarrier]), "{effects:?}");
        assert_eq!(self.stage(), Stage::Opening);
        assert!(self.send(Event::BarrierDone { op: BarrierOp::Open, result: Ok(()) }).is_empty());
        assert_eq!(self.stage(), Stage::Exit);
    }
}

fn decision(outcome: Outcome, by: &str, now: Time) -> DecisionRecord {
    DecisionRecord { outcome, reasons: vec![], checks: vec![], by: by.into(), at: now.utc }
}

fn completed(effects: &[Effect]) -> &PassageRecord {
    effects
        .iter()
        .find_map(|c| match c {
            Effect::Complete { record } => Some(record.as_ref()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Complete in {effects:?}"))
}

fn has_close(effects: &[Effect]) -> bool {
    effects.iter().any(|c| matches!(c, Effect::CloseBarrier))
}

fn first_alarm(effects: &[Effect]) -> Option<&Alarm> {
    effects.iter().find_map(|c| match c {
        Effect::Alarm(a) => Some(a),
        _ => None,
    })
}

fn alarm(effects: &[Effect]) -> Option<AlarmKind> {
    first_alarm(effects).map(|a| a.kind)
}

#[test]
fn released_vehicle_goes_through_every_stage_with_times() {
    let mut lane = Lane::new();
    lane.released();
    lane.advance(1500);
    assert!(lane.zone(Zone::UnderArm, true).is_empty());
    assert!(lane.zone(Zone::Arrival, false).is_empty(), "never close onto the vehicle under the arm");
    lane.advance(2000);
    let effects = lane.zone(Zone::UnderArm, false);
    assert!(matches!(effects[..], [Effect::CloseBarrier]), "{effects:?}");
    lane.advance(3000);
    let effects = lane.send(Event::BarrierDone { op: BarrierOp::Close, result: Ok(()) });
    let record = completed(&effects);
    assert_eq!(record.exit, Some(ExitKind::DroveThrough));
    let stages: Vec<Stage> = record.stages.iter().map(|s| s.stage).collect();
    assert_eq!(
        stages,
        [Stage::Capture, Stage::Recognition, Stage::Decision, Stage::Opening, Stage::Exit, Stage::Closing]
    );
    assert!(record.stages.iter().all(|s| s.outcome == Some(StageOutcome::Ok) && s.ended_at.is_some()));
    assert_eq!(record.stage(Stage::Exit).unwrap().duration_ms, Some(3500));
    assert_eq!(record.stage(Stage::Closing).unwrap().duration_ms, Some(3000));
    assert_eq!(record.total_ms, Some(6500));
    assert_eq!(record.final_outcome(), Some(Outcome::Release));
    assert!(lane.flow.current().is_none());
}

#[test]
fn capture_timeout_records_missing_devices_and_moves_on() {
    let mut lane = Lane::new();
    lane.zone(Zone::Arrival, true);
    lane.capture("plate", CaptureKind::PlateImage);
    assert!(lane.advance(4999).is_empty());
    let effects = lane.advance(1);
    assert!(matches!(effects[..], [Effect::Recognize { .. }]), "{effects:?}");
    let p = lane.flow.current().unwrap();
    let seals = p.record.captures.iter().find(|c| c.device == "seals").unwrap();
    assert_eq!(seals.outcome, CaptureOutcome::Timeout);
    assert_eq!(p.record.stage(Stage::Capture).unwrap().outcome, Some(StageOutcome::Timeout));
    // A late answer is ignored.
    assert!(lane.capture("seals", CaptureKind::Seals).is_empty());
}

#[test]
fn recognition_failure_and_timeout_still_reach_a_decision() {
    let mut lane = Lane::new();
    lane.zone(Zone::Arrival, true);
    lane.capture("plate", CaptureKind::PlateImage);
    lane.capture("seals", CaptureKind::Seals);
    let effects = lane.advance(3000);
    let Effect::Decide { record } = &effects[0] else { panic!("{effects:?}") };
    assert_eq!(record.recognition_error.as_deref(), Some("recognition timed out"));

    let mut lane = Lane::new();
    lane.zone(Zone::Arrival, true);
    lane.capture("plate", CaptureKind::PlateImage);
    lane.capture("seals", CaptureKind::Seals);
    let id = lane.id();
    let effects = lane.send(Event::Recognized {
        passage: id,
        result: Err("model missing".into()),
        empty_check: EmptyCheckNeed::No,
    });
    assert!(matches!(effects[..], [Effect::Decide { .. }]));
    assert_eq!(
        lane.flow.current().unwrap().record.stage(Stage::Recognition).unwrap().outcome,
        Some(StageOutcome::Failed)
    );
}

#[test]
fn declared_empty_vehicle_gets_the_empty_box_check_with_timeout() {
    let mut lane = Lane::with(config(true));
    lane.zone(Zone::Arrival, true);
    lane.capture("plate", CaptureKind::PlateImage);
    lane.capture("seals", CaptureKind::Seals);
    let effects = lane.recognized(EmptyCheckNeed::Yes { container: Some("CSQU3054383".into()) });
    assert!(
        matches!(&effects[..], [Effect::CheckEmpty { device, container: Some(_), .. }] if device == "ebd"),
        "{effects:?}"
    );
    assert_eq!(lane.stage(), Stage::EmptyCheck);
    assert!(lane.advance(19_999).is_empty());
    let effects = lane.advance(1);
    let Effect::Decide { record } = &effects[0] else { panic!("{effects:?}") };
    assert_eq!(record.empty_check.as_ref().unwrap().outcome, CaptureOutcome::Timeout);
}

#[test]
fn empty_box_result_is_recorded() {
    let mut lane = Lane::with(config(true));
    lane.zone(Zone::Arrival, true);
    lane.capture("plate", CaptureKind::PlateImage);
    lane.capture("seals", CaptureKind::Seals);
    lane.recognized(EmptyCheckNeed::Yes { container: None });
    let id = lane.id();
    let record = EmptyCheckRecord {
        device: "ebd".into(),
        container: None,
        outcome: CaptureOutcome::Ok,
        verdict: Some(drivers::EmptyVerdict::Empty),
        confidence: Some(0.9),
        error: None,
        image: None,
    };
    let effects = lane.send(Event::EmptyChecked { passage: id, record });
    let Effect::Decide { record } = &effects[0] else { panic!("{effects:?}") };
    assert_eq!(record.empty_check.as_ref().unwrap().verdict, Some(drivers::EmptyVerdict::Empty));
}

#[test]
fn without_declared_empty_or_detector_there_is_no_empty_check() {
    let mut lane = Lane::new();
    lane.zone(Zone::Arrival, true);
    lane.capture("plate", CaptureKind::PlateImage);
    lane.capture("seals", CaptureKind::Seals);
    let effects = lane.recognized(EmptyCheckNeed::Yes { container: None });
    assert!(matches!(effects[..], [Effect::Decide { .. }]), "no detector configured: {effects:?}");
}

#[test]
fn decision_timeout_holds_for_review() {
    let mut lane = Lane::new();
    lane.zone(Zone::Arrival, true);
    lane.capture("plate", CaptureKind::PlateImage);
    lane.capture("seals", CaptureKind::Seals);
    lane.recognized(EmptyCheckNeed::No);
    let effects = lane.advance(1000);
    let Effect::Announce { record } = &effects[0] else { panic!("{effects:?}") };
    let d = record.decision.as_ref().unwrap();
    assert_eq!((d.outcome, d.reasons.clone()), (Outcome::Hold, vec!["decision_timeout".to_string()]));
    assert_eq!(effects.len(), 1, "no barrier movement: {effects:?}");
    assert_eq!(lane.stage(), Stage::Review);
}

fn decided(lane: &mut Lane, outcome: Outcome) -> Vec<Effect> {
    lane.zone(Zone::Arrival, true);
    lane.capture("plate", CaptureKind::PlateImage);
    lane.capture("seals", CaptureKind::Seals);
    lane.recognized(EmptyCheckNeed::No);
    lane.decide(outcome)
}

fn held(lane: &mut Lane, outcome: Outcome) {
    let effects = decided(lane, outcome);
    assert!(matches!(effects[..], [Effect::Announce { .. }]), "{effects:?}");
    assert_eq!(lane.stage(), Stage::Review);
}

#[test]
fn held_vehicle_is_released_by_review() {
    let mut lane = Lane::new();
    held(&mut lane, Outcome::Hold);
    let id = lane.id();
    let effects = lane.send(Event::Reviewed {
        passage: id.clone(),
        decision: decision(Outcome::Inspection, "central:li", lane.now),
    });
    assert!(effects.is_empty(), "inspection keeps the barrier down: {effects:?}");
    let effects = lane
        .send(Event::Reviewed { passage: id, decision: decision(Outcome::Release, "central:li", lane.now) });
    assert!(matches!(effects[..], [Effect::OpenBarrier]), "{effects:?}");
    assert_eq!(lane.flow.current().unwrap().record.review.as_ref().unwrap().by, "central:li");
}

#[test]
fn review_of_another_or_unheld_passage_is_ignored() {
    let mut lane = Lane::new();
    held(&mut lane, Outcome::Hold);
    let effects = lane.send(Event::Reviewed {
        passage: "other".into(),
        decision: decision(Outcome::Release, "central:li", lane.now),
    });
    assert!(effects.is_empty());
    let mut lane = Lane::new();
    lane.zone(Zone::Arrival, true);
    let id = lane.id();
    assert!(lane
        .send(Event::Reviewed { passage: id, decision: decision(Outcome::Release, "x", lane.now) })
        .is_empty());
    assert_eq!(lane.stage(), Stage::Capture);
}

#[test]
fn review_overdue_alarms_once_and_never_opens() {
    let mut lane = Lane::new();
    held(&mut lane, Outcome::Inspection);
    let effects = lane.advance(600_000);
    assert_eq!(alarm(&effects), Some(AlarmKind::ReviewOverdue));
    assert_eq!(effects.len(), 1);
    assert!(lane.advance(600_000).is_empty(), "alarm raised once");
    assert_eq!(lane.flow.next_deadline(), None);
    let effects = lane.zone(Zone::Arrival, false);
    let record = completed(&effects);
    assert_eq!(record.exit, Some(ExitKind::LeftUnreleased));
    assert_eq!(record.final_outcome(), Some(Outcome::Inspection));
    assert!(record.flags.contains(&Flag::ReviewOverdue));
}

fn alarm_message(effects: &[Effect]) -> Option<&str> {
    first_alarm(effects).map(|a| a.message.as_str())
}

#[test]
fn review_overdue_says_waiting_for_review_only_while_nobody_has_decided() {
    let mut lane = Lane::new();
    held(&mut lane, Outcome::Hold);
    let effects = lane.advance(600_000);
    assert_eq!(alarm(&effects), Some(AlarmKind::ReviewOverdue));
    assert_eq!(alarm_message(&effects), Some("held vehicle still waiting for review"));

    // A reviewer sent it to inspection: it stays at the barrier (only a release opens) and the
    // alarm still goes out, in words that are true.
    for (outcome, word) in [(Outcome::Inspection, "inspection"), (Outcome::Hold, "hold")] {
        let mut lane = Lane::new();
        held(&mut lane, Outcome::Hold);
        let id = lane.id();
        let effects =
            lane.send(Event::Reviewed { passage: id, decision: decision(outcome, "central:li", lane.now) });
        assert!(effects.is_empty(), "{effects:?}");
        let effects = lane.advance(600_000);
        assert_eq!(alarm(&effects), Some(AlarmKind::ReviewOverdue));
        assert_eq!(
            alarm_message(&effects),
            Some(format!("held vehicle still at the barrier after review: {word} by central:li").as_str())
        );
        assert!(!effects.iter().any(|e| matches!(e, Effect::OpenBarrier)));
    }
}

#[test]
fn a_vehicle_through_an_arm_still_up_before_its_release_is_a_tailgate() {
    // The arm is still up for the vehicle before (its close held off by this one's nose under
    // it): the next vehicle drives through while the lane is still capturing it.
    let mut lane = Lane::new();
    lane.zone(Zone::Arrival, true);
    assert!(lane.zone(Zone::UnderArm, true).iter().all(|e| !matches!(e, Effect::OpenBarrier)));
    let effects = lane.zone(Zone::Arrival, false);
    assert_eq!(alarm(&effects), Some(AlarmKind::Tailgate), "{effects:?}");
    let record = completed(&effects);
    assert_eq!(record.exit, Some(ExitKind::DroveThrough));
    assert!(record.flags.contains(&Flag::Tailgate), "{:?}", record.flags);
    assert_eq!(record.decision.as_ref().unwrap().reasons, ["vehicle_left"]);
}

#[test]
fn vehicle_leaving_during_capture_completes_held_and_late_results_are_ignored() {
    let mut lane = Lane::new();
    lane.zone(Zone::Arrival, true);
    let id = lane.id();
    let effects = lane.zone(Zone::Arrival, false);
    let record = completed(&effects);
    assert_eq!(record.exit, Some(ExitKind::LeftUnreleased));
    assert_eq!(record.decision.as_ref().unwrap().reasons, ["vehicle_left"]);
    assert_eq!(record.stages[0].outcome, Some(StageOutcome::Abandoned));
    let late =
        lane.send(Event::Decided { passage: id, decision: decision(Outcome::Release, "policy", lane.now) });
    assert!(late.is_empty());
}

#[test]
fn barrier_open_failure_alarms_and_holds() {
    let mut lane = Lane::new();
    held(&mut lane, Outcome::Hold);
    let id = lane.id();
    lane.send(Event::Reviewed {
        passage: id,
        decision: decision(Outcome::Release, "operator:wang", lane.now),
    });
    let effects = lane.send(Event::BarrierDone {
        op: BarrierOp::Open,
        result: Err(BarrierError::Fault("open limit not reached".into())),
    });
    assert_eq!(alarm(&effects), Some(AlarmKind::BarrierFault));
    assert_eq!(lane.stage(), Stage::Review);
    assert_eq!(lane.flow.barrier(), BarrierPos::Unknown);
    assert!(lane.flow.current().unwrap().record.flags.contains(&Flag::BarrierFault));
}

#[test]
fn barrier_open_timeout_is_a_fault() {
    let mut lane = Lane::new();
    lane.zone(Zone::Arrival, true);
    lane.capture("plate", CaptureKind::PlateImage);
    lane.capture("seals", CaptureKind::Seals);
    lane.recognized(EmptyCheckNeed::No);
    lane.decide(Outcome::Release);
    assert!(lane.advance(7_999).is_empty());
    let effects = lane.advance(1);
    assert_eq!(alarm(&effects), Some(AlarmKind::BarrierFault));
    assert!(!has_close(&effects));
    assert_eq!(lane.stage(), Stage::Review);
}

#[test]
fn exit_overdue_alarms_but_keeps_the_barrier_open() {
    let mut lane = Lane::new();
    lane.released();
    lane.zone(Zone::UnderArm, true);
    let effects = lane.advance(60_000);
    assert_eq!(alarm(&effects), Some(AlarmKind::ExitOverdue));
    assert!(!has_close(&effects));
    assert!(lane.advance(100_000).is_empty());
}

#[test]
fn released_vehicle_that_backs_out_lets_the_barrier_close() {
    let mut lane = Lane::new();
    lane.released();
    let effects = lane.zone(Zone::Arrival, false);
    assert!(has_close(&effects), "{effects:?}");
}

#[test]
fn refused_close_waits_for_the_zone_to_clear_and_tries_again() {
    let mut lane = Lane::new();
    lane.released();
    lane.zone(Zone::UnderArm, true);
    lane.zone(Zone::Arrival, false);
    assert!(has_close(&lane.zone(Zone::UnderArm, false)));
    lane.zone(Zone::UnderArm, true);
    let effects = lane.send(Event::BarrierDone {
        op: BarrierOp::Close,
        result: Err(BarrierError::Refused("obstacle".into())),
    });
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(lane.stage(), Stage::Exit);
    assert!(has_close(&lane.zone(Zone::UnderArm, false)));
    let record = completed(&lane.send(Event::BarrierDone { op: BarrierOp::Close, result: Ok(()) })).clone();
    // One exit and one closing, the closing spanning both attempts: not a stage per attempt.
    let stages: Vec<Stage> = record.stages.iter().map(|s| s.stage).collect();
    assert_eq!(stages.iter().filter(|s| **s == Stage::Exit).count(), 1, "{stages:?}");
    assert_eq!(stages.iter().filter(|s| **s == Stage::Closing).count(), 1, "{stages:?}");
    assert_eq!(stages.last(), Some(&Stage::Closing));
}

#[test]
fn close_fault_and_timeout_alarm_and_complete() {
    for fault in [true, false] {
        let mut lane = Lane::new();
        lane.released();
        lane.zone(Zone::Arrival, false);
        let effects = if fault {
            lane.send(Event::BarrierDone {
                op: BarrierOp::Close,
                result: Err(BarrierError::Fault("closed limit".into())),
            })
        } else {
            lane.advance(8_000)
        };
        assert_eq!(alarm(&effects), Some(AlarmKind::BarrierFault));
        assert!(completed(&effects).flags.contains(&Flag::BarrierFault));
        assert_eq!(lane.flow.barrier(), BarrierPos::Unknown);
    }
}

#[test]
fn second_vehicle_is_queued_and_starts_when_the_lane_is_free() {
    let mut lane = Lane::new();
    lane.released();
    lane.zone(Zone::UnderArm, true);
    lane.zone(Zone::Arrival, false);
    assert!(lane.zone(Zone::Arrival, true).is_empty(), "the next vehicle waits");
    assert_eq!(lane.flow.queued(), 1);
    lane.zone(Zone::UnderArm, false);
    let first = lane.id();
    let effects = lane.send(Event::BarrierDone { op: BarrierOp::Close, result: Ok(()) });
    assert_eq!(completed(&effects).id, first);
    let captures = effects.iter().filter(|c| matches!(c, Effect::Capture { .. })).count();
    assert_eq!(captures, 2, "{effects:?}");
    assert_ne!(lane.id(), first);
    assert_eq!(lane.flow.current().unwrap().record.seq, 2);
}

#[test]
fn tailgater_is_flagged_and_gets_its_own_record() {
    let mut lane = Lane::new();
    lane.released();
    lane.zone(Zone::UnderArm, true);
    lane.zone(Zone::Arrival, false);
    lane.zone(Zone::Arrival, true); // the follower
    assert!(has_close(&lane.zone(Zone::UnderArm, false)));
    let effects = lane.zone(Zone::UnderArm, true);
    assert_eq!(alarm(&effects), Some(AlarmKind::Tailgate));
    let effects = lane.zone(Zone::Arrival, false);
    assert!(
        !effects.iter().any(|c| matches!(c, Effect::Complete { .. })),
        "the follower waits for its leader: {effects:?}"
    );
    // Waiting, it is there for the lane's journal; a restart would close it as a tailgater.
    let waiting: Vec<PassageRecord> = lane.flow.followers().cloned().collect();
    assert_eq!(waiting.len(), 1);
    let closed = close_interrupted(waiting[0].clone(), Utc::now());
    assert_eq!(closed.exit, Some(ExitKind::Tailgated));
    assert_eq!(lane.flow.queued(), 0);
    lane.send(Event::BarrierDone {
        op: BarrierOp::Close,
        result: Err(BarrierError::Refused("obstacle".into())),
    });
    assert!(has_close(&lane.zone(Zone::UnderArm, false)));
    let effects = lane.send(Event::BarrierDone { op: BarrierOp::Close, result: Ok(()) });
    // Records in the order the vehicles left: the one followed first, then the tailgater.
    let records: Vec<&PassageRecord> = effects
        .iter()
        .filter_map(|c| match c {
            Effect::Complete { record } => Some(record.as_ref()),
            _ => None,
        })
        .collect();
    assert_eq!(records.len(), 2, "{effects:?}");
    assert!(records[0].flags.contains(&Flag::Tailgate));
    assert_eq!(records[0].exit, Some(ExitKind::DroveThrough));
    assert_eq!(records[1].exit, Some(ExitKind::Tailgated));
    assert!(records[1].seq > records[0].seq && records[1].completed_at >= records[0].completed_at);
    let stages: Vec<Stage> = records[0].stages.iter().map(|s| s.stage).collect();
    assert_eq!(stages.iter().filter(|s| **s == Stage::Closing).count(), 1, "{stages:?}");
    assert!(lane.flow.current().is_none());
}

/// After a restart the lane numbers on from the last number it gave out, for
/// tailgaters' records too: a lane's `seq` never repeats.
#[test]
fn numbering_continues_after_the_last_number_given_out() {
    let mut lane = Lane::new();
    lane.flow = Flow::new(config(false)).continuing_after(41);
    lane.send(Event::BarrierObserved { opened: false });
    assert_eq!(lane.flow.last_seq(), 41);
    lane.released();
    assert_eq!(lane.flow.current().unwrap().record.seq, 42);
    assert!(lane.id().ends_with("-0042"), "{}", lane.id());
    lane.zone(Zone::UnderArm, true);
    lane.zone(Zone::Arrival, false);
    lane.zone(Zone::Arrival, true); // the follower slips through
    lane.zone(Zone::UnderArm, false);
    lane.zone(Zone::UnderArm, true);
    lane.zone(Zone::Arrival, false);
    // The follower's number is given out at once; its record waits for its leader.
    let ghost = lane.flow.followers().next().expect("the tailgater's record").clone();
    assert_eq!((ghost.seq, lane.flow.last_seq()), (43, 43));
}

/// A passage cut short in review keeps its stages and decision; the stage it
/// was in ends `interrupted`, and so does the passage.
#[test]
fn an_interrupted_passage_is_closed_with_what_was_known() {
    let mut lane = Lane::new();
    held(&mut lane, Outcome::Hold);
    let record = lane.flow.current().unwrap().record.clone();
    let later = lane.now.utc + chrono::Duration::minutes(3);
    let closed = close_interrupted(record.clone(), later);
    assert_eq!(closed.exit, Some(ExitKind::Interrupted));
    assert_eq!((closed.completed_at, closed.total_ms), (Some(later), None));
    assert_eq!(closed.decision, record.decision);
    let last = closed.stages.last().unwrap();
    assert_eq!(
        (last.stage, last.outcome, last.ended_at),
        (Stage::Review, Some(StageOutcome::Interrupted), None)
    );
    assert_eq!(closed.stages[..closed.stages.len() - 1], record.stages[..record.stages.len() - 1]);
}

#[test]
fn barrier_found_open_at_start_closes_only_when_clear() {
    let now = Time { mono: Duration::ZERO, utc: Utc::now() };
    let mut flow = Flow::new(config(false));
    assert!(has_close(&flow.handle(now, Event::BarrierObserved { opened: true })));
    let mut flow = Flow::new(config(false));
    flow.handle(now, Event::Presence { zone: Zone::UnderArm, occupied: true });
    assert!(!has_close(&flow.handle(now, Event::BarrierObserved { opened: true })));
}

#[test]
fn repeated_presence_reports_change_nothing() {
    let mut lane = Lane::new();
    lane.zone(Zone::Arrival, true);
    assert!(lane.zone(Zone::Arrival, true).is_empty());
    assert_eq!(lane.flow.queued(), 0);
}

mod props {
    use proptest::prelude::*;

    use super::*;

    fn event() -> impl Strategy<Value = (u64, u8, bool)> {
        (0u64..20_000, 0u8..10, any::<bool>())
    }

    proptest! {
        /// Whatever happens in whatever order, no close is commanded while the zone
        /// under the arm is occupied, and the machine never panics. Occupancy is
        /// judged from the sensor events sent, not from the machine's own view of it.
        #[test]
        fn never_closes_onto_a_vehicle(events in proptest::collection::vec(event(), 1..200)) {
            let mut lane = Lane::new();
            let mut under_arm = false;
            for (ms, kind, flag) in events {
                let effects = match kind {
                    0 => lane.zone(Zone::Arrival, flag),
                    1 => {
                        under_arm = flag;
                        lane.zone(Zone::UnderArm, flag)
                    }
                    2 => lane.advance(ms),
                    3 if lane.flow.current().is_some() => lane.capture(if flag { "plate" } else { "seals" }, CaptureKind::Seals),
                    4 if lane.flow.current().is_some() => lane.recognized(EmptyCheckNeed::No),
                    5 if lane.flow.current().is_some() => lane.decide(if flag { Outcome::Release } else { Outcome::Hold }),
                    6 => lane.send(Event::BarrierDone { op: BarrierOp::Open, result: if flag { Ok(()) } else { Err(BarrierError::Fault("x".into())) } }),
                    7 => lane.send(Event::BarrierDone { op: BarrierOp::Close, result: if flag { Ok(()) } else { Err(BarrierError::Refused("x".into())) } }),
                    8 if lane.flow.current().is_some() => {
                        let id = lane.id();
                        lane.send(Event::Reviewed { passage: id, decision: decision(Outcome::Release, "x", lane.now) })
                    }
                    9 => lane.send(Event::BarrierObserved { opened: flag }),
                    _ => vec![],
                };
                prop_assert!(!(has_close(&effects) && under_arm), "close while occupied: {:?}", effects);
                let opens = effects.iter().any(|c| matches!(c, Effect::OpenBarrier));
                if opens {
                    let p = lane.flow.current().expect("opening for a passage");
                    prop_assert_eq!(p.record.final_outcome(), Some(Outcome::Release));
                }
            }
        }
    }
}

fn has(effects: &[Effect], want: &Effect) -> bool {
    effects.iter().any(|c| c == want)
}

/// The simulated day's stall: an opening that timed out on a loaded machine
/// (the arm went up anyway, or stopped half-way), the vehicle left, and with
/// nobody around the machine never looked at the arm again. The next vehicle
/// found it up; the simulated one, like a careful driver, waited for ever.
#[test]
fn arm_left_up_by_a_timed_out_opening_is_read_again_and_closed() {
    let mut lane = Lane::new();
    decided(&mut lane, Outcome::Release);
    assert_eq!(lane.stage(), Stage::Opening);
    lane.advance(8_000); // opening timed out: held for a person, position unknown
    assert_eq!(lane.stage(), Stage::Review);
    lane.zone(Zone::Arrival, false); // the driver gives up and backs out
    assert!(lane.flow.current().is_none());
    assert!(lane.flow.next_deadline().is_some(), "the machine still wants to look at the arm");
    assert!(!has(&lane.advance(7_999), &Effect::ObserveBarrier));
    let effects = lane.advance(1);
    assert!(has(&effects, &Effect::ObserveBarrier), "{effects:?}");
    // Nothing read back (the drive is silent): asked again after the same pause.
    assert!(has(&lane.advance(8_000), &Effect::ObserveBarrier));
    // Up, with something under it: wait for the zone to clear.
    lane.zone(Zone::UnderArm, true);
    assert!(!has_close(&lane.send(Event::BarrierObserved { opened: true })));
    assert!(has_close(&lane.zone(Zone::UnderArm, false)));
    assert_eq!(lane.flow.barrier(), BarrierPos::Closing);
    assert!(lane.send(Event::BarrierDone { op: BarrierOp::Close, result: Ok(()) }).is_empty());
    assert_eq!(lane.flow.barrier(), BarrierPos::Closed);
    assert_eq!(lane.flow.next_deadline(), None, "nothing more to do");
}

#[test]
fn a_failed_close_is_retried_after_a_pause_and_alarms_once() {
    let mut lane = Lane::new();
    lane.released();
    lane.zone(Zone::Arrival, false);
    let effects = lane.send(Event::BarrierDone {
        op: BarrierOp::Close,
        result: Err(BarrierError::Fault("closed limit".into())),
    });
    assert_eq!(alarm(&effects), Some(AlarmKind::BarrierFault));
    assert!(has(&lane.advance(8_000), &Effect::ObserveBarrier));
    assert!(has_close(&lane.send(Event::BarrierObserved { opened: true })));
    let effects = lane.send(Event::BarrierDone {
        op: BarrierOp::Close,
        result: Err(BarrierError::Fault("closed limit".into())),
    });
    assert_eq!(alarm(&effects), None, "the fault is already raised");
    assert!(has(&lane.advance(8_000), &Effect::ObserveBarrier));
    assert!(lane.send(Event::BarrierObserved { opened: false }).is_empty());
    assert_eq!(lane.flow.barrier(), BarrierPos::Closed);
}

#[test]
fn an_opening_that_arrives_late_lets_the_released_vehicle_go() {
    let mut lane = Lane::new();
    decided(&mut lane, Outcome::Release);
    lane.advance(8_000);
    assert_eq!(lane.stage(), Stage::Review);
    let effects = lane.send(Event::BarrierDone { op: BarrierOp::Open, result: Ok(()) });
    assert!(!has_close(&effects), "never closed onto a released vehicle: {effects:?}");
    assert_eq!(lane.stage(), Stage::Exit);
    lane.zone(Zone::UnderArm, true);
    lane.zone(Zone::Arrival, false);
    assert!(has_close(&lane.zone(Zone::UnderArm, false)));
    let record = completed(&lane.send(Event::BarrierDone { op: BarrierOp::Close, result: Ok(()) })).clone();
    assert_eq!(record.exit, Some(ExitKind::DroveThrough));
    assert!(record.flags.contains(&Flag::BarrierFault));
}

#[test]
fn a_held_vehicle_never_finds_the_arm_up() {
    let mut lane = Lane::new();
    held(&mut lane, Outcome::Hold);
    assert!(
        has_close(&lane.send(Event::BarrierObserved { opened: true })),
        "up while a held vehicle waits: closed"
    );
}
