//! Steps 2 and 3 of the registration (see [`super::register`]): per-segment travel and
//! lateral shifts, then per-block residuals, and the warp of the new scan into the
//! reference frame.

use super::blocks::{self, Grid};
use super::lateral;
use super::plane::Plane;
use super::register::{
    best_shift, edge_profile, global_cross, global_travel, median, RegisterParams, Registration, SegmentMap,
};
use super::travel;

/// Register the normalised new plane `nn` onto the normalised reference `rn`, searching travel
/// scales (new per reference work pixel) within `scales`. `None` when the profiles do not
/// correlate at any searched scale (nothing to compare).
pub fn register(rn: &Plane, nn: &Plane, p: &RegisterParams, scales: (f32, f32)) -> Option<Registration> {
    let (a, b) = (edge_profile(rn, true), edge_profile(nn, true));
    let (_, scale, shift) = global_travel(&a, &b, scales)?;
    let (ca, cb) = (edge_profile(rn, false), edge_profile(nn, false));
    let max_lat = (p.max_lateral * rn.h as f32).round();
    let (sy, dy0) = global_cross(&ca, &cb, p.max_cross_scale, max_lat).map_or((1.0, 0.0), |v| (v.1, v.2));
    // The offset itself from the planes as images: the profile sees the scanner's frame more
    // than the vehicle (see `lateral`).
    let dy0 = lateral::offset(rn, nn, (scale, shift), sy, max_lat).map_or(dy0, |v| v.0);

    let lateral = Lateral { scale: sy, offset: dy0 };
    // The speed profile as a monotone path; the segments then only polish it.
    let band = ((rn.w as f32 * 0.06) as usize).max(24);
    // Where the vehicle drifts across the lane (driven at an angle), the bands a column is
    // described by must drift with it.
    let line: Vec<f32> = (0..rn.w).map(|x| scale * x as f32 + shift).collect();
    let (slope, at0) = drift(rn, nn, &line, lateral, p).unwrap_or((0.0, dy0));
    let dy_at = |j: usize| at0 + slope * (j as f32 - shift) / scale;
    let path = travel::warp_path(rn, nn, (scale, shift), dy_at, band);
    let (map_x, map_y) = segments(rn, nn, (&a, &b), (scale, shift), path, lateral, p);
    let mid = rn.h as f32 / 2.0;
    let seg_map = |shear| SegmentMap { map_x: &map_x, map_y: &map_y, cross_scale: sy, shear, mid };
    let pre = prewarp(nn, seg_map(0.0));
    // A turned pass: each band across the lane is offset along travel in proportion to its
    // distance from the middle. Measured once, applied in the segment mapping.
    let shear = shear(rn, &pre, MAX_DRIFT);
    let pre = if shear != 0.0 { prewarp(nn, seg_map(shear)) } else { pre };
    // Blocks, coarse to fine (see `blocks`): on a 4x smaller grid first, then on the work grid.
    const C: usize = 4;
    let (rc, pc) = (rn.shrink(C), pre.shrink(C));
    let (coarse, _) = blocks::search(&rc, &pc, p.block * 2 / C, p.coarse_search, |_, _| (0, 0));
    let (fine, quality) = blocks::search(rn, &pre, p.block, p.block_search, coarse.scaled(C));
    let Grid { gw, gh, dx: bdx, dy: bdy, .. } = fine;
    let reg = Registration {
        scale,
        shift,
        cross_scale: sy,
        shear,
        mid,
        map_x,
        map_y,
        block: p.block,
        gw,
        gh,
        bdx,
        bdy,
        quality,
    };
    Some(reg)
}

/// Any other plane of the new scan (colour, raw grey) on the same work grid, warped into the
/// reference frame with an existing registration (NaN where the new scan has no data).
pub fn warp_plane(reg: &Registration, plane: &Plane) -> Plane {
    warp(&prewarp(plane, reg.segment_map()), reg)
}

/// The global cross mapping y_new = scale * y + offset.
#[derive(Clone, Copy)]
struct Lateral {
    scale: f32,
    offset: f32,
}

/// Travel mapping refined over ever shorter segments of the travel axis: long segments first
/// (a large search, but enough structure to be unambiguous on corrugated panels), then
/// shorter ones with a small search around the previous level's mapping. The lateral offset
/// follows on the first two levels: widely on the long segments (a vehicle driven at a slight
/// angle drifts by a tenth of the lane over its length), then closer on the middle ones.
fn segments(
    rn: &Plane,
    nn: &Plane,
    (a, b): (&[f32], &[f32]),
    (s, t): (f32, f32),
    path: Option<Vec<f32>>,
    lateral: Lateral,
    p: &RegisterParams,
) -> (Vec<f32>, Vec<f32>) {
    // A speed wobble bends the true mapping away from the best straight line by up to a few
    // percent of the length at the ends, so without a warping path the first level searches
    // that far; with one, only around it.
    let first_search = if path.is_some() {
        p.segment_search as i32 / 2
    } else {
        (p.segment_search as i32).max(rn.w as i32 / 15)
    };
    let mut map_x: Vec<f32> = path.unwrap_or_else(|| (0..rn.w).map(|x| s * x as f32 + t).collect());
    let mut map_y = vec![lateral.offset; rn.w];
    let first = ((p.segment * 4).max(rn.w / 6), first_search);
    let levels =
        [first, (p.segment * 2, p.segment_search as i32 / 3), (p.segment, p.segment_search as i32 / 6)];
    let lateral_search = [wide_lateral(rn.h), p.lateral_search];
    for (level, &(seg, search)) in levels.iter().enumerate() {
        let seg = seg.min(rn.w).max(8);
        let stride = seg / 2;
        let (mut centres, mut taus, mut lats) = (Vec::new(), Vec::new(), Vec::new());
        let mut x0 = 0;
        while x0 + seg <= rn.w {
            let range = x0..x0 + seg;
            let base = map_x.clone();
            let tau = best_shift(a, b, range.clone(), |x| base[x], search.max(2))
                .filter(|v| v.1 > 0.3)
                .map(|v| v.0);
            let lat = lateral_search.get(level).and(tau).and_then(|tau| {
                let nx0 = (base[x0] + tau).max(0.0) as usize;
                let nx1 = ((base[x0 + seg - 1] + tau).max(0.0) as usize).min(nn.w);
                if nx1 <= nx0 + 4 {
                    return None;
                }
                let (ra, nb) = (strip_profile(rn, x0, x0 + seg), strip_profile(nn, nx0, nx1));
                let here = map_y[x0 + seg / 2];
                best_shift(&ra, &nb, 0..rn.h, |y| lateral.scale * y as f32 + here, lateral_search[level])
                    .filter(|v| v.1 > 0.3)
                    .map(|v| v.0 + here)
            });
            centres.push((x0 + seg / 2) as f32);
            taus.push(tau);
            lats.push(lat);
            x0 += stride;
        }
        let taus = robust_fill(&taus, 0.0);
        for (x, m) in map_x.iter_mut().enumerate() {
            *m += interp(&centres, &taus, x as f32);
        }
        if level == 0 {
            // A straight drift (the vehicle at a slight angle) through the long segments' offsets;
            // a robust line, so that one segment matched to the wrong part cannot bend it.
            if let Some((slope, at0)) = theil_sen(&centres, &lats, MAX_DRIFT) {
                map_y = (0..rn.w).map(|x| at0 + slope * x as f32).collect();
            }
        } else if level < lateral_search.len() && lats.iter().any(Option::is_some) {
            let lats = robust_fill(&lats, lateral.offset);
            map_y = (0..rn.w).map(|x| interp(&centres, &lats, x as f32)).collect();
        }
    }
    (map_x, map_y)
}

/// The vehicle's lateral offset as a straight line (slope, offset at reference x = 0) from
/// long segments compared with their partners under the travel map `map_x`.
fn drift(rn: &Plane, nn: &Plane, map_x: &[f32], lateral: Lateral, p: &RegisterParams) -> Option<(f32, f32)> {
    let seg = (p.segment * 4).max(rn.w / 6).min(rn.w).max(8);
    let search = wide_lateral(rn.h);
    let (mut centres, mut lats) = (Vec::new(), Vec::new());
    let mut x0 = 0;
    while x0 + seg <= rn.w {
        let nx0 = map_x[x0].max(0.0) as usize;
        let nx1 = (map_x[x0 + seg - 1].max(0.0) as usize).min(nn.w);
        if nx1 > nx0 + 4 {
            let (ra, nb) = (strip_profile(rn, x0, x0 + seg), strip_profile(nn, nx0, nx1));
            let lat = best_shift(&ra, &nb, 0..rn.h, |y| lateral.scale * y as f32 + lateral.offset, search)
                .filter(|v| v.1 > 0.3)
                .map(|v| v.0 + lateral.offset);
            centres.push((x0 + seg / 2) as f32);
            lats.push(lat);
        }
        x0 += seg / 2;
    }
    theil_sen(&centres, &lats, MAX_DRIFT)
}

/// Lateral search on the long segments: a tenth of the lane (a vehicle at 3 degrees drifts by
/// that much from its mean position over its length).
fn wide_lateral(h: usize) -> i32 {
    ((h / 10) as i32).max(12)
}

/// Largest lateral drift along travel taken as a straight line (pixels across per pixel along:
/// about 3 degrees).
const MAX_DRIFT: f32 = 0.05;

/// Theil-Sen line through the known points: median pairwise slope (clamped to +-`max_slope`),
/// median intercept. `None` with fewer than three points.
fn theil_sen(xs: &[f32], ys: &[Option<f32>], max_slope: f32) -> Option<(f32, f32)> {
    let pts: Vec<(f32, f32)> = xs.iter().zip(ys).filter_map(|(x, y)| y.map(|y| (*x, y))).collect();
    if pts.len() < 3 {
        return None;
    }
    let mut slopes = Vec::with_capacity(pts.len() * pts.len() / 2);
    for (i, a) in pts.iter().enumerate() {
        for b in &pts[i + 1..] {
            if (b.0 - a.0).abs() > 1e-3 {
                slopes.push((b.1 - a.1) / (b.0 - a.0));
            }
        }
    }
    let slope = median(&mut slopes).clamp(-max_slope, max_slope);
    let mut at0: Vec<f32> = pts.iter().map(|(x, y)| y - slope * x).collect();
    Some((slope, median(&mut at0)))
}

/// Cross-axis edge profile of columns x0..x1 only.
fn strip_profile(p: &Plane, x0: usize, x1: usize) -> Vec<f32> {
    let mut prof = vec![0f32; p.h];
    for (y, out) in prof.iter_mut().enumerate().skip(1) {
        let (r0, r1) = (&p.data[(y - 1) * p.w + x0..(y - 1) * p.w + x1], &p.data[y * p.w + x0..y * p.w + x1]);
        *out = r0.iter().zip(r1).map(|(u, v)| (u - v).abs()).sum();
    }
    prof[0] = prof.get(1).copied().unwrap_or(0.0);
    prof
}

/// Replace missing values by the nearest found ones, then a 5-wide running median so one
/// bad segment (e.g. the one holding the anomaly) cannot kink the mapping.
fn robust_fill(v: &[Option<f32>], default: f32) -> Vec<f32> {
    let known: Vec<(usize, f32)> = v.iter().enumerate().filter_map(|(i, x)| x.map(|x| (i, x))).collect();
    if known.is_empty() {
        return vec![default; v.len()];
    }
    let filled: Vec<f32> = (0..v.len())
        .map(|i| known.iter().min_by_key(|(k, _)| k.abs_diff(i)).map(|(_, x)| *x).unwrap_or(default))
        .collect();
    (0..filled.len())
        .map(|i| {
            let mut w: Vec<f32> = filled[i.saturating_sub(2)..(i + 3).min(filled.len())].to_vec();
            median(&mut w)
        })
        .collect()
}

fn interp(xs: &[f32], ys: &[f32], x: f32) -> f32 {
    if xs.is_empty() {
        return 0.0;
    }
    if x <= xs[0] {
        return ys[0];
    }
    let k = xs.partition_point(|&c| c <= x);
    if k >= xs.len() {
        return ys[ys.len() - 1];
    }
    let f = (x - xs[k - 1]) / (xs[k] - xs[k - 1]);
    ys[k - 1] + (ys[k] - ys[k - 1]) * f
}

/// The new plane resampled in the reference frame with the segment mapping; NaN outside.
/// The output has the reference's height (`map_x` gives its width; the cross size is shared).
fn prewarp(nn: &Plane, m: SegmentMap) -> Plane {
    let mut out = Plane::new(m.map_x.len(), nn.h);
    for y in 0..nn.h {
        let row = &mut out.data[y * m.map_x.len()..(y + 1) * m.map_x.len()];
        for (x, o) in row.iter_mut().enumerate() {
            *o = m.at(x as f32, y as f32, false).and_then(|(mx, my)| nn.sample(mx, my)).unwrap_or(f32::NAN);
        }
    }
    out
}

/// Travel offset per row (see [`Registration::shear`]): the shift that best aligns the
/// travel profile of each band across the lane, as a straight line through the bands.
fn shear(rn: &Plane, pre: &Plane, max: f32) -> f32 {
    const BANDS: usize = 6;
    let bh = rn.h / BANDS;
    if bh < 4 {
        return 0.0;
    }
    let reach = ((max * rn.h as f32 / 2.0).ceil() as i32).max(2);
    let mut pts = Vec::new();
    for k in 0..BANDS {
        let (y0, y1) = (k * bh, (k + 1) * bh);
        let (a, b) = (band_profile(rn, y0, y1), band_profile(pre, y0, y1));
        if let Some((tau, c)) = best_shift(&a, &b, 0..rn.w, |x| x as f32, reach) {
            if c > 0.5 {
                pts.push((((y0 + y1) as f32) / 2.0 - rn.h as f32 / 2.0, tau));
            }
        }
    }
    if pts.len() < 3 {
        return 0.0;
    }
    let n = pts.len() as f32;
    let (my, mt) = (pts.iter().map(|p| p.0).sum::<f32>() / n, pts.iter().map(|p| p.1).sum::<f32>() / n);
    let sxx: f32 = pts.iter().map(|p| (p.0 - my).powi(2)).sum();
    let sxy: f32 = pts.iter().map(|p| (p.0 - my) * (p.1 - mt)).sum();
    if sxx <= 0.0 {
        return 0.0;
    }
    (sxy / sxx).clamp(-max, max)
}

/// Travel edge profile of rows y0..y1 (NaN, no data, counts as no edge).
fn band_profile(p: &Plane, y0: usize, y1: usize) -> Vec<f32> {
    let mut prof = vec![0f32; p.w];
    for y in y0..y1 {
        let row = &p.data[y * p.w..(y + 1) * p.w];
        for x in 1..p.w {
            let d = (row[x] - row[x - 1]).abs();
            if d.is_finite() {
                prof[x] += d;
            }
        }
    }
    prof[0] = prof.get(1).copied().unwrap_or(0.0);
    prof
}

/// Final warp: the pre-warped plane sampled at the block residuals (NaN where unknown).
fn warp(pre: &Plane, reg: &Registration) -> Plane {
    let mut out = Plane::new(pre.w, pre.h);
    for y in 0..pre.h {
        for x in 0..pre.w {
            let (dx, dy) = reg.residual(x as f32, y as f32);
            out.data[y * pre.w + x] = pre.sample(x as f32 + dx, y as f32 + dy).unwrap_or(f32::NAN);
        }
    }
    out
}
