//! Under-vehicle scan (UVSS) comparison against the same vehicle's reference scan.
//!
//! [`compare`] registers the new scan onto the reference ([`register`], [`refine`]), normalises
//! lighting ([`plane::Plane::normalise`]), matches patches of grey and colour within a small window ([`diff::window_match`]),
//! and groups what remains into scored boxes ([`regions`]). [`overlay::render`] draws the
//! heat map for the reviewer; [`reference::ReferenceStore`] keeps the last clean scan per plate.
//! All of it runs on a reduced work grid (about 400 pixels across the lane), in pure Rust.
//! The method and its limits are described in `docs/design/uvss.md`.

pub mod diff;
pub mod noise;
pub mod overlay;
pub mod plane;
pub mod reference;
pub mod refine;
pub mod regions;
pub mod register;
pub mod synth;

use std::collections::BTreeMap;
use std::time::Instant;

use image::RgbImage;
use serde::Serialize;

use crate::error::InputError;
use plane::Plane;
pub use reference::{ReferenceMeta, ReferenceStore, StoreError};
pub use register::{RegisterParams, Registration};

/// Which image axis the vehicle travels along (line-scan time axis).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TravelAxis {
    /// The longer side: a vehicle is always longer than the lane is wide.
    Auto,
    X,
    Y,
}

/// Tuning of one comparison. Thresholds are in local standard deviations (see `normalise`).
#[derive(Clone, Debug)]
pub struct Params {
    pub travel: TravelAxis,
    /// Work-grid size across the lane; the downsampling factor follows from it.
    pub work_cross: usize,
    pub register: RegisterParams,
    /// Radius (work px) and noise floor (grey levels) of the lighting normalisation.
    pub norm_radius: usize,
    pub norm_floor: f32,
    /// The difference runs on the work grid reduced by this factor (speed; objects of interest
    /// still cover tens of pixels there).
    pub diff_step: usize,
    /// Search window of the patch match, in difference-grid pixels: along travel and across
    /// the lane (parallax moves parts across the lane), and the patch radius.
    pub search_along: usize,
    pub search_across: usize,
    pub patch: usize,
    /// Weight of a colour difference against a grey difference of the same size.
    pub chroma_weight: f32,
    pub pixel_threshold: f32,
    /// Opening radius (difference-grid pixels): structures thinner than 2r+1 are not regions.
    pub open_radius: usize,
    /// A component is an anomaly when its strength reaches this: its mean difference, times
    /// sqrt(area / `full_area`) when it is smaller than `full_area` (difference-grid pixels).
    pub region_threshold: f32,
    pub full_area: usize,
    /// Smallest residual level (90th percentile of the difference) the difference is divided
    /// by: a near-perfect pair must not turn sensor noise into anomalies.
    pub residual_floor: f32,
    /// Above this residual level the scans differ everywhere: inconclusive, never clean.
    pub max_residual: f32,
    /// Smallest anomaly, in difference-grid pixels (at the defaults about 4 x 4 cm).
    pub min_area: usize,
    /// Below this block correlation the scans are not of the same underside: inconclusive.
    pub min_quality: f32,
    /// Below this share of the reference covered by the new scan: inconclusive.
    pub min_coverage: f32,
    pub max_regions: usize,
    /// Neighbourhood whose median difference sets the local noise level (see [`noise`]), as a
    /// share of the scan's width across the lane (about 1 m on a 2.4 m lane at the default);
    /// 0 (the default) switches the local level off: at 0.47 it removes every false alarm on
    /// the real pairs but costs 6 points of synthetic detection and fails on small scans,
    /// where an object is a large share of any neighbourhood (docs/design/uvss.md).
    pub noise_tile: f32,
    /// Share of the travel length at each end where no region is reported (bumpers, entry).
    pub end_band: f32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            travel: TravelAxis::Auto,
            work_cross: 400,
            register: RegisterParams::default(),
            norm_radius: 40,
            norm_floor: 2.0,
            diff_step: 2,
            search_along: 2,
            search_across: 5,
            patch: 1,
            chroma_weight: 1.0,
            pixel_threshold: 1.5,
            open_radius: 1,
            region_threshold: 3.0,
            full_area: 250,
            residual_floor: 0.2,
            max_residual: 1.0,
            min_area: 16,
            min_quality: 0.35,
            min_coverage: 0.7,
            max_regions: 20,
            noise_tile: 0.0,
            end_band: 0.03,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Anomaly,
    Clean,
    NoReference,
    Inconclusive,
}

/// An anomaly box in pixel coordinates of the new scan, score in 0..1 (0.5 = threshold).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    pub score: f32,
}

/// Result of one comparison. `heat` and `registration` feed the overlay.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub verdict: Verdict,
    /// 0..1; at or above 0.5 the verdict is `Anomaly`.
    pub score: f32,
    pub regions: Vec<Region>,
    pub timings_ms: BTreeMap<&'static str, f64>,
    /// Why the verdict is inconclusive or no_reference.
    pub reason: Option<String>,
    pub quality: f32,
    pub coverage: f32,
    /// 90th percentile of the patch difference: the pair's own residual level.
    pub residual: f32,
    /// New/reference length ratio along travel (speed ratio).
    pub scale: f32,
    /// Smoothed difference on the work grid, reference frame.
    pub heat: Option<Plane>,
    pub registration: Option<Registration>,
    /// Work grid -> image pixels, and whether travel runs along the images' y.
    pub factor: usize,
    pub travel_is_y: bool,
}

impl Comparison {
    /// The verdict when the vehicle has no reference scan yet: not an anomaly.
    pub fn no_reference() -> Comparison {
        Comparison::without(Verdict::NoReference, "no reference scan for this vehicle")
    }

    fn without(verdict: Verdict, reason: &str) -> Comparison {
        Comparison {
            verdict,
            score: 0.0,
            regions: Vec::new(),
            timings_ms: BTreeMap::new(),
            reason: Some(reason.to_string()),
            quality: 0.0,
            coverage: 0.0,
            residual: 0.0,
            scale: 0.0,
            heat: None,
            registration: None,
            factor: 1,
            travel_is_y: false,
        }
    }
}

/// An input that cannot be compared at all (as opposed to an inconclusive comparison).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(
        "scan is {width}x{height}; it needs at least {min} pixels across and along the lane after reduction"
    )]
    TooSmall { width: u32, height: u32, min: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Read a scan from disk (JPEG or PNG, size-checked).
pub fn load(path: &std::path::Path) -> Result<RgbImage, Error> {
    Ok(crate::imgops::load_path(path)?)
}

/// Map a 0.. strength onto 0..1 so that `threshold` lands on 0.5.
fn squash(m: f32, threshold: f32) -> f32 {
    if m <= 0.0 {
        0.0
    } else {
        m / (m + threshold)
    }
}

/// Compare a new scan against the reference scan of the same vehicle.
pub fn compare(reference: &RgbImage, new: &RgbImage, p: &Params) -> Result<Comparison, Error> {
    let t0 = Instant::now();
    let travel_is_y = match p.travel {
        TravelAxis::X => false,
        TravelAxis::Y => true,
        TravelAxis::Auto => reference.height() > reference.width(),
    };
    let cross = |img: &RgbImage| if travel_is_y { img.width() } else { img.height() } as usize;
    let factor = (cross(reference) / p.work_cross.max(1)).max(1);
    const MIN_WORK: usize = 32;
    for img in [reference, new] {
        let (cw, lw) =
            (cross(img) / factor, if travel_is_y { img.height() } else { img.width() } as usize / factor);
        if cw < MIN_WORK || lw < MIN_WORK {
            return Err(Error::TooSmall { width: img.width(), height: img.height(), min: MIN_WORK * factor });
        }
    }
    let mut timings = BTreeMap::new();
    if cross(new).abs_diff(cross(reference)) * 10 > cross(reference) {
        let mut c = Comparison::without(
            Verdict::Inconclusive,
            "scans differ in width across the lane (different scanner?)",
        );
        c.timings_ms.insert("total", ms(t0));
        return Ok(c);
    }
    // Reduce and normalise both scans at once: the two cores of the lane PC.
    let prep = |img: &RgbImage| {
        let [y, u, v] = Plane::from_rgb_colour(img, factor, travel_is_y);
        let (n, k) = y.normalise_gain(p.norm_radius, p.norm_floor);
        let (u, v) = (u.centre_scale(p.norm_radius, k), v.centre_scale(p.norm_radius, k));
        (n, u, v, y)
    };
    let ((rn, ru, rv, ry), (nn, nu, nv, ny)) = std::thread::scope(|s| {
        let h = s.spawn(|| prep(reference));
        let nn = prep(new);
        (h.join().expect("prepare thread"), nn)
    });
    timings.insert("prepare", ms(t0));
    let t1 = Instant::now();
    let Some((reg, wn)) = refine::register(&rn, &nn, &p.register) else {
        let mut c = Comparison::without(Verdict::Inconclusive, "no alignment found between the scans");
        c.timings_ms = timings;
        return Ok(c);
    };
    timings.insert("register", ms(t1));
    let t2 = Instant::now();
    let k = p.diff_step.max(1);
    let [wu, wv, wy] = std::thread::scope(|s| {
        let a = s.spawn(|| refine::warp_plane(&reg, &nu).shrink(k));
        let b = s.spawn(|| refine::warp_plane(&reg, &nv).shrink(k));
        let c = refine::warp_plane(&reg, &ny).shrink(k);
        [a.join().expect("warp thread"), b.join().expect("warp thread"), c]
    });
    let (rl, ru, rv, ry, wl) = (rn.shrink(k), ru.shrink(k), rv.shrink(k), ry.shrink(k), wn.shrink(k));
    let win = diff::Window {
        along: p.search_along,
        across: p.search_across,
        patch: p.patch,
        chroma: p.chroma_weight,
    };
    let (d, coverage) = diff::window_match(
        &diff::Scan { luma: &rl, chroma: [&ru, &rv], raw: &ry },
        &diff::Scan { luma: &wl, chroma: [&wu, &wv], raw: &wy },
        win,
    );
    timings.insert("difference", ms(t2));
    let t3 = Instant::now();
    // Constant false-alarm rate: express the difference in units of this pair's own residual
    // level (a high percentile over the covered area). Two passes of a clean, well-aligned
    // vehicle leave little residual; a pair with more parallax, glare or blur leaves more
    // everywhere, and only what stands out against that is a candidate.
    let level = percentile(&d.data, 0.9).max(p.residual_floor);
    let d = Plane { w: d.w, h: d.h, data: d.data.iter().map(|v| v / level).collect() };
    // Then against its own neighbourhood: wheels, bumpers and poorly held parts differ all
    // over, a new object differs from surroundings that match (see `noise`).
    let tile = (p.noise_tile * d.h as f32).round() as usize;
    let d = if tile > 0 { noise::local_normalise(&d, tile, p.pixel_threshold) } else { d };
    let mut blobs = regions::compact_blobs(&d, p.pixel_threshold, p.open_radius, p.min_area);
    blobs.retain(|b| !noise::in_end_band(b.x0, b.x1, d.w, p.end_band));
    // Strength: mean difference, discounted for regions smaller than `full_area` (a small
    // blob of strong difference is as typical of residual misalignment as of a small object).
    let strength = |b: &regions::Blob| b.mean * (b.area as f32 / p.full_area.max(1) as f32).sqrt().min(1.0);
    let mut blobs: Vec<(f32, regions::Blob)> = blobs.into_iter().map(|b| (strength(&b), b)).collect();
    blobs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut out = Vec::new();
    for (st, b) in blobs.iter().filter(|b| b.0 >= p.region_threshold).take(p.max_regions) {
        let st = *st;
        let wb = regions::Blob { x0: b.x0 * k, y0: b.y0 * k, x1: b.x1 * k, y1: b.y1 * k, ..b.clone() };
        out.push(to_region(&wb, &reg, factor, travel_is_y, new, squash(st, p.region_threshold)));
    }
    // The heat map back on the work grid (nearest neighbour) for the overlay.
    let mut heat = Plane::new(rn.w, rn.h);
    for y in 0..rn.h {
        for x in 0..rn.w {
            heat.data[y * rn.w + x] = d.at((x / k).min(d.w - 1), (y / k).min(d.h - 1));
        }
    }
    timings.insert("regions", ms(t3));
    let best = blobs.first().map_or(0.0, |b| b.0);
    let (verdict, reason) = if reg.quality < p.min_quality {
        (
            Verdict::Inconclusive,
            Some(format!("scans do not match well enough (block correlation {:.2})", reg.quality)),
        )
    } else if level > p.max_residual {
        (Verdict::Inconclusive, Some(format!("the scans differ almost everywhere (residual level {level:.2}): not the same underside, or failed alignment")))
    } else if coverage < p.min_coverage {
        (
            Verdict::Inconclusive,
            Some(format!("new scan covers only {:.0}% of the reference", coverage * 100.0)),
        )
    } else if out.is_empty() {
        (Verdict::Clean, None)
    } else {
        (Verdict::Anomaly, None)
    };
    timings.insert("total", ms(t0));
    Ok(Comparison {
        verdict,
        score: squash(best, p.region_threshold),
        regions: if verdict == Verdict::Anomaly { out } else { Vec::new() },
        timings_ms: timings,
        reason,
        quality: reg.quality,
        coverage,
        residual: level,
        scale: reg.scale,
        heat: Some(heat),
        registration: Some(reg),
        factor,
        travel_is_y,
    })
}

/// Compare against the stored reference of `plate`; `NoReference` when there is none.
pub fn compare_to_reference(
    store: &ReferenceStore,
    plate: &str,
    new: &RgbImage,
    p: &Params,
) -> Result<Comparison, Error> {
    match store.get(plate)? {
        None => Ok(Comparison::no_reference()),
        Some((img, _meta)) => compare(&img, new, p),
    }
}

/// The `q` quantile of the positive values (0 where the new scan had no data is left out).
fn percentile(v: &[f32], q: f32) -> f32 {
    let mut pos: Vec<f32> = v.iter().copied().filter(|x| *x > 0.0).collect();
    if pos.is_empty() {
        return 0.0;
    }
    let k = ((pos.len() - 1) as f32 * q) as usize;
    *pos.select_nth_unstable_by(k, |a, b| a.total_cmp(b)).1
}

fn ms(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1e5).round() / 100.0
}

/// A work-grid box of the reference frame as a pixel box of the new scan.
fn to_region(
    b: &regions::Blob,
    reg: &Registration,
    f: usize,
    travel_is_y: bool,
    new: &RgbImage,
    score: f32,
) -> Region {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for (x, y) in [(b.x0, b.y0), (b.x1, b.y0), (b.x0, b.y1), (b.x1, b.y1)] {
        let (nx, ny) = reg.locate(x as f32, y as f32);
        x0 = x0.min(nx);
        x1 = x1.max(nx);
        y0 = y0.min(ny);
        y1 = y1.max(ny);
    }
    let f = f as f32;
    // Work x is travel; swap back when the image's travel axis is y.
    let (ix0, iy0, ix1, iy1) =
        if travel_is_y { (y0 * f, x0 * f, y1 * f, x1 * f) } else { (x0 * f, y0 * f, x1 * f, y1 * f) };
    let cx = |v: f32| v.clamp(0.0, new.width() as f32) as u32;
    let cy = |v: f32| v.clamp(0.0, new.height() as f32) as u32;
    let (x, y) = (cx(ix0), cy(iy0));
    Region { x, y, w: cx(ix1).saturating_sub(x).max(1), h: cy(iy1).saturating_sub(y).max(1), score }
}
#[cfg(test)]
mod tests;
