//! The vehicle's lateral position in the new scan relative to the reference, found by
//! correlating the two scans as images (not as 1-D profiles).
//!
//! The cross-lane edge profile (summed |d/dy| per row, [`super::register::global_cross`]) is
//! dominated by what lies along the whole scan at a fixed row: the scanner's frame and the
//! road's stripes before and after the vehicle, the sills seen edge-on. Those do not move when
//! the vehicle drives elsewhere in the lane, so the profile's best shift stays near 0 even for
//! a vehicle driven a seventh of the lane off-centre (the exp10 probe: profile peak at 0 with
//! 0.41, the true offset about -45 work px; every later stage searched around the wrong place
//! and the comparison ended `registration_failed` with a match of 0.32). Correlating the
//! normalised planes themselves, under the travel line already found and over the middle of
//! the length only (the road and the bumpers at both ends left out), lets every part of the
//! underside vote where it is.

use super::plane::Plane;
use super::register::NccSums;

/// Reduction of the coarse search (work pixels per coarse pixel).
const K: usize = 4;
/// Share of the length left out at each end (road, scanner frame, bumpers at a grazing angle).
const END: f32 = 0.1;
/// Least share of the rows that must overlap for a shift to be scored.
const MIN_OVERLAP: f32 = 0.6;

/// Lateral offset `off` (work pixels; new y = `cross_scale` * y + `off`) that best correlates
/// the normalised planes `rn` and `nn` under the travel line x_new = `s` * x + `t`, searched
/// within +-`max_shift` of the offset that keeps the lane's middle in place. Returns (offset,
/// correlation); `None` when no shift leaves enough overlap.
pub(crate) fn offset(
    rn: &Plane,
    nn: &Plane,
    (s, t): (f32, f32),
    cross_scale: f32,
    max_shift: f32,
) -> Option<(f32, f32)> {
    let centre = rn.h as f32 / 2.0 * (1.0 - cross_scale);
    // Coarse: every K-th work pixel's worth of shift, on planes reduced K times.
    let (rc, nc) = (rn.shrink(K), nn.shrink(K));
    let k = K as f32;
    // A coarse pixel i covers work pixels iK..iK+K; its centre maps through the travel line.
    let coarse = Along::new(&rc, &nc, (s, (t + (k - 1.0) / 2.0 * (s - 1.0)) / k), cross_scale);
    let reach = (max_shift / k).ceil() as i32;
    let mut best: Option<(f32, f32)> = None;
    for d in -reach..=reach {
        let off = centre / k + d as f32;
        if let Some(c) = coarse.score(off, 1) {
            if best.is_none_or(|b| c > b.1) {
                best = Some((off * k, c));
            }
        }
    }
    let (start, _) = best?;
    // Fine: whole work pixels around the coarse optimum, every second column.
    let full = Along::new(rn, nn, (s, t), cross_scale);
    let mut fine: Option<(f32, f32)> = None;
    for d in -(K as i32)..=K as i32 {
        let off = start + d as f32;
        if (off - centre).abs() > max_shift + k {
            continue;
        }
        if let Some(c) = full.score(off, 2) {
            if fine.is_none_or(|b| c > b.1) {
                fine = Some((off, c));
            }
        }
    }
    fine.or(best)
}

/// The reference plane `a` and the new plane `b` under a travel line, over the middle of the
/// length (columns `x0..x1`). Without a cross magnification, every row of `b` is resampled
/// along travel once (`along`, NaN where `b` has no data), so that each lateral shift is a
/// plain row offset: scoring the ~50 shifts sampled `b` anew each time and cost 200-400 ms
/// on a 2048 x 12000 scan.
struct Along<'a> {
    a: &'a Plane,
    b: &'a Plane,
    line: (f32, f32),
    cross_scale: f32,
    x0: usize,
    x1: usize,
    along: Option<Plane>,
}

impl<'a> Along<'a> {
    fn new(a: &'a Plane, b: &'a Plane, (s, t): (f32, f32), cross_scale: f32) -> Along<'a> {
        let (x0, x1) = ((a.w as f32 * END) as usize, (a.w as f32 * (1.0 - END)) as usize);
        let along = (cross_scale == 1.0).then(|| {
            let w = x1.saturating_sub(x0);
            let mut p = Plane::new(w, b.h);
            for y in 0..b.h {
                for (i, v) in p.data[y * w..(y + 1) * w].iter_mut().enumerate() {
                    *v = b.sample(s * (x0 + i) as f32 + t, y as f32).unwrap_or(f32::NAN);
                }
            }
            p
        });
        Along { a, b, line: (s, t), cross_scale, x0, x1, along }
    }

    /// NCC of `a` against `b` at (s * x + t, cross_scale * y + off), every `step`-th column;
    /// `None` with too little overlap.
    fn score(&self, off: f32, step: usize) -> Option<f32> {
        let (a, b, (s, t)) = (self.a, self.b, self.line);
        let mut sums = NccSums::default();
        let mut rows = 0usize;
        for y in 0..a.h {
            let yb = self.cross_scale * y as f32 + off;
            if !(yb >= 0.0 && yb <= (b.h - 1) as f32) {
                continue;
            }
            rows += 1;
            let row = &a.data[y * a.w..(y + 1) * a.w];
            match &self.along {
                // A whole row: the same value `sample` gives there.
                Some(p) if yb.fract() == 0.0 => {
                    let prow = &p.data[yb as usize * p.w..(yb as usize + 1) * p.w];
                    for x in (self.x0..self.x1).step_by(step.max(1)) {
                        let (va, vb) = (row[x], prow[x - self.x0]);
                        if va.is_finite() && vb.is_finite() {
                            sums.add(va, vb);
                        }
                    }
                }
                _ => {
                    for x in (self.x0..self.x1).step_by(step.max(1)) {
                        let Some(vb) = b.sample(s * x as f32 + t, yb) else { continue };
                        let va = row[x];
                        if va.is_finite() && vb.is_finite() {
                            sums.add(va, vb);
                        }
                    }
                }
            }
        }
        if (rows as f32) < MIN_OVERLAP * a.h as f32 {
            return None;
        }
        sums.value(16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A texture without repeats over the shifts searched, with rows that are the same all
    /// along the scan at the top and bottom (a scanner frame that does not move with the
    /// vehicle).
    fn scan(w: usize, h: usize, lateral: isize) -> Plane {
        let data = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f32, (i / w) as isize);
                if y < 6 || y >= h as isize - 6 {
                    return if y % 2 == 0 { 4.0 } else { -4.0 };
                }
                let v = (y - lateral) as f32;
                (x * 0.37 + v * 0.11).sin() * (v * 0.29 - x * 0.013).cos() * 2.0 + (v * 0.071).sin()
            })
            .collect();
        Plane { w, h, data }
    }

    #[test]
    fn finds_the_vehicle_not_the_frame() {
        let (reference, new) = (scan(400, 120, 0), scan(400, 120, -17));
        let (off, c) = offset(&reference, &new, (1.0, 0.0), 1.0, 30.0).unwrap();
        assert!((off + 17.0).abs() <= 1.0, "offset {off} (correlation {c})");
        let (off, _) = offset(&reference, &reference, (1.0, 0.0), 1.0, 30.0).unwrap();
        assert_eq!(off, 0.0);
    }
}
