//! Deterministic perturbations of evaluation images: a proxy for images the pipeline was not
//! tuned on.
//!
//! The labelled folders are small and every threshold in the pipeline was chosen looking at them,
//! so their exact-match rate flatters. A camera at another lane sees the same kind of scene at
//! another distance, slightly rolled, through another encoder and another exposure. Each image is
//! therefore also evaluated as a perturbed copy: scaled by 0.6–1.4, rotated by up to ±5° (on a
//! canvas grown to keep every corner, filled by repeating the border as a looser crop would),
//! brightness and contrast changed, and re-encoded as JPEG at quality 40–90. The parameters come
//! from a hash of the seed and the file name, so a run is reproducible and a subset of a folder
//! gets the same copies as the whole folder.

use image::{Rgb, RgbImage};

use crate::uvss::synth::Rng;

/// One image's perturbation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Perturbation {
    pub scale: f32,
    /// Counter-clockwise, in degrees.
    pub angle_deg: f32,
    /// Added to every channel after contrast, in 0..255 units.
    pub brightness: f32,
    /// Multiplies the distance from mid-grey.
    pub contrast: f32,
    pub jpeg_quality: u8,
}

impl Perturbation {
    /// The perturbation of file `name` under `seed` (FNV-1a of the name, mixed with the seed).
    pub fn for_file(seed: u64, name: &str) -> Perturbation {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        // `Rng::new` mixes its own constant in; undone here so the copies stay as they were.
        let mut r = Rng::new(h ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x9E37_79B9_7F4A_7C15);
        Perturbation {
            scale: r.range(0.6, 1.4),
            angle_deg: r.range(-5.0, 5.0),
            brightness: r.range(-30.0, 30.0),
            contrast: r.range(0.7, 1.2),
            jpeg_quality: r.range(40.0, 90.999) as u8,
        }
    }

    /// Scale, rotate and re-light `img` (no encoding).
    pub fn warp(&self, img: &RgbImage) -> RgbImage {
        let (w, h) = (img.width() as f32, img.height() as f32);
        let (sin, cos) = self.angle_deg.to_radians().sin_cos();
        let (sw, sh) = (w * self.scale, h * self.scale);
        // The rotated image's bounding box.
        let ow = (sw * cos.abs() + sh * sin.abs()).round().max(8.0);
        let oh = (sw * sin.abs() + sh * cos.abs()).round().max(8.0);
        let (ocx, ocy, icx, icy) = (ow / 2.0, oh / 2.0, w / 2.0, h / 2.0);
        let raw = img.as_raw();
        let (iw, ih) = (img.width() as i32, img.height() as i32);
        let px = |x: i32, y: i32, k: usize| {
            raw[((y.clamp(0, ih - 1) * iw + x.clamp(0, iw - 1)) * 3) as usize + k] as f32
        };
        RgbImage::from_fn(ow as u32, oh as u32, |x, y| {
            // Inverse map: output pixel centre -> source position (y down, so a counter-clockwise
            // turn on screen uses the transposed rotation).
            let (dx, dy) = (x as f32 + 0.5 - ocx, y as f32 + 0.5 - ocy);
            let sx = (cos * dx - sin * dy) / self.scale + icx - 0.5;
            let sy = (sin * dx + cos * dy) / self.scale + icy - 0.5;
            let v = crate::imgops::bilinear(px, sx, sy);
            Rgb(v.map(|v| {
                ((v - 128.0) * self.contrast + 128.0 + self.brightness).round().clamp(0.0, 255.0) as u8
            }))
        })
    }

    /// The perturbed image as JPEG bytes, the way a camera would deliver it.
    pub fn apply(&self, img: &RgbImage) -> Result<Vec<u8>, image::ImageError> {
        let warped = self.warp(img);
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, self.jpeg_quality)
            .encode_image(&warped)?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_name_give_the_same_perturbation_within_range() {
        let a = Perturbation::for_file(1, "a.jpg");
        assert_eq!(a, Perturbation::for_file(1, "a.jpg"));
        assert_ne!(a, Perturbation::for_file(2, "a.jpg"));
        assert_ne!(a, Perturbation::for_file(1, "b.jpg"));
        for i in 0..200 {
            let p = Perturbation::for_file(i, "x");
            assert!((0.6..1.4).contains(&p.scale) && p.angle_deg.abs() <= 5.0, "{p:?}");
            assert!((40..=90).contains(&p.jpeg_quality) && (0.7..1.2).contains(&p.contrast), "{p:?}");
        }
    }

    #[test]
    fn warp_scales_and_grows_the_canvas_for_rotation() {
        let img =
            RgbImage::from_fn(100, 40, |x, _| if x < 50 { Rgb([0, 0, 0]) } else { Rgb([200, 200, 200]) });
        let plain =
            Perturbation { scale: 0.5, angle_deg: 0.0, brightness: 0.0, contrast: 1.0, jpeg_quality: 90 };
        let s = plain.warp(&img);
        assert_eq!((s.width(), s.height()), (50, 20));
        assert_eq!(s.get_pixel(5, 10)[0], 0);
        assert_eq!(s.get_pixel(45, 10)[0], 200);
        // 90° would swap the sides; 5° grows both a little.
        let r = Perturbation { angle_deg: 5.0, scale: 1.0, ..plain }.warp(&img);
        assert!(
            r.width() > 100 && r.height() > 40 && r.width() < 105 && r.height() < 52,
            "{}x{}",
            r.width(),
            r.height()
        );
        let lit = Perturbation { brightness: 20.0, contrast: 0.5, ..plain }.warp(&img);
        assert_eq!(lit.get_pixel(5, 10)[0], 84); // (0-128)*0.5+128+20
        let bytes = plain.apply(&img).unwrap();
        assert_eq!(image::guess_format(&bytes).unwrap(), image::ImageFormat::Jpeg);
    }
}
