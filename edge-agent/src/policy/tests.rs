//! Table-driven: one row per reason, each starting from a vehicle that would be
//! released and changing exactly one thing.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use drivers::{EmptyVerdict, HealthState, SealRead, SealStatus};
use models::{ContainerRead, PlateRead, Reads};

use super::*;
use crate::config::{DecisionConfig, Engine, RecognitionConfig, VisionPolicy};
use contract::decision::CheckResult;
use contract::passage::{
    CaptureRecord, EmptyCheckRecord, EmptyImageRecord, EmptyImageVerdict, UvssCheckRecord, UvssRegion,
    UvssVerdict, PASSAGE_SCHEMA,
};

fn policy() -> Policy {
    let rc = RecognitionConfig {
        engine: Engine::SimTruth,
        models_dir: "m".into(),
        runtime_library: None,
        plate_min_confidence: 0.8,
        plate_confirmed_min_confidence: 0.7,
        container_min_confidence: 0.8,
        workers: 1,
    };
    Policy::new(
        DecisionConfig { auto_release: true, require_declaration: true, hold_when_device_down: true },
        &rc,
    )
}

fn good_record() -> PassageRecord {
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap();
    let seal = SealRead {
        id: "1A2B-00000001".into(),
        status: SealStatus::Sealed,
        sealed_at: None,
        battery_pct: 80,
        rssi_dbm: -50,
    };
    PassageRecord {
        schema: PASSAGE_SCHEMA.into(),
        id: "G07-1".into(),
        site: "S".into(),
        lane: "G07".into(),
        seq: 1,
        arrived_at: at,
        completed_at: None,
        total_ms: None,
        stages: vec![],
        captures: vec![CaptureRecord {
            device: "seal".into(),
            kind: CaptureKind::Seals,
            outcome: CaptureOutcome::Ok,
            at,
            error: None,
            image: None,
            seals: vec![seal],
            uvss: None,
        }],
        reads: Some(Reads {
            plates: vec![PlateRead {
                text: "沪A12345".into(),
                confidence: 0.95,
                color: None,
                cameras: vec![],
                models: vec![],
            }],
            containers: vec![ContainerRead {
                code: "CSQU3054383".into(),
                confidence: 0.95,
                check_digit_ok: true,
                corrected: vec![],
                size_type: None,
                cameras: vec![],
                models: vec![],
            }],
            models: vec![],
            lines: vec![],
        }),
        recognition_error: None,
        empty_check: None,
        uvss: None,
        empty_image: None,
        decision: None,
        review: None,
        exit: None,
        flags: vec![],
    }
}

fn good_declaration() -> Declaration {
    Declaration {
        plate: "沪A12345".into(),
        containers: vec!["CSQU3054383".into()],
        seals: vec!["1A2B-00000001".into()],
        declared_empty: false,
        targeted: false,
        valid_from: None,
        valid_until: None,
    }
}

/// Device health by name, as the cases set it: (state, whether the device is required).
type Health = BTreeMap<String, (HealthState, bool)>;

struct Case {
    name: &'static str,
    change: fn(&mut PassageRecord, &mut Option<Declaration>, &mut Health),
    outcome: Outcome,
    reason: Option<&'static str>,
}

fn run(case: &Case) -> DecisionRecord {
    let mut record = good_record();
    let mut declaration = Some(good_declaration());
    let mut health = BTreeMap::from([("plate-cam".to_string(), (HealthState::Ok, true))]);
    (case.change)(&mut record, &mut declaration, &mut health);
    let input = PolicyInput {
        record: &record,
        declaration: declaration.as_ref(),
        health: &health,
        storage_full: false,
        now: record.arrived_at,
    };
    policy().decide(&input)
}

fn reads(r: &mut PassageRecord) -> &mut Reads {
    r.reads.as_mut().unwrap()
}

/// The declared plate read at 0.74, under the threshold, and a plate one character off after it.
fn second_plate(r: &mut PassageRecord, confidence: f32) {
    let mut other = reads(r).plates[0].clone();
    other.text = "沪A12346".into();
    other.confidence = confidence;
    reads(r).plates[0].confidence = 0.74;
    reads(r).plates.push(other);
}

const CASES: &[Case] = &[
    Case { name: "all good", change: |_, _, _| {}, outcome: Outcome::Release, reason: None },
    Case {
        name: "targeted",
        change: |_, d, _| d.as_mut().unwrap().targeted = true,
        outcome: Outcome::Inspection,
        reason: Some("targeted"),
    },
    Case {
        name: "no declaration",
        change: |_, d, _| *d = None,
        outcome: Outcome::Hold,
        reason: Some("not_declared"),
    },
    Case {
        name: "expired declaration",
        change: |r, d, _| d.as_mut().unwrap().valid_until = Some(r.arrived_at - chrono::Duration::hours(1)),
        outcome: Outcome::Hold,
        reason: Some("declaration_expired"),
    },
    Case {
        name: "plate mismatch",
        change: |_, d, _| d.as_mut().unwrap().plate = "沪A99999".into(),
        outcome: Outcome::Hold,
        reason: Some("plate_mismatch"),
    },
    Case {
        name: "container mismatch",
        change: |_, d, _| d.as_mut().unwrap().containers = vec!["MSKU9070323".into()],
        outcome: Outcome::Hold,
        reason: Some("container_mismatch"),
    },
    Case {
        name: "no plate read",
        change: |r, _, _| reads(r).plates.clear(),
        outcome: Outcome::Hold,
        reason: Some("plate_unread"),
    },
    Case {
        name: "low plate confidence",
        change: |r, _, _| reads(r).plates[0].confidence = 0.5,
        outcome: Outcome::Hold,
        reason: Some("low_confidence"),
    },
    Case {
        name: "plate under the threshold, exactly its declaration's",
        change: |r, _, _| reads(r).plates[0].confidence = 0.74,
        outcome: Outcome::Release,
        reason: None,
    },
    Case {
        name: "plate under the threshold and under the confirmed floor",
        change: |r, _, _| reads(r).plates[0].confidence = 0.69,
        outcome: Outcome::Hold,
        reason: Some("low_confidence"),
    },
    Case {
        name: "plate under the threshold, declaration of another plate",
        change: |r, d, _| {
            reads(r).plates[0].confidence = 0.74;
            d.as_mut().unwrap().plate = "沪A12346".into();
        },
        outcome: Outcome::Hold,
        reason: Some("low_confidence"),
    },
    Case {
        name: "plate under the threshold, exactly its declaration's, at the floor",
        change: |r, _, _| reads(r).plates[0].confidence = 0.7,
        outcome: Outcome::Release,
        reason: None,
    },
    Case {
        name: "plate under the threshold, its declaration names no container",
        change: |r, d, _| {
            reads(r).plates[0].confidence = 0.74;
            reads(r).containers.clear();
            d.as_mut().unwrap().containers.clear();
        },
        outcome: Outcome::Hold,
        reason: Some("low_confidence"),
    },
    Case {
        name: "plate under the threshold, a second plate read at the floor differs",
        change: |r, _, _| second_plate(r, 0.73),
        outcome: Outcome::Hold,
        reason: Some("low_confidence"),
    },
    Case {
        name: "plate under the threshold, a second plate read under the floor",
        change: |r, _, _| second_plate(r, 0.5),
        outcome: Outcome::Release,
        reason: None,
    },
    Case {
        name: "plate under the threshold, targeted",
        change: |r, d, _| {
            reads(r).plates[0].confidence = 0.74;
            d.as_mut().unwrap().targeted = true;
        },
        outcome: Outcome::Inspection,
        reason: Some("low_confidence"),
    },
    Case {
        name: "plate under the threshold, declaration not yet valid",
        change: |r, d, _| {
            reads(r).plates[0].confidence = 0.74;
            d.as_mut().unwrap().valid_from = Some(r.arrived_at + chrono::Duration::hours(1));
        },
        outcome: Outcome::Hold,
        reason: Some("low_confidence"),
    },
    Case {
        name: "plate under the threshold, no declaration",
        change: |r, d, _| {
            reads(r).plates[0].confidence = 0.74;
            *d = None;
        },
        outcome: Outcome::Hold,
        reason: Some("low_confidence"),
    },
    Case {
        name: "plate under the threshold, declaration expired",
        change: |r, d, _| {
            reads(r).plates[0].confidence = 0.74;
            d.as_mut().unwrap().valid_until = Some(r.arrived_at - chrono::Duration::hours(1));
        },
        outcome: Outcome::Hold,
        reason: Some("low_confidence"),
    },
    Case {
        name: "low container confidence",
        change: |r, _, _| reads(r).containers[0].confidence = 0.5,
        outcome: Outcome::Hold,
        reason: Some("low_confidence"),
    },
    Case {
        name: "bad check digit",
        change: |r, _, _| reads(r).containers[0].check_digit_ok = false,
        outcome: Outcome::Hold,
        reason: Some("check_digit_invalid"),
    },
    Case {
        name: "recognition failed",
        change: |r, _, _| {
            r.reads = None;
            r.recognition_error = Some("model missing".into());
        },
        outcome: Outcome::Hold,
        reason: Some("recognition_failed"),
    },
    Case {
        name: "seal tampered",
        change: |r, _, _| r.captures[0].seals[0].status = SealStatus::Tampered,
        outcome: Outcome::Hold,
        reason: Some("seal_tampered"),
    },
    Case {
        name: "seal opened",
        change: |r, _, _| r.captures[0].seals[0].status = SealStatus::Opened,
        outcome: Outcome::Hold,
        reason: Some("seal_opened"),
    },
    Case {
        name: "declared seal missing",
        change: |r, _, _| r.captures[0].seals.clear(),
        outcome: Outcome::Hold,
        reason: Some("seal_mismatch"),
    },
    Case {
        name: "capture timeout",
        change: |r, _, _| {
            r.captures[0].outcome = CaptureOutcome::Timeout;
        },
        outcome: Outcome::Hold,
        reason: Some("capture_timeout:seal"),
    },
    Case {
        name: "capture failed",
        change: |r, _, _| r.captures[0].outcome = CaptureOutcome::Failed,
        outcome: Outcome::Hold,
        reason: Some("capture_failed:seal"),
    },
    Case {
        name: "required device down",
        change: |_, _, h| *h.get_mut("plate-cam").unwrap() = (HealthState::Down, true),
        outcome: Outcome::Hold,
        reason: Some("device_down:plate-cam"),
    },
    Case {
        name: "optional device down",
        change: |_, _, h| *h.get_mut("plate-cam").unwrap() = (HealthState::Down, false),
        outcome: Outcome::Release,
        reason: None,
    },
    Case {
        name: "declared empty, no check",
        change: |_, d, _| d.as_mut().unwrap().declared_empty = true,
        outcome: Outcome::Hold,
        reason: Some("empty_check_unavailable"),
    },
    Case {
        name: "declared empty, detector disagrees",
        change: |r, d, _| {
            d.as_mut().unwrap().declared_empty = true;
            r.empty_check = Some(empty(Some(EmptyVerdict::NotEmpty)));
        },
        outcome: Outcome::Hold,
        reason: Some("empty_mismatch"),
    },
    Case {
        name: "declared empty, inconclusive",
        change: |r, d, _| {
            d.as_mut().unwrap().declared_empty = true;
            r.empty_check = Some(empty(Some(EmptyVerdict::Inconclusive)));
        },
        outcome: Outcome::Hold,
        reason: Some("empty_inconclusive"),
    },
    Case {
        name: "declared empty, confirmed",
        change: |r, d, _| {
            d.as_mut().unwrap().declared_empty = true;
            r.empty_check = Some(empty(Some(EmptyVerdict::Empty)));
        },
        outcome: Outcome::Release,
        reason: None,
    },
];

fn empty(verdict: Option<EmptyVerdict>) -> EmptyCheckRecord {
    EmptyCheckRecord {
        device: "ebd".into(),
        container: None,
        outcome: CaptureOutcome::Ok,
        verdict,
        confidence: Some(0.9),
        error: None,
        image: None,
    }
}

#[test]
fn every_reason_from_the_table() {
    for case in CASES {
        let d = run(case);
        assert_eq!(d.outcome, case.outcome, "{}: {:?}", case.name, d.reasons);
        match case.reason {
            Some(r) => {
                assert!(d.reasons.iter().any(|x| x == r), "{}: wanted {r} in {:?}", case.name, d.reasons)
            }
            None => assert!(d.reasons.is_empty(), "{}: {:?}", case.name, d.reasons),
        }
        assert!(!d.checks.is_empty(), "{}: the record shows its checks", case.name);
    }
}

#[test]
fn a_failing_check_names_its_inputs() {
    let d = run(&CASES[4]);
    let check = d.checks.iter().find(|c| c.name == "plate_match").unwrap();
    assert_eq!(check.result, CheckResult::Fail);
    assert!(check.detail.contains("沪A12345") && check.detail.contains("沪A99999"), "{}", check.detail);
}

#[test]
fn auto_release_off_holds_everything() {
    let mut p = policy();
    p.decision.auto_release = false;
    let record = good_record();
    let decl = good_declaration();
    let health = BTreeMap::new();
    let d = p.decide(&PolicyInput {
        record: &record,
        declaration: Some(&decl),
        health: &health,
        storage_full: false,
        now: record.arrived_at,
    });
    assert_eq!((d.outcome, d.reasons), (Outcome::Hold, vec!["auto_release_off".to_string()]));
}

fn uvss(verdict: UvssVerdict) -> Option<UvssCheckRecord> {
    let regions = if verdict == UvssVerdict::Anomaly {
        vec![UvssRegion { x: 10, y: 20, w: 30, h: 40, score: 0.7 }]
    } else {
        vec![]
    };
    Some(UvssCheckRecord {
        device: "uvss".into(),
        verdict,
        score: 0.7,
        regions,
        inconclusive_reason: (verdict == UvssVerdict::Inconclusive)
            .then_some(contract::passage::UvssInconclusiveReason::RegistrationFailed),
        reason: Some("why".into()),
        overlay: None,
        duration_ms: 5,
    })
}

fn empty_image(verdict: EmptyImageVerdict) -> Option<EmptyImageRecord> {
    Some(EmptyImageRecord { verdict, score: 0.5, reason: None })
}

/// Declared empty, the detector agrees, and the image check says `v`.
fn declared_empty_image(r: &mut PassageRecord, d: &mut Option<Declaration>, v: EmptyImageVerdict) {
    d.as_mut().unwrap().declared_empty = true;
    r.empty_check = Some(empty(Some(EmptyVerdict::Empty)));
    r.empty_image = empty_image(v);
}

/// The vision rows, under the default `[vision]` settings (see `VisionPolicy::default`).
const VISION_CASES: &[Case] = &[
    Case {
        name: "uvss clean",
        change: |r, _, _| r.uvss = uvss(UvssVerdict::Clean),
        outcome: Outcome::Release,
        reason: None,
    },
    Case {
        name: "uvss anomaly",
        change: |r, _, _| r.uvss = uvss(UvssVerdict::Anomaly),
        outcome: Outcome::Hold,
        reason: Some("uvss_anomaly"),
    },
    Case {
        name: "uvss no reference",
        change: |r, _, _| r.uvss = uvss(UvssVerdict::NoReference),
        outcome: Outcome::Release,
        reason: None,
    },
    Case {
        name: "uvss inconclusive",
        change: |r, _, _| r.uvss = uvss(UvssVerdict::Inconclusive),
        outcome: Outcome::Hold,
        reason: Some("uvss_inconclusive"),
    },
    Case {
        name: "uvss unavailable",
        change: |r, _, _| r.uvss = uvss(UvssVerdict::Unavailable),
        outcome: Outcome::Hold,
        reason: Some("uvss_unavailable"),
    },
    Case {
        name: "declared empty, detector empty, image loaded",
        change: |r, d, _| declared_empty_image(r, d, EmptyImageVerdict::NotEmpty),
        outcome: Outcome::Hold,
        reason: Some("empty_check_disagrees"),
    },
    Case {
        name: "declared empty, both empty",
        change: |r, d, _| declared_empty_image(r, d, EmptyImageVerdict::Empty),
        outcome: Outcome::Release,
        reason: None,
    },
    Case {
        name: "declared empty, image inconclusive",
        change: |r, d, _| declared_empty_image(r, d, EmptyImageVerdict::Inconclusive),
        outcome: Outcome::Release,
        reason: None,
    },
    Case {
        name: "not declared empty, image loaded",
        change: |r, _, _| r.empty_image = empty_image(EmptyImageVerdict::NotEmpty),
        outcome: Outcome::Release,
        reason: None,
    },
];

#[test]
fn every_vision_reason_from_the_table() {
    for case in VISION_CASES {
        let d = run(case);
        assert_eq!(d.outcome, case.outcome, "{}: {:?}", case.name, d.reasons);
        match case.reason {
            Some(r) => assert_eq!(d.reasons, vec![r.to_string()], "{}", case.name),
            None => assert!(d.reasons.is_empty(), "{}: {:?}", case.name, d.reasons),
        }
    }
}

#[test]
fn vision_settings_turn_unknowns_into_holds_or_not() {
    let strict = VisionPolicy {
        hold_uvss_no_reference: true,
        hold_empty_image_inconclusive: true,
        hold_empty_image_unavailable: true,
        ..VisionPolicy::default()
    };
    let lenient = VisionPolicy {
        hold_uvss_inconclusive: false,
        hold_uvss_unavailable: false,
        ..VisionPolicy::default()
    };
    let decl = good_declaration();
    let health = BTreeMap::new();
    let decide = |p: &Policy, change: fn(&mut PassageRecord, &mut Option<Declaration>)| {
        let (mut r, mut d) = (good_record(), Some(decl.clone()));
        change(&mut r, &mut d);
        p.decide(&PolicyInput {
            record: &r,
            declaration: d.as_ref(),
            health: &health,
            storage_full: false,
            now: r.arrived_at,
        })
        .reasons
    };
    let (strict, lenient) = (policy().with_vision(strict), policy().with_vision(lenient));
    assert_eq!(decide(&strict, |r, _| r.uvss = uvss(UvssVerdict::NoReference)), vec!["uvss_no_reference"]);
    assert!(decide(&lenient, |r, _| r.uvss = uvss(UvssVerdict::Inconclusive)).is_empty());
    assert!(decide(&lenient, |r, _| r.uvss = uvss(UvssVerdict::Unavailable)).is_empty());
    // An anomaly holds whatever the settings.
    assert_eq!(decide(&lenient, |r, _| r.uvss = uvss(UvssVerdict::Anomaly)), vec!["uvss_anomaly"]);
    assert_eq!(
        decide(&strict, |r, d| declared_empty_image(r, d, EmptyImageVerdict::Unavailable)),
        vec!["empty_image_unavailable"]
    );
    assert_eq!(
        decide(&strict, |r, d| declared_empty_image(r, d, EmptyImageVerdict::Inconclusive)),
        vec!["empty_image_inconclusive"]
    );
}

#[test]
fn a_full_data_disk_holds_a_vehicle_that_would_have_been_released() {
    let record = good_record();
    let declaration = good_declaration();
    let health = BTreeMap::from([("plate-cam".to_string(), (HealthState::Ok, true))]);
    let decide = |storage_full| {
        policy().decide(&PolicyInput {
            record: &record,
            declaration: Some(&declaration),
            health: &health,
            storage_full,
            now: record.arrived_at,
        })
    };
    assert_eq!(decide(false).outcome, Outcome::Release);
    let held = decide(true);
    assert_eq!((held.outcome, held.reasons), (Outcome::Hold, vec!["storage_full".to_string()]));
}
