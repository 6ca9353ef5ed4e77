//! The reviewer's picture: the reference warped onto the new scan's geometry, next to the new
//! scan with the difference as a heat map and the anomaly boxes in red.
//!
//! A reviewer asks "what is there now that was not there before?". Two scans side by side do
//! not answer it when one pass was faster, further left or from another scanner: the same
//! bracket sits at different places in each. So the reference is resampled through the
//! registration into the new scan's frame; a part that did not move is then at the same spot in
//! both panels and what changed stands out when the eye goes from one to the other. The panels
//! are stacked across the travel axis (one above the other for scans that run along x), the
//! warped reference first. Both are greyed alike so that colour means "the machine says look
//! here"; the boxes are drawn in both panels.
//!
//! Every output pixel is traced back to the reference's work grid by inverting the
//! registration (a few fixed-point steps; the mapping is a smooth, monotone stretch), and the
//! heat map and the reference's pixels are read there: no holes where the new scan is longer.

use image::{imageops, Rgb, RgbImage};

use super::geometry::Geometry;
use super::plane::LUMA;
use super::register::{lin, Registration};
use super::{Comparison, Params};

/// Grey of the warped reference where it has no data (the new scan shows more of the lane).
const NO_DATA: u8 = 32;
/// Gap between the two panels, pixels.
const GAP: u32 = 6;

/// Render the overlay at most `max_side` pixels on its longer side. Without a registration
/// (the comparison stopped early) or a reference it is the new scan alone, greyed.
pub fn render(
    reference: Option<&RgbImage>,
    new: &RgbImage,
    c: &Comparison,
    p: &Params,
    max_side: u32,
) -> RgbImage {
    let travel_is_y = c.geometry.map_or(new.height() > new.width(), |g| g.new.travel_is_y);
    // Panel size: the two panels and the gap share `max_side` along the stacking axis.
    let (w, h) = (new.width() as f32, new.height() as f32);
    let (long, stack) = if travel_is_y { (h, 2.0 * w) } else { (w, 2.0 * h) };
    let k = (max_side.saturating_sub(GAP) as f32 / long.max(stack)).min(1.0);
    let (pw, ph) = (((w * k) as u32).max(1), ((h * k) as u32).max(1));
    let mut probe = imageops::thumbnail(new, pw, ph);
    let mut warped = RgbImage::from_pixel(pw, ph, Rgb([NO_DATA; 3]));
    let trace = match (&c.registration, &c.geometry) {
        (Some(reg), Some(geo)) => Some(Trace::new(reg, geo)),
        _ => None,
    };
    let reference_thumb = trace.as_ref().zip(reference).map(|(t, r)| t.thumbnail(r, k));
    let (lo, hi) = (p.pixel_threshold * 0.5, p.region_threshold * 1.5);
    for (ox, oy, px) in probe.enumerate_pixels_mut() {
        let mut rgb = grey(px);
        if let Some(t) = &trace {
            let (ix, iy) = ((ox as f32 + 0.5) / k, (oy as f32 + 0.5) / k);
            let (rx, ry) = t.reference_work(ix, iy);
            if let Some(heat) = &c.heat {
                let v = heat.sample(rx - 0.5, ry - 0.5).unwrap_or(0.0);
                let a = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
                if a > 0.0 {
                    let col = ramp(a);
                    let alpha = 0.25 + 0.45 * a;
                    for i in 0..3 {
                        rgb[i] = rgb[i] * (1.0 - alpha) + col[i] * alpha;
                    }
                }
            }
            if let Some((thumb, sx, sy)) = &reference_thumb {
                let (fx, fy) = t.geo.reference.to_image(rx, ry);
                if let Some(v) = sample(thumb, fx * sx, fy * sy) {
                    warped.put_pixel(ox, oy, Rgb([(v * 0.8) as u8; 3]));
                }
            }
        }
        *px = Rgb(rgb.map(|v| v.clamp(0.0, 255.0) as u8));
    }
    let thick = ((max_side / 1000).max(2)) as i64;
    for r in &c.regions {
        let b = [
            (r.x as f32 * k) as i64,
            (r.y as f32 * k) as i64,
            ((r.x + r.w) as f32 * k) as i64,
            ((r.y + r.h) as f32 * k) as i64,
        ];
        rect(&mut probe, b, thick, Rgb([255, 0, 0]));
        rect(&mut warped, b, thick, Rgb([255, 0, 0]));
    }
    if trace.is_none() || reference_thumb.is_none() {
        return probe;
    }
    let (ow, oh) = if travel_is_y { (2 * pw + GAP, ph) } else { (pw, 2 * ph + GAP) };
    let mut out = RgbImage::from_pixel(ow, oh, Rgb([255, 255, 255]));
    let (dx, dy) = if travel_is_y { (pw + GAP, 0) } else { (0, ph + GAP) };
    imageops::replace(&mut out, &warped, 0, 0);
    imageops::replace(&mut out, &probe, dx as i64, dy as i64);
    out
}

fn grey(px: &Rgb<u8>) -> [f32; 3] {
    let g = luma(px) * 0.8;
    [g, g, g]
}

fn luma(p: &Rgb<u8>) -> f32 {
    LUMA[0] * p[0] as f32 + LUMA[1] * p[1] as f32 + LUMA[2] * p[2] as f32
}

/// Grey (luma) of `img` at a pixel-edge position, bilinear; `None` outside.
fn sample(img: &RgbImage, x: f32, y: f32) -> Option<f32> {
    let (x, y) = (x - 0.5, y - 0.5);
    let (w, h) = (img.width() as f32, img.height() as f32);
    if !(x >= -0.5 && y >= -0.5 && x <= w - 0.5 && y <= h - 0.5) {
        return None;
    }
    let (x, y) = (x.clamp(0.0, w - 1.0), y.clamp(0.0, h - 1.0));
    let (x0, y0) = (x as u32, y as u32);
    let (x1, y1) = ((x0 + 1).min(img.width() - 1), (y0 + 1).min(img.height() - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let g = |x: u32, y: u32| luma(img.get_pixel(x, y));
    let top = g(x0, y0) + (g(x1, y0) - g(x0, y0)) * fx;
    let bot = g(x0, y1) + (g(x1, y1) - g(x0, y1)) * fx;
    Some(top + (bot - top) * fy)
}

/// The inverse of the registration: from a pixel of the new scan to the reference's work grid.
struct Trace<'a> {
    reg: &'a Registration,
    geo: &'a Geometry,
    /// Reference work x for each new work x (inverse of the monotone travel map).
    inv_x: Vec<f32>,
}

impl<'a> Trace<'a> {
    fn new(reg: &'a Registration, geo: &'a Geometry) -> Trace<'a> {
        let m = &reg.map_x;
        let mut inv_x = Vec::with_capacity(geo.new.len);
        let mut j = 0usize;
        for tx in 0..geo.new.len {
            let t = tx as f32;
            while j + 2 < m.len() && m[j + 1] < t {
                j += 1;
            }
            let (a, b) = (m[j], m[(j + 1).min(m.len() - 1)]);
            let f = if b > a { (t - a) / (b - a) } else { 0.0 };
            inv_x.push(j as f32 + f.clamp(-4.0, 4.0));
        }
        Trace { reg, geo, inv_x }
    }

    /// Reference work position (pixel edges) of the new scan's image position (ix, iy).
    fn reference_work(&self, ix: f32, iy: f32) -> (f32, f32) {
        let (tx, ty) = self.geo.new.to_work(ix, iy);
        // Locate works on pixel centres; start from the inverse travel map and the global
        // cross mapping, then correct by what locate says is left (the block residuals).
        let (tcx, tcy) = (tx - 0.5, ty - 0.5);
        let mut x = lin(&self.inv_x, tcx.clamp(0.0, (self.inv_x.len() - 1) as f32)).unwrap_or(0.0);
        let my = lin(&self.reg.map_y, x.clamp(0.0, (self.reg.map_y.len() - 1) as f32)).unwrap_or(0.0);
        let sy = self.reg.cross_scale;
        let mut y = (tcy - my) / sy;
        let sx = self.reg.scale.max(0.1);
        for _ in 0..3 {
            let (lx, ly) = self.reg.locate(x, y);
            x += (tcx - lx) / sx;
            y += (tcy - ly) / sy;
        }
        (x + 0.5, y + 0.5)
    }

    /// The reference reduced to about the overlay's scale (no aliasing when sampled), with the
    /// factors from reference image pixels to its pixels.
    fn thumbnail(&self, reference: &RgbImage, k: f32) -> (RgbImage, f32, f32) {
        let g = &self.geo;
        // Reference image pixels per overlay pixel, along travel and across.
        let along = g.reference.along / (k * g.new.along * self.reg.scale.max(0.1));
        let across = g.reference.across / (k * g.new.across * self.reg.cross_scale);
        let (sx, sy) = if g.reference.travel_is_y { (across, along) } else { (along, across) };
        let (sx, sy) = (sx.max(1.0), sy.max(1.0));
        let (w, h) = (
            ((reference.width() as f32 / sx) as u32).max(1),
            ((reference.height() as f32 / sy) as u32).max(1),
        );
        let thumb = imageops::thumbnail(reference, w, h);
        (thumb, w as f32 / reference.width() as f32, h as f32 / reference.height() as f32)
    }
}

/// Blue -> yellow -> red.
fn ramp(t: f32) -> [f32; 3] {
    if t < 0.5 {
        let u = t * 2.0;
        [255.0 * u, 255.0 * u, 255.0 * (1.0 - u)]
    } else {
        let u = (t - 0.5) * 2.0;
        [255.0, 255.0 * (1.0 - u), 0.0]
    }
}

fn rect(img: &mut RgbImage, b: [i64; 4], t: i64, c: Rgb<u8>) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let mut put = |x: i64, y: i64| {
        if x >= 0 && y >= 0 && x < w && y < h {
            img.put_pixel(x as u32, y as u32, c);
        }
    };
    for d in 0..t {
        for x in b[0] - t..=b[2] + t {
            put(x, b[1] - 1 - d);
            put(x, b[3] + d);
        }
        for y in b[1] - t..=b[3] + t {
            put(b[0] - 1 - d, y);
            put(b[2] + d, y);
        }
    }
}
