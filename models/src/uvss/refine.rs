//! Steps 2 and 3 of the registration (see [`super::register`]): per-segment travel and
//! lateral shifts, then per-block residuals, and the warp of the new scan into the
//! reference frame.

use super::plane::Plane;
use super::register::{best_shift, edge_profile, global_travel, median, ncc, RegisterParams, Registration};

/// Register the normalised new plane `nn` onto the normalised reference `rn`; returns the
/// mapping and `nn` warped into the reference frame (NaN where the new scan has no data).
/// `None` when the profiles do not correlate at any searched scale (nothing to compare).
pub fn register(rn: &Plane, nn: &Plane, p: &RegisterParams) -> Option<(Registration, Plane)> {
    let (a, b) = (edge_profile(rn, true), edge_profile(nn, true));
    let (_, scale, shift) = global_travel(&a, &b, p.scale_range)?;
    let (ca, cb) = (edge_profile(rn, false), edge_profile(nn, false));
    let max_lat = (p.max_lateral * rn.h as f32) as i32;
    let dy0 = best_shift(&ca, &cb, 0..rn.h, |y| y as f32, max_lat).map_or(0.0, |v| v.0);

    let (map_x, map_y) = segments(rn, nn, &a, &b, scale, shift, dy0, p);
    let pre = prewarp(nn, &map_x, &map_y);
    // Coarse blocks on a 4x smaller grid catch what the 1-D profiles got wrong (periodic
    // panels can fool a profile by one period); the fine blocks then search around them.
    const C: usize = 4;
    let (rc, pc) = (shrink(rn, C), shrink(&pre, C));
    let (cw, ch, cdx, cdy, _) = blocks(&rc, &pc, p.block * 2 / C, 8, |_, _| (0, 0));
    let coarse = Grid { block: p.block * 2 / C, gw: cw, gh: ch, dx: cdx, dy: cdy };
    let init = |x: f32, y: f32| {
        let (dx, dy) = coarse.at(x / C as f32, y / C as f32);
        ((dx * C as f32).round() as i32, (dy * C as f32).round() as i32)
    };
    let (gw, gh, bdx, bdy, quality) = blocks(rn, &pre, p.block, p.block_search, init);
    let reg = Registration { scale, shift, map_x, map_y, block: p.block, gw, gh, bdx, bdy, quality };
    let warped = warp(&pre, &reg);
    Some((reg, warped))
}

/// Any other plane of the new scan (colour, raw grey) on the same work grid, warped into the
/// reference frame with an existing registration (NaN where the new scan has no data).
pub fn warp_plane(reg: &Registration, plane: &Plane) -> Plane {
    warp(&prewarp(plane, &reg.map_x, &reg.map_y), reg)
}

/// Travel mapping refined over ever shorter segments of the travel axis: long segments first
/// (a large search, but enough structure to be unambiguous on corrugated panels), then
/// shorter ones with a small search around the previous level's mapping.
#[allow(clippy::too_many_arguments)]
fn segments(
    rn: &Plane,
    nn: &Plane,
    a: &[f32],
    b: &[f32],
    s: f32,
    t: f32,
    dy0: f32,
    p: &RegisterParams,
) -> (Vec<f32>, Vec<f32>) {
    let mut map_x: Vec<f32> = (0..rn.w).map(|x| s * x as f32 + t).collect();
    let mut map_y = vec![dy0; rn.w];
    // A speed wobble bends the true mapping away from the best straight line by up to a few
    // percent of the length at the ends, so the first level searches that far.
    let first = ((p.segment * 4).max(rn.w / 6), (p.segment_search as i32).max(rn.w as i32 / 15));
    let levels =
        [first, (p.segment * 2, p.segment_search as i32 / 3), (p.segment, p.segment_search as i32 / 6)];
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
            // Lateral, once, on the middle level: long enough strips to be stable, short
            // enough to follow a vehicle driving slightly across the lane.
            let lat = (level == 1).then_some(()).and(tau).and_then(|tau| {
                let nx0 = (base[x0] + tau).max(0.0) as usize;
                let nx1 = ((base[x0 + seg - 1] + tau).max(0.0) as usize).min(nn.w);
                if nx1 <= nx0 + 4 {
                    return None;
                }
                let (ra, nb) = (strip_profile(rn, x0, x0 + seg), strip_profile(nn, nx0, nx1));
                best_shift(&ra, &nb, 0..rn.h, |y| y as f32 + dy0, 12).filter(|v| v.1 > 0.3).map(|v| v.0 + dy0)
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
        if level == 1 {
            let lats = robust_fill(&lats, dy0);
            map_y = (0..rn.w).map(|x| interp(&centres, &lats, x as f32)).collect();
        }
    }
    (map_x, map_y)
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
fn prewarp(nn: &Plane, map_x: &[f32], map_y: &[f32]) -> Plane {
    let mut out = Plane::new(map_x.len(), nn.h);
    for y in 0..nn.h {
        for (x, (mx, my)) in map_x.iter().zip(map_y).enumerate() {
            out.data[y * out.w + x] = nn.sample(*mx, y as f32 + my).unwrap_or(f32::NAN);
        }
    }
    out
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

/// A displacement grid sampled at block centres.
struct Grid {
    block: usize,
    gw: usize,
    gh: usize,
    dx: Vec<f32>,
    dy: Vec<f32>,
}

impl Grid {
    fn at(&self, x: f32, y: f32) -> (f32, f32) {
        super::register::grid_lerp(self.block, self.gw, self.gh, x, y, [&self.dx, &self.dy])
    }
}

/// Area-average by `k`, NaN (no data) wins so that edges of coverage stay marked.
fn shrink(p: &Plane, k: usize) -> Plane {
    let mut out = Plane::new((p.w / k).max(1), (p.h / k).max(1));
    for y in 0..out.h {
        for x in 0..out.w {
            let mut s = 0f32;
            for yy in y * k..((y + 1) * k).min(p.h) {
                for xx in x * k..((x + 1) * k).min(p.w) {
                    s += p.at(xx, yy);
                }
            }
            out.data[y * out.w + x] = s / (k * k) as f32;
        }
    }
    out
}

/// Per-block integer search within +-r of `init` (block centre -> start offset); returns grid
/// size, displacement fields and the median NCC at the chosen offsets.
fn blocks(
    rn: &Plane,
    pre: &Plane,
    bs: usize,
    r: i32,
    init: impl Fn(f32, f32) -> (i32, i32),
) -> (usize, usize, Vec<f32>, Vec<f32>, f32) {
    let (gw, gh) = ((rn.w / bs).max(1), (rn.h / bs).max(1));
    let mut dx = vec![f32::NAN; gw * gh];
    let mut dy = vec![f32::NAN; gw * gh];
    let mut nccs = Vec::new();
    for gy in 0..gh {
        for gx in 0..gw {
            let (x0, y0) = (gx * bs, gy * bs);
            let (x1, y1) = ((x0 + bs).min(rn.w), (y0 + bs).min(rn.h));
            let n = ((x1 - x0) * (y1 - y0)) as f32;
            let mean =
                (y0..y1).flat_map(|y| (x0..x1).map(move |x| (x, y))).map(|(x, y)| rn.at(x, y)).sum::<f32>()
                    / n;
            let var = (y0..y1)
                .flat_map(|y| (x0..x1).map(move |x| (x, y)))
                .map(|(x, y)| (rn.at(x, y) - mean).powi(2))
                .sum::<f32>()
                / n;
            if var < 0.15 {
                continue; // flat: any shift fits, trust the neighbours instead
            }
            let mut best = (f32::MAX, 0i32, 0i32);
            let (ix, iy) = init((x0 + x1) as f32 / 2.0, (y0 + y1) as f32 / 2.0);
            for sy in iy - r..=iy + r {
                for sx in ix - r..=ix + r {
                    let (mut sad, mut k) = (0f32, 0usize);
                    for y in y0..y1 {
                        let py = y as i32 + sy;
                        if py < 0 || py >= pre.h as i32 {
                            continue;
                        }
                        for x in x0..x1 {
                            let px = x as i32 + sx;
                            if px < 0 || px >= pre.w as i32 {
                                continue;
                            }
                            let v = pre.data[py as usize * pre.w + px as usize];
                            if v.is_finite() {
                                sad += (rn.data[y * rn.w + x] - v).abs();
                                k += 1;
                            }
                        }
                    }
                    if (k as f32) > 0.8 * n && sad / (k as f32) < best.0 {
                        best = (sad / k as f32, sx, sy);
                    }
                }
            }
            if best.0 < f32::MAX {
                dx[gy * gw + gx] = best.1 as f32;
                dy[gy * gw + gx] = best.2 as f32;
                if let Some(c) = block_ncc(rn, pre, x0, x1, y0, y1, best.1, best.2) {
                    nccs.push(c);
                }
            }
        }
    }
    let quality = if nccs.is_empty() { 0.0 } else { median(&mut nccs) };
    (gw, gh, grid_median(&dx, gw, gh), grid_median(&dy, gw, gh), quality)
}

#[allow(clippy::too_many_arguments)]
fn block_ncc(
    rn: &Plane,
    pre: &Plane,
    x0: usize,
    x1: usize,
    y0: usize,
    y1: usize,
    sx: i32,
    sy: i32,
) -> Option<f32> {
    let mut v = Vec::with_capacity((x1 - x0) * (y1 - y0));
    for y in y0..y1 {
        for x in x0..x1 {
            let (px, py) = (x as i32 + sx, y as i32 + sy);
            if px >= 0 && py >= 0 && (px as usize) < pre.w && (py as usize) < pre.h {
                let b = pre.at(px as usize, py as usize);
                if b.is_finite() {
                    v.push((rn.at(x, y), b));
                }
            }
        }
    }
    let a: Vec<f32> = v.iter().map(|p| p.0).collect();
    let b: Vec<f32> = v.iter().map(|p| p.1).collect();
    ncc(&a, &b)
}

/// 3x3 median over known cells; unknown cells take their neighbours' median, else 0.
fn grid_median(g: &[f32], gw: usize, gh: usize) -> Vec<f32> {
    let mut out = vec![0f32; g.len()];
    for y in 0..gh {
        for x in 0..gw {
            let mut w = Vec::with_capacity(9);
            for yy in y.saturating_sub(1)..(y + 2).min(gh) {
                for xx in x.saturating_sub(1)..(x + 2).min(gw) {
                    let v = g[yy * gw + xx];
                    if v.is_finite() {
                        w.push(v);
                    }
                }
            }
            out[y * gw + x] = median(&mut w);
        }
    }
    out
}
