//! Plates and container codes placed into camera frames.

use image::{Rgb, RgbImage};

use super::text::{draw, width, Fonts};
use crate::imgops::{self, Quad};
use crate::uvss::synth::Rng;

/// Frame size of the simulated lane cameras.
pub const FRAME: (u32, u32) = (1280, 720);

/// How a camera sees the scene this time: framing, focus, light, noise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Look {
    pub seed: u64,
    /// In-plane rotation of the text, degrees.
    pub tilt_deg: f32,
    /// Horizontal perspective: the far edge's height relative to the near one's.
    pub skew: f32,
    /// Gaussian defocus, pixels.
    pub blur: f32,
    /// Overall gain, 1 = as rendered.
    pub gain: f32,
    /// Amplitude of uniform sensor noise, 0..255 units.
    pub noise: f32,
    /// Scale of the text relative to the nominal size.
    pub scale: f32,
}

impl Look {
    /// A random look for `seed`; `quality` 1 is a well-lit, sharp view, lower values add
    /// defocus, noise and dimness (a simulated vehicle with a poor view).
    pub fn random(seed: u64, quality: f32) -> Look {
        let mut r = Rng::new(seed);
        let q = quality.clamp(0.0, 1.0);
        Look {
            seed,
            tilt_deg: r.range(-3.0, 3.0),
            skew: r.range(0.92, 1.0),
            blur: r.range(0.2, 0.8) + 2.5 * (1.0 - q),
            gain: r.range(0.75, 1.15) * (0.55 + 0.45 * q),
            noise: r.range(0.0, 5.0) + 20.0 * (1.0 - q),
            scale: r.range(0.85, 1.15),
        }
    }
}

/// A flat plate, 140 px high: blue with white characters for 7-character plates (yellow with
/// black ones for trailer plates, `挂`), the green-to-white gradient with black characters of
/// new-energy plates for 8 characters.
pub fn plate_image(fonts: &Fonts, text: &str) -> RgbImage {
    let chars: Vec<char> = text.chars().collect();
    let eight = chars.len() == 8;
    let (w, h) = (if eight { 480 } else { 440 }, 140u32);
    let yellow = chars.last() == Some(&'挂');
    let (fg, border) = if eight || yellow {
        (Rgb([20, 20, 20]), Rgb([30, 30, 30]))
    } else {
        (Rgb([245, 245, 245]), Rgb([235, 235, 235]))
    };
    let mut img = RgbImage::from_fn(w, h, |_, y| {
        if eight {
            let t = y as f32 / h as f32;
            Rgb([(120.0 + 115.0 * t) as u8, (215.0 + 30.0 * t) as u8, (140.0 + 95.0 * t) as u8])
        } else if yellow {
            Rgb([230, 190, 25])
        } else {
            Rgb([20, 62, 190])
        }
    });
    for (x, y) in (0..w).flat_map(|x| (0..h).map(move |y| (x, y))) {
        if !(5..w - 5).contains(&x) || !(5..h - 5).contains(&y) {
            img.put_pixel(x, y, border);
        }
    }
    // GA 36 slots: 45x90 mm characters 12 mm apart, a wider gap (with a dot) after the second.
    // Each character is drawn on its own and squeezed into its slot, as plate lettering is.
    let slot = if eight { 43.0 } else { 45.0 };
    let gap = if eight { 9.0 } else { 12.0 };
    let mut x = 15.0;
    for (i, c) in chars.iter().enumerate() {
        let glyph = glyph_mask(fonts, *c);
        let cell = image::imageops::resize(&glyph, slot as u32, 90, image::imageops::FilterType::Triangle);
        blend(&mut img, &cell, x as u32, 25, fg);
        x += slot + gap;
        if i == 1 {
            let (cx, cy) = ((x - gap / 2.0 + 6.0) as u32, h / 2);
            for (dx, dy) in (0..6).flat_map(|dx| (0..6).map(move |dy| (dx, dy))) {
                img.put_pixel(cx + dx - 3, cy + dy - 3, fg);
            }
            x += 22.0;
        }
    }
    img
}

/// One character's coverage, cropped to its ink: Han characters from the Han font, Latin ones
/// from the condensed bold.
fn glyph_mask(fonts: &Fonts, c: char) -> image::GrayImage {
    let f = if c.is_ascii() { &fonts.condensed } else { &fonts.han };
    let px = 120.0;
    let mut canvas = RgbImage::new((width(f, &c.to_string(), px) + 8.0) as u32, (px * 1.3) as u32);
    draw(&mut canvas, f, &c.to_string(), 4.0, 0.0, px, Rgb([255, 255, 255]));
    let ink: Vec<(u32, u32)> =
        canvas.enumerate_pixels().filter(|p| p.2[0] > 40).map(|p| (p.0, p.1)).collect();
    let (x0, x1) = (ink.iter().map(|p| p.0).min().unwrap_or(0), ink.iter().map(|p| p.0).max().unwrap_or(1));
    let (y0, y1) = (ink.iter().map(|p| p.1).min().unwrap_or(0), ink.iter().map(|p| p.1).max().unwrap_or(1));
    image::GrayImage::from_fn(x1 - x0 + 1, y1 - y0 + 1, |x, y| {
        image::Luma([canvas.get_pixel(x0 + x, y0 + y)[0]])
    })
}

/// Paint `color` into `img` at (x, y) with `mask` as coverage.
fn blend(img: &mut RgbImage, mask: &image::GrayImage, x: u32, y: u32, color: Rgb<u8>) {
    for (mx, my, m) in mask.enumerate_pixels() {
        let (px, py) = (x + mx, y + my);
        if px < img.width() && py < img.height() {
            let a = m[0] as f32 / 255.0;
            let p = img.get_pixel_mut(px, py);
            for k in 0..3 {
                p[k] = (p[k] as f32 * (1.0 - a) + color[k] as f32 * a) as u8;
            }
        }
    }
}

/// A plate camera's frame of a vehicle front with `plate`.
pub fn plate_scene(fonts: &Fonts, plate: &str, look: &Look) -> RgbImage {
    let mut r = Rng::new(look.seed ^ 0x5EED);
    let (fw, fh) = FRAME;
    let body = [r.range(40.0, 220.0), r.range(40.0, 220.0), r.range(40.0, 220.0)];
    let mut img = RgbImage::from_fn(fw, fh, |x, y| {
        let (xf, yf) = (x as f32 / fw as f32, y as f32 / fh as f32);
        if yf > 0.9 {
            return Rgb([70, 72, 75]); // road
        }
        let shade = 0.8 + 0.3 * (1.0 - yf);
        let grille = (0.3..0.7).contains(&xf) && (0.35..0.6).contains(&yf);
        if grille {
            let bar = (y / 9) % 2 == 0;
            return if bar { Rgb([25, 25, 28]) } else { Rgb([55, 55, 60]) };
        }
        let lamp = (0.08..0.22).contains(&xf) || (0.78..0.92).contains(&xf);
        if lamp && (0.4..0.5).contains(&yf) {
            return Rgb([235, 235, 220]);
        }
        Rgb(body.map(|c| (c * shade).min(255.0) as u8))
    });
    let flat = plate_image(fonts, plate);
    let pw = 230.0 * look.scale;
    let ph = pw * flat.height() as f32 / flat.width() as f32;
    let (cx, cy) = (fw as f32 / 2.0 + r.range(-90.0, 90.0), fh as f32 * 0.72 + r.range(-25.0, 25.0));
    paste(&mut img, &flat, &placed(cx, cy, pw, ph, look));
    finish(img, look)
}

/// A container camera's frame: one container side per code (two boxes side by side for two),
/// each with its code painted on one line, the check digit framed, and a size/type code below.
pub fn container_scene(fonts: &Fonts, codes: &[String], look: &Look) -> RgbImage {
    let mut r = Rng::new(look.seed ^ 0xC0DE);
    let (fw, fh) = FRAME;
    let n = codes.len().max(1) as u32;
    let palette = [
        [150.0, 32.0, 30.0],
        [30.0, 72.0, 150.0],
        [120.0, 122.0, 125.0],
        [40.0, 100.0, 62.0],
        [200.0, 110.0, 30.0],
    ];
    let colors: Vec<[f32; 3]> =
        (0..n).map(|_| palette[(r.next_u64() % palette.len() as u64) as usize]).collect();
    let mut img = RgbImage::from_fn(fw, fh, |x, y| {
        let k = (x * n / fw) as usize;
        let seam = (x * n) % fw < 6 * n;
        let ridge = 0.85 + 0.15 * ((x as f32 / 14.0).sin() * 0.5 + 0.5);
        let c = colors[k];
        if seam || y < 12 || y > fh - 12 {
            return Rgb([35, 35, 35]);
        }
        Rgb(c.map(|v| (v * ridge) as u8))
    });
    for (k, code) in codes.iter().enumerate() {
        let px = 60.0 * look.scale;
        let (owner, serial, check) = (&code[..4], &code[4..10], &code[10..]);
        let text = format!("{owner} {serial}");
        let tw = width(&fonts.latin, &text, px) + 1.4 * px;
        let th = px * 1.2;
        // The painted code, rendered flat as white on black (coverage), then painted in place.
        let mut patch = RgbImage::new((tw + 0.4 * px) as u32, (2.2 * th) as u32);
        let white = Rgb([255, 255, 255]);
        let adv = draw(&mut patch, &fonts.latin, &text, 0.2 * px, 0.1 * px, px, white);
        // The check digit in its box, with a margin inside as painted codes have.
        let bx = 0.2 * px + adv + 0.2 * px;
        let (box_w, digit_w) = (0.9 * px, width(&fonts.latin, check, px));
        draw(&mut patch, &fonts.latin, check, bx + (box_w - digit_w) / 2.0, 0.1 * px, px, white);
        frame(&mut patch, bx, 0.08 * px, box_w, 1.12 * px, white);
        let st = if r.range(0.0, 1.0) < 0.5 { "22G1" } else { "45G1" };
        draw(&mut patch, &fonts.latin, st, 0.2 * px + 0.3 * tw, 1.3 * th, px * 0.9, white);
        let slot = fw as f32 / n as f32;
        let cx = slot * (k as f32 + 0.5) + r.range(-0.08, 0.08) * slot;
        let cy = fh as f32 * r.range(0.25, 0.45);
        let w = patch.width() as f32;
        let w = w.min(0.92 * slot);
        let h = w * patch.height() as f32 / patch.width() as f32;
        paint(&mut img, &patch, &placed(cx, cy, w, h, look), Rgb([236, 236, 232]));
    }
    finish(img, look)
}

fn frame(img: &mut RgbImage, x: f32, y: f32, w: f32, h: f32, c: Rgb<u8>) {
    let (x0, y0, x1, y1) = (x as u32, y as u32, (x + w) as u32, (y + h) as u32);
    for xx in x0..=x1.min(img.width() - 1) {
        for t in 0..3 {
            img.put_pixel(xx, (y0 + t).min(img.height() - 1), c);
            img.put_pixel(xx, y1.saturating_sub(t).min(img.height() - 1), c);
        }
    }
    for yy in y0..=y1.min(img.height() - 1) {
        for t in 0..3 {
            img.put_pixel((x0 + t).min(img.width() - 1), yy, c);
            img.put_pixel(x1.saturating_sub(t).min(img.width() - 1), yy, c);
        }
    }
}

/// The quad a `w`x`h` rectangle centred at (cx, cy) occupies under the look's tilt and skew.
fn placed(cx: f32, cy: f32, w: f32, h: f32, look: &Look) -> Quad {
    let (s, c) = look.tilt_deg.to_radians().sin_cos();
    let far = h * look.skew;
    let corners = [[-w / 2.0, -far / 2.0], [w / 2.0, -h / 2.0], [w / 2.0, h / 2.0], [-w / 2.0, far / 2.0]];
    corners.map(|[x, y]| [cx + x * c - y * s, cy + x * s + y * c])
}

/// Draw `src` into `dst` so that its corners land on `quad` (inverse perspective mapping).
fn paste(dst: &mut RgbImage, src: &RgbImage, quad: &Quad) {
    warp(dst, src, quad, |_, p| p);
}

/// Paint `color` into `dst` where the warped `coverage` (its red channel) is lit: paint on a
/// container's corrugated side keeps the side's shading around it.
fn paint(dst: &mut RgbImage, coverage: &RgbImage, quad: &Quad, color: Rgb<u8>) {
    warp(dst, coverage, quad, |under, c| {
        let a = c[0] / 255.0;
        [0, 1, 2].map(|k| under[k] * (1.0 - a) + color[k] as f32 * a)
    });
}

/// For every pixel of `dst` inside `quad`, combine what is there with `src` sampled at the
/// corresponding point.
fn warp(dst: &mut RgbImage, src: &RgbImage, quad: &Quad, combine: impl Fn([f32; 3], [f32; 3]) -> [f32; 3]) {
    let m = imgops::homography_unit_to_quad(quad);
    let Some(inv) = invert([m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], 1.0]) else { return };
    let xs = quad.map(|p| p[0]);
    let ys = quad.map(|p| p[1]);
    let lo = |v: [f32; 4]| v.iter().copied().fold(f32::MAX, f32::min).max(0.0) as u32;
    let hi = |v: [f32; 4], max: u32| (v.iter().copied().fold(f32::MIN, f32::max).ceil() as u32).min(max);
    let (sw, sh) = (src.width() as f32, src.height() as f32);
    for y in lo(ys)..hi(ys, dst.height()) {
        for x in lo(xs)..hi(xs, dst.width()) {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let d = inv[6] * px + inv[7] * py + inv[8];
            let u = (inv[0] * px + inv[1] * py + inv[2]) / d;
            let v = (inv[3] * px + inv[4] * py + inv[5]) / d;
            if (0.0..1.0).contains(&u) && (0.0..1.0).contains(&v) {
                let s = imgops::sample(src, u * sw - 0.5, v * sh - 0.5);
                let under = dst.get_pixel(x, y).0.map(|c| c as f32);
                dst.put_pixel(x, y, Rgb(combine(under, s).map(|c| c.clamp(0.0, 255.0) as u8)));
            }
        }
    }
}

fn invert(m: [f32; 9]) -> Option<[f32; 9]> {
    let [a, b, c, d, e, f, g, h, i] = m;
    let det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
    if det.abs() < 1e-12 {
        return None;
    }
    let adj = [
        e * i - f * h,
        c * h - b * i,
        b * f - c * e,
        f * g - d * i,
        a * i - c * g,
        c * d - a * f,
        d * h - e * g,
        b * g - a * h,
        a * e - b * d,
    ];
    Some(adj.map(|v| v / det))
}

/// The camera: defocus, light and noise.
fn finish(img: RgbImage, look: &Look) -> RgbImage {
    let mut img = if look.blur > 0.05 { image::imageops::blur(&img, look.blur) } else { img };
    let mut r = Rng::new(look.seed ^ 0x0015E);
    let w = img.width() as f32;
    for (x, _, p) in img.enumerate_pixels_mut() {
        // Light falls off towards one side.
        let gain = look.gain * (1.0 - 0.2 * (x as f32 / w));
        let n = look.noise * (r.range(-1.0, 1.0));
        for k in 0..3 {
            p[k] = (p[k] as f32 * gain + n).clamp(0.0, 255.0) as u8;
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inverse_maps_back() {
        let q: Quad = [[10.0, 20.0], [110.0, 25.0], [105.0, 60.0], [12.0, 55.0]];
        let m = imgops::homography_unit_to_quad(&q);
        let inv = invert([m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], 1.0]).unwrap();
        let (x, y) = (110.0f32, 25.0f32);
        let d = inv[6] * x + inv[7] * y + inv[8];
        let (u, v) = ((inv[0] * x + inv[1] * y + inv[2]) / d, (inv[3] * x + inv[4] * y + inv[5]) / d);
        assert!((u - 1.0).abs() < 1e-3 && v.abs() < 1e-3, "{u} {v}");
    }

    #[test]
    fn a_look_is_the_same_for_the_same_seed_and_poorer_with_lower_quality() {
        assert_eq!(Look::random(7, 1.0), Look::random(7, 1.0));
        let (good, poor) = (Look::random(7, 1.0), Look::random(7, 0.2));
        assert!(poor.blur > good.blur && poor.noise > good.noise && poor.gain < good.gain);
    }

    #[test]
    fn scenes_render_when_the_fonts_are_installed() {
        let Ok(fonts) = Fonts::system() else {
            eprintln!("skipping: fonts not installed (scripts/setup)");
            return;
        };
        let look = Look::random(3, 1.0);
        let p = plate_scene(&fonts, "沪A12345", &look);
        assert_eq!((p.width(), p.height()), FRAME);
        let c = container_scene(&fonts, &["CSQU3054383".into(), "TRHU1700369".into()], &look);
        assert_eq!((c.width(), c.height()), FRAME);
        // The plate is blue with white characters: some pixels of each.
        let flat = plate_image(&fonts, "沪A12345");
        assert!(
            flat.pixels().any(|p| p[2] > 150 && p[0] < 60) && flat.pixels().any(|p| p[0] > 230 && p[2] > 230)
        );
    }
}
