//! The pair's own noise, locally: where a difference counts as unusual.
//!
//! Dividing the difference by one level for the whole pair (the 90th percentile) treats every
//! part of the underside alike. Real pairs are not alike: around the wheels (tread turned,
//! suspension at another travel), at the bumpers (seen at a grazing angle, where the scan starts
//! and ends) and wherever registration had little structure to hold on to, the whole
//! neighbourhood differs a little, and a few of those differences join into a blob that passes
//! the region test. A new object is different: it is unlike its own surroundings, which
//! otherwise match well. So the difference is also divided by the median difference of its
//! neighbourhood, relative to the median of the whole pair, whenever the neighbourhood is the
//! noisier one. A median over a tile of about 60 x 60 cm is not moved by an object covering
//! less than half of it, so a parcel on a clean floor pan keeps its full strength.
//!
//! The first and last few percent of the travel axis are left out of the regions: that is where
//! the line scan catches the bumper fascia at a grazing angle and the vehicle entering or
//! leaving the scanner at changing speed, and registration extrapolates there. They stay
//! in the heat map for the reviewer.

use super::plane::Plane;

/// Median of the covered values up to `cap` (candidate pixels say nothing about the noise); 0 when none.
fn median_pos(v: &mut Vec<f32>, cap: f32) -> f32 {
    v.retain(|x| *x > 0.0 && *x <= cap);
    if v.is_empty() {
        return 0.0;
    }
    let k = v.len() / 2;
    *v.select_nth_unstable_by(k, |a, b| a.total_cmp(b)).1
}

/// `d` divided by the local noise factor: max(1, median of the tile around each pixel / median
/// of the pair). Tiles are `tile` pixels square at a stride of half a tile; the factor is
/// interpolated bilinearly between tile centres so that no tile edge cuts an object.
pub fn local_normalise(d: &Plane, tile: usize, cap: f32) -> Plane {
    let tile = tile.clamp(8, d.w.max(8)).min(d.h.max(8));
    let global = median_pos(&mut d.data.clone(), cap);
    if global <= 0.0 {
        return d.clone();
    }
    let stride = (tile / 2).max(1);
    let (gw, gh) = (d.w.div_ceil(stride).max(1), d.h.div_ceil(stride).max(1));
    let mut factor = vec![1f32; gw * gh];
    let mut buf = Vec::with_capacity(tile * tile);
    for gy in 0..gh {
        for gx in 0..gw {
            // Tile centred on the grid point.
            let (cx, cy) = (gx * stride + stride / 2, gy * stride + stride / 2);
            let (x0, x1) = (cx.saturating_sub(tile / 2), (cx + tile / 2).min(d.w));
            let (y0, y1) = (cy.saturating_sub(tile / 2), (cy + tile / 2).min(d.h));
            buf.clear();
            for y in y0..y1 {
                buf.extend_from_slice(&d.data[y * d.w + x0..y * d.w + x1]);
            }
            // Too little coverage says nothing about the neighbourhood.
            if buf.iter().filter(|v| **v > 0.0).count() * 4 >= buf.len().max(1) {
                factor[gy * gw + gx] = (median_pos(&mut buf, cap) / global).max(1.0);
            }
        }
    }
    let mut out = Plane::new(d.w, d.h);
    for y in 0..d.h {
        for x in 0..d.w {
            let (f, _) = super::register::grid_lerp(stride, gw, gh, x as f32, y as f32, [&factor, &factor]);
            out.data[y * d.w + x] = d.data[y * d.w + x] / f;
        }
    }
    out
}

/// Whether a box (x0..x1 along travel) lies mostly in the end bands of a plane `w` long.
pub fn in_end_band(x0: usize, x1: usize, w: usize, band: f32) -> bool {
    let b = (w as f32 * band) as usize;
    let centre = (x0 + x1) / 2;
    centre < b || centre + b >= w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_on_a_quiet_floor_keeps_its_strength_a_noisy_corner_does_not() {
        let (w, h) = (200, 100);
        let mut d = Plane { w, h, data: vec![0.5; w * h] };
        // An object 20 x 20 in the quiet part.
        for y in 40..60 {
            for x in 40..60 {
                d.data[y * w + x] = 4.0;
            }
        }
        // A noisy corner: everything differs three times as much, with one peak.
        for y in 0..50 {
            for x in 150..200 {
                d.data[y * w + x] = if (x + y) % 2 == 0 { 1.5 } else { 2.0 };
            }
        }
        d.data[25 * w + 175] = 4.0;
        let n = local_normalise(&d, 40, 3.0);
        assert!(n.at(50, 50) > 3.9, "object {}", n.at(50, 50));
        assert!(n.at(175, 25) < 2.0, "noisy peak {}", n.at(175, 25));
        assert!((n.at(100, 80) - 0.5).abs() < 1e-3);
    }

    #[test]
    fn end_bands() {
        assert!(in_end_band(0, 20, 1000, 0.03));
        assert!(in_end_band(975, 1000, 1000, 0.03));
        assert!(!in_end_band(40, 60, 1000, 0.03));
    }
}
