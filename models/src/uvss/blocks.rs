//! Step 3 of the registration: per-block displacements on top of the segment mapping.
//!
//! Along travel a line-scan image has no perspective (a line is one instant), so once the
//! speed profile is known little remains along x. Across the lane it is a perspective view from
//! below: a vehicle driven off-centre shifts its low parts (exhaust, gearbox, which are close to
//! the camera) much further across the image than its high ones (floor pan, sills), by up to a
//! tenth of the lane on a real pair. No single lateral mapping holds that, so each block of the
//! scan finds its own shift, coarse to fine:
//! 1. wide: large blocks (about 25 cm) on a 4x reduced grid, searched far across the lane and
//!    little along it, by zero-mean normalised correlation (the two passes' lighting differs
//!    locally); a match must correlate clearly or the block takes its neighbours' shift;
//! 2. coarse: smaller blocks on the same grid, a small search around the wide result;
//! 3. fine: blocks on the work grid, a small search around the coarse result.
//!
//! Every level is 3x3-median-filtered, so that a block holding the anomaly itself (a parcel
//! the reference does not have) cannot bend the grid to explain it away.

use super::plane::Plane;
use super::register::{grid_lerp, median, ncc};

/// A displacement grid sampled at block centres.
pub(crate) struct Grid {
    pub block: usize,
    pub gw: usize,
    pub gh: usize,
    pub dx: Vec<f32>,
    pub dy: Vec<f32>,
}

impl Grid {
    pub fn at(&self, x: f32, y: f32) -> (f32, f32) {
        grid_lerp(self.block, self.gw, self.gh, x, y, [&self.dx, &self.dy])
    }

    /// The same displacements for a plane `k` times larger.
    pub fn scaled(&self, k: usize) -> impl Fn(f32, f32) -> (i32, i32) + '_ {
        let k = k as f32;
        move |x, y| {
            let (dx, dy) = self.at(x / k, y / k);
            ((dx * k).round() as i32, (dy * k).round() as i32)
        }
    }
}

/// How blocks are matched.
#[derive(Clone, Copy)]
pub(crate) enum Criterion {
    /// Mean absolute difference: cheap, for small searches on normalised planes.
    Sad,
    /// Zero-mean normalised correlation, kept only at or above this value.
    Ncc(f32),
}

/// One level of block search: square blocks of `block` pixels, integer displacements within
/// `reach` (along, across) of `init` (block centre -> start displacement). Returns the
/// median-filtered grid and the median correlation of textured blocks at their displacement.
pub(crate) fn search(
    rn: &Plane,
    pre: &Plane,
    block: usize,
    reach: (i32, i32),
    criterion: Criterion,
    init: impl Fn(f32, f32) -> (i32, i32),
) -> (Grid, f32) {
    let bs = block.max(2);
    let (gw, gh) = ((rn.w / bs).max(1), (rn.h / bs).max(1));
    let mut dx = vec![f32::NAN; gw * gh];
    let mut dy = vec![f32::NAN; gw * gh];
    let mut nccs = Vec::new();
    let mut a = Vec::with_capacity(bs * bs);
    for gy in 0..gh {
        for gx in 0..gw {
            let (x0, y0) = (gx * bs, gy * bs);
            let (x1, y1) = ((x0 + bs).min(rn.w), (y0 + bs).min(rn.h));
            a.clear();
            for y in y0..y1 {
                a.extend_from_slice(&rn.data[y * rn.w + x0..y * rn.w + x1]);
            }
            let n = a.len() as f32;
            let mean = a.iter().sum::<f32>() / n;
            let var = a.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
            if var < 0.15 {
                continue; // flat: any shift fits, trust the neighbours instead
            }
            let (ix, iy) = init((x0 + x1) as f32 / 2.0, (y0 + y1) as f32 / 2.0);
            let mut best: Option<(f32, i32, i32)> = None;
            for sy in iy - reach.1..=iy + reach.1 {
                for sx in ix - reach.0..=ix + reach.0 {
                    let Some(cost) = cost(rn, pre, (x0, x1, y0, y1), (sx, sy), criterion, mean) else {
                        continue;
                    };
                    if best.is_none_or(|b| cost < b.0) {
                        best = Some((cost, sx, sy));
                    }
                }
            }
            let Some((cost, mut sx, mut sy)) = best else { continue };
            if let Criterion::Ncc(min) = criterion {
                if -cost < min {
                    continue; // no clear match: the neighbours decide
                }
                // Keep the start unless a displacement is clearly better.
                let margin: f32 = std::env::var("MARGIN").ok().and_then(|v| v.parse().ok()).unwrap_or(0.0);
                if let Some(c0) = self::cost(rn, pre, (x0, x1, y0, y1), (ix, iy), criterion, mean) {
                    if c0 - cost < margin {
                        (sx, sy) = (ix, iy);
                    }
                }
            }
            dx[gy * gw + gx] = sx as f32;
            dy[gy * gw + gx] = sy as f32;
            if let Some(c) = block_ncc(rn, pre, (x0, x1, y0, y1), (sx, sy)) {
                nccs.push(c);
            }
        }
    }
    let quality = if nccs.is_empty() { 0.0 } else { median(&mut nccs) };
    let grid = Grid { block: bs, gw, gh, dx: grid_median(&dx, gw, gh), dy: grid_median(&dy, gw, gh) };
    (grid, quality)
}

/// Cost of displacement (sx, sy) for the block (lower is better; NCC is negated). `None` when
/// the new scan covers less than 80 % of the block there.
fn cost(
    rn: &Plane,
    pre: &Plane,
    (x0, x1, y0, y1): (usize, usize, usize, usize),
    (sx, sy): (i32, i32),
    criterion: Criterion,
    mean_a: f32,
) -> Option<f32> {
    let (mut k, mut sad, mut sb, mut sbb, mut sab, mut saa) = (0usize, 0f32, 0f32, 0f32, 0f32, 0f32);
    for y in y0..y1 {
        let py = y as i32 + sy;
        if py < 0 || py >= pre.h as i32 {
            continue;
        }
        let (prow, rrow) = (py as usize * pre.w, y * rn.w);
        for x in x0..x1 {
            let px = x as i32 + sx;
            if px < 0 || px >= pre.w as i32 {
                continue;
            }
            let b = pre.data[prow + px as usize];
            if !b.is_finite() {
                continue;
            }
            let a = rn.data[rrow + x];
            k += 1;
            match criterion {
                Criterion::Sad => sad += (a - b).abs(),
                Criterion::Ncc(_) => {
                    let a = a - mean_a;
                    sb += b;
                    sbb += b * b;
                    sab += a * b;
                    saa += a * a;
                }
            }
        }
    }
    let n = ((x1 - x0) * (y1 - y0)) as f32;
    if (k as f32) <= 0.8 * n {
        return None;
    }
    let kf = k as f32;
    match criterion {
        Criterion::Sad => Some(sad / kf),
        Criterion::Ncc(_) => {
            // sum (a - ma)(b - mb) = sum (a - ma) b when a is zero-mean over the same pixels
            // (nearly so: the block's mean over all of it).
            let vb = sbb - sb * sb / kf;
            (vb > 1e-6 && saa > 1e-6).then(|| -(sab / (saa * vb).sqrt()))
        }
    }
}

fn block_ncc(
    rn: &Plane,
    pre: &Plane,
    (x0, x1, y0, y1): (usize, usize, usize, usize),
    (sx, sy): (i32, i32),
) -> Option<f32> {
    let (mut a, mut b) = (Vec::with_capacity((x1 - x0) * (y1 - y0)), Vec::with_capacity((x1 - x0) * (y1 - y0)));
    for y in y0..y1 {
        for x in x0..x1 {
            let (px, py) = (x as i32 + sx, y as i32 + sy);
            if px >= 0 && py >= 0 && (px as usize) < pre.w && (py as usize) < pre.h {
                let v = pre.at(px as usize, py as usize);
                if v.is_finite() {
                    a.push(rn.at(x, y));
                    b.push(v);
                }
            }
        }
    }
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
