//! Image input checks and the few pixel operations the pipeline needs.
//!
//! Everything is plain bilinear sampling on `image::RgbImage`, written out by hand so that a
//! resize and the float normalisation happen in one pass straight into the model's input
//! tensor (NCHW, **BGR** channel order: PaddleOCR models were trained on OpenCV-loaded images).

use std::io::Read;
use std::path::Path;

use image::{ImageFormat, Rgb, RgbImage};

use crate::error::InputError;
use crate::manifest::Normalize;

/// Largest accepted file (a 20 MP JPEG is ~10 MB; UVSS strips can be larger but are not OCR input).
pub const MAX_FILE_BYTES: u64 = 64 << 20;
/// Largest accepted side in pixels.
pub const MAX_SIDE: u32 = 12_000;

/// Read and decode an image file with size checks.
pub fn load_path(path: &Path) -> Result<RgbImage, InputError> {
    load_path_within(path, MAX_SIDE)
}

/// [`load_path`] with another limit on the longer side (line-scan strips are long).
pub fn load_path_within(path: &Path, max_side: u32) -> Result<RgbImage, InputError> {
    let io = |e| InputError::Io { path: path.to_path_buf(), source: e };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(InputError::TooLarge { size: meta.len(), max: MAX_FILE_BYTES });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path).map_err(io)?.read_to_end(&mut bytes).map_err(io)?;
    decode_within(&bytes, max_side)
}

/// Decode JPEG or PNG bytes with size checks.
pub fn decode(bytes: &[u8]) -> Result<RgbImage, InputError> {
    decode_within(bytes, MAX_SIDE)
}

/// [`decode`] with another limit on the longer side.
pub fn decode_within(bytes: &[u8], max_side: u32) -> Result<RgbImage, InputError> {
    if bytes.is_empty() {
        return Err(InputError::Empty);
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(InputError::TooLarge { size: bytes.len() as u64, max: MAX_FILE_BYTES });
    }
    let format = image::guess_format(bytes).map_err(|_| InputError::NotAnImage)?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png) {
        return Err(InputError::NotAnImage);
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(max_side);
    limits.max_image_height = Some(max_side);
    limits.max_alloc = Some(1 << 30);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => InputError::BadDimensions { width: 0, height: 0, max: max_side },
        other => InputError::Corrupt(other.to_string()),
    })?;
    let (w, h) = (img.width(), img.height());
    if w < 8 || h < 8 || w > max_side || h > max_side {
        return Err(InputError::BadDimensions { width: w, height: h, max: max_side });
    }
    Ok(img.to_rgb8())
}

/// Bilinear value of the three channels at source position (`sx`, `sy`) (pixel centres at
/// integers), `px(x, y, channel)` deciding what lies beyond the source (clamped border, road).
#[inline]
pub(crate) fn bilinear(px: impl Fn(i32, i32, usize) -> f32, sx: f32, sy: f32) -> [f32; 3] {
    let (x0, y0) = (sx.floor() as i32, sy.floor() as i32);
    let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
    let mut out = [0f32; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let top = px(x0, y0, k) * (1.0 - fx) + px(x0 + 1, y0, k) * fx;
        let bot = px(x0, y0 + 1, k) * (1.0 - fx) + px(x0 + 1, y0 + 1, k) * fx;
        *o = top * (1.0 - fy) + bot * fy;
    }
    out
}

#[inline]
pub(crate) fn sample(img: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = (img.width() as i32, img.height() as i32);
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as i32, y.floor() as i32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let raw = img.as_raw();
    let px = |xx: i32, yy: i32| {
        let i = (yy as usize * w as usize + xx as usize) * 3;
        [raw[i] as f32, raw[i + 1] as f32, raw[i + 2] as f32]
    };
    let (a, b, c, d) = (px(x0, y0), px(x1, y0), px(x0, y1), px(x1, y1));
    let mut out = [0.0; 3];
    for k in 0..3 {
        let top = a[k] + (b[k] - a[k]) * fx;
        let bot = c[k] + (d[k] - c[k]) * fx;
        out[k] = top + (bot - top) * fy;
    }
    out
}

/// Bilinear resize of `img` to `dw`x`dh`, normalised to [-1, 1], written as BGR planes into
/// `out` (one NCHW item of width `stride_w`, height `dh`); columns beyond `dw` are left as is.
pub fn resize_into_tensor(img: &RgbImage, dw: usize, dh: usize, out: &mut [f32], stride_w: usize) {
    resize_into_tensor_with(img, dw, dh, out, stride_w, Normalize::Half)
}

/// [`resize_into_tensor`] with the normalisation a model was trained with.
pub fn resize_into_tensor_with(
    img: &RgbImage,
    dw: usize,
    dh: usize,
    out: &mut [f32],
    stride_w: usize,
    norm: Normalize,
) {
    // PaddleOCR's constants, applied to the planes B, G, R in that order (it normalises the
    // BGR image it loaded with OpenCV).
    const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
    const STD: [f32; 3] = [0.229, 0.224, 0.225];
    let value = |v: f32, plane: usize| match norm {
        Normalize::Half => v / 127.5 - 1.0,
        Normalize::Imagenet => (v / 255.0 - MEAN[plane]) / STD[plane],
    };
    let plane = stride_w * dh;
    let sx = img.width() as f32 / dw as f32;
    let sy = img.height() as f32 / dh as f32;
    for y in 0..dh {
        let fy = (y as f32 + 0.5) * sy - 0.5;
        for x in 0..dw {
            let fx = (x as f32 + 0.5) * sx - 0.5;
            let p = sample(img, fx, fy);
            let i = y * stride_w + x;
            out[i] = value(p[2], 0);
            out[plane + i] = value(p[1], 1);
            out[2 * plane + i] = value(p[0], 2);
        }
    }
}

/// Bilinear resize to an `RgbImage`.
pub fn resize(img: &RgbImage, dw: u32, dh: u32) -> RgbImage {
    let sx = img.width() as f32 / dw as f32;
    let sy = img.height() as f32 / dh as f32;
    RgbImage::from_fn(dw.max(1), dh.max(1), |x, y| {
        let p = sample(img, (x as f32 + 0.5) * sx - 0.5, (y as f32 + 0.5) * sy - 0.5);
        Rgb([p[0] as u8, p[1] as u8, p[2] as u8])
    })
}

/// A quadrilateral, points clockwise from top-left, in source pixel coordinates.
pub type Quad = [[f32; 2]; 4];

/// The axis-aligned box `[x0, y0, x1, y1]` around `q`.
pub fn quad_bbox(q: &Quad) -> [f32; 4] {
    let xs = q.map(|p| p[0]);
    let ys = q.map(|p| p[1]);
    let f = |v: [f32; 4], m: fn(f32, f32) -> f32, init: f32| v.iter().copied().fold(init, m);
    [
        f(xs, f32::min, f32::MAX),
        f(ys, f32::min, f32::MAX),
        f(xs, f32::max, f32::MIN),
        f(ys, f32::max, f32::MIN),
    ]
}

/// Does the box `outer` hold the centre of the box `inner` (both `[x0, y0, x1, y1]`, edges
/// included)? What tells two reads of one place apart from reads of two places.
pub fn holds_centre(outer: &[f32; 4], inner: &[f32; 4]) -> bool {
    let (cx, cy) = ((inner[0] + inner[2]) / 2.0, (inner[1] + inner[3]) / 2.0);
    (outer[0]..=outer[2]).contains(&cx) && (outer[1]..=outer[3]).contains(&cy)
}

fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// `q` grown about its centre by `fx` of its width and `fy` of its height on each side, within
/// the image: a text box misses a plate's border (its colour), a recogniser wants a margin, and
/// a box around part of a character misses the rest of its cell.
pub fn grow_quad(q: &Quad, fx: f32, fy: f32, img: &RgbImage) -> Quad {
    let cx = q.iter().map(|p| p[0]).sum::<f32>() / 4.0;
    let cy = q.iter().map(|p| p[1]).sum::<f32>() / 4.0;
    let (w, h) = (img.width() as f32, img.height() as f32);
    q.map(|[x, y]| {
        [(cx + (x - cx) * (1.0 + 2.0 * fx)).clamp(0.0, w), (cy + (y - cy) * (1.0 + 2.0 * fy)).clamp(0.0, h)]
    })
}

/// Cut a quadrilateral out of `img` into an upright rectangle (perspective warp).
pub fn crop_quad(img: &RgbImage, q: &Quad) -> RgbImage {
    let w = dist(q[0], q[1]).max(dist(q[3], q[2])).round().max(1.0) as u32;
    let h = dist(q[0], q[3]).max(dist(q[1], q[2])).round().max(1.0) as u32;
    let hm = homography_unit_to_quad(q);
    RgbImage::from_fn(w, h, |x, y| {
        let u = (x as f32 + 0.5) / w as f32;
        let v = (y as f32 + 0.5) / h as f32;
        let den = hm[6] * u + hm[7] * v + 1.0;
        let sx = (hm[0] * u + hm[1] * v + hm[2]) / den;
        let sy = (hm[3] * u + hm[4] * v + hm[5]) / den;
        let p = sample(img, sx - 0.5, sy - 0.5);
        Rgb([p[0] as u8, p[1] as u8, p[2] as u8])
    })
}

/// Homography mapping the unit square (0,0),(1,0),(1,1),(0,1) onto `q` (Heckbert's closed form).
pub(crate) fn homography_unit_to_quad(q: &Quad) -> [f32; 8] {
    let [[x0, y0], [x1, y1], [x2, y2], [x3, y3]] = *q;
    let (dx1, dx2, dx3) = (x1 - x2, x3 - x2, x0 - x1 + x2 - x3);
    let (dy1, dy2, dy3) = (y1 - y2, y3 - y2, y0 - y1 + y2 - y3);
    if dx3.abs() < 1e-6 && dy3.abs() < 1e-6 {
        return [x1 - x0, x3 - x0, x0, y1 - y0, y3 - y0, y0, 0.0, 0.0];
    }
    let den = dx1 * dy2 - dx2 * dy1;
    let g = (dx3 * dy2 - dx2 * dy3) / den;
    let h = (dx1 * dy3 - dx3 * dy1) / den;
    [x1 - x0 + g * x1, x3 - x0 + h * x3, x0, y1 - y0 + g * y1, y3 - y0 + h * y3, y0, g, h]
}

/// Rotate 90° counter-clockwise (how PaddleOCR turns tall crops into lines).
pub fn rotate_ccw(img: &RgbImage) -> RgbImage {
    image::imageops::rotate270(img)
}

/// Luma (0..255) of every pixel, row-major.
pub fn gray(img: &RgbImage) -> Vec<u8> {
    img.pixels().map(|p| ((p[0] as u32 * 77 + p[1] as u32 * 150 + p[2] as u32 * 29) >> 8) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_inputs_are_typed_errors() {
        assert!(matches!(decode(&[]), Err(InputError::Empty)));
        assert!(matches!(decode(b"hello, not an image"), Err(InputError::NotAnImage)));
        let mut png = Vec::new();
        RgbImage::new(32, 32).write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png).unwrap();
        assert!(decode(&png).is_ok());
        assert!(matches!(decode(&png[..png.len() / 2]), Err(InputError::Corrupt(_))));
        let mut tiny = Vec::new();
        RgbImage::new(4, 4).write_to(&mut std::io::Cursor::new(&mut tiny), ImageFormat::Png).unwrap();
        assert!(matches!(decode(&tiny), Err(InputError::BadDimensions { .. })));
    }

    #[test]
    fn axis_aligned_quad_crop_is_a_plain_crop() {
        let img = RgbImage::from_fn(40, 20, |x, y| Rgb([x as u8 * 5, y as u8 * 10, 0]));
        let c = crop_quad(&img, &[[10.0, 5.0], [30.0, 5.0], [30.0, 15.0], [10.0, 15.0]]);
        assert_eq!((c.width(), c.height()), (20, 10));
        assert_eq!(c.get_pixel(0, 0)[0], 50);
        assert_eq!(c.get_pixel(0, 0)[1], 50);
    }
}
