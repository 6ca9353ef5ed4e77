//! Registration of a new scan onto the reference, in three steps, coarse to fine.
//!
//! A line-scan image is sampled in time, so the travel axis (x here) stretches with the
//! vehicle's speed, and the speed changes during a pass (drivers brake over the scanner). The
//! cross axis (y) only shifts with where the vehicle drives in the lane. Hence:
//! 1. global: one scale and shift along x from 1-D "edge energy" profiles (mean |d/dx| per
//!    column), searched over candidate scales; the magnification across the lane from the
//!    cross profile (another lens; not searched by default), and the lateral shift from the
//!    two planes correlated as images ([`super::lateral`]: the cross profile's peak sits on
//!    the scanner's frame, which does not move with the vehicle);
//! 2. segments: the same profile correlation on overlapping pieces of the travel axis gives a
//!    piecewise-linear x mapping (speed changes) and a per-segment lateral shift (drift);
//! 3. blocks: a small integer search per block on the pre-warped image absorbs what remains
//!    (parallax of parts at different heights, residual error), median-filtered so that a
//!    block holding the anomaly itself cannot bend the grid to explain it away.

use super::plane::Plane;

/// Search ranges of the registration, in work pixels unless stated.
///
/// Where a value was chosen between alternatives (the cross magnification, the lateral and
/// coarse-block searches), it was chosen on the `choose` conditions of `uvss_eval` (identity,
/// length 0.9 and 1.1, lateral +-5 %, gain 0.7; real and synthetic pairs) and the synthetic rows
/// of the other conditions; the real pairs under the other conditions (speed 0.75 / 1.3, ramps,
/// wobble, lateral 10 %, rotation, other scanners, gain, gamma, JPEG) only judge it
/// (docs/design/uvss.md).
#[derive(Clone, Debug)]
pub struct RegisterParams {
    /// Smallest and largest new/reference length ratio searched (speed ratio).
    pub scale_range: (f32, f32),
    /// Largest global lateral shift, as a fraction of the cross size.
    pub max_lateral: f32,
    /// Largest magnification difference across the lane searched (ratio, both ways). 1 (the
    /// default) searches none: between passes of one scanner over one car it came out
    /// anywhere in 0.87..1.15 (parallax of low parts, not magnification) and cost a detection
    /// and two clean pairs; set it for two scanners whose lenses see different lane widths.
    pub max_cross_scale: f32,
    pub segment: usize,
    pub segment_search: usize,
    /// Lateral search (work pixels) of the middle segments, around the straight drift (12,
    /// about 3 % of the lane; 8 was the other value tried on the choose conditions).
    pub lateral_search: i32,
    /// Fine blocks (work pixels) and their search radius around the coarse result; the
    /// coarse blocks' radius on the 4x reduced grid (8: up to 32 work pixels, where the 1-D
    /// profiles were fooled by a periodic panel, or parts at different heights moved apart).
    pub block: usize,
    pub block_search: i32,
    pub coarse_search: i32,
}

impl Default for RegisterParams {
    fn default() -> Self {
        RegisterParams {
            scale_range: (0.7, 1.45),
            max_lateral: 0.2,
            max_cross_scale: 1.0,
            segment: 96,
            segment_search: 40,
            lateral_search: 12,
            block: 24,
            block_search: 3,
            coarse_search: 8,
        }
    }
}

/// Where each reference work pixel is found in the new scan.
#[derive(Clone, Debug)]
pub struct Registration {
    /// Global travel mapping x_new = scale * x_ref + shift.
    pub scale: f32,
    pub shift: f32,
    /// Magnification across the lane: y_new = cross_scale * y + map_y[x].
    pub cross_scale: f32,
    /// Travel offset per row from the middle of the lane (a vehicle at a slight angle, or a
    /// turned scan): the travel maps are read at x + shear * (y - h / 2).
    pub shear: f32,
    pub mid: f32,
    /// Per reference column: x in the new scan and lateral offset (segment level).
    pub map_x: Vec<f32>,
    pub map_y: Vec<f32>,
    /// Block residual displacement grid (block centres), applied after map_x/map_y.
    pub block: usize,
    pub gw: usize,
    pub gh: usize,
    pub bdx: Vec<f32>,
    pub bdy: Vec<f32>,
    /// Median NCC of textured blocks after alignment: near 1 same vehicle, near 0 unrelated.
    pub quality: f32,
}

impl Registration {
    /// Location in the new work plane of reference work pixel (x, y).
    pub fn locate(&self, x: f32, y: f32) -> (f32, f32) {
        // The block residual is applied in the pre-warped (reference) frame, then the
        // segment mapping takes that point into the new scan.
        let (dx, dy) = self.residual(x, y);
        self.segment_map().at(x + dx, y + dy, true).unwrap_or((0.0, 0.0))
    }

    pub(crate) fn segment_map(&self) -> SegmentMap<'_> {
        SegmentMap {
            map_x: &self.map_x,
            map_y: &self.map_y,
            cross_scale: self.cross_scale,
            shear: self.shear,
            mid: self.mid,
        }
    }

    /// Bilinear interpolation of the block grid between block centres.
    pub(crate) fn residual(&self, x: f32, y: f32) -> (f32, f32) {
        grid_lerp(self.block, self.gw, self.gh, x, y, [&self.bdx, &self.bdy])
    }
}

/// The segment-level mapping (travel maps, lateral map, magnification and shear) from the
/// reference frame to the new scan, before block residuals.
#[derive(Clone, Copy)]
pub(crate) struct SegmentMap<'a> {
    pub map_x: &'a [f32],
    pub map_y: &'a [f32],
    pub cross_scale: f32,
    pub shear: f32,
    pub mid: f32,
}

impl SegmentMap<'_> {
    /// New-scan position of reference point (x, y); outside the maps `None`, or the nearest end
    /// when `clamp`.
    #[inline]
    pub fn at(&self, x: f32, y: f32, clamp: bool) -> Option<(f32, f32)> {
        let mut xs = x + self.shear * (y - self.mid);
        if clamp {
            xs = xs.clamp(0.0, (self.map_x.len() - 1) as f32);
        }
        let mx = lin(self.map_x, xs)?;
        let my = lin(self.map_y, xs)?;
        Some((mx, self.cross_scale * y + my))
    }
}

/// Mean absolute derivative along x per column (travel profile) or along y per row.
pub(crate) fn edge_profile(p: &Plane, along_x: bool) -> Vec<f32> {
    if along_x {
        let mut prof = vec![0f32; p.w];
        for y in 0..p.h {
            let row = &p.data[y * p.w..(y + 1) * p.w];
            for x in 1..p.w {
                prof[x] += (row[x] - row[x - 1]).abs();
            }
        }
        prof[0] = prof.get(1).copied().unwrap_or(0.0);
        prof
    } else {
        let mut prof = vec![0f32; p.h];
        for (y, out) in prof.iter_mut().enumerate().skip(1) {
            let (a, b) = (&p.data[(y - 1) * p.w..y * p.w], &p.data[y * p.w..(y + 1) * p.w]);
            *out = a.iter().zip(b).map(|(u, v)| (u - v).abs()).sum();
        }
        prof[0] = prof.get(1).copied().unwrap_or(0.0);
        prof
    }
}

#[inline]
pub(crate) fn lin(v: &[f32], x: f32) -> Option<f32> {
    if !(x >= 0.0 && x <= (v.len() - 1) as f32) {
        return None;
    }
    let i = x as usize;
    let j = (i + 1).min(v.len() - 1);
    Some(v[i] + (v[j] - v[i]) * (x - i as f32))
}

/// Running sums of a normalised cross-correlation (f64: long profiles and whole planes).
#[derive(Default)]
pub(crate) struct NccSums {
    pub n: usize,
    sa: f64,
    sb: f64,
    saa: f64,
    sbb: f64,
    sab: f64,
}

impl NccSums {
    #[inline]
    pub fn add(&mut self, a: f32, b: f32) {
        let (va, vb) = (a as f64, b as f64);
        self.n += 1;
        self.sa += va;
        self.sb += vb;
        self.saa += va * va;
        self.sbb += vb * vb;
        self.sab += va * vb;
    }

    /// The correlation; `None` with fewer than `min_n` (at least 2) pairs or a constant side.
    pub fn value(&self, min_n: usize) -> Option<f32> {
        if self.n < min_n.max(2) {
            return None;
        }
        let nf = self.n as f64;
        let cov = self.sab - self.sa * self.sb / nf;
        let (va, vb) = (self.saa - self.sa * self.sa / nf, self.sbb - self.sb * self.sb / nf);
        if va <= 1e-9 || vb <= 1e-9 {
            return None;
        }
        Some((cov / (va * vb).sqrt()) as f32)
    }
}

/// NCC of a[x] against b[scale*x + shift] over x in `range`, if at least `min_n` overlap.
fn ncc_mapped(
    a: &[f32],
    b: &[f32],
    range: std::ops::Range<usize>,
    scale: f32,
    shift: f32,
    min_n: usize,
) -> Option<f32> {
    let mut sums = NccSums::default();
    for x in range {
        if let Some(vb) = lin(b, scale * x as f32 + shift) {
            sums.add(a[x], vb);
        }
    }
    sums.value(min_n)
}

fn decimate(v: &[f32], k: usize) -> Vec<f32> {
    v.chunks(k).map(|c| c.iter().sum::<f32>() / c.len() as f32).collect()
}

/// Best (ncc, scale, shift) for b[scale*x + shift] ~ a[x], coarse on decimated profiles then fine.
pub(crate) fn global_travel(a: &[f32], b: &[f32], scales: (f32, f32)) -> Option<(f32, f32, f32)> {
    const K: usize = 8;
    let (ac, bc) = (decimate(a, K), decimate(b, K));
    let min_n = ac.len() * 8 / 10;
    let ds = 1.5 / ac.len() as f32;
    let max_t = bc.len() as f32 * 0.4;
    let mut best: Option<(f32, f32, f32)> = None;
    let mut s = scales.0;
    while s <= scales.1 {
        // Centre the shift search on the "both ends align" shift for this scale.
        let centre = (bc.len() as f32 - s * ac.len() as f32) / 2.0;
        let mut t = centre - max_t;
        while t <= centre + max_t {
            if let Some(c) = ncc_mapped(&ac, &bc, 0..ac.len(), s, t, min_n) {
                if best.is_none_or(|b| c > b.0) {
                    best = Some((c, s, t));
                }
            }
            t += 1.0;
        }
        s += ds;
    }
    let (_, s0, t0) = best?;
    // Fine search at full profile resolution around the coarse optimum.
    let (s0, t0) = (s0, t0 * K as f32 + (K as f32 - 1.0) / 2.0 * (1.0 - s0));
    let mut fine: Option<(f32, f32, f32)> = None;
    for i in -8..=8 {
        let s = s0 + i as f32 * ds / 8.0;
        for j in -16..=16 {
            let t = t0 + j as f32 * 0.5;
            if let Some(c) = ncc_mapped(a, b, 0..a.len(), s, t, a.len() * 8 / 10) {
                if fine.is_none_or(|f| c > f.0) {
                    fine = Some((c, s, t));
                }
            }
        }
    }
    fine.or(Some((best?.0, s0, t0)))
}

/// Best (ncc, scale, offset) for b[scale * y + offset] ~ a[y] on the cross profiles: the
/// magnification across the lane within 1/`max_scale`..`max_scale` and the lateral shift
/// within +-`max_shift` pixels (measured at the middle of the lane).
pub(crate) fn global_cross(a: &[f32], b: &[f32], max_scale: f32, max_shift: f32) -> Option<(f32, f32, f32)> {
    let n = a.len();
    let mid = n as f32 / 2.0;
    // One step in scale moves the lane's edges by about half a pixel.
    let ds = 1.0 / n as f32;
    let mut best: Option<(f32, f32, f32)> = None;
    let mut s = 1.0 / max_scale.max(1.0);
    while s <= max_scale.max(1.0) + 1e-6 {
        let mut d = -max_shift;
        while d <= max_shift {
            let offset = mid * (1.0 - s) + d;
            if let Some(c) = ncc_mapped(a, b, 0..n, s, offset, n * 6 / 10) {
                if best.is_none_or(|b| c > b.0) {
                    best = Some((c, s, offset));
                }
            }
            d += 1.0;
        }
        s += ds;
    }
    best
}

/// Best integer shift d in [-r, r] for b[x + d] ~ a[x] over the given range.
pub(crate) fn best_shift(
    a: &[f32],
    b: &[f32],
    range: std::ops::Range<usize>,
    base: impl Fn(usize) -> f32,
    r: i32,
) -> Option<(f32, f32)> {
    let n = range.len();
    let av: Vec<f32> = a[range.clone()].to_vec();
    let mut best: Option<(f32, f32)> = None;
    for d in -r..=r {
        let bv: Vec<Option<f32>> = range.clone().map(|x| lin(b, base(x) + d as f32)).collect();
        if bv.iter().filter(|v| v.is_some()).count() < n * 3 / 4 {
            continue;
        }
        let (mut sa, mut sb, mut saa, mut sbb, mut sab, mut k) = (0f64, 0f64, 0f64, 0f64, 0f64, 0f64);
        for (va, vb) in av.iter().zip(&bv) {
            if let Some(vb) = vb {
                let (va, vb) = (*va as f64, *vb as f64);
                sa += va;
                sb += vb;
                saa += va * va;
                sbb += vb * vb;
                sab += va * vb;
                k += 1.0;
            }
        }
        let (va, vb) = (saa - sa * sa / k, sbb - sb * sb / k);
        if va <= 1e-9 || vb <= 1e-9 {
            continue;
        }
        let c = ((sab - sa * sb / k) / (va * vb).sqrt()) as f32;
        if best.is_none_or(|b| c > b.1) {
            best = Some((d as f32, c));
        }
    }
    best
}

pub(crate) fn median(v: &mut [f32]) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Plain normalised cross-correlation; `None` for constant inputs.
pub(crate) fn ncc(a: &[f32], b: &[f32]) -> Option<f32> {
    let n = a.len().min(b.len());
    if n < 2 {
        return None;
    }
    let (ma, mb) = (a.iter().sum::<f32>() / n as f32, b.iter().sum::<f32>() / n as f32);
    let (mut sab, mut saa, mut sbb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    (saa > 1e-9 && sbb > 1e-9).then(|| sab / (saa * sbb).sqrt())
}

/// Bilinear interpolation of per-block values (`block` pixels each, `gw` x
/// `gh` of them) at pixel (x, y), between block centres; two fields at once.
pub(crate) fn grid_lerp(
    block: usize,
    gw: usize,
    gh: usize,
    x: f32,
    y: f32,
    fields: [&[f32]; 2],
) -> (f32, f32) {
    let b = block as f32;
    let gx = ((x - b / 2.0) / b).clamp(0.0, (gw - 1) as f32);
    let gy = ((y - b / 2.0) / b).clamp(0.0, (gh - 1) as f32);
    let (x0, y0) = (gx as usize, gy as usize);
    let (x1, y1) = ((x0 + 1).min(gw - 1), (y0 + 1).min(gh - 1));
    let (fx, fy) = (gx - x0 as f32, gy - y0 as f32);
    let lerp = |g: &[f32]| {
        let t = g[y0 * gw + x0] + (g[y0 * gw + x1] - g[y0 * gw + x0]) * fx;
        let u = g[y1 * gw + x0] + (g[y1 * gw + x1] - g[y1 * gw + x0]) * fx;
        t + (u - t) * fy
    };
    (lerp(fields[0]), lerp(fields[1]))
}
