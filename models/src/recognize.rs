//! One image in, an [`ImageResult`] out: the pipeline plus the container and plate parsers.
//!
//! Tight crops are tried first without the detector; when their whole-image read already is a
//! valid container code or plate, detection is skipped (a 94x24 plate crop then costs one small
//! recogniser call instead of a detector pass).

use std::time::Instant;

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::checkdigit;
use crate::container;
use crate::error::ModelError;
use crate::iso6346;
use crate::pipeline::{self, LineSource, OcrOptions, TextLine};
use crate::plate;
use crate::reads::{ContainerRead, PlateRead};
use crate::rec::CharAlts;
use crate::runtime::OcrSessions;

/// Alternatives kept per character for the parsers.
const ALTS: usize = 8;

/// What recognition made of one image; serialises to the `edge-agent ocr --json` contract.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageResult {
    pub file: String,
    pub containers: Vec<ContainerRead>,
    pub plates: Vec<PlateRead>,
    pub lines: Vec<LineResult>,
    pub timings_ms: Timings,
    /// Set when the image could not be processed; the lists are then empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineResult {
    pub text: String,
    pub confidence: f32,
    /// Axis-aligned `[x0, y0, x1, y1]` in image pixels.
    #[serde(rename = "box")]
    pub bbox: [i32; 4],
    pub source: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub decode: f64,
    pub det: f64,
    pub rec: f64,
    pub parse: f64,
    pub total: f64,
}

fn enough(lines: &[TextLine], dict: &[String]) -> bool {
    lines.iter().any(|l| {
        let alts = l.rec.alternatives(dict, ALTS);
        iso6346::find_codes(&alts).first().is_some_and(|c| c.check_digit_ok && c.confidence > 0.5)
            || (l.source == LineSource::WholeImage && plate::find_plate(&alts).is_some_and(|p| p.confidence > 0.5))
    })
}

/// Recognise one decoded image. `camera` is recorded in the reads.
pub fn recognize_image(s: &mut OcrSessions, img: &RgbImage, camera: &str, o: &OcrOptions) -> Result<ImageResult, ModelError> {
    let t0 = Instant::now();
    let dict = s.dictionary.clone();
    let mut out = pipeline::read_image(s, img, o, &|lines| enough(lines, &dict))?;
    let tp = Instant::now();
    let mut alts: Vec<Vec<CharAlts>> = out.lines.iter().map(|l| l.rec.alternatives(&dict, ALTS)).collect();
    let retry = plate_retries(img, &out.lines, &alts);
    if !retry.is_empty() {
        let t = Instant::now();
        let more = pipeline::recognize(s, retry)?;
        alts.extend(more.iter().map(|l| l.rec.alternatives(&dict, ALTS)));
        out.lines.extend(more);
        out.rec_ms += t.elapsed().as_secs_f64() * 1e3;
    }
    let cameras = if camera.is_empty() { vec![] } else { vec![camera.to_string()] };

    let mut codes = container::codes_in_lines(&out.lines, &alts);
    // Probe for a missed check digit unless a code was already read with fair confidence.
    if !codes.iter().any(|c| c.read.check_digit_ok && c.read.confidence >= 0.3) {
        let more = checkdigit::probe_missing(s, img, &out.lines, &alts)?;
        container::merge(&out.lines, &mut codes, more);
    }
    let containers = codes
        .into_iter()
        .map(|c| ContainerRead {
            code: c.read.code,
            confidence: c.read.confidence,
            check_digit_ok: c.read.check_digit_ok,
            corrected: c.read.corrected,
            size_type: c.size_type,
            cameras: cameras.clone(),
        })
        .collect();

    // (size, read): size is the text box's long side, for ranking the main plate first.
    let mut plates: Vec<(f32, PlateRead)> = Vec::new();
    let mut found: Vec<(usize, plate::PlateText)> = Vec::new();
    for (i, (l, a)) in out.lines.iter().zip(&alts).enumerate() {
        if let Some(p) = plate::find_plate_with_lead(a, l.rec.lead_alternatives(&dict, ALTS).as_ref()) {
            found.push((i, p));
            continue;
        }
        // Two-row plate: this line (province + letter) above another.
        let b = l.bbox();
        for (j, m) in out.lines.iter().enumerate() {
            let c = m.bbox();
            let (h, below) = (b[3] - b[1], c[1] - b[3]);
            let overlap = b[2].min(c[2]) - b[0].max(c[0]);
            if j != i && below > -0.4 * h && below < 0.8 * h && overlap > 0.3 * (b[2] - b[0]) {
                // A small top row often loses its province character: take it from the lead.
                let mut top = a.clone();
                if top.iter().filter(|c| c.best().0.is_ascii_alphanumeric()).count() == 1 {
                    if let Some(lead) = l.rec.lead_alternatives(&dict, ALTS) {
                        if let Some(p) = lead.best_where(|c| plate::PROVINCES.contains(c)).filter(|x| x.1 >= 0.02) {
                            top.insert(0, CharAlts { cands: vec![p] });
                        }
                    }
                }
                if let Some(p) = plate::find_two_row(&top, &alts[j]) {
                    found.push((i, p));
                }
            }
        }
    }
    // One entry per physical plate: reads whose boxes share a centre (the whole crop and the
    // detected box, or an extended re-read) are the same plate; the more confident read wins.
    let mut boxes: Vec<[f32; 4]> = Vec::new();
    for (i, p) in found {
        let l = &out.lines[i];
        let b = l.bbox();
        let size = (b[2] - b[0]).max(b[3] - b[1]);
        let inside = |o: &[f32; 4], x: &[f32; 4]| {
            let (cx, cy) = ((x[0] + x[2]) / 2.0, (x[1] + x[3]) / 2.0);
            cx > o[0] && cx < o[2] && cy > o[1] && cy < o[3]
        };
        let same = (0..plates.len()).find(|&k| plate::same_plate(&plates[k].1.text, &p.text) || inside(&boxes[k], &b) || inside(&b, &boxes[k]));
        if let Some(k) = same {
            let e = &mut plates[k];
            e.0 = e.0.max(size);
            if p.confidence > e.1.confidence {
                e.1.text = p.text;
                e.1.confidence = p.confidence;
            }
            continue;
        }
        let color = plate::plate_color(img, &grow(&l.quad, 0.15, img));
        plates.push((size, PlateRead { text: p.text, confidence: p.confidence, color, cameras: cameras.clone() }));
        boxes.push(b);
    }
    // The main plate is the nearest vehicle's, i.e. the biggest; confidence breaks near-ties.
    let max_size = plates.iter().map(|p| p.0).fold(1.0f32, f32::max);
    let score = |p: &(f32, PlateRead)| 0.3 * p.1.confidence + p.0 / max_size;
    plates.sort_by(|a, b| score(b).total_cmp(&score(a)));

    let lines = out
        .lines
        .iter()
        .map(|l| {
            let b = l.bbox();
            LineResult {
                text: l.text.clone(),
                confidence: l.confidence,
                bbox: [b[0] as i32, b[1] as i32, b[2] as i32, b[3] as i32],
                source: format!("{:?}", l.source).to_lowercase(),
            }
        })
        .collect();
    let parse = tp.elapsed().as_secs_f64() * 1e3;
    Ok(ImageResult {
        file: String::new(),
        containers,
        plates: plates.into_iter().map(|p| p.1).collect(),
        lines,
        timings_ms: Timings { decode: 0.0, det: out.det_ms, rec: out.rec_ms, parse, total: t0.elapsed().as_secs_f64() * 1e3 },
        error: None,
    })
}

/// Lines that look like a plate missing its head (`BBC666`, `B2893`: the detector's box on a
/// small plate often starts after the province character). They are cropped again extended to
/// the left by two character widths, along the line's direction, and read once more.
fn plate_retries(img: &RgbImage, lines: &[TextLine], alts: &[Vec<CharAlts>]) -> Vec<(RgbImage, crate::imgops::Quad, LineSource)> {
    let mut out = Vec::new();
    for (l, a) in lines.iter().zip(alts) {
        if l.source != LineSource::Detected || out.len() >= 4 {
            continue;
        }
        let text: Vec<char> = a.iter().map(|c| c.best().0).filter(|c| c.is_ascii_alphanumeric()).collect();
        if !(4..=7).contains(&text.len()) || a.iter().any(|c| !c.best().0.is_ascii()) || plate::find_plate(a).is_some() {
            continue;
        }
        let q = l.quad;
        let len = ((q[1][0] - q[0][0]).powi(2) + (q[1][1] - q[0][1]).powi(2)).sqrt().max(1.0);
        let h = ((q[3][0] - q[0][0]).powi(2) + (q[3][1] - q[0][1]).powi(2)).sqrt();
        if len < 1.5 * h {
            continue;
        }
        let k = 2.0 * h / len;
        let (w, hh) = (img.width() as f32, img.height() as f32);
        let c = |p: [f32; 2]| [p[0].clamp(0.0, w), p[1].clamp(0.0, hh)];
        let tl = c([q[0][0] - (q[1][0] - q[0][0]) * k, q[0][1] - (q[1][1] - q[0][1]) * k]);
        let bl = c([q[3][0] - (q[2][0] - q[3][0]) * k, q[3][1] - (q[2][1] - q[3][1]) * k]);
        let nq = [tl, q[1], q[2], bl];
        out.push((crate::imgops::crop_quad(img, &nq), nq, LineSource::Detected));
        if text.len() == 5 {
            // Maybe the lower row of a two-row plate: read the strip above it too.
            let up = 0.8;
            let tq = [
                c([q[0][0] - (q[3][0] - q[0][0]) * up, q[0][1] - (q[3][1] - q[0][1]) * up]),
                c([q[1][0] - (q[2][0] - q[1][0]) * up, q[1][1] - (q[2][1] - q[1][1]) * up]),
                q[1],
                q[0],
            ];
            out.push((crate::imgops::crop_quad(img, &tq), tq, LineSource::Detected));
        }
    }
    out
}

/// Grow a text box about its centre (a plate's text box misses the plate's border colour).
fn grow(q: &crate::imgops::Quad, by: f32, img: &RgbImage) -> crate::imgops::Quad {
    let cx = q.iter().map(|p| p[0]).sum::<f32>() / 4.0;
    let cy = q.iter().map(|p| p[1]).sum::<f32>() / 4.0;
    q.map(|[x, y]| {
        [(cx + (x - cx) * (1.0 + by)).clamp(0.0, img.width() as f32), (cy + (y - cy) * (1.0 + 2.0 * by)).clamp(0.0, img.height() as f32)]
    })
}

impl ImageResult {
    /// Human-readable summary, one line per finding.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "{}  ({:.0} ms)", self.file, self.timings_ms.total);
        if let Some(e) = &self.error {
            let _ = writeln!(s, "  error: {e}");
            return s;
        }
        for c in &self.containers {
            let check = if c.check_digit_ok { "check ok" } else { "CHECK DIGIT WRONG" };
            let _ = write!(s, "  container {}  {:.2}  {check}", c.code, c.confidence);
            if let Some(st) = &c.size_type {
                let _ = write!(s, "  size/type {st}");
            }
            if !c.corrected.is_empty() {
                let _ = write!(s, "  corrected {}", c.corrected.join(","));
            }
            s.push('\n');
        }
        for p in &self.plates {
            let color = p.color.map(|c| format!("{c:?}").to_lowercase()).unwrap_or_else(|| "?".into());
            let _ = writeln!(s, "  plate {}  {:.2}  {color}", p.text, p.confidence);
        }
        if self.containers.is_empty() && self.plates.is_empty() {
            let _ = writeln!(s, "  nothing recognised ({} text lines)", self.lines.len());
        }
        s
    }
}
