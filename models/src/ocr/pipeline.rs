//! The OCR pipeline on one image: detection, cropping, the dedicated paths, recognition.
//!
//! A generic detect-then-recognise pipeline fails on two inputs the lane sees all the time:
//! tight crops that are already one text line (a 94x24 plate crop gives the detector almost no
//! context and its boxes clip the first and last characters), and vertical container codes
//! (stacked upright characters). So besides detected boxes, every image yields extra candidates:
//! the whole image when it is line-shaped, and re-assembled columns (see [`crate::ocr::vertical`]) for
//! the whole image when it is column-shaped and for tall or stacked detections. All candidates are
//! recognised in one batched pass; the domain parsers pick what fits. An image that yields neither
//! a valid code nor a plate gets a [`second_look`]: detection again, contrast-stretched and larger.
//! On a container camera, a crop shaped like a two-row code block is first read as its rows side
//! by side ([`crate::ocr::rows`]), which spares the detector when that alone is a verified code;
//! and on a column crop, the rotated reads of tall boxes wait until the columns fall short.

use std::time::Instant;

use image::RgbImage;
use serde::Serialize;

use crate::error::ModelError;
use crate::imgops::{self, Quad};
use crate::ocr::det::{self, DbParams, DetBox};
use crate::ocr::rec::{self, RecLine};
use crate::ocr::runtime::{AltRec, DetModel, OcrSessions};
use crate::ocr::{rows, vertical};

/// Tuning of the pipeline; the defaults are what the evaluation was run with.
#[derive(Debug, Clone)]
pub struct OcrOptions {
    /// The detector input's shorter side is scaled towards this…
    pub det_min_side: u32,
    /// …unless its longer side would exceed this.
    pub det_max_side: u32,
    /// …and the image is never enlarged more than this…
    pub det_max_upscale: f32,
    /// …nor enlarged beyond this many pixels (`None`: no such limit). A tight crop's text is as
    /// large as the crop allows: a large crop holds large characters, which gain nothing from
    /// enlargement but cost the detector time in proportion to its area.
    pub det_max_pixels: Option<u32>,
    pub db: DbParams,
    /// The fast detector's post-processing: its maps are tighter around the characters than
    /// PP-OCRv4's, so its boxes need more unclipping to take in a line's first character.
    pub fast_db: DbParams,
    /// The text detector for scenes (neither line- nor column-shaped: where detection is most
    /// of the time) and for crops.
    pub scene_det: DetModel,
    pub crop_det: DetModel,
    /// The plates' second recogniser, chosen when the engine loads its models.
    pub alt_rec: AltRec,
    /// Its output layer cut to the characters a plate can hold (see [`crate::ocr::narrow`]):
    /// 9 MB less resident and a softmax over 122 classes (the blank and 121 plate classes)
    /// instead of 18,710 per time step.
    pub alt_rec_narrow: bool,
    /// PP-OCRv4's output layer cut to the characters of container codes and plates (ASCII,
    /// the plate alphabet and the separators the parsers skip; 224 of 6,625 classes): 3.2 MB
    /// less resident, 7 % less CPU. Off: PP-OCRv4 decodes freely (container codes, the lines a
    /// reviewer sees), so the cut changes what it outputs wherever its best guess was a cut
    /// character, and the probability the cut characters held goes to the kept ones. On the
    /// development set wrong province reads rose towards the threshold (`easypr_c194.jpg`
    /// 0.757 → 0.781), the failure the held-out set shows most. `ocr-eval` variant `rec-narrow`.
    pub rec_narrow: bool,
    /// A crop shaped like a two-row code block is first read as one line of its rows side by
    /// side ([`crate::ocr::rows`]); the read is kept only when it alone is `enough`.
    pub join_rows: bool,
    /// On a column-shaped crop, the rotated reads of tall boxes are run only when the other
    /// candidates are not enough.
    pub column_second_opinions_on_demand: bool,
}

impl Default for OcrOptions {
    fn default() -> Self {
        OcrOptions {
            det_min_side: 736,
            det_max_side: 1280,
            det_max_upscale: 3.0,
            det_max_pixels: None,
            db: DbParams::default(),
            fast_db: DbParams { unclip_ratio: 2.0, ..DbParams::default() },
            scene_det: DetModel::Standard,
            crop_det: DetModel::Standard,
            alt_rec: AltRec::Small,
            alt_rec_narrow: true,
            rec_narrow: false,
            join_rows: false,
            // `ocr-eval --folds --speed --variants=colstage` against the default on the container
            // folder and two perturbed copies (seeds 11, 12): the same text everywhere, no
            // confidence across 0.80 (one perturbed column 0.87 → 0.81, another 0.46 → 0.64);
            // the one column crop that still went to the detector, 114×739, 340 → 250 ms.
            column_second_opinions_on_demand: true,
        }
    }
}

impl OcrOptions {
    /// The detector that reads `img`.
    pub fn det_model(&self, img: &RgbImage) -> DetModel {
        if is_line_shaped(img) || is_column_shaped(img) {
            self.crop_det
        } else {
            self.scene_det
        }
    }
}

/// Where a line candidate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineSource {
    Detected,
    /// The whole (line-shaped) image.
    WholeImage,
    /// A vertical column re-assembled into a line.
    Column,
    /// A two-row block's rows laid side by side (see [`crate::ocr::rows`]).
    Rows,
    /// A tall box rotated by 90°.
    Rotated,
    /// A plate-coloured region (see [`crate::read::plate_find`]).
    PlateRegion,
}

/// One recognised text line.
#[derive(Debug, Clone)]
pub struct TextLine {
    pub text: String,
    pub confidence: f32,
    pub quad: Quad,
    pub source: LineSource,
    pub rec: RecLine,
}

impl TextLine {
    pub fn bbox(&self) -> [f32; 4] {
        DetBox { quad: self.quad, score: 0.0 }.bbox()
    }
}

/// Lines of one image and how long each stage took.
#[derive(Debug, Clone, Default)]
pub struct OcrOutput {
    pub lines: Vec<TextLine>,
    pub det_ms: f64,
    pub rec_ms: f64,
}

fn full_quad(img: &RgbImage) -> Quad {
    let (w, h) = (img.width() as f32, img.height() as f32);
    [[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]]
}

fn rect_quad(b: [f32; 4]) -> Quad {
    [[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]]]
}

/// Text-line shaped: wide and not too tall (a tight crop of a plate or a code line).
pub fn is_line_shaped(img: &RgbImage) -> bool {
    img.width() as f32 >= 2.2 * img.height() as f32 && img.height() <= 240
}

/// Column shaped: a tight crop of a vertical code.
pub fn is_column_shaped(img: &RgbImage) -> bool {
    img.height() as f32 >= 2.5 * img.width() as f32 && img.width() <= 400
}

/// The largest scale that keeps an image of `area` pixels within `max_pixels`, never below 1:
/// the limit stops enlargement, it does not shrink (that is `det_max_side`'s job).
fn enlargement_within(max_pixels: Option<u32>, area: f32) -> f32 {
    max_pixels.map_or(f32::INFINITY, |m| (m as f32 / area.max(1.0)).sqrt().max(1.0))
}

/// Run the detector; boxes in source pixels, reading order.
pub fn detect(s: &mut OcrSessions, img: &RgbImage, o: &OcrOptions) -> Result<Vec<DetBox>, ModelError> {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let scale = (o.det_min_side as f32 / w.min(h))
        .min(o.det_max_side as f32 / w.max(h))
        .min(o.det_max_upscale)
        .min(enlargement_within(o.det_max_pixels, w * h));
    let dw = (((w * scale) / 32.0).round() as usize).max(1) * 32;
    let dh = (((h * scale) / 32.0).round() as usize).max(1) * 32;
    let model = o.det_model(img);
    let mut input = vec![0.0f32; 3 * dw * dh];
    imgops::resize_into_tensor_with(img, dw, dh, &mut input, dw, s.det_normalize(model));
    let t = Instant::now();
    let prob = s.det(model, &input, dh, dw)?;
    tracing::debug!(?model, w = dw, h = dh, ms = t.elapsed().as_secs_f64() * 1e3, "text detector");
    let db = if model == DetModel::Fast { &o.fast_db } else { &o.db };
    let mut boxes = det::boxes_from_map(&prob, dw, dh, img.width(), img.height(), db);
    det::sort_reading_order(&mut boxes);
    Ok(boxes)
}

/// Candidate line images for the shape-based paths (no detector needed).
pub fn shape_candidates(img: &RgbImage) -> Vec<(RgbImage, Quad, LineSource)> {
    let mut out = Vec::new();
    if is_line_shaped(img) {
        out.push((img.clone(), full_quad(img), LineSource::WholeImage));
    }
    if is_column_shaped(img) {
        if let Some(line) = vertical::column_to_line(img) {
            out.push((line, full_quad(img), LineSource::Column));
        }
    }
    out
}

/// Candidate line images from detected boxes.
pub fn box_candidates(img: &RgbImage, boxes: &[DetBox]) -> Vec<(RgbImage, Quad, LineSource)> {
    let mut out = Vec::new();
    for b in boxes {
        let crop = imgops::crop_quad(img, &b.quad);
        if crop.height() as f32 >= 1.5 * crop.width() as f32 {
            // Tall: a column of upright characters or rotated text. Both are read even when the
            // column segments: the rotated read is a second opinion when segmentation splits or
            // merges a character.
            out.push((imgops::rotate_ccw(&crop), b.quad, LineSource::Rotated));
            if let Some((line, cells)) = vertical::column_to_cells_line(&crop) {
                out.push((line, b.quad, LineSource::Column));
                // The detector often misses part of a column (the owner code above a serial on a
                // corrugated panel): unless it already holds a whole code, read it again extended
                // upwards.
                if cells < 11 {
                    // Extend by the missing characters' pitch (plus slack for the gaps).
                    let up = (11 - cells) as f32 * 1.2 / cells.max(1) as f32;
                    let q = extend_column(&b.quad, up.min(1.5), 0.12, img);
                    if let Some(line) = vertical::column_to_line(&imgops::crop_quad(img, &q)) {
                        out.push((line, q, LineSource::Column));
                    }
                }
            }
            if crop.height() < 4 * crop.width() {
                // Short and tall: a single upright character, e.g. a framed check digit.
                out.push((pad_char(&crop), b.quad, LineSource::Detected));
            }
        } else {
            if crop.width() < crop.height() + crop.height() / 5 {
                // About one character: perhaps only part of one. On a framed check digit the
                // detector may box the hole of a `0` (read as `.`), or the glyph without the
                // stroke that tells `1` from `7`. The cell around it is read as well; a check
                // digit taken from either must still verify the code.
                let q = imgops::grow_quad(&b.quad, CHAR_CELL_MARGIN, CHAR_CELL_MARGIN, img);
                out.push((imgops::crop_quad(img, &q), q, LineSource::Detected));
            }
            out.push((crop, b.quad, LineSource::Detected));
        }
    }
    // Columns made of several stacked detections.
    let (iw, ih) = (img.width() as f32, img.height() as f32);
    for col in vertical::group_columns(boxes) {
        let single = boxes.iter().any(|b| {
            let bb = b.bbox();
            (bb[1] - col[1]).abs() < 2.0 && (bb[3] - col[3]).abs() < 2.0
        });
        if single {
            continue;
        }
        let pad = 0.1 * (col[2] - col[0]);
        let c = [
            (col[0] - pad).max(0.0),
            (col[1] - pad).max(0.0),
            (col[2] + pad).min(iw),
            (col[3] + pad).min(ih),
        ];
        let crop = imgops::crop_quad(img, &rect_quad(c));
        if let Some(line) = vertical::column_to_line(&crop) {
            out.push((line, rect_quad(c), LineSource::Column));
        }
    }
    out
}

/// Extend a tall quad along its own vertical axis by `up` and `down` times its height.
fn extend_column(q: &Quad, up: f32, down: f32, img: &RgbImage) -> Quad {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let clamp = |p: [f32; 2]| [p[0].clamp(0.0, w), p[1].clamp(0.0, h)];
    let dl = [q[3][0] - q[0][0], q[3][1] - q[0][1]];
    let dr = [q[2][0] - q[1][0], q[2][1] - q[1][1]];
    [
        clamp([q[0][0] - dl[0] * up, q[0][1] - dl[1] * up]),
        clamp([q[1][0] - dr[0] * up, q[1][1] - dr[1] * up]),
        clamp([q[2][0] + dr[0] * down, q[2][1] + dr[1] * down]),
        clamp([q[3][0] + dl[0] * down, q[3][1] + dl[1] * down]),
    ]
}

/// How much a character-sized box is grown on each side, as a share of its size, to take in the
/// whole character cell (twice the box): the hole of a bold `0` is about half the glyph's height.
const CHAR_CELL_MARGIN: f32 = 0.5;

/// Put a single character on a wider canvas of its border colour so the recogniser sees a line.
fn pad_char(crop: &RgbImage) -> RgbImage {
    let (w, h) = (crop.width(), crop.height());
    let bg = *crop.get_pixel(0, 0);
    let mut out = RgbImage::from_pixel(w + h, h, bg);
    image::imageops::replace(&mut out, crop, (h / 2) as i64, 0);
    out
}

/// Recognise candidates in one batched pass.
pub fn recognize(
    s: &mut OcrSessions,
    cands: Vec<(RgbImage, Quad, LineSource)>,
) -> Result<Vec<TextLine>, ModelError> {
    let images: Vec<RgbImage> = cands.iter().map(|c| c.0.clone()).collect();
    let recs = rec::recognize(&mut s.rec, &images)?;
    Ok(cands
        .into_iter()
        .zip(recs)
        .map(|((_, quad, source), rec)| TextLine {
            text: rec.text.clone(),
            confidence: rec.confidence(),
            quad,
            source,
            rec,
        })
        .collect())
}

/// Full pipeline. `enough` is asked after the shape-based paths; when it says the lines already
/// answer the question (e.g. a valid plate was read from a tight crop), detection is skipped.
pub fn read_image(
    s: &mut OcrSessions,
    img: &RgbImage,
    o: &OcrOptions,
    enough: &dyn Fn(&[TextLine]) -> bool,
) -> Result<OcrOutput, ModelError> {
    let mut out = OcrOutput::default();
    let t = Instant::now();
    let shaped = shape_candidates(img);
    if !shaped.is_empty() {
        out.lines = recognize(s, shaped)?;
        if enough(&out.lines) {
            out.rec_ms = t.elapsed().as_secs_f64() * 1e3;
            return Ok(out);
        }
    }
    // The joined rows are an early exit only, read alone (in a batch, the other candidates
    // would be padded to its width) and kept only when they alone are enough; otherwise the
    // detector's lines read the block as the parsers know it, two lines one above the other,
    // and the joined line would only add a competing candidate.
    if let Some(line) = o.join_rows.then(|| rows::rows_to_line(img)).flatten() {
        let joined = recognize(s, vec![(line, full_quad(img), LineSource::Rows)])?;
        if enough(&joined) {
            out.lines.extend(joined);
            out.rec_ms = t.elapsed().as_secs_f64() * 1e3;
            return Ok(out);
        }
    }
    out.rec_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let boxes = detect(s, img, o)?;
    out.det_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let mut cands = box_candidates(img, &boxes);
    // A tight crop of one vertical code: the rotated reads of its tall boxes are second opinions
    // on the re-assembled columns, needed only when those are not enough on their own.
    let mut second_opinions = Vec::new();
    if o.column_second_opinions_on_demand && is_column_shaped(img) {
        (second_opinions, cands) = cands.into_iter().partition(|c| c.2 == LineSource::Rotated);
    }
    tracing::debug!(
        boxes = boxes.len(),
        candidates = cands.len(),
        deferred = second_opinions.len(),
        prep_ms = t.elapsed().as_secs_f64() * 1e3,
        "line candidates"
    );
    out.lines.extend(recognize(s, cands)?);
    if !second_opinions.is_empty() && !enough(&out.lines) {
        out.lines.extend(recognize(s, second_opinions)?);
    }
    out.rec_ms += t.elapsed().as_secs_f64() * 1e3;
    Ok(out)
}

/// Scale of the second detector pass relative to the first.
const SECOND_LOOK_SCALE: f32 = 1.5;

/// Contrast stretch per channel between the 1st and 99th percentile: a plate at night behind
/// headlight glare, or a code on a dim container side, sits in a narrow band of grey values the
/// detector's features were not trained on.
pub fn stretch_contrast(img: &RgbImage) -> RgbImage {
    let mut lut = [[0u8; 256]; 3];
    let n = (img.width() * img.height()) as usize;
    for (k, l) in lut.iter_mut().enumerate() {
        let mut hist = [0usize; 256];
        for p in img.pixels() {
            hist[p[k] as usize] += 1;
        }
        let (mut lo, mut hi, mut acc) = (0usize, 255usize, 0usize);
        for (v, &c) in hist.iter().enumerate() {
            acc += c;
            if acc * 100 < n {
                lo = v + 1;
            }
        }
        acc = 0;
        for (v, &c) in hist.iter().enumerate().rev() {
            acc += c;
            if acc * 100 < n {
                hi = v.saturating_sub(1);
            }
        }
        let span = (hi.max(lo + 1) - lo) as f32;
        for (v, out) in l.iter_mut().enumerate() {
            *out = ((v as f32 - lo as f32) * 255.0 / span).round().clamp(0.0, 255.0) as u8;
        }
    }
    let mut out = img.clone();
    for p in out.pixels_mut() {
        for k in 0..3 {
            p[k] = lut[k][p[k] as usize];
        }
    }
    out
}

/// For an image where the first pass found neither a code nor a plate: detect again on a
/// contrast-stretched image at a larger scale (small or dim text the first pass missed) and
/// read the boxes it adds, i.e. those whose centre no detected line of `out` holds. Only images
/// that would otherwise give nothing pay for it.
pub fn second_look(
    s: &mut OcrSessions,
    img: &RgbImage,
    o: &OcrOptions,
    out: &mut OcrOutput,
) -> Result<Vec<TextLine>, ModelError> {
    let t = Instant::now();
    let enhanced = stretch_contrast(img);
    let big = OcrOptions {
        det_min_side: (o.det_min_side as f32 * SECOND_LOOK_SCALE) as u32,
        det_max_side: (o.det_max_side as f32 * SECOND_LOOK_SCALE) as u32,
        ..o.clone()
    };
    let boxes = detect(s, &enhanced, &big)?;
    out.det_ms += t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let first: Vec<[f32; 4]> =
        out.lines.iter().filter(|l| l.source == LineSource::Detected).map(TextLine::bbox).collect();
    let fresh: Vec<DetBox> = boxes
        .into_iter()
        .filter(|b| {
            let c = b.bbox();
            let (cx, cy) = ((c[0] + c[2]) / 2.0, (c[1] + c[3]) / 2.0);
            !first.iter().any(|f| cx > f[0] && cx < f[2] && cy > f[1] && cy < f[3])
        })
        .collect();
    tracing::debug!(fresh = fresh.len(), "second look");
    let lines = if fresh.is_empty() { Vec::new() } else { recognize(s, box_candidates(&enhanced, &fresh))? };
    out.rec_ms += t.elapsed().as_secs_f64() * 1e3;
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn a_character_sized_box_is_read_again_with_its_cell() {
        let img = RgbImage::new(200, 100);
        let char_box = DetBox { quad: rect_quad([100.0, 40.0, 110.0, 52.0]), score: 0.9 };
        let line_box = DetBox { quad: rect_quad([10.0, 40.0, 90.0, 52.0]), score: 0.9 };
        let at = |boxes: &[DetBox]| -> Vec<[f32; 4]> {
            box_candidates(&img, boxes).iter().map(|c| [c.1[0][0], c.1[0][1], c.1[2][0], c.1[2][1]]).collect()
        };
        // Twice the size about the same centre, then the box itself.
        assert_eq!(at(&[char_box]), [[95.0, 34.0, 115.0, 58.0], [100.0, 40.0, 110.0, 52.0]]);
        assert_eq!(at(&[line_box]), [[10.0, 40.0, 90.0, 52.0]], "a line is read as boxed");
        // At the image's edge the cell stops there.
        let corner = DetBox { quad: rect_quad([0.0, 0.0, 10.0, 10.0]), score: 0.9 };
        assert_eq!(at(&[corner])[0], [0.0, 0.0, 15.0, 15.0]);
    }

    #[test]
    fn contrast_stretch_spreads_a_dim_band_over_the_full_range() {
        // A dim image: values 40..=71 only.
        let img = RgbImage::from_fn(64, 64, |x, _| Rgb([40 + (x / 2) as u8, 40 + (x / 2) as u8, 50]));
        let out = stretch_contrast(&img);
        let (lo, hi) = (out.get_pixel(0, 0)[0], out.get_pixel(63, 0)[0]);
        assert!(lo < 10 && hi > 245, "{lo}..{hi}");
        // Order is kept.
        assert!(out.get_pixel(20, 0)[0] < out.get_pixel(40, 0)[0]);
        // A flat channel stays usable (no division by zero).
        assert!(out.pixels().all(|p| p[2] == out.get_pixel(0, 0)[2]));
    }
}
