//! A tight crop of a code painted in two rows (owner code over serial number, as on most
//! container doors and many sides) laid out as one line.
//!
//! The recogniser reads one line; a two-row block otherwise needs the text detector to find the
//! rows, and on a crop that is the slowest stage (the crop is enlarged for it: 579×272 becomes
//! 1152×544). Split by the row profile of the binarised crop and laid side by side, the block is
//! one recogniser call. The pipeline uses that read only when it is already a verified code the
//! lane would act on (see `read_image`); otherwise the detector reads the crop as before.

use image::RgbImage;

use crate::imgops;
use crate::ocr::vertical::{background, text_mask, unframe, LINE_H};

/// Height of the text in the assembled line ([`LINE_H`] high).
const TEXT_H: u32 = 40;

/// Whether `img` has the size and shape of a tight crop around a two-row code: wider than tall
/// but not a single line's strip, and small (a scene is read by the detector).
fn may_be_block(w: usize, h: usize) -> bool {
    (40..=400).contains(&h) && w <= 900 && w * 10 >= h * 12 && w * 10 <= h * 45
}

/// Ink per row of a mask, solid rows (a door bar, the crop's border) counted as none, smoothed
/// over three rows.
fn row_ink(mask: &[bool], w: usize, h: usize) -> Vec<usize> {
    let raw: Vec<usize> = (0..h)
        .map(|y| {
            let n = mask[y * w..(y + 1) * w].iter().filter(|&&m| m).count();
            if n * 100 > w * 85 {
                0
            } else {
                n
            }
        })
        .collect();
    (0..h).map(|y| (raw[y.saturating_sub(1)] + raw[y] + raw[(y + 1).min(h - 1)]) / 3).collect()
}

/// The two rows `[y0, y1)` of a two-row block: split at the emptiest row of the middle half,
/// which must be nearly empty next to the rows of text, each side trimmed to its inked rows.
fn split_rows(mask: &[bool], w: usize, h: usize) -> Option<[(usize, usize); 2]> {
    let ink = row_ink(mask, w, h);
    let mut sorted = ink.clone();
    sorted.sort_unstable();
    // The level of a row of text: most rows of a tight crop are text.
    let level = sorted[h * 3 / 4];
    let split = (h / 4..h * 3 / 4).min_by_key(|&y| ink[y])?;
    if level < 2 || ink[split] * 4 > level {
        return None;
    }
    let inked = |y: &usize| ink[*y] * 4 > level;
    let band = |a: usize, b: usize| {
        let y0 = (a..b).find(inked)?;
        let y1 = (a..b).rev().find(inked)? + 1;
        Some((y0, y1))
    };
    Some([band(0, split)?, band(split, h)?])
}

/// The last glyph of rows `band` when it is framed: the frame's box `(x0, x1, y0, y1)` and its
/// inside (see [`unframe`]). The frame's top and bottom edges are thin lines that may fall outside
/// the band (a row with only them holds little ink), so the glyph is looked for up to a quarter
/// of the band beyond it.
fn framed_last_glyph(mask: &[bool], w: usize, h: usize, (y0, y1): (usize, usize)) -> Option<Framed> {
    let reach = (y1 - y0) / 4;
    let (lo, hi) = (y0.saturating_sub(reach), (y1 + reach).min(h));
    // Columns with ink in the reach: a frame's top and bottom edges join its sides and the
    // digit into one run of columns.
    let inked = |x: usize| (lo..hi).any(|y| mask[y * w + x]);
    let x1 = (0..w).rev().find(|&x| inked(x))? + 1;
    let x0 = (0..x1).rev().find(|&x| !inked(x)).map_or(0, |x| x + 1);
    let row_inked = |y: &usize| (x0..x1).any(|x| mask[*y * w + x]);
    let gy0 = (lo..hi).find(row_inked)?;
    let gy1 = (lo..hi).rev().find(row_inked)? + 1;
    let outer = (x0, x1, gy0, gy1);
    let inner = unframe(mask, w, x0, x1, gy0, gy1);
    // A frame stands apart from what it holds: background on either side of the inside. A
    // solid or bold glyph, whose four sides are also ink, is not a frame.
    let hollow =
        |x: usize| (inner.2..inner.3).filter(|&y| mask[y * w + x]).count() * 10 < (inner.3 - inner.2) * 3;
    let framed = inner != outer && hollow(inner.0) && hollow(inner.1 - 1);
    framed.then_some(Framed { outer, inner })
}

/// A framed glyph: the frame's box and its inside, each `(x0, x1, y0, y1)`.
struct Framed {
    outer: (usize, usize, usize, usize),
    inner: (usize, usize, usize, usize),
}

/// A tight crop around a code: its two rows span most of its height and the longer row most
/// of its width. A frame whose text fills less of it is a small scene, with room for more than one
/// code (and the detector to find them).
fn fills_the_crop(mask: &[bool], w: usize, h: usize, top: (usize, usize), bottom: (usize, usize)) -> bool {
    let widest = [top, bottom]
        .iter()
        .filter_map(|&(y0, y1)| ink_columns(mask, w, y0, y1))
        .map(|(x0, x1)| x1 - x0)
        .max()
        .unwrap_or(0);
    (bottom.1 - top.0) * 10 >= h * 6 && widest * 10 >= w * 6
}

/// Horizontal ink extent `[x0, x1)` of rows `[y0, y1)`: columns holding at least two ink pixels.
fn ink_columns(mask: &[bool], w: usize, y0: usize, y1: usize) -> Option<(usize, usize)> {
    let inked = |x: usize| (y0..y1).filter(|&y| mask[y * w + x]).count() >= 2;
    let x0 = (0..w).find(|&x| inked(x))?;
    let x1 = (0..w).rev().find(|&x| inked(x))? + 1;
    Some((x0, x1))
}

/// The two rows of a two-row block side by side, first row first, as one line `LINE_H` high.
/// `None` unless the crop's ink falls into exactly two bands of similar height.
pub fn rows_to_line(img: &RgbImage) -> Option<RgbImage> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if !may_be_block(w, h) {
        return None;
    }
    let gray = imgops::gray(img);
    let mut mask = text_mask(&gray);
    let [_, bottom] = split_rows(&mask, w, h)?;
    let bg = background(img, &mask, 0, w);
    // The check digit ends the second row in a painted frame, which the recogniser reads as `D`
    // or `0` or drops with the digit in it: the frame is painted over with the panel's colour.
    let mut img = img.clone();
    if let Some(Framed { outer, inner }) = framed_last_glyph(&mask, w, h, bottom) {
        for y in outer.2..outer.3 {
            for x in outer.0..outer.1 {
                let inside = (inner.0..inner.1).contains(&x) && (inner.2..inner.3).contains(&y);
                if !inside {
                    img.put_pixel(x as u32, y as u32, bg);
                    mask[y * w + x] = false;
                }
            }
        }
    }
    let [top, bottom] = split_rows(&mask, w, h)?;
    if !fills_the_crop(&mask, w, h, top, bottom) {
        return None;
    }
    let (ht, hb) = (top.1 - top.0, bottom.1 - bottom.0);
    // Rows of one code are painted at one height; two bands of very different heights are
    // something else (a code over a size-type line, a label over a logo).
    if ht.max(hb) > ht.min(hb) * 2 || ht.min(hb) * 5 < h {
        return None;
    }
    // One scale for both rows, set by the taller band: the rows are painted at one character
    // height, and a band is taller only for what stands out of its row (a check digit's frame),
    // so scaled alike their characters come out the same size in the line, as the recogniser
    // expects of one line.
    let pad_of = |(y0, y1): (usize, usize)| ((y1 - y0) / 8).max(1);
    let tallest = [top, bottom].iter().map(|&b| b.1 - b.0 + 2 * pad_of(b)).max().unwrap_or(1);
    let scale = TEXT_H as f32 / tallest as f32;
    let mut pieces = Vec::with_capacity(2);
    for (y0, y1) in [top, bottom] {
        let (x0, x1) = ink_columns(&mask, w, y0, y1)?;
        let pad = pad_of((y0, y1));
        let (cx0, cx1) = (x0.saturating_sub(pad), (x1 + pad).min(w));
        let (cy0, cy1) = (y0.saturating_sub(pad), (y1 + pad).min(h));
        let band =
            image::imageops::crop_imm(&img, cx0 as u32, cy0 as u32, (cx1 - cx0) as u32, (cy1 - cy0) as u32)
                .to_image();
        let bw = ((band.width() as f32 * scale).round() as u32).max(4);
        let bh = ((band.height() as f32 * scale).round() as u32).clamp(4, TEXT_H);
        pieces.push(imgops::resize(&band, bw, bh));
    }
    // A gap of about one character's spacing: the recogniser must not merge the rows' last and
    // first characters, nor read a space into the code.
    let gap = TEXT_H / 3;
    let total_w = pieces.iter().map(|p| p.width()).sum::<u32>() + 3 * gap;
    let mut line = RgbImage::from_pixel(total_w, LINE_H, bg);
    let mut x = gap;
    for p in &pieces {
        // Each row centred on the line's middle.
        image::imageops::replace(&mut line, p, x as i64, ((LINE_H - p.height()) / 2) as i64);
        x += p.width() + gap;
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// Dark blocks of `char_h` pixels standing for characters: `top` of them in the first row,
    /// `bottom` in the second, on a light panel of `w`×`h`.
    fn block(w: u32, h: u32, rows: &[(u32, u32, u32)]) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let ink = rows.iter().any(|&(y0, char_h, n)| {
                let cell = char_h * 3 / 4 + char_h / 4;
                (y0..y0 + char_h).contains(&y)
                    && x >= 10
                    && x < 10 + n * cell
                    && (x - 10) % cell < char_h * 3 / 4
            });
            if ink {
                Rgb([25, 25, 30])
            } else {
                Rgb([215, 210, 200])
            }
        })
    }

    /// Widths of the runs of columns with dark ink in a line: one per character.
    fn dark_run_widths(line: &RgbImage) -> Vec<u32> {
        let ink = |x: u32| (0..line.height()).any(|y| line.get_pixel(x, y)[0] < 100);
        let starts = (0..line.width()).filter(|&x| ink(x) && (x == 0 || !ink(x - 1)));
        starts.map(|s| (s..line.width()).take_while(|&x| ink(x)).count() as u32).collect()
    }

    #[test]
    fn two_rows_become_one_line_with_every_character() {
        // Four characters over seven, 60 pixels high each.
        let img = block(560, 180, &[(20, 60, 4), (100, 60, 7)]);
        let line = rows_to_line(&img).expect("two rows");
        assert_eq!(line.height(), LINE_H);
        let runs = dark_run_widths(&line);
        assert_eq!(runs.len(), 11);
        // A solid last character is not taken for a frame: it keeps its width.
        assert!(runs.iter().all(|&r| r.abs_diff(runs[0]) <= 1), "{runs:?}");
        // Side by side: wider than either row alone at the line's height.
        assert!(line.width() > 11 * TEXT_H * 3 / 4, "{}", line.width());
    }

    #[test]
    fn a_framed_last_character_loses_its_frame() {
        // Four characters over six and a check digit: a dark bar inside a dark frame 3 px thick.
        let mut img = block(560, 200, &[(20, 60, 4), (110, 60, 6)]);
        let dark = Rgb([25, 25, 30]);
        let (fx0, fx1, fy0, fy1) = (380u32, 440u32, 102u32, 178u32);
        for y in fy0..fy1 {
            for x in fx0..fx1 {
                let frame = y < fy0 + 3 || y >= fy1 - 3 || x < fx0 + 3 || x >= fx1 - 3;
                let bar = (404..416).contains(&x) && (112..170).contains(&y);
                if frame || bar {
                    img.put_pixel(x, y, dark);
                }
            }
        }
        let line = rows_to_line(&img).expect("two rows");
        let runs = dark_run_widths(&line);
        assert_eq!(runs.len(), 11, "4 + 6 characters and the digit: {runs:?}");
        // The digit alone: a fifth of the frame's width, a quarter of a character's.
        assert!(runs[10] * 2 < runs[0], "{runs:?}");
    }

    #[test]
    fn one_row_three_rows_or_rows_of_different_size_are_not_a_block() {
        assert!(rows_to_line(&block(560, 180, &[(60, 60, 7)])).is_none(), "one row");
        let three = block(560, 200, &[(10, 50, 4), (75, 50, 6), (140, 50, 5)]);
        assert!(rows_to_line(&three).is_none(), "three rows");
        let uneven = block(560, 180, &[(10, 90, 4), (120, 40, 7)]);
        assert!(rows_to_line(&uneven).is_none(), "a large row over a small one");
    }

    #[test]
    fn scenes_strips_and_columns_are_left_to_the_other_paths() {
        assert!(rows_to_line(&block(1280, 720, &[(100, 60, 4), (200, 60, 7)])).is_none(), "a scene");
        assert!(rows_to_line(&block(500, 90, &[(10, 30, 4), (50, 30, 7)])).is_none(), "a strip");
        assert!(rows_to_line(&block(90, 600, &[(10, 30, 1), (50, 30, 1)])).is_none(), "a column");
        assert!(rows_to_line(&RgbImage::new(1, 1)).is_none());
        // Two rows in a third of a small frame's width: a low-resolution scene, not a crop.
        let small_scene = block(800, 300, &[(40, 100, 2), (170, 100, 3)]);
        assert!(rows_to_line(&small_scene).is_none(), "a small scene");
        let crop = block(380, 300, &[(40, 100, 2), (170, 100, 3)]);
        assert!(rows_to_line(&crop).is_some(), "the same rows cropped tight");
    }

    #[test]
    fn a_blank_crop_gives_nothing() {
        assert!(rows_to_line(&RgbImage::from_pixel(300, 150, Rgb([128, 128, 128]))).is_none());
    }
}
