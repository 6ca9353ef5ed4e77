//! Difference of the two normalised planes after registration.
//!
//! Registration is never exact to the pixel (parallax, sub-pixel speed jitter), and a plain
//! |a - b| lights up every edge that is one pixel off. So each pixel takes the smallest
//! difference against the other image within +-`tol` pixels, in both directions: an edge that
//! merely moved finds its partner, an object that is new finds nothing similar nearby.

use super::plane::Plane;

/// Values above this are clipped: a few saturated pixels must not outweigh a whole object.
const CLIP: f32 = 6.0;

/// Returns the difference plane (0 where the new scan has no data) and the fraction of the
/// reference covered by the new scan.
pub fn difference(rn: &Plane, wn: &Plane, tol: usize) -> (Plane, f32) {
    let (w, h) = (rn.w, rn.h);
    let t = tol as isize;
    let mut out = Plane::new(w, h);
    let mut covered = 0usize;
    for y in 0..h {
        for x in 0..w {
            let (a, b) = (rn.data[y * w + x], wn.data[y * w + x]);
            if !b.is_finite() {
                continue;
            }
            covered += 1;
            let (mut best_ab, mut best_ba) = (f32::MAX, f32::MAX);
            for dy in -t..=t {
                let yy = y as isize + dy;
                if yy < 0 || yy >= h as isize {
                    continue;
                }
                let row = yy as usize * w;
                for dx in -t..=t {
                    let xx = x as isize + dx;
                    if xx < 0 || xx >= w as isize {
                        continue;
                    }
                    let i = row + xx as usize;
                    let nb = wn.data[i];
                    if nb.is_finite() {
                        best_ab = best_ab.min((a - nb).abs());
                    }
                    best_ba = best_ba.min((b - rn.data[i]).abs());
                }
            }
            out.data[y * w + x] = best_ab.max(best_ba).min(CLIP);
        }
    }
    (out, covered as f32 / (w * h).max(1) as f32)
}

/// Grey level (0..255, per work pixel) at which a pixel counts as saturated, and the level a
/// pixel on the other side must reach for the pair to count as "the same shiny surface".
pub const SATURATED: f32 = 225.0;
pub const BRIGHT: f32 = 150.0;

/// One scan on the difference grid: normalised luma, the two normalised chroma planes, and the
/// raw grey (for the specular test). For the new scan NaN marks "no data".
pub struct Scan<'a> {
    pub luma: &'a Plane,
    pub chroma: [&'a Plane; 2],
    pub raw: &'a Plane,
}

/// Search window and patch of [`window_match`].
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Largest displacement along travel (x) and across the lane (y), in grid pixels.
    pub along: usize,
    pub across: usize,
    /// Patch radius: patches of (2r+1)^2 pixels are compared.
    pub patch: usize,
    /// Weight of a chroma difference relative to a luma difference of the same size.
    pub chroma: f32,
}

/// "Is there anything like this patch of the new scan nearby in the reference?"
///
/// For every pixel of the new scan (warped into the reference frame) the mean difference of
/// its patch against the reference patch at each displacement in the window, minimised over the
/// window: a part seen with parallax (a pipe that sits lower than the floor pan moves across
/// the lane with the vehicle's lateral position), a sub-pixel misalignment or a cable that
/// swung finds itself a few pixels away; an object that is new finds nothing. Matching whole
/// patches, not single pixels, keeps a large window from "explaining" a new object by some
/// pixel of similar grey in busy texture. One-sided on purpose: what counts is what is present
/// in the new scan and absent from the reference.
///
/// Per pixel the difference is |luma| + `chroma` * (|B-Y| + |R-Y|), clipped. The luma term is
/// dropped when one side is saturated and the other bright: a specular highlight on a heat
/// shield moves and changes size with the viewing geometry and says nothing about the part.
///
/// Returns the minimum patch difference (0 where the new scan has no data) and the share of
/// pixels the new scan covers. The displacements are split over two threads.
pub fn window_match(r: &Scan, n: &Scan, win: Window) -> (Plane, f32) {
    let (w, h) = (r.luma.w, r.luma.h);
    let covered = n.luma.data.iter().filter(|v| v.is_finite()).count();
    let mut shifts = Vec::new();
    for dy in -(win.across as isize)..=win.across as isize {
        for dx in -(win.along as isize)..=win.along as isize {
            shifts.push((dx, dy));
        }
    }
    let half = shifts.len() / 2;
    let run = |list: &[(isize, isize)]| {
        let mut best = vec![f32::MAX; w * h];
        let mut t = vec![0f32; w * h];
        let mut tmp = vec![0f32; w * h];
        for &(dx, dy) in list {
            pixel_terms(r, n, dx, dy, win.chroma, &mut t);
            box_mean_into(&mut t, w, h, win.patch, &mut tmp);
            for (b, v) in best.iter_mut().zip(&t) {
                *b = b.min(*v);
            }
        }
        best
    };
    let (a, b) = std::thread::scope(|s| {
        let hb = s.spawn(|| run(&shifts[half..]));
        (run(&shifts[..half]), hb.join().expect("difference thread"))
    });
    let mut out = Plane::new(w, h);
    for (i, o) in out.data.iter_mut().enumerate() {
        *o = if n.luma.data[i].is_finite() { a[i].min(b[i]) } else { 0.0 };
    }
    (out, covered as f32 / (w * h).max(1) as f32)
}

/// Per-pixel difference of new(p) against reference(p + (dx, dy)); CLIP outside the reference,
/// 0 where the new scan has no data.
fn pixel_terms(r: &Scan, n: &Scan, dx: isize, dy: isize, cw: f32, t: &mut [f32]) {
    let (w, h) = (r.luma.w as isize, r.luma.h as isize);
    for y in 0..h {
        let ry = y + dy;
        let row = (y * w) as usize;
        if ry < 0 || ry >= h {
            t[row..row + w as usize].iter_mut().for_each(|v| *v = CLIP);
            continue;
        }
        let rrow = (ry * w) as usize;
        for x in 0..w {
            let i = row + x as usize;
            let rx = x + dx;
            t[i] = if rx < 0 || rx >= w {
                term(r, n, i, None, cw)
            } else {
                term(r, n, i, Some(rrow + rx as usize), cw)
            };
        }
    }
}

/// Difference of new pixel `i` against reference pixel `j` (`None`: outside the reference,
/// CLIP); 0 where the new scan has no data.
#[inline]
pub(crate) fn term(r: &Scan, n: &Scan, i: usize, j: Option<usize>, cw: f32) -> f32 {
    let nl = n.luma.data[i];
    if !nl.is_finite() {
        return 0.0;
    }
    let Some(j) = j else { return CLIP };
    let (nr, rr) = (n.raw.data[i], r.raw.data[j]);
    let specular = (nr >= SATURATED && rr >= BRIGHT) || (rr >= SATURATED && nr >= BRIGHT);
    let lum = if specular { 0.0 } else { (nl - r.luma.data[j]).abs() };
    let chroma =
        (n.chroma[0].data[i] - r.chroma[0].data[j]).abs() + (n.chroma[1].data[i] - r.chroma[1].data[j]).abs();
    (lum + cw * chroma).min(CLIP)
}

/// Separable box mean of radius `rad` (clipped at the borders), in place via `tmp`.
pub(crate) fn box_mean_into(t: &mut [f32], w: usize, h: usize, rad: usize, tmp: &mut [f32]) {
    if rad == 0 {
        return;
    }
    for y in 0..h {
        let row = &t[y * w..(y + 1) * w];
        let out = &mut tmp[y * w..(y + 1) * w];
        let mut s: f32 = row[..(rad + 1).min(w)].iter().sum();
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(rad), (x + rad + 1).min(w));
            out[x] = s / (x1 - x0) as f32;
            if x + rad + 1 < w {
                s += row[x + rad + 1];
            }
            if x >= rad {
                s -= row[x - rad];
            }
        }
    }
    let mut col = vec![0f32; w];
    let mut lo = 0usize;
    let mut hi = 0usize; // rows summed: lo..hi
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(rad), (y + rad + 1).min(h));
        while hi < y1 {
            col.iter_mut().zip(&tmp[hi * w..(hi + 1) * w]).for_each(|(c, v)| *c += v);
            hi += 1;
        }
        while lo < y0 {
            col.iter_mut().zip(&tmp[lo * w..(lo + 1) * w]).for_each(|(c, v)| *c -= v);
            lo += 1;
        }
        let k = 1.0 / (y1 - y0) as f32;
        t[y * w..(y + 1) * w].iter_mut().zip(&col).for_each(|(o, c)| *o = c * k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripes(shift: usize) -> Plane {
        let (w, h) = (32, 16);
        Plane { w, h, data: (0..w * h).map(|i| if (i % w + shift) % 8 < 4 { 1.0 } else { -1.0 }).collect() }
    }

    #[test]
    fn one_pixel_shift_is_tolerated_but_new_object_is_not() {
        let (a, b) = (stripes(0), stripes(1));
        let (d, cov) = difference(&a, &b, 1);
        assert_eq!(cov, 1.0);
        // The last column has no partner inside the image; everything else must cancel.
        assert!((0..16).all(|y| (0..31).all(|x| d.at(x, y) < 1e-6)), "shifted stripes should cancel");
        let mut c = stripes(0);
        for y in 4..10 {
            for x in 10..18 {
                c.data[y * 32 + x] = 4.0;
            }
        }
        let (d, _) = difference(&a, &c, 1);
        assert!(d.at(14, 7) > 2.5, "object centre {}", d.at(14, 7));
        assert_eq!(d.at(28, 14), 0.0);
    }

    #[test]
    fn missing_data_is_not_a_difference() {
        let a = stripes(0);
        let mut b = stripes(0);
        b.data.iter_mut().take(64).for_each(|v| *v = f32::NAN);
        let (d, cov) = difference(&a, &b, 1);
        assert!((cov - (1.0 - 64.0 / 512.0)).abs() < 1e-6);
        assert!(d.data.iter().all(|v| v.is_finite() && *v < 1e-6));
    }
}
