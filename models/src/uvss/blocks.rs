//! Step 3 of the registration: per-block displacements on top of the segment mapping.
//!
//! Along travel a line-scan image has no perspective (a line is one instant), so once the
//! speed profile is known little remains along x. Across the lane it is a perspective view from
//! below: a vehicle driven off-centre shifts its low parts (exhaust, gearbox, close to the
//! camera) further across the image than its high ones (floor pan, sills). So each block finds
//! its own displacement, coarse (on a 4x reduced grid, a large search) then fine (on the work
//! grid, a small search around the coarse result), by mean absolute difference of the
//! normalised planes.
//!
//! Every level is 3x3-median-filtered, so that a block holding the anomaly itself (a parcel
//! the reference does not have) cannot bend the grid to explain it away. A block the new scan
//! covers only in part at its expected place (near the lane's edge after a lateral move) is
//! not searched: the search would pull it to wherever it is covered in full, a wrong match
//! that showed as false regions along the lane's edge; its neighbours decide instead.

use super::plane::Plane;
use super::register::{grid_lerp, median, ncc};

/// Variance (normalised units) below which a block is flat: nothing to align on.
const FLAT: f32 = 0.15;

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

/// One level of block search: square blocks of `block` pixels, integer displacements within
/// `reach` of `init` (block centre -> start displacement). Returns the median-filtered grid
/// and the median correlation of the blocks textured in both scans at their displacement.
pub(crate) fn search(
    rn: &Plane,
    pre: &Plane,
    block: usize,
    reach: i32,
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
            let block = (x0, x1, y0, y1);
            let var = a.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
            if var < FLAT {
                continue; // flat: any shift fits, trust the neighbours instead
            }
            let (ix, iy) = init((x0 + x1) as f32 / 2.0, (y0 + y1) as f32 / 2.0);
            // Covered only in part where it should be: the neighbours decide (module doc).
            if mad(rn, pre, block, (ix, iy)).is_none() {
                continue;
            }
            let mut best: Option<(f32, i32, i32)> = None;
            for sy in iy - reach..=iy + reach {
                for sx in ix - reach..=ix + reach {
                    let Some(cost) = mad(rn, pre, block, (sx, sy)) else { continue };
                    if best.is_none_or(|b| cost < b.0) {
                        best = Some((cost, sx, sy));
                    }
                }
            }
            let Some((_, sx, sy)) = best else { continue };
            dx[gy * gw + gx] = sx as f32;
            dy[gy * gw + gx] = sy as f32;
            if let Some(c) = block_ncc(rn, pre, block, (sx, sy)) {
                nccs.push(c);
            }
        }
    }
    let quality = if nccs.is_empty() { 0.0 } else { median(&mut nccs) };
    let grid = Grid { block: bs, gw, gh, dx: grid_median(&dx, gw, gh), dy: grid_median(&dy, gw, gh) };
    (grid, quality)
}

/// Mean absolute difference of the block at displacement (sx, sy); `None` when the new scan
/// covers less than 80 % of the block there.
fn mad(
    rn: &Plane,
    pre: &Plane,
    (x0, x1, y0, y1): (usize, usize, usize, usize),
    (sx, sy): (i32, i32),
) -> Option<f32> {
    let (mut k, mut sad) = (0usize, 0f32);
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
            if b.is_finite() {
                sad += (rn.data[rrow + x] - b).abs();
                k += 1;
            }
        }
    }
    let n = ((x1 - x0) * (y1 - y0)) as f32;
    ((k as f32) > 0.8 * n).then(|| sad / k as f32)
}

fn block_ncc(
    rn: &Plane,
    pre: &Plane,
    (x0, x1, y0, y1): (usize, usize, usize, usize),
    (sx, sy): (i32, i32),
) -> Option<f32> {
    let (mut a, mut b) =
        (Vec::with_capacity((x1 - x0) * (y1 - y0)), Vec::with_capacity((x1 - x0) * (y1 - y0)));
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
    // A block the new scan shows flat (clipped white by a brighter exposure, or in shadow)
    // says nothing about the alignment either way: it does not count toward the quality.
    let n = b.len().max(1) as f32;
    let mean = b.iter().sum::<f32>() / n;
    if b.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n < FLAT {
        return None;
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
