//! The classical empty-container check, for an interior image (X-ray transmission scan or a
//! camera photo through the open doors) when no classifier is configured.
//!
//! An empty box is its walls, floor and corrugation only. In an image of it the interior is
//! (a) bright in X-ray (little attenuates the beam) and (b) *separable*: what varies along the
//! box (corrugation, posts) is the same in every row, and what varies across it (roof, floor
//! line, wall panels) is the same in every column, so image ~ row profile + column profile.
//! Cargo breaks both: it attenuates (dark mass) and its edges run in all directions.
//! The two measures, on the central part of the image (frame, chassis and wheels excluded):
//! - `occupied`: share of pixels darker than half the "air" level (98th percentile);
//! - `residual`: mean |I - row mean - column mean + mean| relative to the air level.

use image::RgbImage;

/// The two measurements and the combined loaded-ness in 0..1.
#[derive(Clone, Debug, PartialEq)]
pub struct Measures {
    pub occupied: f32,
    pub residual: f32,
    pub loaded: f32,
}

/// Thresholds of the classical method.
#[derive(Clone, Debug)]
pub struct ClassicalParams {
    /// `occupied` at which loaded-ness starts / is full.
    pub occupied_range: (f32, f32),
    /// `residual` at which loaded-ness starts / is full.
    pub residual_range: (f32, f32),
}

impl Default for ClassicalParams {
    fn default() -> Self {
        ClassicalParams { occupied_range: (0.03, 0.20), residual_range: (0.04, 0.12) }
    }
}

fn ramp(v: f32, (lo, hi): (f32, f32)) -> f32 {
    ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
}

/// Measure an interior image. Works on a copy reduced to at most 512 px on its longer side.
pub fn measure(img: &RgbImage, p: &ClassicalParams) -> Measures {
    let k = (512.0 / img.width().max(img.height()) as f32).min(1.0);
    let (w, h) = (((img.width() as f32 * k) as u32).max(8), ((img.height() as f32 * k) as u32).max(8));
    let small = image::imageops::thumbnail(img, w, h);
    let (w, h) = (w as usize, h as usize);
    let g: Vec<f32> =
        small.pixels().map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32).collect();
    // Central region: ends of the box (doors, front wall) and the chassis strip excluded.
    let (x0, x1, y0, y1) = (w * 8 / 100, w * 92 / 100, h * 10 / 100, h * 80 / 100);
    let (cw, ch) = (x1 - x0, y1 - y0);
    let mut vals: Vec<f32> =
        (y0..y1).flat_map(|y| (x0..x1).map(move |x| (x, y))).map(|(x, y)| g[y * w + x]).collect();
    let mut sorted = vals.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let air = sorted[sorted.len() * 98 / 100].max(1.0);
    let occupied = vals.iter().filter(|v| **v < air * 0.5).count() as f32 / vals.len() as f32;
    vals.iter_mut().for_each(|v| *v /= air);
    let mean = vals.iter().sum::<f32>() / vals.len() as f32;
    let row: Vec<f32> = (0..ch).map(|y| vals[y * cw..(y + 1) * cw].iter().sum::<f32>() / cw as f32).collect();
    let col: Vec<f32> = (0..cw).map(|x| (0..ch).map(|y| vals[y * cw + x]).sum::<f32>() / ch as f32).collect();
    let mut res = 0f32;
    for y in 0..ch {
        for x in 0..cw {
            res += (vals[y * cw + x] - row[y] - col[x] + mean).abs();
        }
    }
    let residual = res / vals.len() as f32;
    let loaded = ramp(occupied, p.occupied_range).max(ramp(residual, p.residual_range));
    Measures { occupied, residual, loaded }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bright box with corrugation (separable) and optionally dark cargo blocks.
    fn interior(cargo: bool) -> RgbImage {
        RgbImage::from_fn(400, 160, |x, y| {
            let mut v = 220.0 - 30.0 * ((x % 20) as f32 / 20.0) - if y > 140 { 100.0 } else { 0.0 };
            if cargo && (60..340).contains(&x) && y > 50 && y < 130 && (x / 40) % 2 == 0 {
                v = 40.0 + (x % 7) as f32 * 5.0;
            }
            image::Rgb([v as u8; 3])
        })
    }

    #[test]
    fn empty_box_is_separable_and_cargo_is_not() {
        let p = ClassicalParams::default();
        let e = measure(&interior(false), &p);
        let l = measure(&interior(true), &p);
        assert!(e.occupied < 0.01 && e.residual < 0.02, "{e:?}");
        assert!(l.occupied > 0.2 && l.residual > e.residual * 3.0, "{l:?}");
        assert!(e.loaded < 0.1 && l.loaded > 0.9);
    }
}
