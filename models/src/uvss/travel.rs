//! The travel mapping as a monotone path: dynamic time warping of the two scans' columns.
//!
//! A line-scan image is sampled in time, so a vehicle that brakes or accelerates over the
//! scanner is stretched by a different amount at every point of its length: a straight
//! scale-and-shift is only the average, and segment-wise shifts (see [`super::refine`]) go
//! astray where the speed changes fast (a ramp from 1.2 to 0.85 across the pass bends the
//! mapping by 2 % of the length away from any straight line). The mapping is however always
//! monotone and its local slope stays within bounds, which is exactly what dynamic time
//! warping finds: the cheapest path through the cost of matching reference column i with new
//! column j, with local slopes between 1/2 and 2 and within a band around the global line.
//!
//! A column is described by its edge energy in a few bands across the lane (the new scan's
//! bands moved by the lateral offset found before), each band compressed (log) and centred on
//! its running mean, so that the two passes' exposure does not matter. The path is then
//! smoothed: a speed changes over tens of centimetres, not from one line to the next.

use super::plane::Plane;

/// Bands across the lane a column is described by.
const BANDS: usize = 4;
/// Half-width of the running mean a band profile is centred on, and of the final smoothing.
const CENTRE_RADIUS: usize = 40;
const SMOOTH_RADIUS: usize = 12;

/// Per column, the centred log edge energy in `BANDS` bands across, the bands of column x
/// moved by `dy[x]` rows (the vehicle's lateral position in this scan).
fn features(p: &Plane, dy: &[f32]) -> Vec<[f32; BANDS]> {
    let mut f = vec![[0f32; BANDS]; p.w];
    let band_h = (p.h as f32 / BANDS as f32).max(1.0);
    for y in 0..p.h {
        let row = &p.data[y * p.w..(y + 1) * p.w];
        for x in 1..p.w {
            let band = ((y as f32 - dy[x]) / band_h).floor();
            if band >= 0.0 && band < BANDS as f32 {
                f[x][band as usize] += (row[x] - row[x - 1]).abs();
            }
        }
    }
    for k in 0..BANDS {
        let v: Vec<f32> = f.iter().map(|c| (1.0 + c[k] / band_h).ln()).collect();
        let mean = running_mean(&v, CENTRE_RADIUS);
        for (c, (x, m)) in f.iter_mut().zip(v.iter().zip(&mean)) {
            c[k] = x - m;
        }
    }
    f
}

fn running_mean(v: &[f32], r: usize) -> Vec<f32> {
    let mut acc = vec![0f64; v.len() + 1];
    for (i, x) in v.iter().enumerate() {
        acc[i + 1] = acc[i] + *x as f64;
    }
    (0..v.len())
        .map(|i| {
            let (a, b) = (i.saturating_sub(r), (i + r + 1).min(v.len()));
            ((acc[b] - acc[a]) / (b - a) as f64) as f32
        })
        .collect()
}

/// New-scan x of every reference column (reference work plane `rn`, new `nn`), following the
/// cheapest monotone path within `band` columns of two lines: the global fit x_new = `s` * x +
/// `t`, and the diagonal where both scans' ends meet. The global fit follows the part of the
/// vehicle with the most structure and can be far off at the other end when the speed changed
/// a lot; the diagonal holds because both scans start and end on the road. `dy` gives the new
/// scan's lateral offset at each of its columns. `None` when the band leaves no room for a path.
pub fn warp_path(
    rn: &Plane,
    nn: &Plane,
    (s, t): (f32, f32),
    dy: impl Fn(usize) -> f32,
    band: usize,
) -> Option<Vec<f32>> {
    let dy: Vec<f32> = (0..nn.w).map(dy).collect();
    let (fa, fb) = (features(rn, &vec![0.0; rn.w]), features(nn, &dy));
    let (n, m) = (fa.len(), fb.len());
    if n < 4 || m < 4 {
        return None;
    }
    let diagonal = |i: usize| i as f32 * (m - 1) as f32 / (n - 1) as f32;
    let fit = |i: usize| s * i as f32 + t;
    let spread = (0..n).step_by(8).map(|i| (fit(i) - diagonal(i)).abs()).fold(0f32, f32::max);
    let band = band + (spread / 2.0).ceil() as usize;
    let width = 2 * band + 1;
    // Window of row i: new columns lo(i) .. lo(i) + width (cells beyond the scan cost infinity).
    let lo = |i: usize| ((fit(i) + diagonal(i)) / 2.0).round() as i64 - band as i64;
    let cost = |i: usize, j: i64| -> f32 {
        if j < 0 || j >= m as i64 {
            return f32::INFINITY;
        }
        fa[i].iter().zip(&fb[j as usize]).map(|(a, b)| (a - b).abs()).sum()
    };
    const INF: f32 = f32::INFINITY;
    let mut d = vec![INF; n * width];
    let mut from = vec![0u8; n * width];
    let at = |d: &[f32], i: usize, j: i64| -> f32 {
        let k = j - lo(i);
        if k < 0 || k >= width as i64 {
            INF
        } else {
            d[i * width + k as usize]
        }
    };
    for (k, d0) in d.iter_mut().take(width).enumerate() {
        *d0 = cost(0, lo(0) + k as i64);
    }
    for i in 1..n {
        for k in 0..width {
            let j = lo(i) + k as i64;
            let c = cost(i, j);
            if !c.is_finite() {
                continue;
            }
            // Steps with local slopes 1, 2 and 1/2 (the symmetric P = 1/2 pattern).
            let diag = at(&d, i - 1, j - 1) + c;
            let steep = at(&d, i - 1, j - 2) + cost(i, j - 1) + c;
            let flat = if i >= 2 { at(&d, i - 2, j - 1) + cost(i - 1, j) + c } else { INF };
            let (best, step) = [(diag, 0u8), (steep, 1), (flat, 2)].into_iter().fold((INF, 0u8), |b, x| {
                if x.0 < b.0 {
                    x
                } else {
                    b
                }
            });
            d[i * width + k] = best;
            from[i * width + k] = step;
        }
    }
    // Free end: the cheapest cell of the last row.
    let (mut k, end) =
        (0..width).map(|k| (k, d[(n - 1) * width + k])).fold((0, INF), |b, x| if x.1 < b.1 { x } else { b });
    if !end.is_finite() {
        return None;
    }
    let mut path = vec![0f32; n];
    let mut i = n - 1;
    let mut j = lo(i) + k as i64;
    loop {
        path[i] = j as f32;
        if i == 0 {
            break;
        }
        match from[i * width + k] {
            0 => (i, j) = (i - 1, j - 1),
            1 => (i, j) = (i - 1, j - 2),
            // Only taken from i >= 2; the path passes (i - 1, j) on the way.
            _ => {
                path[i - 1] = j as f32;
                (i, j) = (i - 2, j - 1);
            }
        }
        k = (j - lo(i)).clamp(0, width as i64 - 1) as usize;
    }
    let smooth = running_mean(&path, SMOOTH_RADIUS);
    // The ends of a running mean are biased toward the inside; extrapolate the local slope.
    let mut out = smooth;
    let r = SMOOTH_RADIUS.min(n / 4);
    if r > 1 {
        let (s0, s1) = ((out[2 * r] - out[r]) / r as f32, (out[n - 1 - r] - out[n - 1 - 2 * r]) / r as f32);
        for x in 0..r {
            out[x] = out[r] - s0 * (r - x) as f32;
            out[n - 1 - x] = out[n - 1 - r] + s1 * (r - x) as f32;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured plane whose column x shows the pattern at position `pos(x)`.
    fn plane(w: usize, h: usize, pos: impl Fn(f32) -> f32) -> Plane {
        let pattern =
            |u: f32, y: usize| ((u * 0.37).sin() * (u * 0.051 + y as f32 * 0.2).cos() * 3.0).round();
        Plane { w, h, data: (0..w * h).map(|i| pattern(pos((i % w) as f32), i / w)).collect() }
    }

    #[test]
    fn follows_a_speed_ramp_that_no_straight_line_fits() {
        let (w, h) = (600, 40);
        let reference = plane(w, h, |x| x);
        // The new pass: local stretch going from 1.2 to 0.85 along its length.
        let new_x = |x: f32| 1.2 * x - 0.175 * x * x / w as f32;
        let len = new_x(w as f32) as usize;
        let inverse = |j: f32| {
            let (mut lo, mut hi) = (0.0f32, w as f32);
            for _ in 0..40 {
                let mid = (lo + hi) / 2.0;
                if new_x(mid) < j {
                    lo = mid
                } else {
                    hi = mid
                }
            }
            lo
        };
        let new = plane(len, h, inverse);
        let s = len as f32 / w as f32;
        let path = warp_path(&reference, &new, (s, 0.0), |_| 0.0, 40).unwrap();
        for x in (50..550).step_by(50) {
            let truth = new_x(x as f32);
            assert!((path[x] - truth).abs() < 3.0, "column {x}: path {} truth {truth}", path[x]);
        }
    }
}
