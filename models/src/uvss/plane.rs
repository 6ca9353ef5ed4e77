//! A grey float image with the travel axis along x, and the few whole-image passes the
//! comparison needs (area downsampling, box means through integral images).
//!
//! Everything downstream works on a reduced "work" grid: a 2048 x 12000 scan becomes about
//! 400 x 2400, which keeps one comparison well under a second on the 2-core lane PC while
//! a package-sized object still covers dozens of work pixels.

use image::RgbImage;

/// Rec. 601 luma weights of red, green and blue: the grey of every plane and picture here.
pub(crate) const LUMA: [f32; 3] = [0.299, 0.587, 0.114];

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

    /// Area-average `img` by `fx` x `fy` image pixels into three planes: luma (Rec. 601) and two
    /// colour-difference planes, `B - Y` and `R - Y` in grey levels (0 for anything grey: steel,
    /// rubber, road grime), transposing when the travel axis is the image's y so that travel
    /// always runs along x here. Planted objects are often coloured (orange, blue, white-and-red
    /// packs) on a grey underside, where a grey-only comparison sees little contrast. Pixels
    /// beyond the last whole block are dropped (at most `f - 1` lines of a 1000s-line scan).
    pub fn from_rgb_colour(img: &RgbImage, fx: usize, fy: usize, travel_is_y: bool) -> [Plane; 3] {
        let (fx, fy) = (fx.max(1), fy.max(1));
        let (iw, ih) = (img.width() as usize, img.height() as usize);
        let (ow, oh) = (iw / fx, ih / fy);
        let raw = img.as_raw();
        let mut sums = vec![[0u32; 3]; ow];
        let (pw, ph) = if travel_is_y { (oh, ow) } else { (ow, oh) };
        let mut out = [Plane::new(pw, ph), Plane::new(pw, ph), Plane::new(pw, ph)];
        let norm = 1.0 / (fx * fy) as f32;
        for oy in 0..oh {
            sums.iter_mut().for_each(|s| *s = [0; 3]);
            // Accumulate one output row of the source at a time: reads stay sequential.
            for sy in oy * fy..oy * fy + fy {
                let row = &raw[sy * iw * 3..sy * iw * 3 + ow * fx * 3];
                for (ox, s) in sums.iter_mut().enumerate() {
                    for p in row[ox * fx * 3..(ox + 1) * fx * 3].chunks_exact(3) {
                        s[0] += p[0] as u32;
                        s[1] += p[1] as u32;
                        s[2] += p[2] as u32;
                    }
                }
            }
            for (ox, s) in sums.iter().enumerate() {
                let (r, g, b) = (s[0] as f32 * norm, s[1] as f32 * norm, s[2] as f32 * norm);
                let y = LUMA[0] * r + LUMA[1] * g + LUMA[2] * b;
                let i = if travel_is_y { ox * pw + oy } else { oy * pw + ox };
                out[0].data[i] = y;
                out[1].data[i] = b - y;
                out[2].data[i] = r - y;
            }
        }
        out
    }

    /// Resample to `w` x `h`, each axis on its own: area-weighted where the axis shrinks (every
    /// source pixel counts by the share of it that an output pixel covers, so nothing aliases)
    /// and linear where it grows. Two scans of different resolutions, or of one vehicle at two
    /// speeds, end up sampled alike.
    pub fn resample(&self, w: usize, h: usize) -> Plane {
        let (w, h) = (w.max(1), h.max(1));
        let wx = axis_weights(self.w, w);
        let mut mid = Plane::new(w, self.h);
        for y in 0..self.h {
            let src = &self.data[y * self.w..(y + 1) * self.w];
            for (o, taps) in mid.data[y * w..(y + 1) * w].iter_mut().zip(&wx) {
                *o = taps.iter().map(|&(i, k)| src[i] * k).sum();
            }
        }
        if h == self.h {
            return mid;
        }
        let wy = axis_weights(self.h, h);
        let mut out = Plane::new(w, h);
        for (y, taps) in wy.iter().enumerate() {
            let row = &mut out.data[y * w..(y + 1) * w];
            for &(i, k) in taps {
                row.iter_mut().zip(&mid.data[i * w..(i + 1) * w]).for_each(|(o, v)| *o += v * k);
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
        self.box_mean_where(r, None)
    }

    /// [`Plane::box_mean`] over the pixels marked `valid` only (all when `None`); a pixel with
    /// no valid neighbour keeps its own value.
    pub fn box_mean_where(&self, r: usize, valid: Option<&[bool]>) -> Plane {
        let (w, h) = (self.w, self.h);
        let iw = w + 1;
        let mut ii = vec![0f64; iw * (h + 1)];
        let mut cnt = vec![0u32; if valid.is_some() { iw * (h + 1) } else { 0 }];
        for y in 0..h {
            let (mut run, mut runc) = (0f64, 0u32);
            for x in 0..w {
                let i = y * w + x;
                let ok = valid.is_none_or(|m| m[i]);
                if ok {
                    run += self.data[i] as f64;
                    runc += 1;
                }
                ii[(y + 1) * iw + x + 1] = ii[y * iw + x + 1] + run;
                if valid.is_some() {
                    cnt[(y + 1) * iw + x + 1] = cnt[y * iw + x + 1] + runc;
                }
            }
        }
        let mut out = Plane::new(w, h);
        for y in 0..h {
            let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
            for x in 0..w {
                let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
                let s = ii[y1 * iw + x1] - ii[y0 * iw + x1] - ii[y1 * iw + x0] + ii[y0 * iw + x0];
                let n = if valid.is_some() {
                    cnt[y1 * iw + x1] + cnt[y0 * iw + x0] - cnt[y0 * iw + x1] - cnt[y1 * iw + x0]
                } else {
                    ((y1 - y0) * (x1 - x0)) as u32
                };
                out.data[y * w + x] = if n > 0 { (s / n as f64) as f32 } else { self.data[y * w + x] };
            }
        }
        out
    }

    /// Subtract the local mean (radius `r`) taken over the `valid` pixels only, and multiply by
    /// `k`: two scans centred over exactly the same support, so that where one of them ends
    /// (the lane's edge, the end of the scan) both are treated alike.
    pub fn centre_where(&self, r: usize, valid: &[bool], k: f32) -> Plane {
        let mean = self.box_mean_where(r, Some(valid));
        Plane {
            w: self.w,
            h: self.h,
            data: self.data.iter().zip(&mean.data).map(|(v, m)| (v - m) * k).collect(),
        }
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
}

/// Source taps (index, weight) of each of `n_out` samples resampled from `n_in`.
fn axis_weights(n_in: usize, n_out: usize) -> Vec<Vec<(usize, f32)>> {
    let s = n_in as f32 / n_out as f32;
    (0..n_out)
        .map(|i| {
            if n_in == n_out {
                return vec![(i, 1.0)];
            }
            if s < 1.0 {
                let x = ((i as f32 + 0.5) * s - 0.5).clamp(0.0, (n_in - 1) as f32);
                let x0 = x as usize;
                let x1 = (x0 + 1).min(n_in - 1);
                let f = x - x0 as f32;
                return vec![(x0, 1.0 - f), (x1, f)];
            }
            let (a, b) = (i as f32 * s, ((i + 1) as f32 * s).min(n_in as f32));
            let mut taps = Vec::with_capacity(s.ceil() as usize + 1);
            let mut j = a.floor() as usize;
            while (j as f32) < b && j < n_in {
                let cover = (b.min(j as f32 + 1.0) - a.max(j as f32)).max(0.0);
                if cover > 0.0 {
                    taps.push((j, cover / (b - a)));
                }
                j += 1;
            }
            taps
        })
        .collect()
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
        let [p, u, _] = Plane::from_rgb_colour(&img, 2, 2, false);
        assert_eq!((p.w, p.h), (4, 2));
        assert!((p.at(0, 0) - 100.5).abs() < 0.01, "{}", p.at(0, 0));
        assert!((p.at(3, 1) - 202.5).abs() < 0.01);
        assert!(u.at(1, 1).abs() < 0.01, "grey has no colour");
        let [t, ..] = Plane::from_rgb_colour(&img, 2, 2, true);
        assert_eq!((t.w, t.h), (2, 4));
        assert!((t.at(1, 3) - 202.5).abs() < 0.01);
        // Different factors per image axis: 4 x 1 blocks.
        let [a, ..] = Plane::from_rgb_colour(&img, 4, 1, false);
        assert_eq!((a.w, a.h), (2, 4));
        assert!((a.at(1, 2) - 202.0).abs() < 0.01, "{}", a.at(1, 2));
    }

    #[test]
    fn resample_keeps_the_mean_and_the_steps() {
        let p = Plane { w: 12, h: 2, data: (0..24).map(|i| if i % 12 < 5 { 0.0 } else { 6.0 }).collect() };
        let down = p.resample(8, 2);
        assert_eq!((down.w, down.h), (8, 2));
        let mean = |q: &Plane| q.data.iter().sum::<f32>() / q.data.len() as f32;
        assert!((mean(&down) - mean(&p)).abs() < 1e-4);
        assert_eq!(down.at(0, 0), 0.0);
        assert_eq!(down.at(7, 1), 6.0);
        // The output pixel straddling the step gets the area share.
        assert!((down.at(3, 0) - 4.0).abs() < 1e-4, "{}", down.at(3, 0));
        let up = p.resample(24, 5);
        assert_eq!((up.w, up.h), (24, 5));
        assert_eq!(up.at(0, 4), 0.0);
        assert_eq!(up.at(23, 0), 6.0);
        assert!((mean(&up) - mean(&p)).abs() < 0.3);
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
