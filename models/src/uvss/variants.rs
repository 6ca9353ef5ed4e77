//! Altered copies of a scan, for the evaluation of conditions the developer pairs lack.
//!
//! Each [`Variant`] imitates one way a real pass differs from its reference: another speed
//! (the whole scan stretched along travel, or the speed changing during the pass), the vehicle
//! elsewhere in the lane, a slight angle, a scanner of another resolution or line rate,
//! another exposure, another JPEG encoder. Travel runs along the image's x (as in the developer
//! pairs and [`super::synth`]). Stretching along travel averages the source over each output
//! line, as a line-scan camera integrates over the travel during one line; resolution changes
//! use a proper area filter, so a lower-resolution scanner is imitated, not an aliased one.
//! [`Variant::forward`] maps a point of the original to the copy, so that the box of a planted
//! object can follow it.

use image::{imageops, Rgb, RgbImage};

/// One alteration of a scan (travel along x).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Variant {
    Identity,
    /// Length along travel times this (a slower pass gives a longer scan).
    Length(f32),
    /// Speed changing during the pass: the local length factor goes from `from` at the start of
    /// the scan to `to` at its end (braking or accelerating over the scanner).
    SpeedRamp {
        from: f32,
        to: f32,
    },
    /// Speed wobbling: local length factor 1 + amplitude * sin(2 pi x / length), one period.
    SpeedWobble(f32),
    /// Vehicle shifted across the lane by this share of the scan's width.
    Lateral(f32),
    /// Turned by this many degrees (counter-clockwise) about the centre, same size.
    Rotate(f32),
    /// Another scanner: pixels across the lane and along travel times these.
    Scanner {
        across: f32,
        along: f32,
    },
    /// Exposure: grey levels times this.
    Gain(f32),
    /// Tone curve 255 * (v / 255)^gamma.
    Gamma(f32),
    /// Re-encoded as JPEG at this quality.
    Jpeg(u8),
    /// These one after the other: a real pass differs in several ways at once (another
    /// scanner is also another exposure).
    Both(&'static [Variant]),
}

impl Variant {
    /// A short label for tables ("len0.75", "rot-2", "res0.5x", ...).
    pub fn name(&self) -> String {
        match *self {
            Variant::Identity => "identity".into(),
            Variant::Length(k) => format!("len{k}"),
            Variant::SpeedRamp { from, to } => format!("ramp{from}-{to}"),
            Variant::SpeedWobble(a) => format!("wobble{a}"),
            Variant::Lateral(s) => format!("lat{s:+}"),
            Variant::Rotate(d) => format!("rot{d:+}"),
            Variant::Scanner { across, along } if across == along => format!("res{across}x"),
            Variant::Scanner { across, along } => format!("scanner{across}x{along}"),
            Variant::Gain(g) => format!("gain{g}"),
            Variant::Gamma(g) => format!("gamma{g}"),
            Variant::Jpeg(q) => format!("jpeg{q}"),
            Variant::Both(vs) => vs.iter().map(Variant::name).collect::<Vec<_>>().join("+"),
        }
    }

    /// The size of the copy of a `w` x `h` original.
    pub fn output_size(&self, w: u32, h: u32) -> (u32, u32) {
        match *self {
            Variant::Length(_) | Variant::SpeedRamp { .. } | Variant::SpeedWobble(_) => {
                (self.travel_edges(w).len() as u32 - 1, h)
            }
            Variant::Scanner { across, along } => {
                (((w as f32 * along).round() as u32).max(8), ((h as f32 * across).round() as u32).max(8))
            }
            Variant::Both(vs) => vs.iter().fold((w, h), |(w, h), v| v.output_size(w, h)),
            _ => (w, h),
        }
    }

    /// The altered copy of `img`.
    pub fn apply(&self, img: &RgbImage) -> RgbImage {
        let (w, h) = (img.width(), img.height());
        match *self {
            Variant::Identity => img.clone(),
            Variant::Length(_) | Variant::SpeedRamp { .. } | Variant::SpeedWobble(_) => {
                along_travel(img, &self.travel_edges(w))
            }
            Variant::Lateral(s) => {
                let d = s * h as f32;
                remap(img, w, h, |x, y| (x, y - d))
            }
            Variant::Rotate(deg) => {
                let (sin, cos) = deg.to_radians().sin_cos();
                let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
                // Inverse rotation of each output pixel into the source.
                remap(img, w, h, |x, y| {
                    let (dx, dy) = (x - cx, y - cy);
                    (cos * dx - sin * dy + cx, sin * dx + cos * dy + cy)
                })
            }
            Variant::Scanner { .. } => {
                let (nw, nh) = self.output_size(w, h);
                imageops::resize(img, nw, nh, imageops::FilterType::Triangle)
            }
            Variant::Gain(g) => tone(img, |v| v * g),
            Variant::Gamma(g) => tone(img, |v| 255.0 * (v / 255.0).powf(g)),
            Variant::Jpeg(q) => {
                let mut bytes = Vec::new();
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, q)
                    .encode_image(img)
                    .expect("JPEG encoding into memory");
                image::load_from_memory(&bytes).expect("own JPEG decodes").to_rgb8()
            }
            Variant::Both(vs) => vs.iter().fold(img.clone(), |img, v| v.apply(&img)),
        }
    }

    /// Where the point (x, y) of a `w` x `h` original lands in the copy.
    pub fn forward(&self, x: f32, y: f32, w: u32, h: u32) -> (f32, f32) {
        match *self {
            Variant::Length(_) | Variant::SpeedRamp { .. } | Variant::SpeedWobble(_) => {
                (travel_positions(self, w, x), y)
            }
            Variant::Lateral(s) => (x, y + s * h as f32),
            Variant::Rotate(deg) => {
                let (sin, cos) = deg.to_radians().sin_cos();
                let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
                let (dx, dy) = (x - cx, y - cy);
                (cos * dx + sin * dy + cx, -sin * dx + cos * dy + cy)
            }
            Variant::Scanner { across, along } => (x * along, y * across),
            Variant::Both(vs) => {
                let mut at = (x, y, w, h);
                for v in vs {
                    let (nx, ny) = v.forward(at.0, at.1, at.2, at.3);
                    let (nw, nh) = v.output_size(at.2, at.3);
                    at = (nx, ny, nw, nh);
                }
                (at.0, at.1)
            }
            _ => (x, y),
        }
    }

    /// A box (x, y, w, h) of the original as the bounding box of its image in the copy.
    pub fn forward_box(&self, b: (u32, u32, u32, u32), w: u32, h: u32) -> (u32, u32, u32, u32) {
        let (x0, y0, x1, y1) = (b.0 as f32, b.1 as f32, (b.0 + b.2) as f32, (b.1 + b.3) as f32);
        let pts = [(x0, y0), (x1, y0), (x0, y1), (x1, y1)].map(|(x, y)| self.forward(x, y, w, h));
        let (ax, ay) = pts.iter().fold((f32::MAX, f32::MAX), |m, p| (m.0.min(p.0), m.1.min(p.1)));
        let (bx, by) = pts.iter().fold((f32::MIN, f32::MIN), |m, p| (m.0.max(p.0), m.1.max(p.1)));
        let (ax, ay) = (ax.max(0.0) as u32, ay.max(0.0) as u32);
        (
            ax,
            ay,
            (bx.max(0.0) as u32).saturating_sub(ax).max(1),
            (by.max(0.0) as u32).saturating_sub(ay).max(1),
        )
    }

    /// Local length factor at relative position u (0..1) of the original's travel axis.
    fn local_length(&self, u: f32) -> f32 {
        match *self {
            Variant::Length(k) => k,
            Variant::SpeedRamp { from, to } => from + (to - from) * u,
            Variant::SpeedWobble(a) => 1.0 + a * (u * std::f32::consts::TAU).sin(),
            _ => 1.0,
        }
    }

    /// Source x of every output column edge (length = output width + 1).
    fn travel_edges(&self, w: u32) -> Vec<f32> {
        // Output position of every source column edge, by integrating the local length.
        let mut out_at = Vec::with_capacity(w as usize + 1);
        let mut acc = 0f32;
        out_at.push(0.0);
        for i in 0..w {
            acc += self.local_length((i as f32 + 0.5) / w as f32);
            out_at.push(acc);
        }
        let n_out = acc.round().max(8.0) as usize;
        // Invert the monotone map: source position of each output edge.
        let mut edges = Vec::with_capacity(n_out + 1);
        let mut j = 0usize;
        for e in 0..=n_out {
            let target = e as f32 * acc / n_out as f32;
            while j + 1 < out_at.len() - 1 && out_at[j + 1] < target {
                j += 1;
            }
            let (a, b) = (out_at[j], out_at[j + 1]);
            edges.push(j as f32 + if b > a { ((target - a) / (b - a)).clamp(0.0, 1.0) } else { 0.0 });
        }
        edges
    }
}

/// Output x of source x under a travel variant (by the same integral as `travel_edges`).
fn travel_positions(v: &Variant, w: u32, x: f32) -> f32 {
    let mut acc = 0f32;
    let whole = x.clamp(0.0, w as f32) as u32;
    for i in 0..whole {
        acc += v.local_length((i as f32 + 0.5) / w as f32);
    }
    acc + (x - whole as f32).max(0.0) * v.local_length((whole as f32 + 0.5) / w as f32)
}

/// Each output column is the source averaged over its span `edges[i]..edges[i + 1]` (area
/// weights where the span covers more than one column, linear interpolation where less).
fn along_travel(img: &RgbImage, edges: &[f32]) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height());
    let n_out = edges.len() - 1;
    let taps: Vec<Vec<(usize, f32)>> = (0..n_out)
        .map(|i| {
            let (a, b) = (edges[i], edges[i + 1].min(w as f32));
            if b - a < 1.0 {
                let c = ((a + b) / 2.0 - 0.5).clamp(0.0, (w - 1) as f32);
                let x0 = c as usize;
                let f = c - x0 as f32;
                return vec![(x0, 1.0 - f), ((x0 + 1).min(w - 1), f)];
            }
            let mut t = Vec::new();
            let mut j = a.floor() as usize;
            while (j as f32) < b && j < w {
                let cover = (b.min(j as f32 + 1.0) - a.max(j as f32)).max(0.0);
                t.push((j, cover / (b - a)));
                j += 1;
            }
            t
        })
        .collect();
    RgbImage::from_fn(n_out as u32, h, |x, y| {
        let mut acc = [0f32; 3];
        for &(j, k) in &taps[x as usize] {
            let p = img.get_pixel(j as u32, y);
            for c in 0..3 {
                acc[c] += p[c] as f32 * k;
            }
        }
        Rgb(acc.map(|v| v.round().clamp(0.0, 255.0) as u8))
    })
}

/// Grey of what a scanner sees beyond the vehicle where the original shows nothing: unlit road.
const ROAD: f32 = 20.0;

/// Bilinear resampling through an inverse map (output pixel centre -> source position). Beyond
/// the source is road: a turned or shifted vehicle uncovers road at the lane's edges, it does
/// not repeat its own border (which would invent structure the reference cannot have).
fn remap(img: &RgbImage, w: u32, h: u32, src: impl Fn(f32, f32) -> (f32, f32)) -> RgbImage {
    let (iw, ih) = (img.width() as i32, img.height() as i32);
    let raw = img.as_raw();
    let px = |x: i32, y: i32, k: usize| {
        if x < 0 || y < 0 || x >= iw || y >= ih {
            ROAD
        } else {
            raw[((y * iw + x) * 3) as usize + k] as f32
        }
    };
    RgbImage::from_fn(w, h, |x, y| {
        let (sx, sy) = src(x as f32 + 0.5, y as f32 + 0.5);
        let v = crate::imgops::bilinear(px, sx - 0.5, sy - 0.5);
        Rgb(v.map(|c| c.round().clamp(0.0, 255.0) as u8))
    })
}

fn tone(img: &RgbImage, f: impl Fn(f32) -> f32) -> RgbImage {
    let lut: Vec<u8> = (0..256).map(|v| f(v as f32).round().clamp(0.0, 255.0) as u8).collect();
    let mut out = img.clone();
    out.iter_mut().for_each(|v| *v = lut[*v as usize]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp_image() -> RgbImage {
        RgbImage::from_fn(200, 40, |x, y| {
            let v = (x + 2 * y) as u8;
            Rgb([v, v, v])
        })
    }

    #[test]
    fn combined_variants_apply_in_order_and_follow_points_through_each() {
        let img = ramp_image();
        let both = Variant::Both(&[Variant::Length(1.3), Variant::Scanner { across: 0.5, along: 0.5 }]);
        let out = both.apply(&img);
        assert_eq!((out.width(), out.height()), (130, 20));
        assert_eq!(both.output_size(200, 40), (130, 20));
        let (x, y) = both.forward(100.0, 10.0, 200, 40);
        assert!((x - 65.0).abs() < 0.5 && (y - 5.0).abs() < 0.01, "{x} {y}");
        assert_eq!(both.name(), "len1.3+res0.5x");
        // Tone after geometry: the same as geometry alone, darkened.
        let darker = Variant::Both(&[Variant::Length(1.3), Variant::Gain(0.5)]).apply(&img);
        let long = Variant::Length(1.3).apply(&img);
        assert!((darker.get_pixel(130, 0)[0] as i32 - long.get_pixel(130, 0)[0] as i32 / 2).abs() <= 1);
    }

    #[test]
    fn travel_stretches_change_the_length_and_follow_points() {
        let img = ramp_image();
        let long = Variant::Length(1.3).apply(&img);
        assert_eq!((long.width(), long.height()), (260, 40));
        let (x, _) = Variant::Length(1.3).forward(100.0, 5.0, 200, 40);
        assert!((x - 130.0).abs() < 0.5, "{x}");
        // The source value near x=100 turns up near x=130 of the copy.
        assert!((long.get_pixel(130, 0)[0] as i32 - 100).abs() <= 1, "{}", long.get_pixel(130, 0)[0]);
        let ramp = Variant::SpeedRamp { from: 0.8, to: 1.2 };
        let r = ramp.apply(&img);
        assert_eq!(r.width(), 200, "mean factor 1");
        // Compressed at the start, stretched at the end: the middle lands a little early.
        let (xm, _) = ramp.forward(100.0, 0.0, 200, 40);
        assert!(xm < 95.0 && xm > 85.0, "{xm}");
        assert!((r.get_pixel(xm.round() as u32, 0)[0] as i32 - 100).abs() <= 2);
        let short = Variant::Length(0.75).apply(&img);
        assert_eq!(short.width(), 150);
    }

    #[test]
    fn geometry_and_tone_variants() {
        let img = ramp_image();
        let lat = Variant::Lateral(0.1).apply(&img);
        assert_eq!(lat.get_pixel(50, 20)[0], img.get_pixel(50, 16)[0]);
        let rot = Variant::Rotate(2.0).apply(&img);
        assert_eq!((rot.width(), rot.height()), (200, 40));
        let (fx, fy) = Variant::Rotate(2.0).forward(150.0, 20.0, 200, 40);
        let back = rot.get_pixel(fx.round() as u32, fy.round() as u32)[0] as i32;
        assert!((back - img.get_pixel(150, 20)[0] as i32).abs() <= 3, "{back}");
        let half = Variant::Scanner { across: 0.5, along: 0.5 }.apply(&img);
        assert_eq!((half.width(), half.height()), (100, 20));
        let big = Variant::Scanner { across: 1.3, along: 5.0 }.apply(&img);
        assert_eq!((big.width(), big.height()), (1000, 52));
        assert_eq!(Variant::Gain(0.5).apply(&img).get_pixel(100, 0)[0], 50);
        assert_eq!(Variant::Gamma(2.0).apply(&img).get_pixel(100, 0)[0], 39);
        let j = Variant::Jpeg(50).apply(&img);
        assert_eq!((j.width(), j.height()), (200, 40));
        assert_eq!(Variant::Scanner { across: 0.5, along: 0.5 }.name(), "res0.5x");
        assert_eq!(Variant::Rotate(-2.0).name(), "rot-2");
    }
}
