//! The lane's vision checks beside recognition: the under-vehicle scan against the vehicle's
//! reference scan, and the image-based empty check on the detector's interior image.
//!
//! Both are slow image work (the comparison takes most of a second on the lane PC), so they run
//! on the recognition worker thread right after the plate is read, never on the lane loop. The
//! comparison needs the plate (the reference store is keyed by it), which is why it follows
//! recognition rather than running beside it. The reference store is only written when a
//! passage completes released with a clean (or first) scan: a scan that raised an anomaly never
//! becomes the vehicle's reference, even if a reviewer let the vehicle go.

use std::time::Instant;

use drivers::{Image, ImageFormat};
use models::uvss::{self, ReferenceStore};
use tracing::{info, warn};

use crate::config::VisionConfig;
use crate::images::ImageStore;
use crate::recognize::Shot;
use contract::decision::Outcome;
use contract::passage::{
    CaptureKind, EmptyImageRecord, EmptyImageVerdict, PassageRecord, UvssCheckRecord, UvssInconclusiveReason,
    UvssRegion, UvssVerdict,
};

/// Longest side of the overlay sent to the reviewer.
const OVERLAY_MAX: u32 = 2000;

/// The comparison's result as it leaves the worker: the record (its overlay already in the
/// image store) and the plate and scan to keep as the next reference if the passage ends well.
pub struct UvssOutcome {
    pub record: UvssCheckRecord,
    pub scan: Option<(String, Image)>,
}

pub struct UvssChecker {
    device: String,
    store: Result<ReferenceStore, String>,
    params: uvss::Params,
    images: ImageStore,
}

impl UvssChecker {
    /// A store that cannot be opened is reported on every passage ("unavailable"), and the
    /// policy decides whether that holds; the lane still starts.
    pub fn new(cfg: &VisionConfig, device: &str, images: ImageStore) -> UvssChecker {
        let store = ReferenceStore::open(&cfg.uvss_reference_dir, cfg.uvss_reference_cap).map_err(|e| {
            warn!(dir = %cfg.uvss_reference_dir.display(), cause = %e, "UVSS reference store unavailable");
            e.to_string()
        });
        UvssChecker { device: device.to_string(), store, params: uvss::Params::default(), images }
    }

    /// Compare this passage's scan with the reference of the plate read. Runs on the worker.
    pub fn check(&self, reads: &Result<models::Reads, String>, shots: &[Shot]) -> UvssOutcome {
        let t = Instant::now();
        let mut out = UvssOutcome { record: self.record(UvssVerdict::Unavailable, None), scan: None };
        let Some(shot) = shots.iter().find(|s| s.kind == CaptureKind::UvssScan) else {
            out.record.reason = Some("no under-vehicle scan was captured".into());
            return out;
        };
        let Some(plate) = reads.as_ref().ok().and_then(|r| r.plates.first()).map(|p| p.text.clone()) else {
            out.record.reason = Some("no plate read to look the reference up by".into());
            return out;
        };
        out.scan = Some((plate.clone(), shot.image.clone()));
        let store = match &self.store {
            Ok(s) => s,
            Err(e) => {
                out.record.reason = Some(format!("reference store: {e}"));
                return out;
            }
        };
        let result =
            uvss::decode(&shot.image.bytes).map_err(|e| format!("unreadable scan: {e}")).and_then(|new| {
                uvss::compare_to_reference(store, &plate, &new, &self.params)
                    .map(|(c, reference)| (c, reference, new))
                    .map_err(|e| e.to_string())
            });
        let (c, reference, new) = match result {
            Ok(v) => v,
            Err(e) => {
                out.record.reason = Some(e);
                return out;
            }
        };
        let verdict = match c.verdict {
            uvss::Verdict::Anomaly => UvssVerdict::Anomaly,
            uvss::Verdict::Clean => UvssVerdict::Clean,
            uvss::Verdict::NoReference => UvssVerdict::NoReference,
            uvss::Verdict::Inconclusive => UvssVerdict::Inconclusive,
        };
        out.record = self.record(verdict, c.reason.clone());
        out.record.inconclusive_reason = c.inconclusive.map(inconclusive_reason);
        out.record.score = c.score;
        out.record.regions =
            c.regions.iter().map(|r| UvssRegion { x: r.x, y: r.y, w: r.w, h: r.h, score: r.score }).collect();
        if c.heat.is_some() {
            let overlay = self.overlay(reference.as_ref(), &new, &c, &shot.image);
            out.record.overlay = overlay.and_then(|o| {
                self.images.put(&o).map_err(|e| warn!(cause = %e, "cannot store the UVSS overlay")).ok()
            });
        }
        out.record.duration_ms = t.elapsed().as_millis() as u64;
        info!(plate, verdict = %crate::words::wire_word(&verdict), score = c.score, regions = c.regions.len(), ms = out.record.duration_ms, "UVSS comparison");
        out
    }

    fn record(&self, verdict: UvssVerdict, reason: Option<String>) -> UvssCheckRecord {
        UvssCheckRecord {
            device: self.device.clone(),
            verdict,
            score: 0.0,
            regions: vec![],
            inconclusive_reason: None,
            reason,
            overlay: None,
            duration_ms: 0,
        }
    }

    fn overlay(
        &self,
        reference: Option<&image::RgbImage>,
        new: &image::RgbImage,
        c: &uvss::Comparison,
        scan: &Image,
    ) -> Option<Image> {
        let img = uvss::overlay::render(reference, new, c, &self.params, OVERLAY_MAX);
        let mut bytes = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg).ok()?;
        Some(Image {
            bytes: bytes.into(),
            format: ImageFormat::Jpeg,
            width: img.width(),
            height: img.height(),
            captured_at: scan.captured_at,
            sim_truth: None,
        })
    }

    /// Keep a released vehicle's clean (or first) scan as its new reference. Blocking disk IO:
    /// call from a blocking task.
    pub fn learn(&self, plate: &str, scan: &Image, speed_kmh: Option<f32>) {
        let Ok(store) = &self.store else { return };
        let speed = speed_kmh.map(|v| v / 3.6);
        match store.put(plate, &scan.bytes, speed, scan.captured_at.timestamp_millis()) {
            Ok(evicted) => info!(plate, evicted = evicted.len(), "UVSS reference updated"),
            Err(e) => warn!(plate, cause = %e, "cannot keep the UVSS reference"),
        }
    }
}

/// The comparison's reason code as the record carries it (the same snake_case names).
fn inconclusive_reason(r: uvss::InconclusiveReason) -> UvssInconclusiveReason {
    use uvss::InconclusiveReason as M;
    match r {
        M::TooDifferentInSize => UvssInconclusiveReason::TooDifferentInSize,
        M::TooDark => UvssInconclusiveReason::TooDark,
        M::Overexposed => UvssInconclusiveReason::Overexposed,
        M::NoStructure => UvssInconclusiveReason::NoStructure,
        M::RegistrationFailed => UvssInconclusiveReason::RegistrationFailed,
        M::DiffersEverywhere => UvssInconclusiveReason::DiffersEverywhere,
        M::PartialScan => UvssInconclusiveReason::PartialScan,
    }
}

/// Whether a completed passage's scan should become the plate's reference.
pub fn should_learn(record: &PassageRecord) -> bool {
    record.final_outcome() == Some(Outcome::Release)
        && record
            .uvss
            .as_ref()
            .is_some_and(|u| matches!(u.verdict, UvssVerdict::Clean | UvssVerdict::NoReference))
}

/// The classical (or configured ONNX) empty check on the detector's interior image.
pub fn empty_image(interior: Option<&Image>) -> EmptyImageRecord {
    let unavailable = |reason: String| EmptyImageRecord {
        verdict: EmptyImageVerdict::Unavailable,
        score: 0.0,
        reason: Some(reason),
    };
    let Some(img) = interior else { return unavailable("the detector sent no interior image".into()) };
    let img = match image::load_from_memory(&img.bytes) {
        Ok(i) => i.to_rgb8(),
        Err(e) => return unavailable(format!("unreadable interior image: {e}")),
    };
    match models::empty::check(&img, &models::empty::Params::default()) {
        Ok(v) => EmptyImageRecord {
            verdict: match v.verdict {
                models::empty::Verdict::Empty => EmptyImageVerdict::Empty,
                models::empty::Verdict::NotEmpty => EmptyImageVerdict::NotEmpty,
                models::empty::Verdict::Inconclusive => EmptyImageVerdict::Inconclusive,
            },
            score: v.score,
            reason: None,
        },
        Err(e) => unavailable(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(outcome: Outcome, verdict: Option<UvssVerdict>) -> PassageRecord {
        let mut r: PassageRecord = serde_json::from_value(serde_json::json!({
            "schema": contract::passage::PASSAGE_SCHEMA, "id": "p1", "site": "s", "lane": "l", "seq": 1, "arrived_at": "2026-01-01T00:00:00Z",
            "stages": [], "captures": [], "flags": []
        }))
        .unwrap();
        r.decision = Some(contract::decision::DecisionRecord {
            outcome,
            reasons: vec![],
            checks: vec![],
            by: "policy".into(),
            at: r.arrived_at,
        });
        r.uvss = verdict.map(|v| UvssCheckRecord {
            device: "uvss".into(),
            verdict: v,
            score: 0.0,
            regions: vec![],
            inconclusive_reason: None,
            reason: None,
            overlay: None,
            duration_ms: 0,
        });
        r
    }

    #[test]
    fn the_record_carries_the_comparisons_reason_codes() {
        for r in uvss::InconclusiveReason::ALL {
            let wire = serde_json::to_value(inconclusive_reason(r)).unwrap();
            assert_eq!(wire, r.code(), "record and comparison name {r:?} alike");
        }
    }

    #[test]
    fn only_clean_or_first_scans_of_released_vehicles_become_references() {
        assert!(should_learn(&passage(Outcome::Release, Some(UvssVerdict::Clean))));
        assert!(should_learn(&passage(Outcome::Release, Some(UvssVerdict::NoReference))));
        assert!(!should_learn(&passage(Outcome::Release, Some(UvssVerdict::Anomaly))));
        assert!(!should_learn(&passage(Outcome::Release, Some(UvssVerdict::Inconclusive))));
        assert!(!should_learn(&passage(Outcome::Hold, Some(UvssVerdict::Clean))));
        assert!(!should_learn(&passage(Outcome::Release, None)));
    }

    #[test]
    fn missing_or_broken_interior_image_is_unavailable() {
        assert_eq!(empty_image(None).verdict, EmptyImageVerdict::Unavailable);
        let junk = Image {
            bytes: bytes::Bytes::from_static(b"nope"),
            format: ImageFormat::Jpeg,
            width: 1,
            height: 1,
            captured_at: chrono::Utc::now(),
            sim_truth: None,
        };
        let r = empty_image(Some(&junk));
        assert_eq!(r.verdict, EmptyImageVerdict::Unavailable);
        assert!(r.reason.unwrap().contains("unreadable"));
    }
}
