//! One image in, an [`ImageResult`] out: the pipeline plus the container and plate parsers.
//!
//! Tight crops are tried first without the detector; when their whole-image read already is a
//! valid container code or plate, detection is skipped (a 94x24 plate crop then costs one small
//! recogniser call instead of a detector pass).

use std::time::Instant;

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::ocr::pipeline::{self, LineSource, TextLine};
use crate::ocr::rec::CharAlts;
use crate::ocr::runtime::OcrSessions;
use crate::read::calibrate::{CodeCues, PlateCues};
use crate::read::checkdigit;
use crate::read::container;
use crate::read::iso6346;
use crate::read::plate;
use crate::read::plates;
use crate::reads::{ContainerRead, PlateRead};

pub use crate::read::options::ReadOptions;
use crate::read::options::SceneRegions;

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
    /// `name version` of every model that produced this result.
    #[serde(default)]
    pub models: Vec<String>,
    /// Set when the image could not be processed; the lists are then empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What speaks for each of `plates` and `containers`, in their order: the inputs of their
    /// confidence (see [`crate::read::calibrate`]), for the evaluation to fit the map on.
    #[serde(skip)]
    pub plate_cues: Vec<PlateCues>,
    #[serde(skip)]
    pub container_cues: Vec<CodeCues>,
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

/// Characters a two-row block's joined line may hold to count as one code's block: the code and
/// a size-type code. More is a frame with other text in it (a small scene), where ending the read
/// early could miss a second container.
const MAX_BLOCK_CHARS: usize = 16;

fn enough(lines: &[TextLine], dict: &[String], o: &ReadOptions) -> bool {
    lines.iter().any(|l| {
        if l.source == LineSource::Rows {
            // Joined rows end the read only as what the lane acts on, and only as one code's
            // block.
            return l.text.chars().filter(|c| !c.is_whitespace()).count() <= MAX_BLOCK_CHARS
                && o.code_crop_exit.is_some_and(|exit| verified_code_crop(l, dict, exit));
        }
        let alts = l.rec.alternatives(dict, ALTS);
        iso6346::find_codes(&alts).first().is_some_and(|c| c.check_digit_ok && c.confidence > 0.5)
            || (l.source == LineSource::WholeImage
                && plate::find_plate(&alts).is_some_and(|p| p.confidence > 0.5))
            || o.code_crop_exit.is_some_and(|exit| verified_code_crop(l, dict, exit))
    })
}

/// A tight crop's whole-image or column read that decodes under the ISO 6346 layout into a code
/// whose check digit holds and whose calibrated confidence is at least `exit`. Such a read
/// needs no detector: a read the map already puts this sure is what the lane decides on, and
/// the detector's lines would only be the same code's pieces. It is the case the parser's own
/// test misses: a category letter read as its look-alike digit (`CXD01105408`) ranks the
/// window as if it were shifted, which within a crop of exactly one code it cannot be.
fn verified_code_crop(l: &TextLine, dict: &[String], exit: f32) -> bool {
    matches!(l.source, LineSource::WholeImage | LineSource::Column | LineSource::Rows)
        && container::decoded_codes(std::slice::from_ref(l), dict)
            .iter()
            .any(|c| c.read.check_digit_ok && c.read.cues().confidence() >= exit)
}

/// Recognise one decoded image. `camera` is recorded in the reads.
pub fn recognize_image(
    s: &mut OcrSessions,
    img: &RgbImage,
    camera: &str,
    o: &ReadOptions,
) -> Result<ImageResult, ModelError> {
    let t0 = Instant::now();
    let dict = s.rec.dictionary.clone();
    // On a scene the plate detector goes first: when it is sure of a plate, the text detector
    // (the slowest stage) is not needed for the plate, and is skipped (`o.sure_plate`).
    let detected = match o.sure_plate {
        Some(_) if plates::is_scene(img) => Some(plates::detect_scene_plates(s, img, o)?),
        _ => None,
    };
    let sure = detected.as_ref().zip(o.sure_plate.as_ref()).is_some_and(|(d, sure)| d.is_sure(sure));
    let mut out = if sure {
        pipeline::OcrOutput::default()
    } else {
        pipeline::read_image(s, img, &o.ocr, &|lines| enough(lines, &dict, o))?
    };
    if let Some(d) = &detected {
        out.det_ms += d.det_ms;
        out.rec_ms += d.rec_ms;
    }
    let tp = Instant::now();
    let (rec_before_parse, det_before_parse) = (out.rec_ms, out.det_ms);
    let cameras = if camera.is_empty() { vec![] } else { vec![camera.to_string()] };
    let first = out.lines.len();
    let (mut containers, mut plates) = read_results(s, img, &mut out, o, &cameras, detected.as_ref())?;
    // Nothing the lane is after: look again for small or dim text (see `pipeline::second_look`).
    // Lines the parsing added are dropped first; it adds them again from all lines.
    if !containers.iter().any(|c| c.0.check_digit_ok)
        && plates.is_empty()
        && !pipeline::is_line_shaped(img)
        && !pipeline::is_column_shaped(img)
    {
        let more = pipeline::second_look(s, img, &o.ocr, &mut out)?;
        if !more.is_empty() {
            out.lines.truncate(first);
            out.lines.extend(more);
            (containers, plates) = read_results(s, img, &mut out, o, &cameras, detected.as_ref())?;
        }
    }

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
    // Recognition and detection done while parsing (re-reads, regions, the second look) count
    // as recognition and detection.
    let parse =
        tp.elapsed().as_secs_f64() * 1e3 - (out.rec_ms - rec_before_parse) - (out.det_ms - det_before_parse);
    Ok(ImageResult {
        file: String::new(),
        lines,
        timings_ms: Timings {
            decode: 0.0,
            det: out.det_ms,
            rec: out.rec_ms,
            parse,
            total: t0.elapsed().as_secs_f64() * 1e3,
        },
        models: Vec::new(),
        error: None,
        plate_cues: plates.iter().map(|p| p.1).collect(),
        container_cues: containers.iter().map(|c| c.1).collect(),
        containers: containers.into_iter().map(|c| c.0).collect(),
        plates: plates.into_iter().map(|p| p.0).collect(),
    })
}

/// Container codes and plates, each with what speaks for it.
type Found = (Vec<(ContainerRead, CodeCues)>, Vec<(PlateRead, PlateCues)>);

/// Container codes and plates from the pipeline's lines; re-reads, colour regions and the plate
/// detector add lines to `out`.
fn read_results(
    s: &mut OcrSessions,
    img: &RgbImage,
    out: &mut pipeline::OcrOutput,
    o: &ReadOptions,
    cameras: &[String],
    detected: Option<&plates::DetectedPlates>,
) -> Result<Found, ModelError> {
    let dict = s.rec.dictionary.clone();
    let mut alts: Vec<Vec<CharAlts>> = out.lines.iter().map(|l| l.rec.alternatives(&dict, ALTS)).collect();
    let retry = plate_retries(img, &out.lines, &alts, o);
    // The container parsers see the pipeline's lines only: a re-read crop is a plate's line
    // extended over whatever stands left of it, and its pieces chain into spurious codes.
    let pipeline_lines = out.lines.len();
    if !retry.is_empty() {
        let t = Instant::now();
        let more = pipeline::recognize(s, retry)?;
        alts.extend(more.iter().map(|l| l.rec.alternatives(&dict, ALTS)));
        out.lines.extend(more);
        out.rec_ms += t.elapsed().as_secs_f64() * 1e3;
    }

    let (lines, line_alts) = (&out.lines[..pipeline_lines], &alts[..pipeline_lines]);
    let mut codes = container::codes_in_lines(lines, line_alts);
    let decoded = container::decoded_codes(lines, &dict);
    container::merge(lines, &mut codes, decoded);
    // Probe for a missed check digit on every owner code + serial that no code read with fair
    // confidence already accounts for: a frame of two containers whose first code verified
    // still needs the second one's digit (the detector skips both boxes alike).
    let read: Vec<[f32; 4]> = codes
        .iter()
        .filter(|c| c.read.check_digit_ok && c.read.confidence >= 0.3)
        .flat_map(|c| c.lines.iter().map(|&i| lines[i].bbox()))
        .collect();
    let more = checkdigit::probe_missing(s, img, lines, line_alts, &read)?;
    container::merge(lines, &mut codes, more);
    let models = vec![s.det_label_of(o.ocr.det_model(img)).to_string(), s.rec.label.clone()];
    let containers: Vec<(ContainerRead, CodeCues)> = codes
        .into_iter()
        .map(|c| {
            // The parsers ranked the codes by their raw confidence; the lane gets the calibrated one.
            let cues = c.read.cues();
            let read = ContainerRead {
                code: c.read.code,
                confidence: cues.confidence(),
                check_digit_ok: c.read.check_digit_ok,
                corrected: c.read.corrected,
                size_type: c.size_type,
                cameras: cameras.to_vec(),
                models: models.clone(),
            };
            (read, cues)
        })
        .collect();
    // A tight crop that reads as a verified container code is one line of text: not a plate.
    let verified_code_crop = o.verified_code_crop_skips_plates
        && pipeline::is_line_shaped(img)
        && containers.iter().any(|(c, _)| c.check_digit_ok);
    let plates = if verified_code_crop || !o.read_plates {
        Vec::new()
    } else if o.scene_regions == SceneRegions::UnlessCode && containers.iter().any(|(c, _)| c.check_digit_ok)
    {
        let o = ReadOptions { scene_regions: SceneRegions::Never, ..o.clone() };
        plates::plates_in_image(s, img, out, &alts, &o, cameras, detected)?
    } else {
        plates::plates_in_image(s, img, out, &alts, o, cameras, detected)?
    };
    Ok((containers, plates))
}

/// Lines that look like a plate missing its head (`BBC666`, `B2893`: the detector's box on a
/// small plate often starts after the province character). They are cropped again extended to
/// the left by two character widths, along the line's direction, and read once more. None in a
/// frame read for its container codes only (`read_plates` off: a container camera's): there is
/// no plate to complete, and the re-read pieces of a code chained into spurious second codes
/// (`BEAU4926569` beside `BEAU2656931`) while costing a recogniser batch per frame.
fn plate_retries(
    img: &RgbImage,
    lines: &[TextLine],
    alts: &[Vec<CharAlts>],
    o: &ReadOptions,
) -> Vec<(RgbImage, crate::imgops::Quad, LineSource)> {
    let mut out = Vec::new();
    if !o.read_plates {
        return out;
    }
    for (l, a) in lines.iter().zip(alts) {
        if l.source != LineSource::Detected || out.len() >= 4 {
            continue;
        }
        let text: Vec<char> = a.iter().map(|c| c.best().0).filter(|c| c.is_ascii_alphanumeric()).collect();
        if !(4..=7).contains(&text.len())
            || a.iter().any(|c| !c.best().0.is_ascii())
            || plate::find_plate(a).is_some()
        {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocr::rec::{ctc_decode, LineProbs};

    /// A line the recogniser read as `text`, each character at `p` (the rest of its step spread
    /// over the other classes), except at `unsure`: there it read `(seen, p_seen)` with
    /// `(alt, p_alt)` next. Characters are separated by blank steps.
    fn dict() -> Vec<String> {
        std::iter::once(String::new()).chain(('0'..='9').chain('A'..='Z').map(String::from)).collect()
    }

    fn read_line(
        text: &str,
        p: f32,
        unsure: Option<(usize, char, f32, char, f32)>,
        source: LineSource,
    ) -> TextLine {
        let dict = dict();
        let c = dict.len();
        let class = |ch: char| dict.iter().position(|d| d.starts_with(ch)).expect("in the dictionary");
        let mut probs = Vec::new();
        for (i, ch) in text.chars().enumerate() {
            let mut step = vec![(1.0 - p) / (c - 1) as f32; c];
            match unsure {
                Some((k, seen, p_seen, alt, p_alt)) if k == i => {
                    step.fill((1.0 - p_seen - p_alt) / (c - 2) as f32);
                    step[class(seen)] = p_seen;
                    step[class(alt)] = p_alt;
                }
                _ => step[class(ch)] = p,
            }
            probs.extend(step);
            let mut blank = vec![0.0; c];
            blank[0] = 1.0;
            probs.extend(blank);
        }
        let rec = ctc_decode(&LineProbs { t: 2 * text.len(), c, probs }, &dict, None);
        TextLine { text: rec.text.clone(), confidence: rec.confidence(), quad: [[0.0; 2]; 4], source, rec }
    }

    #[test]
    fn a_crop_read_as_a_verified_code_ends_early_only_when_sure_enough() {
        // CXDU1105408 with its category letter read as the look-alike 0 (the layout restores U).
        let sure = read_line("CXD01105408", 0.97, Some((3, '0', 0.7, 'U', 0.25)), LineSource::Column);
        assert_eq!(sure.text, "CXD01105408");
        let dict = dict();
        assert!(verified_code_crop(&sure, &dict, 0.8), "seen at 0.7 and verified: calibrated about 0.91");
        assert!(!verified_code_crop(&sure, &dict, 0.95), "but not 0.95 sure");
        // The same read from a detected box: the crop's own read is what may end early.
        let boxed = read_line("CXD01105408", 0.97, Some((3, '0', 0.7, 'U', 0.25)), LineSource::Detected);
        assert!(!verified_code_crop(&boxed, &dict, 0.8));
        // Seen at 0.4: calibrated below the lane's threshold, so the detector gets its look.
        let faint = read_line("CXD01105408", 0.97, Some((3, '0', 0.4, 'U', 0.35)), LineSource::WholeImage);
        assert!(!verified_code_crop(&faint, &dict, 0.8));
        // A wrong check digit is never verified, however clear.
        let wrong = read_line("CXDU1105409", 0.99, None, LineSource::WholeImage);
        assert!(!verified_code_crop(&wrong, &dict, 0.5));
    }

    #[test]
    fn a_joined_two_row_block_ends_the_read_only_when_it_holds_one_code() {
        let dict = dict();
        let o = ReadOptions::default().for_containers();
        let block = read_line("HALU2089976", 0.97, None, LineSource::Rows);
        assert!(enough(std::slice::from_ref(&block), &dict, &o), "one verified code: the detector is spared");
        // A serial's 0 read as O: the parser's own test (raw confidence over 0.5) would take
        // it, but the layout decode does not verify it at 0.80, so the detector gets its look.
        let misread = read_line("HALU2O89976", 0.97, None, LineSource::Rows);
        assert!(!enough(std::slice::from_ref(&misread), &dict, &o));
        let plain = read_line("HALU2O89976", 0.97, None, LineSource::WholeImage);
        assert!(enough(std::slice::from_ref(&plain), &dict, &o), "only joined rows need the calibrated exit");
        // The same code among other text: a small scene, where another container may stand.
        let scene = read_line("HALU2089976MAXGROSS30480", 0.97, None, LineSource::Rows);
        assert!(!enough(std::slice::from_ref(&scene), &dict, &o));
        // A detected line holding it still counts as before.
        let detected = read_line("HALU2089976MAXGROSS30480", 0.97, None, LineSource::Detected);
        assert!(enough(std::slice::from_ref(&detected), &dict, &o));
    }

    #[test]
    fn a_headless_plate_line_is_retried_only_where_plates_are_wanted() {
        // `BBC666` read from a detected box: a plate whose province and city letters the box cut.
        let mut line = read_line("BBC666", 0.95, None, LineSource::Detected);
        line.quad = [[100.0, 40.0], [190.0, 40.0], [190.0, 60.0], [100.0, 60.0]];
        let alts = vec![line.rec.alternatives(&dict(), ALTS)];
        let img = RgbImage::new(300, 100);
        let plates = ReadOptions::default();
        let retried = plate_retries(&img, std::slice::from_ref(&line), &alts, &plates);
        assert_eq!(retried.len(), 1, "a plate camera's frame reads it again");
        assert!(retried[0].1[0][0] < 100.0, "extended to the left");
        let containers = plates.for_containers();
        assert!(plate_retries(&img, std::slice::from_ref(&line), &alts, &containers).is_empty());
    }
}
