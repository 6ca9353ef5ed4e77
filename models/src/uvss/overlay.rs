//! The reviewer's picture: the new scan, greyed so colour means "machine says look here",
//! with the difference as a heat map and the anomaly boxes in red.
//!
//! The heat map lives on the work grid in the reference frame; it is pushed forward into the
//! new scan's frame through the registration (splat, then a 3x3 max to close the holes left
//! where the new scan is stretched), because the reviewer looks at the new scan.

use image::{Rgb, RgbImage};

use super::plane::Plane;
use super::{Comparison, Params};

/// Render the overlay at most `max_side` pixels on its longer side.
pub fn render(new: &RgbImage, c: &Comparison, p: &Params, max_side: u32) -> RgbImage {
    let k = (max_side as f32 / new.width().max(new.height()) as f32).min(1.0);
    let (ow, oh) = (((new.width() as f32 * k) as u32).max(1), ((new.height() as f32 * k) as u32).max(1));
    let mut out = image::imageops::thumbnail(new, ow, oh);
    let heat = match (&c.heat, &c.registration) {
        (Some(h), Some(reg)) => Some(forward(h, reg, new, c.factor, c.travel_is_y)),
        _ => None,
    };
    let (lo, hi) = (p.pixel_threshold * 0.5, p.region_threshold * 1.5);
    let f = c.factor as f32;
    for (ox, oy, px) in out.enumerate_pixels_mut() {
        let g = (0.299 * px[0] as f32 + 0.587 * px[1] as f32 + 0.114 * px[2] as f32) * 0.8;
        let mut rgb = [g, g, g];
        if let Some(h) = &heat {
            let (ix, iy) = (ox as f32 / k, oy as f32 / k);
            let (wx, wy) = if c.travel_is_y { (iy / f, ix / f) } else { (ix / f, iy / f) };
            let (wx, wy) = ((wx as usize).min(h.w - 1), (wy as usize).min(h.h - 1));
            let t = ((h.at(wx, wy) - lo) / (hi - lo)).clamp(0.0, 1.0);
            if t > 0.0 {
                let col = ramp(t);
                let a = 0.25 + 0.45 * t;
                for i in 0..3 {
                    rgb[i] = rgb[i] * (1.0 - a) + col[i] * a;
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
        rect(&mut out, b, thick, Rgb([255, 0, 0]));
    }
    out
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

/// The reference-frame heat map moved into the new scan's work grid.
fn forward(h: &Plane, reg: &super::Registration, new: &RgbImage, f: usize, travel_is_y: bool) -> Plane {
    let (len, cross) = if travel_is_y { (new.height(), new.width()) } else { (new.width(), new.height()) };
    let mut nh = Plane::new((len as usize / f).max(1), (cross as usize / f).max(1));
    for y in 0..h.h {
        for x in 0..h.w {
            let v = h.at(x, y);
            if v <= 0.0 {
                continue;
            }
            let (nx, ny) = reg.locate(x as f32, y as f32);
            let (nx, ny) = (nx.round(), ny.round());
            if nx >= 0.0 && ny >= 0.0 && (nx as usize) < nh.w && (ny as usize) < nh.h {
                let i = ny as usize * nh.w + nx as usize;
                nh.data[i] = nh.data[i].max(v);
            }
        }
    }
    let mut closed = nh.clone();
    for y in 0..nh.h {
        for x in 0..nh.w {
            let mut m = 0f32;
            for yy in y.saturating_sub(1)..(y + 2).min(nh.h) {
                for xx in x.saturating_sub(1)..(x + 2).min(nh.w) {
                    m = m.max(nh.at(xx, yy));
                }
            }
            closed.data[y * nh.w + x] = m;
        }
    }
    closed
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
