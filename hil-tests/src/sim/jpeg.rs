//! Generated JPEGs for the simulated cameras and detector: a gradient with a
//! few blocks whose layout depends on a seed, so consecutive images differ.

use std::io::Cursor;

use image::{ImageEncoder, Rgb, RgbImage};

pub fn jpeg(width: u32, height: u32, seed: u32) -> Vec<u8> {
    let mut img = RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x * 255 / width.max(1)) as u8,
            (y * 255 / height.max(1)) as u8,
            (seed.wrapping_mul(37) % 256) as u8,
        ])
    });
    for b in 0..4u32 {
        let bx = (seed.wrapping_mul(97).wrapping_add(b * 53)) % width.max(1);
        let by = (seed.wrapping_mul(31).wrapping_add(b * 71)) % height.max(1);
        for y in by..(by + height / 8).min(height) {
            for x in bx..(bx + width / 8).min(width) {
                img.put_pixel(x, y, Rgb([240, 240, 240]));
            }
        }
    }
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(Cursor::new(&mut out), 80)
        .write_image(img.as_raw(), width, height, image::ExtendedColorType::Rgb8)
        .expect("JPEG encodes");
    out
}
