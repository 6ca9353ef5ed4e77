//! A second, wider look at each candidate region before it is reported: can the region, moved
//! as a whole, find itself in the reference?
//!
//! The windowed patch match ([`super::diff::window_match`]) lets every pixel look for its
//! partner within a few pixels; a wider window per pixel would let a new object be "explained"
//! by any pixels of similar grey in busy texture. But registration leaves larger local errors
//! than that window where it had to absorb the most: a speed that wobbles during the pass, a
//! vehicle driven at an angle or far off-centre (low parts move across the lane with parallax),
//! a turned scan. There a whole piece of underside is displaced by a centimetre or two more
//! than the window, every pixel of it differs, and it looks like an object.
//!
//! So each candidate is searched again together with a frame of its surroundings: the window
//! is moved as a whole, in steps of its own size (the moved windows tile a search area `reach`
//! windows wide on each side). A move is open to the candidate while its surroundings still fit
//! about as well as in place, and the candidate keeps the lowest share of its difference over
//! the open moves. A displaced piece of the same underside (moved with its surroundings, or a
//! low part moved alone by parallax over a floor that stays put) finds its place and falls
//! below the threshold; an object that is not in the reference differs wherever it is put, and
//! a move that would let a plain box match some patch of the same grey elsewhere breaks its
//! surroundings. Only candidates are searched, so the cost does not grow with the scan.

use super::diff::{box_mean_into, term, Scan, Window};
use super::regions::Blob;

/// How far the region is moved as a whole: `along` and `across` windows each way (0 and 0:
/// not at all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reach {
    pub along: usize,
    pub across: usize,
}

/// Width of the frame of surroundings around a candidate's box, in difference-grid pixels
/// (about 7 cm at the defaults; registration errors vary over a block, twice that).
const FRAME: usize = 6;
/// A move is open to the candidate only when its surroundings keep at most this multiple of
/// the difference they have in place: the candidate may move alone (a low part seen with
/// parallax moves across the lane against the floor above it), but not to where what is around
/// it stops matching (a plain box finding a patch of the same grey in other texture).
const COMPATIBLE: f32 = 1.5;

/// The candidate's lowest mean difference over the moves its surroundings allow (see
/// [`COMPATIBLE`]), as a share of its mean difference in place: 1 when no move helps, near 0
/// when the region is a displaced piece of the reference.
///
/// The surroundings bound the move, not the candidate alone: letting the candidate choose
/// freely let a plain synthetic box find a patch of similar grey within the search (0/4 on the
/// unit test's small batch); letting the surroundings alone choose kept the parallax of a low
/// pipe over a tank flagged (docs/design/uvss.md).
pub(crate) fn remaining_share(r: &Scan, n: &Scan, blob: &Blob, win: Window, reach: Reach) -> f32 {
    if (reach.along == 0 && reach.across == 0) || blob.pixels.is_empty() {
        return 1.0;
    }
    let (w, h) = (r.luma.w, r.luma.h);
    let pad = win.patch + FRAME;
    let (bx0, by0) = (blob.x0.saturating_sub(pad), blob.y0.saturating_sub(pad));
    let (bx1, by1) = ((blob.x1 + pad).min(w), (blob.y1 + pad).min(h));
    let (bw, bh) = (bx1 - bx0, by1 - by0);
    // Blob pixels and the frame (around the blob's box, FRAME wide) in the box's own indexing.
    let local: Vec<usize> = blob.pixels.iter().map(|&i| (i / w - by0) * bw + (i % w - bx0)).collect();
    let frame: Vec<usize> = (0..bw * bh)
        .filter(|&k| {
            let (x, y) = (bx0 + k % bw, by0 + k / bw);
            let near =
                x + FRAME >= blob.x0 && x < blob.x1 + FRAME && y + FRAME >= blob.y0 && y < blob.y1 + FRAME;
            let inside = x >= blob.x0 && x < blob.x1 && y >= blob.y0 && y < blob.y1;
            near && !inside
        })
        .collect();
    if frame.is_empty() {
        return 1.0;
    }
    let (a, c) = (win.along as isize, win.across as isize);
    let (step_a, step_c) = (2 * a + 1, 2 * c + 1);
    let mut t = vec![0f32; bw * bh];
    let mut tmp = vec![0f32; bw * bh];
    let mut best = vec![0f32; bw * bh];
    let mean = |v: &[f32], at: &[usize]| at.iter().map(|&k| v[k]).sum::<f32>() / at.len() as f32;
    // (frame mean, blob mean) in place and at the cell whose frame fits best.
    // (frame mean, blob mean) of every move; the first is in place.
    let mut moves = Vec::new();
    for cy in -(reach.across as isize)..=reach.across as isize {
        for cx in -(reach.along as isize)..=reach.along as isize {
            best.iter_mut().for_each(|v| *v = f32::MAX);
            for dy in -c..=c {
                for dx in -a..=a {
                    let (tx, ty) = (cx * step_a + dx, cy * step_c + dy);
                    for y in 0..bh {
                        let yy = by0 + y;
                        let ry = yy as isize + ty;
                        for x in 0..bw {
                            let (xx, rx) = (bx0 + x, (bx0 + x) as isize + tx);
                            let inside = ry >= 0 && rx >= 0 && (ry as usize) < h && (rx as usize) < w;
                            let j = inside.then(|| ry as usize * w + rx as usize);
                            t[y * bw + x] = term(r, n, yy * w + xx, j, win.chroma);
                        }
                    }
                    box_mean_into(&mut t, bw, bh, win.patch, &mut tmp);
                    best.iter_mut().zip(&t).for_each(|(b, v)| *b = b.min(*v));
                }
            }
            let here = (mean(&best, &frame), mean(&best, &local));
            if cx == 0 && cy == 0 {
                moves.insert(0, here);
            } else {
                moves.push(here);
            }
        }
    }
    let (frame_in_place, in_place) = moves[0];
    if in_place <= 0.0 {
        return 1.0;
    }
    let fits = moves.iter().filter(|m| m.0 <= COMPATIBLE * frame_in_place).map(|m| m.1);
    (fits.fold(in_place, f32::min) / in_place).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uvss::plane::Plane;

    /// A textured plane: hashed noise (no repeat anywhere), displaced by `shift` along travel.
    fn texture(w: usize, h: usize, shift: isize) -> Plane {
        let data = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as isize - shift, (i / w) as isize);
                let mut k = (x as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ^ (y as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
                k ^= k >> 29;
                k = k.wrapping_mul(0xBF58_476D_1CE4_E5B9);
                k ^= k >> 32;
                (k % 97) as f32 / 24.0 - 2.0
            })
            .collect();
        Plane { w, h, data }
    }

    fn blob_at(w: usize, x0: usize, y0: usize, x1: usize, y1: usize) -> Blob {
        let pixels: Vec<usize> = (y0..y1).flat_map(|y| (x0..x1).map(move |x| y * w + x)).collect();
        Blob { x0, y0, x1, y1, area: pixels.len(), mean: 0.0, pixels }
    }

    #[test]
    fn a_displaced_piece_finds_its_place_and_an_object_does_not() {
        let (w, h) = (120, 60);
        let reference = texture(w, h, 0);
        let zero = Plane::new(w, h);
        let win = Window { along: 2, across: 5, patch: 1, chroma: 1.0 };
        fn grey<'a>(p: &'a Plane, zero: &'a Plane) -> Scan<'a> {
            Scan { luma: p, chroma: [zero, zero], raw: zero }
        }
        let scan = |p| grey(p, &zero);
        // The new scan is the reference displaced by 9 pixels along travel: beyond the window.
        let moved = texture(w, h, 9);
        let blob = blob_at(w, 50, 20, 62, 32);
        let reach = Reach { along: 2, across: 1 };
        let share = remaining_share(&scan(&reference), &scan(&moved), &blob, win, reach);
        assert!(share < 0.05, "displaced piece kept {share}");
        // Not searched: nothing changes.
        let off = Reach { along: 0, across: 0 };
        assert_eq!(remaining_share(&scan(&reference), &scan(&moved), &blob, win, off), 1.0);
        // A flat bright object pasted on the reference's own texture stays.
        let mut with_object = reference.clone();
        for y in 20..32 {
            for x in 50..62 {
                with_object.data[y * w + x] = 5.0;
            }
        }
        let share = remaining_share(&scan(&reference), &scan(&with_object), &blob, win, reach);
        assert!(share > 0.6, "object lost to the search: {share}");
    }
}
