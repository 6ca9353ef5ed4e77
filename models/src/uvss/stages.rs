//! The stages of [`super::compare`] around registration: preparing each scan's planes, bringing
//! both to one resolution along travel, the difference, and the regions with their scores.
//! `compare` itself only sequences them and decides the verdict, so that the order of the
//! checks (and every reason a comparison can stop for) reads in one place.

use super::diff;
use super::exposure::{Exposure, SATURATED};
use super::geometry::{self, Geometry, ScanGrid};
use super::noise;
use super::plane::Plane;
use super::refine;
use super::regions::{self, Blob};
use super::register::Registration;
use super::rematch;
use super::tone::ToneMap;
use super::verdict::Region;
use super::Params;

/// One scan on its work grid: normalised luma (for registration), the raw grey and colour
/// planes (normalised later, over the area both scans cover), the gain that puts them on the
/// normalised scale, and how much structure and light the scan has.
pub(crate) struct Prepared {
    pub luma: Plane,
    pub raw: Plane,
    pub u: Plane,
    pub v: Plane,
    pub gain: f32,
    pub exposure: Exposure,
    /// Mean absolute deviation from the local mean, grey levels.
    pub structure: f32,
    /// The map onto the reference's tone curve, set when the two curves differ by more than a
    /// gain and an offset (see `match_tone`).
    pub tone: Option<ToneMap>,
}

impl Prepared {
    pub fn new(img: &image::RgbImage, grid: &ScanGrid, p: &Params) -> Prepared {
        let [raw, u, v] = geometry::reduce(img, grid);
        let exposure = Exposure::of(&raw);
        let (luma, gain) = raw.normalise_gain(p.norm_radius, p.norm_floor);
        Prepared { luma, raw, u, v, gain, exposure, structure: 1.0 / gain - p.norm_floor, tone: None }
    }

    /// Register on this scan's grey put on `reference`'s tone curve (see [`super::tone`]), when
    /// the two curves differ by more than a gain and an offset, and keep the map for the
    /// difference (see [`difference`]).
    pub fn match_tone(&mut self, reference: &Prepared, p: &Params) {
        let map = ToneMap::matching(&reference.raw, &self.raw);
        if map.bend() < p.tone_bend {
            return;
        }
        let matched = Plane {
            w: self.raw.w,
            h: self.raw.h,
            data: self.raw.data.iter().map(|v| map.apply(*v)).collect(),
        };
        self.luma = matched.normalise_gain(p.norm_radius, p.norm_floor).0;
        self.tone = Some(map);
    }

    fn resample_along(&mut self, grid: &mut ScanGrid, len: usize) {
        geometry::equalise_along(&mut [&mut self.luma, &mut self.u, &mut self.v, &mut self.raw], grid, len);
    }
}

/// Bring both scans to the same resolution along travel when the measured travel scale `s`
/// (new work pixels per reference work pixel) is beyond `above` either way: the finer scan is
/// area-reduced to the coarser, never the coarser enlarged. Returns the scale that remains.
pub(crate) fn equalise(
    r: &mut Prepared,
    gr: &mut ScanGrid,
    n: &mut Prepared,
    gn: &mut ScanGrid,
    s: f32,
    above: f32,
) -> f32 {
    if s > above {
        let old = gn.len;
        n.resample_along(gn, (old as f32 / s).round() as usize);
        s * gn.len as f32 / old as f32
    } else if s * above < 1.0 {
        let old = gr.len;
        r.resample_along(gr, (old as f32 * s).round() as usize);
        s * old as f32 / gr.len as f32
    } else {
        s
    }
}

/// The windowed patch difference of the registered pair on the difference grid, and the share
/// of the reference the new scan covers.
///
/// Lighting is normalised here, after registration, with the local mean of both scans taken
/// over the same support: the pixels where the new scan has data. Normalising each scan on
/// its own (as registration does) treats a part near the new scan's edge (the vehicle driven
/// to one side of the lane, a turned pass) differently from the same part in the middle of the
/// reference, and that difference alone was enough to raise regions along the lane's edge.
///
/// When the two tone curves differ (a gamma, another camera's curve; `Prepared::tone`), the
/// new scan's colour is put on the reference's curve channel by channel first
/// ([`ToneMap::onto_reference`]): with each scan on its own curve, a curve gives the dark parts
/// of one scan more contrast than the other's and the bright parts less, the whole difference
/// rises, and every region is scored against that higher level (round 5 in docs/design/uvss.md). The specular test keeps the new
/// scan's own grey: a clipped pixel is what marks a glint. Not for a new scan that clips more
/// than the reference (`clips_no_more`): what it clipped has no texture left to put anywhere.
pub(crate) fn difference(r: &Prepared, n: &Prepared, reg: &Registration, p: &Params) -> Diffed {
    let k = p.diff_step.max(1);
    let applies = p.tone_difference && clips_no_more(r.exposure, n.exposure, p.tone_clip);
    let toned = n.tone.as_ref().filter(|_| applies).map(|m| m.onto_reference(&n.raw, &n.u, &n.v));
    let (grey, u, v) = match &toned {
        Some([y, u, v]) => (Some(y), u, v),
        None => (None, &n.u, &n.v),
    };
    // The matched scan's own gain: it has the reference's levels, not their arrangement, and
    // the reference's gain over-scaled it (synthetic gain 1.6, before the clipping rule: 2/20
    // false alarms against 1/20, round 5).
    let new_gain = grey.map_or(n.gain, |g| g.normalise_gain(p.norm_radius, p.norm_floor).1);
    let [wu, wv, wy] = std::thread::scope(|s| {
        let a = s.spawn(|| refine::warp_plane(reg, u).shrink(k));
        let b = s.spawn(|| refine::warp_plane(reg, v).shrink(k));
        let c = refine::warp_plane(reg, &n.raw).shrink(k);
        [a.join().expect("warp thread"), b.join().expect("warp thread"), c]
    });
    let wg = grey.map(|g| refine::warp_plane(reg, g).shrink(k));
    let valid: Vec<bool> = wy.data.iter().map(|v| v.is_finite()).collect();
    let rad = (p.norm_radius / k).max(1);
    let centre = |plane: &Plane, gain: f32| plane.centre_where(rad, &valid, gain);
    let ry = r.raw.shrink(k);
    let [rl, ru, rv, wl, wu, wv] = std::thread::scope(|s| {
        let a =
            s.spawn(|| [centre(&ry, r.gain), centre(&r.u.shrink(k), r.gain), centre(&r.v.shrink(k), r.gain)]);
        let wl = centre(wg.as_ref().unwrap_or(&wy), new_gain);
        let [wu, wv] = [centre(&wu, new_gain), centre(&wv, new_gain)];
        let [rl, ru, rv] = a.join().expect("normalise thread");
        [rl, ru, rv, wl, wu, wv]
    });
    // The specular test (`diff::term`) reads raw grey against fixed levels; the new scan's is
    // put on the reference's exposure first (see `white_ratio`), or a darker pass loses the
    // exemption on every glint and its residual level rises.
    let g = white_ratio(r.exposure.p99, n.exposure.p99);
    let wy = if g != 1.0 { Plane { data: wy.data.iter().map(|v| v * g).collect(), ..wy } } else { wy };
    let (reference, new, window) = ([rl, ru, rv, ry], [wl, wu, wv, wy], window(p));
    let (d, coverage) = diff::window_match(&scan(&reference), &scan(&new), window);
    Diffed { d, coverage, reference, new, window }
}

/// Whether the new scan may be differenced on the reference's tone curve: not when it clips
/// more than the reference (its share of work pixels at the sensor's top, `exposure::SATURATED`,
/// exceeds the reference's by more than `max_excess`, `Params::tone_clip`). Everything a pass
/// clipped is one flat white; the tone map sends it to the middle of the reference levels it
/// stands for, a flat patch there matches some reference patch within the search window, the
/// difference over that share of the underside falls, and with it the residual level every
/// region is scored against: the real clean pairs under gain 1.6 went from level 0.82 to 0.43
/// and two were flagged (round 5).
pub(crate) fn clips_no_more(reference: Exposure, new: Exposure, max_excess: f32) -> bool {
    new.saturated <= reference.saturated + max_excess
}

/// Factor that puts the new scan's raw grey on the reference's exposure when the reference
/// clips (its 99th percentile at the sensor's top, `exposure::SATURATED`) and the new scan is
/// darker: a pass exposed at 0.7 has its glints at 178, not 255, and `diff::term` would count
/// them as structure. Only a clipped reference says what the exposure was: below the top its
/// 99th percentile is its brightest part (scaling the simulated lane's darker pass up to it made
/// the parcel's luma count as a glint and lost it, 0.4999). 1 otherwise: two clipped passes
/// (every developer pair), a brighter new scan (a gain above 1 clips, 255 stays 255). At most 4
/// (a scan darker than that is `too_dark`).
pub(crate) fn white_ratio(reference_p99: f32, new_p99: f32) -> f32 {
    if reference_p99 < SATURATED || new_p99 <= 0.0 || new_p99 >= reference_p99 {
        return 1.0;
    }
    (reference_p99 / new_p99).min(4.0)
}

fn scan(planes: &[Plane; 4]) -> diff::Scan<'_> {
    let [luma, u, v, raw] = planes;
    diff::Scan { luma, chroma: [u, v], raw }
}

fn window(p: &Params) -> diff::Window {
    diff::Window { along: p.search_along, across: p.search_across, patch: p.patch, chroma: p.chroma_weight }
}

/// The difference of a registered pair and what it was computed from: both scans on the
/// difference grid (normalised luma, the two colour planes, raw grey), reference first.
pub(crate) struct Diffed {
    pub d: Plane,
    pub coverage: f32,
    reference: [Plane; 4],
    new: [Plane; 4],
    window: diff::Window,
}

impl Diffed {
    fn scans(&self) -> (diff::Scan<'_>, diff::Scan<'_>) {
        (scan(&self.reference), scan(&self.new))
    }
}

/// What the difference amounts to.
pub(crate) struct Found {
    /// Qualifying regions, strongest first, in pixels of the new scan.
    pub regions: Vec<Region>,
    /// Score of the strongest candidate (qualifying or not).
    pub score: f32,
    /// The pair's residual level (90th percentile of the difference).
    pub level: f32,
    /// The difference in residual units on the reference's work grid.
    pub heat: Plane,
}

/// Express the difference in the pair's own residual units and keep the compact, strong
/// components away from the travel ends.
pub(crate) fn regions(diffed: &Diffed, reg: &Registration, geo: &Geometry, p: &Params) -> Found {
    let k = p.diff_step.max(1);
    let d = &diffed.d;
    // Constant false-alarm rate: express the difference in units of this pair's own residual
    // level (a high percentile over the covered area). Two passes of a clean, well-aligned
    // vehicle leave little residual; a pair with more parallax, glare or blur leaves more
    // everywhere, and only what stands out against that is a candidate.
    // On a grid narrower than the nominal one the floor grows (see `Params::floor_growth`).
    let area = area_scale(geo.reference.cross, p.work_cross);
    let floor = p.residual_floor / area.powf(p.floor_growth / 2.0);
    let level = percentile(&d.data, 0.9).max(floor);
    let d = Plane { w: d.w, h: d.h, data: d.data.iter().map(|v| v / level).collect() };
    // Then against its own neighbourhood: wheels, bumpers and poorly held parts differ all
    // over, a new object differs from surroundings that match (see `noise`).
    let tile = (p.noise_tile * d.h as f32).round() as usize;
    let d = if tile > 0 { noise::local_normalise(&d, tile, p.pixel_threshold) } else { d };
    // Sizes are physical: `min_area` and `full_area` hold on a grid of `work_cross` pixels
    // across the lane; a narrower scanner's grid is as wide as its scan, and there an object
    // covers fewer pixels (see `area_scale`).
    let min_area = ((p.min_area as f32 * area).round() as usize).max(MIN_AREA_PX);
    let full_area = (p.full_area as f32 * area).max(min_area as f32);
    let mut blobs = regions::compact_blobs(&d, p.pixel_threshold, p.open_radius, min_area);
    blobs.retain(|b| !noise::in_end_band(b.x0, b.x1, d.w, p.end_band));
    // Strength: mean difference, discounted for regions smaller than `full_area` (a small
    // blob of strong difference is as typical of residual misalignment as of a small object).
    let strength = |b: &Blob| b.mean * (b.area as f32 / full_area).sqrt().min(1.0);
    let mut blobs: Vec<(f32, Blob)> = blobs.into_iter().map(|b| (strength(&b), b)).collect();
    // A candidate that would be reported is first moved as a whole (see `rematch`): what
    // finds itself in the reference a little further away is residual misregistration.
    let (rs, ns) = diffed.scans();
    for (st, b) in blobs.iter_mut().filter(|(st, _)| *st >= p.region_threshold) {
        *st *= rematch::remaining_share(&rs, &ns, b, diffed.window, p.rematch);
    }
    blobs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let regions = blobs
        .iter()
        .filter(|b| b.0 >= p.region_threshold)
        .take(p.max_regions)
        .map(|(st, b)| {
            let wb = Blob { x0: b.x0 * k, y0: b.y0 * k, x1: b.x1 * k, y1: b.y1 * k, ..b.clone() };
            to_region(&wb, reg, &geo.new, squash(*st, p.region_threshold))
        })
        .collect();
    // The heat map back on the work grid (nearest neighbour) for the overlay.
    let (w, h) = (geo.reference.len, geo.reference.cross);
    let mut heat = Plane::new(w, h);
    for y in 0..h {
        for x in 0..w {
            heat.data[y * w + x] = d.at((x / k).min(d.w - 1), (y / k).min(d.h - 1));
        }
    }
    let best = blobs.first().map_or(0.0, |b| b.0);
    Found { regions, score: squash(best, p.region_threshold), level, heat }
}

/// Fewest difference-grid pixels a region may have on any grid: below this a component is a
/// few pixels of noise whatever their size in millimetres.
const MIN_AREA_PX: usize = 4;

/// Factor from areas on the nominal grid (`nominal` pixels across the lane) to areas on a grid
/// `cross` pixels across: the work grid always spans the lane, so its pixels across are its
/// scale. Only narrower grids are scaled (a scan under `nominal` pixels across keeps its own
/// width, nothing is enlarged); wider ones (`nominal` up to 2x, the integer reduction) keep the
/// nominal areas, as the choices on the developer pairs (406 across) were made with them.
pub(crate) fn area_scale(cross: usize, nominal: usize) -> f32 {
    let r = cross as f32 / nominal.max(1) as f32;
    if r < 1.0 {
        r * r
    } else {
        1.0
    }
}

/// Map a 0.. strength onto 0..1 so that `threshold` lands on 0.5.
fn squash(m: f32, threshold: f32) -> f32 {
    if m <= 0.0 {
        0.0
    } else {
        m / (m + threshold)
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

/// A work-grid box of the reference frame as a pixel box of the new scan.
fn to_region(b: &Blob, reg: &Registration, new: &ScanGrid, score: f32) -> Region {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for (x, y) in [(b.x0, b.y0), (b.x1, b.y0), (b.x0, b.y1), (b.x1, b.y1)] {
        let (wx, wy) = reg.locate(x as f32, y as f32);
        let (ix, iy) = new.to_image(wx, wy);
        x0 = x0.min(ix);
        x1 = x1.max(ix);
        y0 = y0.min(iy);
        y1 = y1.max(iy);
    }
    let cx = |v: f32| v.clamp(0.0, new.width as f32) as u32;
    let cy = |v: f32| v.clamp(0.0, new.height as f32) as u32;
    let (x, y) = (cx(x0), cy(y0));
    Region { x, y, w: cx(x1).saturating_sub(x).max(1), h: cy(y1).saturating_sub(y).max(1), score }
}
