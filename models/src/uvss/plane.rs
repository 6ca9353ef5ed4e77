//! A grey float image with the travel axis along x, and the few whole-image passes the
//! comparison needs (area downsampling, box means through integral images).
//!
//! Everything downstream works on a reduced "work" grid: a 2048 x 12000 scan becomes about
//! 400 x 2400, which keeps one comparison well under a second on the 2-core lane PC while
//! a package-sized object still covers dozens of work pixels.

use image::RgbImage;

/// Row-major grey plane; `w` runs along the travel axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Plane {
    pub w: usize,
    pub h: usize,
    pub data: Vec<f32>,
}

impl Plane {
    pub fn new(w: usize, h: usize) -> Plane {
        Plane { w, h, data: vec![0.0; w * h] }
    }

    #[inline]
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.w + x]
    }

    /// Bilinear sample; outside the plane returns `None` so callers can mask it.
    #[inline]
    pub fn sample(&self, x: f32, y: f32) -> Option<f32> {
        if !(x >= 0.0 && y >= 0.0 && x <= (self.w - 1) as f32 && y <= (self.h - 1) as f32) {
            return None;
        }
        let (x0, y0) = (x as usize, y as usize);
        let (x1, y1) = ((x0 + 1).min(self.w - 1), (y0 + 1).min(self.h - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let top = self.at(x0, y0) + (self.at(x1, y0) - self.at(x0, y0)) * fx;
        let bot = self.at(x0, y1) + (self.at(x1, y1) - self.at(x0, y1)) * fx;
        Some(top + (bot - top) * fy)
    }

    /// Area-average `img` by `factor` into luma, transposing when the travel axis is the
    /// image's y so that travel always runs along x here.
    pub fn from_rgb(img: &RgbImage, factor: usize, travel_is_y: bool) -> Plane {
        let f = factor.max(1);
        let (iw, ih) = (img.width() as usize, img.height() as usize);
        let (ow, oh) = (iw / f, ih / f);
        let raw = img.as_raw();
        // Accumulate one output row of the source at a time: reads stay sequential.
        let mut sums = vec![0u32; ow];
        let mut out = Plane::new(if travel_is_y { oh } else { ow }, if travel_is_y { ow } else { oh });
        let norm = 1.0 / (f * f) as f32 / 1000.0;
        for oy in 0..oh {
            sums.iter_mut().for_each(|s| *s = 0);
            for sy in oy * f..oy * f + f {
                let row = &raw[sy * iw * 3..sy * iw * 3 + ow * f * 3];
                for (ox, s) in sums.iter_mut().enumerate() {
                    let px = &row[ox * f * 3..(ox + 1) * f * 3];
                    let mut acc = 0u32;
                    for p in px.chunks_exact(3) {
                        // Rec. 601 luma in integer thousandths.
                        acc += 299 * p[0] as u32 + 587 * p[1] as u32 + 114 * p[2] as u32;
                    }
                    *s += acc;
                }
            }
            for (ox, s) in sums.iter().enumerate() {
                let v = *s as f32 * norm;
                if travel_is_y {
                    out.data[ox * out.w + oy] = v;
                } else {
                    out.data[oy * out.w + ox] = v;
                }
            }
        }
        out
    }

    /// Like [`Plane::from_rgb`], but also returns two colour-difference planes, `B - Y` and
    /// `R - Y` in grey levels (0 for anything grey: steel, rubber, road grime). Planted objects
    /// are often coloured (orange, blue, white-and-red packs) on a grey underside, where a
    /// grey-only comparison sees little contrast.
    pub fn from_rgb_colour(img: &RgbImage, factor: usize, travel_is_y: bool) -> [Plane; 3] {
        let f = factor.max(1);
        let (iw, ih) = (img.width() as usize, img.height() as usize);
        let (ow, oh) = (iw / f, ih / f);
        let raw = img.as_raw();
        let mut sums = vec![[0u32; 3]; ow];
        let (pw, ph) = if travel_is_y { (oh, ow) } else { (ow, oh) };
        let mut out = [Plane::new(pw, ph), Plane::new(pw, ph), Plane::new(pw, ph)];
        let norm = 1.0 / (f * f) as f32;
        for oy in 0..oh {
            sums.iter_mut().for_each(|s| *s = [0; 3]);
            for sy in oy * f..oy * f + f {
                let row = &raw[sy * iw * 3..sy * iw * 3 + ow * f * 3];
                for (ox, s) in sums.iter_mut().enumerate() {
                    for p in row[ox * f * 3..(ox + 1) * f * 3].chunks_exact(3) {
                        s[0] += p[0] as u32;
                        s[1] += p[1] as u32;
                        s[2] += p[2] as u32;
                    }
                }
            }
            for (ox, s) in sums.iter().enumerate() {
                let (r, g, b) = (s[0] as f32 * norm, s[1] as f32 * norm, s[2] as f32 * norm);
                let y = 0.299 * r + 0.587 * g + 0.114 * b;
                let i = if travel_is_y { ox * pw + oy } else { oy * pw + ox };
                out[0].data[i] = y;
                out[1].data[i] = b - y;
                out[2].data[i] = r - y;
            }
        }
        out
    }

    /// Area-average by `k` (NaN, meaning no data, propagates).
    pub fn shrink(&self, k: usize) -> Plane {
        let k = k.max(1);
        if k == 1 {
            return self.clone();
        }
        let mut out = Plane::new((self.w / k).max(1), (self.h / k).max(1));
        let inv = 1.0 / (k * k) as f32;
        for y in 0..out.h {
            for x in 0..out.w {
                let mut s = 0f32;
                for yy in y * k..((y + 1) * k).min(self.h) {
                    for xx in x * k..((x + 1) * k).min(self.w) {
                        s += self.data[yy * self.w + xx];
                    }
                }
                out.data[y * out.w + x] = s * inv;
            }
        }
        out
    }

    /// Box mean over a (2r+1)^2 window (clipped at the borders), via an integral image.
    pub fn box_mean(&self, r: usize) -> Plane {
        let (w, h) = (self.w, self.h);
        let iw = w + 1;
        let mut ii = vec![0f64; iw * (h + 1)];
        for y in 0..h {
            let mut run = 0f64;
            for x in 0..w {
                run += self.data[y * w + x] as f64;
                ii[(y + 1) * iw + x + 1] = ii[y * iw + x + 1] + run;
            }
        }
        let mut out = Plane::new(w, h);
        for y in 0..h {
            let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
            for x in 0..w {
                let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
                let s = ii[y1 * iw + x1] - ii[y0 * iw + x1] - ii[y1 * iw + x0] + ii[y0 * iw + x0];
                out.data[y * w + x] = (s / ((y1 - y0) * (x1 - x0)) as f64) as f32;
            }
        }
        out
    }

    /// Lighting normalisation: subtract the local mean over a (2r+1)^2 window, then divide by
    /// the image-wide mean absolute deviation (plus `floor` grey levels).
    ///
    /// Two passes of the same scanner differ in exposure, lamp ageing and dirt on the window:
    /// slowly varying offsets and an overall gain, which this removes. Dividing by a *local*
    /// deviation instead would also cancel the contrast of an object lying in a busy area (a
    /// dark box beside a bright rail), which is exactly what must survive; and the window must
    /// be larger than the objects sought, or their inside is flattened to zero.
    pub fn normalise(&self, r: usize, floor: f32) -> Plane {
        self.normalise_gain(r, floor).0
    }

    /// [`Plane::normalise`], also returning the gain it applied (1 / (MAD + floor)), so that
    /// other channels of the same image can be put on the same scale.
    pub fn normalise_gain(&self, r: usize, floor: f32) -> (Plane, f32) {
        let mean = self.box_mean(r);
        let mut data: Vec<f32> = self.data.iter().zip(&mean.data).map(|(v, m)| v - m).collect();
        let mad = data.iter().map(|v| v.abs() as f64).sum::<f64>() / data.len().max(1) as f64;
        let k = 1.0 / (mad as f32 + floor);
        data.iter_mut().for_each(|v| *v *= k);
        (Plane { w: self.w, h: self.h, data }, k)
    }

    /// Subtract the local mean (radius `r`) and multiply by `k`: a chroma plane on the scale of
    /// its image's normalised luma, with slow colour casts (lamp colour, white balance) removed.
    pub fn centre_scale(&self, r: usize, k: f32) -> Plane {
        let mean = self.box_mean(r);
        Plane {
            w: self.w,
            h: self.h,
            data: self.data.iter().zip(&mean.data).map(|(v, m)| (v - m) * k).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsample_averages_and_transposes() {
        let img = RgbImage::from_fn(8, 4, |x, y| {
            let v = if x < 4 { 100 } else { 200 } as u8 + y as u8;
            image::Rgb([v, v, v])
        });
        let p = Plane::from_rgb(&img, 2, false);
        assert_eq!((p.w, p.h), (4, 2));
        assert!((p.at(0, 0) - 100.5).abs() < 0.01, "{}", p.at(0, 0));
        assert!((p.at(3, 1) - 202.5).abs() < 0.01);
        let t = Plane::from_rgb(&img, 2, true);
        assert_eq!((t.w, t.h), (2, 4));
        assert!((t.at(1, 3) - 202.5).abs() < 0.01);
    }

    #[test]
    fn normalise_removes_gain_and_offset() {
        let base = Plane { w: 40, h: 30, data: (0..1200).map(|i| (i * 37 % 101) as f32).collect() };
        let lit = Plane { w: 40, h: 30, data: base.data.iter().map(|v| v * 1.7 + 30.0).collect() };
        let (a, b) = (base.normalise(5, 0.0), lit.normalise(5, 0.0));
        let worst = a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-3, "{worst}");
    }
}
