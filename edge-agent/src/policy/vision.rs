//! The decision policy's vision checks: the under-vehicle comparison and the image-based empty
//! check. Kept apart from the other rules so the vision rules read as one table.
//!
//! A found anomaly and a disagreement with the declaration always hold. What is merely not
//! known (no reference yet, an inconclusive comparison, a check that could not run) holds or
//! not as `[vision]` in the lane file says: a first visit must not hold every new vehicle,
//! while a scanner that stopped working usually should.

use drivers::EmptyVerdict;

use contract::declaration::Declaration;
use contract::passage::{EmptyImageVerdict, PassageRecord, UvssVerdict};

use super::checks::Checks;
use crate::config::VisionPolicy;

pub(super) fn uvss(record: &PassageRecord, v: &VisionPolicy, c: &mut Checks) {
    let Some(u) = &record.uvss else { return };
    let why = u.reason.clone().unwrap_or_default();
    match u.verdict {
        UvssVerdict::Clean => c.pass("uvss", &format!("matches the reference (score {:.2})", u.score)),
        UvssVerdict::Anomaly => c.fail(
            "uvss",
            "uvss_anomaly",
            &format!("{} changed region(s) against the reference, score {:.2}", u.regions.len(), u.score),
        ),
        UvssVerdict::NoReference if v.hold_uvss_no_reference => {
            c.fail("uvss", "uvss_no_reference", "no reference scan for this vehicle")
        }
        UvssVerdict::NoReference => {
            c.pass("uvss", "no reference scan yet; this one becomes it if the vehicle is released")
        }
        UvssVerdict::Inconclusive if v.hold_uvss_inconclusive => c.fail("uvss", "uvss_inconclusive", &why),
        UvssVerdict::Inconclusive => {
            c.pass("uvss", &format!("inconclusive, not held by configuration: {why}"))
        }
        UvssVerdict::Unavailable if v.hold_uvss_unavailable => {
            c.unavailable("uvss", "uvss_unavailable", &why)
        }
        UvssVerdict::Unavailable => c.pass("uvss", &format!("unavailable, not held by configuration: {why}")),
    }
}

/// Only for vehicles declared empty, like the detector's own check.
pub(super) fn empty_image(
    record: &PassageRecord,
    declaration: Option<&Declaration>,
    v: &VisionPolicy,
    c: &mut Checks,
) {
    if !declaration.is_some_and(|d| d.declared_empty) {
        return;
    }
    let Some(e) = &record.empty_image else { return };
    let detector = record.empty_check.as_ref().and_then(|d| d.verdict);
    let why = e.reason.clone().unwrap_or_default();
    match e.verdict {
        EmptyImageVerdict::Empty => c.pass("empty_image", &format!("image check: empty ({:.2})", e.score)),
        EmptyImageVerdict::NotEmpty => {
            let detail = match detector {
                Some(EmptyVerdict::Empty) => format!(
                    "declared empty and the detector says empty, but the interior image looks loaded ({:.2})",
                    e.score
                ),
                _ => format!("declared empty, the interior image looks loaded ({:.2})", e.score),
            };
            c.fail("empty_image", "empty_check_disagrees", &detail);
        }
        EmptyImageVerdict::Inconclusive if v.hold_empty_image_inconclusive => {
            c.fail("empty_image", "empty_image_inconclusive", "the interior image check is inconclusive")
        }
        EmptyImageVerdict::Inconclusive => c.pass("empty_image", "inconclusive, not held by configuration"),
        EmptyImageVerdict::Unavailable if v.hold_empty_image_unavailable => {
            c.unavailable("empty_image", "empty_image_unavailable", &why)
        }
        EmptyImageVerdict::Unavailable => {
            c.pass("empty_image", &format!("unavailable, not held by configuration: {why}"))
        }
    }
}
