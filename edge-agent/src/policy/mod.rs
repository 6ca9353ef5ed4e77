//! The release decision: pure, table-tested, and explained check by check so a
//! reviewer sees why a vehicle was held.
//!
//! Auto-release only when every check passes; a targeted vehicle goes to
//! inspection; anything else is held for central review with machine-readable
//! reasons. Each rule adds checks to a [`Checks`] list (`checks.rs`); the vision
//! rules (`vision.rs`) read as one table of their own.

mod checks;
mod vision;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use drivers::{EmptyVerdict, HealthState, SealStatus};

use crate::config::{DecisionConfig, RecognitionConfig, VisionPolicy};
use contract::decision::{DecisionRecord, Outcome};
use contract::declaration::Declaration;
use contract::passage::{CaptureKind, CaptureOutcome, PassageRecord};

use checks::Checks;

pub struct PolicyInput<'a> {
    pub record: &'a PassageRecord,
    pub declaration: Option<&'a Declaration>,
    /// Health of each device that matters to the decision, by name.
    pub health: &'a BTreeMap<String, (HealthState, bool)>,
    /// The data disk is below its floor: the lane cannot keep the evidence of a release.
    pub storage_full: bool,
    pub now: DateTime<Utc>,
}

pub struct Policy {
    pub decision: DecisionConfig,
    pub plate_min_confidence: f32,
    /// The floor for a plate read that is exactly the plate of the vehicle's valid declaration.
    pub plate_confirmed_min_confidence: f32,
    pub container_min_confidence: f32,
    /// Which vision outcomes hold besides an anomaly or a disagreement (`[vision]`).
    pub vision: VisionPolicy,
}

impl Policy {
    pub fn new(decision: DecisionConfig, recognition: &RecognitionConfig) -> Self {
        Policy {
            decision,
            plate_min_confidence: recognition.plate_min_confidence,
            plate_confirmed_min_confidence: recognition.plate_confirmed_min_confidence,
            container_min_confidence: recognition.container_min_confidence,
            vision: VisionPolicy::default(),
        }
    }

    pub fn with_vision(mut self, vision: VisionPolicy) -> Self {
        self.vision = vision;
        self
    }

    pub fn decide(&self, input: &PolicyInput) -> DecisionRecord {
        let mut c = Checks::default();
        if input.storage_full {
            c.unavailable(
                "storage",
                "storage_full",
                "the data disk is below its floor: images are not kept, so no vehicle is released unseen",
            );
        }
        self.devices(input, &mut c);
        self.reads(input, &mut c);
        self.declaration(input, &mut c);
        seals(input, &mut c);
        empty(input, &mut c);
        vision::uvss(input.record, &self.vision, &mut c);
        vision::empty_image(input.record, input.declaration, &self.vision, &mut c);
        if !self.decision.auto_release {
            c.fail("auto_release", "auto_release_off", "auto-release is switched off in the configuration");
        }
        let targeted = input.declaration.is_some_and(|d| d.targeted);
        let outcome = if targeted {
            Outcome::Inspection
        } else if c.reasons.is_empty() {
            Outcome::Release
        } else {
            Outcome::Hold
        };
        DecisionRecord { outcome, reasons: c.reasons, checks: c.checks, by: "policy".into(), at: input.now }
    }

    fn devices(&self, input: &PolicyInput, c: &mut Checks) {
        for capture in &input.record.captures {
            if capture.outcome != CaptureOutcome::Ok {
                let word = if capture.outcome == CaptureOutcome::Timeout {
                    "capture_timeout"
                } else {
                    "capture_failed"
                };
                let detail = capture.error.clone().unwrap_or_default();
                c.unavailable(
                    &format!("capture:{}", capture.device),
                    &format!("{word}:{}", capture.device),
                    &detail,
                );
            }
        }
        if !self.decision.hold_when_device_down {
            return;
        }
        for (name, (state, required)) in input.health {
            if *required && *state == HealthState::Down {
                c.unavailable(&format!("device:{name}"), &format!("device_down:{name}"), "device is down");
            }
        }
    }

    fn reads(&self, input: &PolicyInput, c: &mut Checks) {
        let record = input.record;
        let Some(reads) = &record.reads else {
            let why = record.recognition_error.clone().unwrap_or_else(|| "no reads".into());
            c.unavailable("recognition", "recognition_failed", &why);
            return;
        };
        match reads.plates.first() {
            None => c.fail("plate_read", "plate_unread", "no plate was read"),
            Some(p) if p.confidence >= self.plate_min_confidence => {
                c.pass("plate_read", &format!("{} ({:.2})", p.text, p.confidence))
            }
            Some(p) if p.confidence >= self.plate_confirmed_min_confidence && self.confirmed(input) => c.pass(
                "plate_read",
                &format!(
                    "{} ({:.2}; under {:.2}, but its valid declaration names this plate and the containers read)",
                    p.text, p.confidence, self.plate_min_confidence
                ),
            ),
            Some(p) => c.fail(
                "plate_read",
                "low_confidence",
                &format!("plate {} read with {:.2} < {:.2}", p.text, p.confidence, self.plate_min_confidence),
            ),
        }
        for k in &reads.containers {
            let name = format!("container_read:{}", k.code);
            if !k.check_digit_ok {
                c.fail(&name, "check_digit_invalid", &format!("{} fails the ISO 6346 check digit", k.code));
            } else if k.confidence < self.container_min_confidence {
                c.fail(
                    &name,
                    "low_confidence",
                    &format!("read with {:.2} < {:.2}", k.confidence, self.container_min_confidence),
                );
            } else {
                c.pass(&name, &format!("{:.2}", k.confidence));
            }
        }
    }

    /// A plate read under `plate_min_confidence` may still pass when two identifiers agree with one
    /// declaration: the plate read is exactly its plate, and it names containers that were all read,
    /// each verified by its check digit at the container threshold. The declaration must be valid now
    /// and not targeted, and no other plate read at the floor may differ (two plates read on one
    /// vehicle are a doubt, not a confirmation).
    fn confirmed(&self, input: &PolicyInput) -> bool {
        let Some(reads) = &input.record.reads else { return false };
        let Some((first, others)) = reads.plates.split_first() else { return false };
        let Some(d) = input.declaration else { return false };
        let read: Vec<&str> = reads.containers.iter().map(|k| k.code.as_str()).collect();
        let containers_agree = !d.containers.is_empty()
            && d.containers.iter().all(|c| read.contains(&c.as_str()))
            && reads
                .containers
                .iter()
                .all(|k| k.check_digit_ok && k.confidence >= self.container_min_confidence);
        let rival = others.iter().any(|p| {
            p.confidence >= self.plate_confirmed_min_confidence && !same_plate(&p.text, &first.text)
        });
        d.valid_at(input.now)
            && !d.targeted
            && same_plate(&first.text, &d.plate)
            && containers_agree
            && !rival
    }

    fn declaration(&self, input: &PolicyInput, c: &mut Checks) {
        let Some(d) = input.declaration else {
            if self.decision.require_declaration {
                c.fail("declaration", "not_declared", "no valid pre-declaration matches this vehicle");
            }
            return;
        };
        if !d.valid_at(input.now) {
            c.fail(
                "declaration",
                "declaration_expired",
                "the matching pre-declaration is outside its validity window",
            );
        }
        if d.targeted {
            c.fail("targeted", "targeted", "declared vehicle is targeted for inspection");
        }
        let plate = input.record.plate();
        if plate.is_some_and(|p| !same_plate(p, &d.plate)) {
            c.fail(
                "plate_match",
                "plate_mismatch",
                &format!("read {} but declared {}", plate.unwrap_or("-"), d.plate),
            );
        } else if plate.is_some() {
            c.pass("plate_match", &d.plate);
        }
        let mut read = input.record.container_codes();
        let mut declared = d.containers.clone();
        read.sort();
        declared.sort();
        if read != declared {
            c.fail(
                "container_match",
                "container_mismatch",
                &format!("read {read:?} but declared {declared:?}"),
            );
        } else {
            c.pass("container_match", &format!("{declared:?}"));
        }
    }
}

/// Plates compare without spaces or separators.
fn same_plate(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.chars().filter(|c| c.is_alphanumeric()).collect::<String>();
    norm(a) == norm(b)
}

fn seals(input: &PolicyInput, c: &mut Checks) {
    let Some(capture) = input.record.captures.iter().find(|k| k.kind == CaptureKind::Seals) else { return };
    if capture.outcome != CaptureOutcome::Ok {
        return; // already reported as a capture problem
    }
    for seal in &capture.seals {
        let name = format!("seal:{}", seal.id);
        match seal.status {
            SealStatus::Sealed => c.pass(&name, "sealed"),
            SealStatus::Opened => c.fail(&name, "seal_opened", "seal reports opened"),
            SealStatus::Tampered => c.fail(&name, "seal_tampered", "seal reports tampering"),
        }
    }
    if let Some(d) = input.declaration {
        let heard: Vec<&str> = capture.seals.iter().map(|s| s.id.as_str()).collect();
        let missing: Vec<&String> = d.seals.iter().filter(|s| !heard.contains(&s.as_str())).collect();
        if missing.is_empty() {
            c.pass("seal_match", &format!("{} declared seal(s) present", d.seals.len()));
        } else {
            c.fail("seal_match", "seal_mismatch", &format!("declared seal(s) not heard: {missing:?}"));
        }
    }
}

fn empty(input: &PolicyInput, c: &mut Checks) {
    if !input.declaration.is_some_and(|d| d.declared_empty) {
        return;
    }
    match &input.record.empty_check {
        None => c.unavailable(
            "empty_check",
            "empty_check_unavailable",
            "declared empty but no empty-box check ran",
        ),
        Some(e) => match e.verdict {
            Some(EmptyVerdict::Empty) => c.pass("empty_check", "detector: empty"),
            Some(EmptyVerdict::NotEmpty) => {
                c.fail("empty_check", "empty_mismatch", "declared empty, detector says not empty")
            }
            Some(EmptyVerdict::Inconclusive) => {
                c.fail("empty_check", "empty_inconclusive", "detector inconclusive")
            }
            None => c.unavailable(
                "empty_check",
                "empty_check_unavailable",
                e.error.as_deref().unwrap_or("no verdict"),
            ),
        },
    }
}

#[cfg(test)]
mod tests;
