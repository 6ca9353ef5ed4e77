//! Reading a framed check digit the detector missed.
//!
//! The check digit is painted inside a rectangle. The detector often skips that box entirely and
//! the recogniser, given the frame, reads `D`, `0` or nothing. So when a line (or a chain of two
//! lines) ends in a complete owner code + serial but no check digit, the place where the digit must
//! be (right of a horizontal code, below a vertical one) is cropped at a few insets — the smaller
//! ones cut the frame off — and each crop is recognised as digits only. The digit read there is
//! what the code is judged by: the check digit is *read*, never computed into the answer.

use image::RgbImage;

use crate::error::ModelError;
use crate::imgops::{self, Quad};
use crate::ocr::pipeline::{LineSource, TextLine};
use crate::ocr::rec::{self, CharAlts};
use crate::ocr::runtime::OcrSessions;
use crate::read::container::ImageCode;
use crate::read::iso6346::{self, CodeRead};

/// A code missing its check digit, and where the digit should be.
struct Prefix {
    code10: String,
    confidence: f32,
    /// The weakest of the ten characters as read (see [`CodeRead::seen`]).
    seen: f32,
    corrected: Vec<String>,
    probe: Quad,
    lines: Vec<usize>,
}

fn is_vertical(l: &TextLine) -> bool {
    matches!(l.source, LineSource::Column | LineSource::Rotated)
}

fn probe_region(l: &TextLine, n_chars: usize, img: &RgbImage) -> Quad {
    let b = l.bbox();
    let (w, h) = (img.width() as f32, img.height() as f32);
    let r = if is_vertical(l) {
        let pitch = (b[3] - b[1]) / n_chars.max(1) as f32;
        let cx = (b[0] + b[2]) / 2.0;
        let half = 0.75 * (b[2] - b[0]).max(pitch * 0.6);
        [cx - half, b[3] - 0.1 * pitch, cx + half, b[3] + 1.5 * pitch]
    } else {
        // Along the line's own direction: codes are often seen at a slant.
        let q = &l.quad;
        let len = ((q[1][0] - q[0][0]).powi(2) + (q[1][1] - q[0][1]).powi(2)).sqrt().max(1.0);
        let lh = ((q[3][0] - q[0][0]).powi(2) + (q[3][1] - q[0][1]).powi(2)).sqrt();
        let k = 1.4 * lh / len;
        let (ux, uy) = ((q[1][0] - q[0][0]) / len, (q[1][1] - q[0][1]) / len);
        let (vx, vy) = ((q[3][0] - q[0][0]) / lh.max(1.0), (q[3][1] - q[0][1]) / lh.max(1.0));
        let m = 0.15 * lh;
        let c = |p: [f32; 2]| [p[0].clamp(0.0, w), p[1].clamp(0.0, h)];
        let tr = [q[1][0] - ux * m - vx * m, q[1][1] - uy * m - vy * m];
        let br = [q[2][0] - ux * m + vx * m, q[2][1] - uy * m + vy * m];
        let far_t = [q[1][0] + (q[1][0] - q[0][0]) * k - vx * m, q[1][1] + (q[1][1] - q[0][1]) * k - vy * m];
        let far_b = [q[2][0] + (q[2][0] - q[3][0]) * k + vx * m, q[2][1] + (q[2][1] - q[3][1]) * k + vy * m];
        return [c(tr), c(far_t), c(far_b), c(br)];
    };
    let r = [r[0].clamp(0.0, w), r[1].clamp(0.0, h), r[2].clamp(0.0, w), r[3].clamp(0.0, h)];
    [[r[0], r[1]], [r[2], r[1]], [r[2], r[3]], [r[0], r[3]]]
}

/// Owner+serial prefixes ending a line or a two-line chain.
fn prefixes(lines: &[TextLine], alts: &[Vec<CharAlts>], img: &RgbImage) -> Vec<Prefix> {
    let mut out: Vec<Prefix> = Vec::new();
    let alnum =
        |a: &[CharAlts]| a.iter().filter(|c| c.best().0.is_ascii_alphanumeric()).cloned().collect::<Vec<_>>();
    let mut consider = |seq: Vec<CharAlts>, last: usize, idx: Vec<usize>| {
        // Exactly owner + serial: a longer line already holds its own check digit (or is not a
        // code), and a window inside it would start mid-word.
        if seq.len() != 10 {
            return;
        }
        let Some((code10, confidence, corrected)) = iso6346::read_prefix(&seq) else { return };
        let n_last = alnum(&alts[last]).len();
        if out.iter().any(|p| p.code10 == code10) {
            return;
        }
        let seen = seq.iter().map(|a| a.best().1).fold(1.0f32, f32::min);
        out.push(Prefix {
            code10,
            confidence,
            seen,
            corrected,
            probe: probe_region(&lines[last], n_last, img),
            lines: idx,
        });
    };
    for i in 0..lines.len() {
        let a = alnum(&alts[i]);
        consider(a.clone(), i, vec![i]);
        if a.len() >= 6 || a.is_empty() {
            continue;
        }
        // Owner code in one line, serial in the next.
        for j in 0..lines.len() {
            let b = alnum(&alts[j]);
            if j != i && b.len() == 6 && crate::read::container::follows(&lines[i], &lines[j]) {
                let mut seq = a.clone();
                seq.extend(b);
                consider(seq, j, vec![i, j]);
            }
        }
    }
    out
}

/// Digit probabilities (max over time steps) read from the probe at three insets.
fn read_digit(s: &mut OcrSessions, img: &RgbImage, q: &Quad) -> Result<Vec<(char, f32)>, ModelError> {
    let crop = imgops::crop_quad(img, q);
    if crop.width() < 4 || crop.height() < 4 {
        return Ok(vec![]);
    }
    let mut crops = Vec::new();
    for inset in [0.0f32, 0.12, 0.22] {
        let (w, h) = (crop.width() as f32, crop.height() as f32);
        let (dx, dy) = ((w * inset) as u32, (h * inset) as u32);
        let c =
            image::imageops::crop_imm(&crop, dx, dy, (w as u32 - 2 * dx).max(2), (h as u32 - 2 * dy).max(2))
                .to_image();
        let bg = *c.get_pixel(0, 0);
        let mut padded = RgbImage::from_pixel(c.width() + c.height(), c.height(), bg);
        image::imageops::replace(&mut padded, &c, (c.height() / 2) as i64, 0);
        crops.push(padded);
    }
    // PaddleOCR's usual 320-pixel minimum width (zero padding) reads lone digits best.
    let recs = rec::recognize_min_width(&mut s.rec, &crops, 320)?;
    let mut best = [0.0f32; 10];
    for r in &recs {
        for step in 0..r.probs.t {
            let row = r.probs.row(step);
            for (b, &k) in best.iter_mut().zip(&s.rec.digit_class) {
                if k < row.len() && row[k] > *b {
                    *b = row[k];
                }
            }
        }
    }
    let mut v: Vec<(char, f32)> = (0..10).map(|d| ((b'0' + d as u8) as char, best[d])).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(v)
}

/// Complete codes whose check digit the detector missed; returns codes found this way. A prefix
/// read by a line whose centre lies in one of `read` (the boxes of codes already read) is that
/// code again, and is not probed.
pub fn probe_missing(
    s: &mut OcrSessions,
    img: &RgbImage,
    lines: &[TextLine],
    alts: &[Vec<CharAlts>],
    read: &[[f32; 4]],
) -> Result<Vec<ImageCode>, ModelError> {
    let mut out = Vec::new();
    let known =
        |p: &Prefix| p.lines.iter().any(|&i| read.iter().any(|r| imgops::holds_centre(r, &lines[i].bbox())));
    for p in prefixes(lines, alts, img).into_iter().filter(|p| !known(p)).take(4) {
        let Some(expected) = iso6346::check_digit(&p.code10) else { continue };
        let digits = read_digit(s, img, &p.probe)?;
        let Some(&(top, top_p)) = digits.first() else { continue };
        let exp_char = char::from_digit(expected, 10).unwrap_or('?');
        let exp_p = digits.iter().find(|d| d.0 == exp_char).map_or(0.0, |d| d.1);
        // The expected digit must really be there: the best read, or a close runner-up.
        let (digit, p_digit, ok) =
            if exp_p >= 0.3 && exp_p >= 0.5 * top_p { (exp_char, exp_p, true) } else { (top, top_p, false) };
        if top_p < 0.2 {
            continue;
        }
        let code = format!("{}{digit}", p.code10);
        let confidence = p.confidence.min(p_digit) * if ok { 0.9 } else { 0.4 };
        out.push(ImageCode {
            read: CodeRead {
                code,
                confidence,
                check_digit_ok: ok && iso6346::is_valid(&format!("{}{digit}", p.code10)),
                corrected: p.corrected,
                // A runner-up taken because it is the expected digit: the code chose it.
                guessed: ok && digit != top,
                seen: p.seen.min(p_digit),
            },
            size_type: None,
            lines: p.lines,
        });
    }
    Ok(out)
}
