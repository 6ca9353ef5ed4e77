//! Under-vehicle scan (UVSS) comparison against the same vehicle's reference scan.
//!
//! [`compare`] brings both scans to a common scale ([`geometry`]), checks there is something
//! to compare ([`exposure`]), registers the new scan onto the reference ([`register`],
//! [`refine`]; on the reference's tone curve, [`tone`]), normalises lighting
//! ([`plane::Plane::normalise`]), matches patches of grey and colour within a small window
//! ([`diff::window_match`]), and groups what remains into scored boxes ([`regions`]), each
//! searched again as a whole piece before it counts ([`rematch`]). A comparison that cannot
//! conclude says why ([`InconclusiveReason`]).
//! [`overlay::render`] draws the reviewer's picture; [`reference::ReferenceStore`] keeps the
//! last clean scan per plate; [`variants`] makes the evaluation's altered scans.
//! All of it runs on reduced work grids (about 400 pixels across the lane), in pure Rust.
//! The method and its limits are described in `docs/design/uvss.md`.

mod blocks;
pub mod diff;
pub mod exposure;
pub mod geometry;
mod lateral;
pub mod noise;
pub mod overlay;
pub mod params;
pub mod plane;
pub mod reference;
pub mod refine;
pub mod regions;
pub mod register;
pub mod rematch;
mod stages;
pub mod synth;
pub mod tone;
mod travel;
pub mod variants;
pub mod verdict;

use std::time::Instant;

use image::RgbImage;

use crate::error::InputError;
use geometry::PlanError;
pub use geometry::{Geometry, ScanGrid};
pub use params::{Params, TravelAxis};
pub use reference::{ReferenceMeta, ReferenceStore, StoreError};
pub use register::{RegisterParams, Registration};
use stages::Prepared;
pub use verdict::{Comparison, InconclusiveReason, Region, Summary, Verdict};

/// Longest side of a scan file accepted: a 2048-pixel line-scan camera at a high line rate
/// under a 20 m truck (the recognition inputs' limit is far lower).
pub const MAX_SCAN_SIDE: u32 = 60_000;

/// An input that cannot be compared at all (as opposed to an inconclusive comparison).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("the {scan} scan is {width}x{height} pixels; a comparison needs at least {min} pixels across and along the lane")]
    TooSmall { scan: &'static str, width: u32, height: u32, min: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Read a scan from disk (JPEG or PNG, size-checked).
pub fn load(path: &std::path::Path) -> Result<RgbImage, Error> {
    Ok(crate::imgops::load_path_within(path, MAX_SCAN_SIDE)?)
}

/// Decode a scan from the scanner's bytes (JPEG or PNG, size-checked).
pub fn decode(bytes: &[u8]) -> Result<RgbImage, Error> {
    Ok(crate::imgops::decode_within(bytes, MAX_SCAN_SIDE)?)
}

/// Compare a new scan against the reference scan of the same vehicle.
pub fn compare(reference: &RgbImage, new: &RgbImage, p: &Params) -> Result<Comparison, Error> {
    let t0 = Instant::now();
    let stop = |reason: InconclusiveReason, sentence: String, mut c: Comparison| {
        c.verdict = Verdict::Inconclusive;
        c.inconclusive = Some(reason);
        c.reason = Some(sentence);
        c.timings_ms.insert("total", ms(t0));
        Ok(c)
    };
    let mut geo = match geometry::plan(reference, new, p) {
        Ok(g) => g,
        Err(PlanError::TooSmall { scan, width, height, min }) => {
            return Err(Error::TooSmall { scan, width, height, min })
        }
        Err(PlanError::TooDifferent(s)) => {
            return stop(InconclusiveReason::TooDifferentInSize, s, Comparison::blank(Verdict::Inconclusive));
        }
    };
    let mut c = Comparison::blank(Verdict::Inconclusive);
    c.resolution_ratio = geo.resolution_ratio();
    c.geometry = Some(geo);
    // Reduce and normalise both scans at once: the two cores of the lane PC.
    let (mut r, mut n) = std::thread::scope(|s| {
        let h = s.spawn(|| Prepared::new(reference, &geo.reference, p));
        let n = Prepared::new(new, &geo.new, p);
        (h.join().expect("prepare thread"), n)
    });
    c.timings_ms.insert("prepare", ms(t0));
    for (scan, which) in [(&r, "reference"), (&n, "new")] {
        if let Some((why, sentence)) = exposure::check(scan.exposure, scan.structure, which) {
            return stop(why, sentence, c);
        }
    }
    if p.match_tone {
        n.match_tone(&r, p);
    }
    let t1 = Instant::now();
    let no_alignment = "the scans could not be aligned: their structure along travel does not \
                        correlate at any speed ratio (another vehicle, or not an underside)";
    let (a, b) = (register::edge_profile(&r.luma, true), register::edge_profile(&n.luma, true));
    let Some((_, s, _)) = register::global_travel(&a, &b, p.register.scale_range) else {
        return stop(InconclusiveReason::RegistrationFailed, no_alignment.into(), c);
    };
    // Same resolution along travel: the finer scan is reduced to the coarser.
    let s = stages::equalise(&mut r, &mut geo.reference, &mut n, &mut geo.new, s, p.equalise_above);
    c.geometry = Some(geo);
    let Some(reg) = refine::register(&r.luma, &n.luma, &p.register, (s / 1.08, s * 1.08)) else {
        return stop(InconclusiveReason::RegistrationFailed, no_alignment.into(), c);
    };
    c.timings_ms.insert("register", ms(t1));
    c.quality = reg.quality;
    c.scale = geo.length_ratio(reg.scale);
    let t2 = Instant::now();
    let diffed = stages::difference(&r, &n, &reg, p);
    c.coverage = diffed.coverage;
    c.timings_ms.insert("difference", ms(t2));
    let t3 = Instant::now();
    let found = stages::regions(&diffed, &reg, &geo, p);
    c.residual = found.level;
    c.score = found.score;
    c.heat = Some(found.heat);
    c.timings_ms.insert("regions", ms(t3));
    c.registration = Some(reg);
    if c.quality < p.min_quality {
        let s = format!(
            "the scans could not be aligned well enough (match {:.2}, needs {:.2}): another vehicle, \
             or a pass too different to register",
            c.quality, p.min_quality
        );
        return stop(InconclusiveReason::RegistrationFailed, s, c);
    }
    if c.residual > p.max_residual {
        let s = format!(
            "the scans differ almost everywhere (residual level {:.2}, limit {:.2}): not the same \
             underside, or a blurred or glaring pass",
            c.residual, p.max_residual
        );
        return stop(InconclusiveReason::DiffersEverywhere, s, c);
    }
    if c.coverage < p.min_coverage {
        let s = format!(
            "the new scan covers only {:.0}% of the reference (needs {:.0}%): scan cut short?",
            c.coverage * 100.0,
            p.min_coverage * 100.0
        );
        return stop(InconclusiveReason::PartialScan, s, c);
    }
    c.verdict = if found.regions.is_empty() { Verdict::Clean } else { Verdict::Anomaly };
    c.regions = found.regions;
    c.timings_ms.insert("total", ms(t0));
    Ok(c)
}

/// Compare against the stored reference of `plate`; `NoReference` when there is none. The
/// reference scan comes back too, for the overlay.
pub fn compare_to_reference(
    store: &ReferenceStore,
    plate: &str,
    new: &RgbImage,
    p: &Params,
) -> Result<(Comparison, Option<RgbImage>), Error> {
    match store.get(plate)? {
        None => Ok((Comparison::no_reference(), None)),
        Some((img, _meta)) => Ok((compare(&img, new, p)?, Some(img))),
    }
}

fn ms(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1e5).round() / 100.0
}

#[cfg(test)]
mod tests;
