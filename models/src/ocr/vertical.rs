//! Vertically stacked text (container side codes): characters upright, one above another.
//!
//! A horizontal-line recogniser cannot read a column of upright characters, and rotating the
//! column by 90° lays the characters on their sides, which it cannot read either. So the column is
//! cut into characters by a row profile of the binarised crop (text polarity chosen as the
//! minority class after Otsu), and the characters are re-assembled side by side into one
//! horizontal line, which the normal recogniser reads in one call with full context.
//!
//! Columns reach us two ways: the detector returns one tall box for the whole column, or one
//! small box per character (or per group); [`group_columns`] merges the latter.

use image::{Rgb, RgbImage};

use crate::imgops;
use crate::ocr::det::DetBox;

/// Height each character is scaled to in the assembled line (the recogniser input is 48).
const CHAR_H: u32 = 36;
/// Height of an assembled line, the recogniser's input height (shared with [`crate::ocr::rows`]).
pub(crate) const LINE_H: u32 = 48;

/// Otsu threshold of a grey histogram.
fn otsu(gray: &[u8]) -> u8 {
    let mut hist = [0u32; 256];
    for &g in gray {
        hist[g as usize] += 1;
    }
    let total = gray.len() as f64;
    let sum_all: f64 = hist.iter().enumerate().map(|(i, &c)| i as f64 * c as f64).sum();
    let (mut w0, mut sum0, mut best, mut best_t) = (0.0, 0.0, -1.0, 127u8);
    for (t, &count) in hist.iter().enumerate() {
        w0 += count as f64;
        if w0 == 0.0 || w0 == total {
            continue;
        }
        sum0 += t as f64 * count as f64;
        let m0 = sum0 / w0;
        let m1 = (sum_all - sum0) / (total - w0);
        let between = w0 * (total - w0) * (m0 - m1).powi(2);
        if between > best {
            best = between;
            best_t = t as u8;
        }
    }
    best_t
}

/// Foreground (text) mask of a grey region (text is the minority class after Otsu).
pub(crate) fn text_mask(gray: &[u8]) -> Vec<bool> {
    let t = otsu(gray);
    let dark = gray.iter().filter(|&&g| g <= t).count();
    let text_is_dark = dark * 2 < gray.len();
    gray.iter().map(|&g| if text_is_dark { g <= t } else { g > t }).collect()
}

/// Mean colour of the non-text pixels of columns `[x0, x1)`; mid grey when there are none.
pub(crate) fn background(img: &RgbImage, mask: &[bool], x0: usize, x1: usize) -> Rgb<u8> {
    let w = img.width() as usize;
    let (mut acc, mut n) = ([0u64; 3], 0u64);
    for (i, p) in img.pixels().enumerate() {
        let x = i % w;
        if x >= x0 && x < x1 && !mask[i] {
            for k in 0..3 {
                acc[k] += p[k] as u64;
            }
            n += 1;
        }
    }
    match (acc[0].checked_div(n), acc[1].checked_div(n), acc[2].checked_div(n)) {
        (Some(r), Some(g), Some(b)) => Rgb([r as u8, g as u8, b as u8]),
        _ => Rgb([128, 128, 128]),
    }
}

/// The text band: the widest run of columns that hold some ink but are not ink everywhere
/// (a crop's border, a door bar or a gradient edge is). Returns `[x0, x1)`.
fn text_band(mask: &[bool], w: usize, h: usize) -> (usize, usize) {
    let frac: Vec<f32> =
        (0..w).map(|x| (0..h).filter(|&y| mask[y * w + x]).count() as f32 / h as f32).collect();
    let good: Vec<bool> = frac.iter().map(|&f| (0.04..0.75).contains(&f)).collect();
    let (mut best, mut cur) = ((0, w), None::<usize>);
    let mut best_len = 0;
    let mut gap = 0;
    for x in 0..=w {
        let g = good.get(x).copied().unwrap_or(false);
        match (g, cur) {
            (true, None) => {
                cur = Some(x);
                gap = 0;
            }
            (true, Some(_)) => gap = 0,
            (false, Some(s)) => {
                gap += 1;
                if gap > 2 || x == w {
                    let e = x + 1 - gap;
                    if e - s > best_len {
                        best_len = e - s;
                        best = (s, e);
                    }
                    cur = None;
                }
            }
            _ => {}
        }
    }
    if best_len < w / 6 {
        (0, w)
    } else {
        best
    }
}

/// Row ranges `[y0, y1)` holding one character each, from a mask restricted to the text band.
fn segment_rows(mask: &[bool], w: usize, h: usize) -> Vec<(usize, usize)> {
    let row: Vec<usize> = (0..h).map(|y| (0..w).filter(|&x| mask[y * w + x]).count()).collect();
    let thr = (w / 25).max(2);
    let mut runs = Vec::new();
    let mut start = None;
    for y in 0..=h {
        let ink = row.get(y).is_some_and(|&n| n >= thr);
        match (ink, start) {
            (true, None) => start = Some(y),
            (false, Some(s)) => {
                runs.push((s, y));
                start = None;
            }
            _ => {}
        }
    }
    runs.retain(|r| (r.1 - r.0) * 5 >= w.min(h)); // specks
    if runs.is_empty() {
        return runs;
    }
    // Typical character height: the lower-quartile run (merged pairs are longer, never shorter),
    // but at least 0.8 x the band width (characters
    // are taller than wide) so that a column of merged runs is still split sensibly.
    let mut lens: Vec<usize> = runs.iter().map(|r| r.1 - r.0).collect();
    lens.sort_unstable();
    let typical = lens[lens.len() / 4].max(w * 4 / 5).max(4);
    let mut out = Vec::new();
    for (s, e) in runs {
        let len = e - s;
        if len * 5 < typical * 2 {
            continue;
        }
        let parts = ((len as f32 / typical as f32) + 0.4).floor().max(1.0) as usize;
        for k in 0..parts {
            out.push((s + len * k / parts, s + len * (k + 1) / parts));
        }
    }
    out
}

/// Whether cell `i` of `n` can be a framed check digit: the code's 11th character, or the last of
/// a column that holds only part of a code. Any other cell is left whole: a thick 0 looks like a
/// frame from its four sides, and unframing cut one in the middle of a serial to a sliver the
/// recogniser dropped (`TGHU0737320` read as `TGHU737320`, and the crop went on to the detector).
fn may_be_check_digit(i: usize, n: usize) -> bool {
    i + 1 == n || i == 10
}

/// A check digit is painted inside a rectangle; the recogniser reads the frame as `D`, `0` or
/// nothing. When all four sides of a cell are (nearly) solid ink, shrink it to the inside.
pub(crate) fn unframe(
    mask: &[bool],
    w: usize,
    x0: usize,
    x1: usize,
    y0: usize,
    y1: usize,
) -> (usize, usize, usize, usize) {
    let row_ink = |y: usize, a: usize, b: usize| {
        (a..b).filter(|&x| mask[y * w + x]).count() as f32 / (b - a).max(1) as f32
    };
    let col_ink = |x: usize, a: usize, b: usize| {
        (a..b).filter(|&y| mask[y * w + x]).count() as f32 / (b - a).max(1) as f32
    };
    if x1 <= x0 + 4 || y1 <= y0 + 4 {
        return (x0, x1, y0, y1);
    }
    let solid = |f: f32| f >= 0.6;
    let near = |mut it: Box<dyn Iterator<Item = usize>>, f: &dyn Fn(usize) -> f32| it.find(|&i| solid(f(i)));
    let max_in = ((y1 - y0).min(x1 - x0) / 4).max(2);
    let top = near(Box::new(y0..y0 + max_in), &|y| row_ink(y, x0, x1));
    let bottom = near(Box::new((y1 - max_in..y1).rev()), &|y| row_ink(y, x0, x1));
    let left = near(Box::new(x0..x0 + max_in), &|x| col_ink(x, y0, y1));
    let right = near(Box::new((x1 - max_in..x1).rev()), &|x| col_ink(x, y0, y1));
    let sides = [top, bottom, left, right].iter().filter(|s| s.is_some()).count();
    if sides < 4 {
        return (x0, x1, y0, y1);
    }
    // Step past each frame side until its ink stops, then a margin of one pixel.
    // Frames are drawn slightly askew: step a little further in than where the ink stops.
    let e = ((x1 - x0).min(y1 - y0) / 10).max(1);
    let mut t = top.map_or(y0, |y| (y..y1).find(|&yy| row_ink(yy, x0, x1) < 0.3).unwrap_or(y) + e);
    let mut b = bottom
        .map_or(y1, |y| (y0..=y).rev().find(|&yy| row_ink(yy, x0, x1) < 0.3).unwrap_or(y))
        .saturating_sub(e - 1);
    let mut l = left.map_or(x0, |x| (x..x1).find(|&xx| col_ink(xx, y0, y1) < 0.3).unwrap_or(x) + e);
    let mut r = right
        .map_or(x1, |x| (x0..=x).rev().find(|&xx| col_ink(xx, y0, y1) < 0.3).unwrap_or(x))
        .saturating_sub(e - 1);
    if b <= t + 4 || r <= l + 2 {
        return (x0, x1, y0, y1);
    }
    // Tighten to the ink inside, keeping a small margin.
    let inner_rows: Vec<usize> = (t..b).filter(|&y| (l..r).any(|x| mask[y * w + x])).collect();
    let inner_ink =
        (t..b).flat_map(|y| (l..r).map(move |x| (x, y))).filter(|&(x, y)| mask[y * w + x]).count();
    if inner_ink * 20 < (b - t) * (r - l) {
        // Nothing inside: an O or a 0, not a frame.
        return (x0, x1, y0, y1);
    }
    if let (Some(&a), Some(&z)) = (inner_rows.first(), inner_rows.last()) {
        t = a.saturating_sub(1).max(t);
        b = (z + 2).min(b);
    }
    let inner_cols: Vec<usize> = (l..r).filter(|&x| (t..b).any(|y| mask[y * w + x])).collect();
    if let (Some(&a), Some(&z)) = (inner_cols.first(), inner_cols.last()) {
        l = a.saturating_sub(1).max(l);
        r = (z + 2).min(r);
    }
    (l, r, t, b)
}

/// Cut a vertical column into characters and lay them out as one horizontal line.
/// Returns `None` when the crop does not look like a column of at least 4 characters.
pub fn column_to_line(img: &RgbImage) -> Option<RgbImage> {
    column_to_cells_line(img).map(|(line, _)| line)
}

/// [`column_to_line`] and the number of characters it laid out.
pub fn column_to_cells_line(img: &RgbImage) -> Option<(RgbImage, usize)> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if h < 2 * w || w < 6 {
        return None;
    }
    let gray = imgops::gray(img);
    let (bx0, bx1) = text_band(&text_mask(&gray), w, h);
    // Margin: a check digit's frame sticks out beyond the characters' ink.
    let margin = ((bx1 - bx0) / 5).max(3);
    let (bx0, bx1) = (bx0.saturating_sub(margin), (bx1 + margin).min(w));
    let bw = bx1 - bx0;
    // Threshold again on the band alone: a background gradient across the crop skews Otsu.
    let band_gray: Vec<u8> = (0..h).flat_map(|y| gray[y * w + bx0..y * w + bx1].iter().copied()).collect();
    let band_mask = text_mask(&band_gray);
    let rows = segment_rows(&band_mask, bw, h);
    if rows.len() < 4 {
        return None;
    }
    let mut full_mask = vec![false; w * h];
    for y in 0..h {
        full_mask[y * w + bx0..y * w + bx1].copy_from_slice(&band_mask[y * bw..(y + 1) * bw]);
    }
    let bg = background(img, &full_mask, bx0, bx1);
    let mut cells = Vec::with_capacity(rows.len());
    for (i, &(y0, y1)) in rows.iter().enumerate() {
        let cols: Vec<usize> = (0..bw).filter(|&x| (y0..y1).any(|y| band_mask[y * bw + x])).collect();
        let (x0, x1) = match (cols.first(), cols.last()) {
            (Some(&a), Some(&b)) => (a, b + 1),
            _ => continue,
        };
        let (ux0, ux1, uy0, uy1) = if may_be_check_digit(i, rows.len()) {
            unframe(&band_mask, bw, x0, x1, y0, y1)
        } else {
            (x0, x1, y0, y1)
        };
        let framed = (ux0, ux1, uy0, uy1) != (x0, x1, y0, y1);
        let (x0, x1, y0, y1) = (bx0 + ux0, bx0 + ux1, uy0, uy1);
        // Inside a frame the margin would bring the frame back.
        let pad = if framed { 0 } else { ((y1 - y0) / 8).max(1) };
        let (cx0, cx1) = (x0.saturating_sub(pad), (x1 + pad).min(w));
        let (cy0, cy1) = (y0.saturating_sub(pad), (y1 + pad).min(h));
        let cell =
            image::imageops::crop_imm(img, cx0 as u32, cy0 as u32, (cx1 - cx0) as u32, (cy1 - cy0) as u32)
                .to_image();
        let scale = CHAR_H as f32 / cell.height() as f32;
        let cw = ((cell.width() as f32 * scale).round() as u32).clamp(4, CHAR_H * 2);
        cells.push(imgops::resize(&cell, cw, CHAR_H));
    }
    let gap = CHAR_H / 4;
    let total_w: u32 = cells.iter().map(|c| c.width() + gap).sum::<u32>() + gap;
    let mut line = RgbImage::from_pixel(total_w, LINE_H, bg);
    let mut x = gap;
    for c in &cells {
        image::imageops::replace(&mut line, c, x as i64, ((LINE_H - CHAR_H) / 2) as i64);
        x += c.width() + gap;
    }
    Some((line, cells.len()))
}

/// Axis-aligned boxes `[x0, y0, x1, y1]` of columns of vertically stacked detections: boxes of
/// similar width whose centres line up and whose vertical gaps are small. Single tall boxes
/// (height >= 2.5 x width) count as columns on their own.
pub fn group_columns(boxes: &[DetBox]) -> Vec<[f32; 4]> {
    let mut bbs: Vec<[f32; 4]> = boxes.iter().map(|b| b.bbox()).collect();
    bbs.sort_by(|a, b| a[1].total_cmp(&b[1]));
    let mut used = vec![false; bbs.len()];
    let mut out = Vec::new();
    for i in 0..bbs.len() {
        if used[i] {
            continue;
        }
        let mut col = bbs[i];
        used[i] = true;
        loop {
            let w = col[2] - col[0];
            let cx = (col[0] + col[2]) / 2.0;
            let next = (0..bbs.len()).filter(|&j| !used[j]).find(|&j| {
                let b = bbs[j];
                let (bw, bcx) = (b[2] - b[0], (b[0] + b[2]) / 2.0);
                let gap = b[1] - col[3];
                (bcx - cx).abs() < 0.4 * w.max(bw)
                    && bw < 2.0 * w
                    && w < 2.0 * bw
                    && gap > -0.3 * w
                    && gap < 0.9 * w.max(bw)
            });
            let Some(j) = next else { break };
            used[j] = true;
            let b = bbs[j];
            col = [col[0].min(b[0]), col[1], col[2].max(b[2]), col[3].max(b[3])];
        }
        let (w, h) = (col[2] - col[0], col[3] - col[1]);
        if h >= 2.5 * w {
            out.push(col);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacked_blocks_become_a_row() {
        // Five dark 10x12 "characters" stacked with 6-pixel gaps on a light background.
        let img = RgbImage::from_fn(20, 100, |x, y| {
            let ink = (5..15).contains(&x) && (y % 18) >= 4 && (y % 18) < 16 && y < 90;
            if ink {
                Rgb([20, 20, 20])
            } else {
                Rgb([220, 220, 220])
            }
        });
        let line = column_to_line(&img).expect("a column");
        assert_eq!(line.height(), LINE_H);
        assert!(line.width() > 4 * CHAR_H / 2, "{}", line.width());
    }

    /// A column of `n` framed light bars on a dark panel: each a 20x30 frame of 3-pixel strokes
    /// around a separate 4x18 bar, as a check digit "1" is painted.
    fn framed_bars(n: u32) -> RgbImage {
        RgbImage::from_fn(30, n * 40 + 10, |x, y| {
            let (cx, cy) = (x as i32 - 5, (y % 40) as i32 - 5);
            let frame = (0..20).contains(&cx)
                && (0..30).contains(&cy)
                && !((3..17).contains(&cx) && (3..27).contains(&cy));
            let bar = (8..12).contains(&cx) && (6..24).contains(&cy);
            if (frame || bar) && y < n * 40 {
                Rgb([230, 230, 230])
            } else {
                Rgb([60, 40, 30])
            }
        })
    }

    /// Widths of the runs of columns with light ink in a line: one per character.
    fn ink_runs(line: &RgbImage) -> Vec<u32> {
        let ink = |x: u32| (0..line.height()).any(|y| line.get_pixel(x, y)[0] > 150);
        let mut runs = Vec::new();
        let mut start = None;
        for x in 0..=line.width() {
            match (x < line.width() && ink(x), start) {
                (true, None) => start = Some(x),
                (false, Some(s)) => {
                    runs.push(x - s);
                    start = None;
                }
                _ => {}
            }
        }
        runs
    }

    #[test]
    fn only_the_check_digits_place_is_unframed() {
        let (line, cells) = column_to_cells_line(&framed_bars(11)).expect("a column");
        assert_eq!(cells, 11);
        let runs = ink_runs(&line);
        assert_eq!(runs.len(), 11, "{runs:?}");
        // Kept whole, a frame is ~20 px of ink across in the line; unframed, its bar and
        // margin ~14. Inside a code a frame-like shape is a thick 0 and stays whole.
        assert!(runs[..10].iter().all(|&r| r >= 20), "{runs:?}");
        assert!(runs[10] < 18, "the 11th, where the check digit is, unframed: {runs:?}");
    }

    #[test]
    fn only_the_code_end_may_be_a_framed_check_digit() {
        assert!(may_be_check_digit(10, 11), "the 11th of a whole code");
        assert!(may_be_check_digit(6, 7), "the last of a serial + check digit column");
        assert!(may_be_check_digit(10, 15), "the 11th, with a size/type code below");
        assert!(!may_be_check_digit(4, 11), "the serial's first digit");
    }
}
