//! Finding plates by their colour.
//!
//! The text detector finds a plate's characters, but on small or dim plates its box often starts
//! after the province character, or it misses the plate altogether, and on two-row (yellow truck)
//! plates the small top row is lost. GA 36 plates have a uniform background colour (blue, yellow,
//! green) that is easy to find: classify pixels on a reduced image, close the gaps the characters
//! leave, and keep connected regions of plate shape. Each region is then read as a tight crop
//! (see [`crate::read::plate_read`]), which a PP-OCR recogniser does well.

use image::RgbImage;

use crate::imgops::{self, Quad};

/// Longest side of the reduced image the colour mask is computed on.
const WORK_SIDE: u32 = 640;
/// At most this many regions per image are read (largest first).
const MAX_REGIONS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionColor {
    Blue,
    Yellow,
    Green,
}

/// A plate-coloured region in source pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlateRegion {
    /// `[x0, y0, x1, y1]`.
    pub bbox: [f32; 4],
    pub color: RegionColor,
    /// Share of the box covered by the colour after closing.
    pub fill: f32,
}

impl PlateRegion {
    /// The box grown by `fx` of its width on each side and `fy` of its height, clamped.
    pub fn quad(&self, fx: f32, fy: f32, img: &RgbImage) -> Quad {
        let [x0, y0, x1, y1] = self.bbox;
        let (dx, dy) = ((x1 - x0) * fx, (y1 - y0) * fy);
        let (w, h) = (img.width() as f32, img.height() as f32);
        let (a, b, c, d) = ((x0 - dx).max(0.0), (y0 - dy).max(0.0), (x1 + dx).min(w), (y1 + dy).min(h));
        [[a, b], [c, b], [c, d], [a, d]]
    }
}

fn classify(p: &image::Rgb<u8>) -> Option<RegionColor> {
    let (r, g, b) = (p[0] as f32, p[1] as f32, p[2] as f32);
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    if max < 50.0 {
        return None;
    }
    let s = (max - min) / max;
    // Hue in degrees.
    let d = (max - min).max(1.0);
    let h = if max == r {
        (60.0 * ((g - b) / d)).rem_euclid(360.0)
    } else if max == g {
        60.0 * ((b - r) / d + 2.0)
    } else {
        60.0 * ((r - g) / d + 4.0)
    };
    if s >= 0.2 && (195.0..=250.0).contains(&h) {
        Some(RegionColor::Blue)
    } else if s >= 0.3 && max >= 60.0 && (25.0..=65.0).contains(&h) {
        Some(RegionColor::Yellow)
    } else if s >= 0.25 && max >= 110.0 && (75.0..=165.0).contains(&h) {
        Some(RegionColor::Green)
    } else {
        None
    }
}

/// Plate-shaped colour regions of `img`, best first. Works for whole scenes and for crops
/// (where the plate may fill the image).
pub fn find_regions(img: &RgbImage) -> Vec<PlateRegion> {
    let (iw, ih) = (img.width(), img.height());
    let scale = (WORK_SIDE as f32 / iw.max(ih) as f32).min(1.0);
    let (w, h) =
        (((iw as f32 * scale).round() as usize).max(1), ((ih as f32 * scale).round() as usize).max(1));
    let small = if scale < 1.0 { imgops::resize(img, w as u32, h as u32) } else { img.clone() };
    let class: Vec<Option<RegionColor>> = small.pixels().map(classify).collect();
    let mut out = Vec::new();
    for color in [RegionColor::Blue, RegionColor::Yellow, RegionColor::Green] {
        let mask: Vec<bool> = class.iter().map(|c| *c == Some(color)).collect();
        // Close horizontally (characters interrupt the background along a row) and a little
        // vertically. The kernel follows the image size: characters of a plate that fills a
        // crop are wider than those of a plate in a scene.
        let kx = (w / 60).clamp(2, 8);
        let mask = close(&mask, w, h, kx, 1);
        for (bb, count) in components(&mask, w, h) {
            let (bw, bh) = ((bb[2] - bb[0] + 1) as f32, (bb[3] - bb[1] + 1) as f32);
            let fill = count as f32 / (bw * bh);
            let aspect = bw / bh;
            // Plates: 440x140 mm single-row (3.1), 440x220 mm two-row (2.0); perspective and a
            // loose crop change this, hence the wide range.
            if !(1.3..=6.5).contains(&aspect) || fill < 0.45 || bh < 4.0 || bw < 12.0 {
                continue;
            }
            // Not a vehicle body or a wall: a plate is a small part of a scene.
            let share = bw * bh / (w * h) as f32;
            let is_crop = iw.max(ih) <= 400;
            // In a scene a plate is also narrow: a camera framing a plate at half the image
            // width is a plate camera's crop, which `is_crop` covers.
            if !is_crop && (share > 0.2 || bw > 0.5 * w as f32) {
                continue;
            }
            let s = 1.0 / scale;
            if bw * s < 30.0 {
                continue; // too small to read
            }
            let bbox = [bb[0] as f32 * s, bb[1] as f32 * s, (bb[2] + 1) as f32 * s, (bb[3] + 1) as f32 * s];
            out.push(PlateRegion { bbox, color, fill });
        }
    }
    out.sort_by(|a, b| likeness(b).total_cmp(&likeness(a)));
    out.truncate(MAX_REGIONS);
    out
}

/// How plate-like a region is: well filled, and shaped like a single-row plate (3.1:1) or
/// close to it (two-row plates are 2:1, a loose crop is squarer).
fn likeness(r: &PlateRegion) -> f32 {
    let aspect = (r.bbox[2] - r.bbox[0]) / (r.bbox[3] - r.bbox[1]).max(1.0);
    r.fill * (-(aspect / 3.1).ln().abs()).exp()
}

/// Morphological closing with a `(2kx+1)x(2ky+1)` rectangle.
fn close(mask: &[bool], w: usize, h: usize, kx: usize, ky: usize) -> Vec<bool> {
    let dil = morph(mask, w, h, kx, ky, true);
    morph(&dil, w, h, kx, ky, false)
}

/// Dilation (`grow`) or erosion, separable: rows then columns, via running counts.
fn morph(mask: &[bool], w: usize, h: usize, kx: usize, ky: usize, grow: bool) -> Vec<bool> {
    let pass = |src: &[bool], len: usize, stride: usize, lines: usize, lstride: usize, k: usize| {
        let mut dst = vec![false; src.len()];
        for l in 0..lines {
            let at = |i: usize| src[l * lstride + i * stride];
            // Prefix counts of set pixels along the line.
            let mut pre = vec![0usize; len + 1];
            for i in 0..len {
                pre[i + 1] = pre[i] + at(i) as usize;
            }
            for i in 0..len {
                let (a, b) = (i.saturating_sub(k), (i + k + 1).min(len));
                let n = pre[b] - pre[a];
                dst[l * lstride + i * stride] = if grow { n > 0 } else { n == b - a };
            }
        }
        dst
    };
    let rows = pass(mask, w, 1, h, w, kx);
    pass(&rows, h, w, w, 1, ky)
}

/// 4-connected components: bounding box `[x0, y0, x1, y1]` (inclusive) and pixel count.
fn components(mask: &[bool], w: usize, h: usize) -> Vec<([usize; 4], usize)> {
    let mut seen = vec![false; mask.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut bb, mut n) = ([usize::MAX, usize::MAX, 0, 0], 0);
        while let Some(i) = stack.pop() {
            n += 1;
            let (x, y) = (i % w, i / w);
            bb = [bb[0].min(x), bb[1].min(y), bb[2].max(x), bb[3].max(y)];
            let mut visit = |j: usize| {
                if mask[j] && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        if n >= 20 {
            out.push((bb, n));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn finds_a_blue_plate_with_white_characters() {
        let mut img = RgbImage::from_pixel(400, 300, Rgb([120, 120, 110]));
        for y in 150..180 {
            for x in 100..200 {
                // White "characters" every 14 px interrupt the blue.
                let ink = (x - 100) % 14 < 6 && (156..174).contains(&y);
                img.put_pixel(x, y, if ink { Rgb([240, 240, 240]) } else { Rgb([20, 60, 190]) });
            }
        }
        let r = find_regions(&img);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].color, RegionColor::Blue);
        let [x0, y0, x1, y1] = r[0].bbox;
        assert!(
            (x0 - 100.0).abs() < 4.0
                && (x1 - 200.0).abs() < 4.0
                && (y0 - 150.0).abs() < 4.0
                && (y1 - 180.0).abs() < 4.0,
            "{r:?}"
        );
    }

    #[test]
    fn a_large_blue_wall_is_not_a_plate() {
        let img =
            RgbImage::from_fn(
                400,
                300,
                |x, _| if x < 300 { Rgb([20, 60, 190]) } else { Rgb([200, 200, 200]) },
            );
        assert!(find_regions(&img).is_empty());
    }
}
