//! Every plate of one image, the lane's vehicle first: all the ways of finding a plate, merged.
//!
//! Four sources of evidence, each covering another's blind spot:
//! - the text detector's lines (any plate with legible characters, parsed by [`plate_read`]);
//! - plate-coloured regions read as tight crops ([`plate_find`]: dim or small plates whose
//!   characters the text detector misses);
//! - the plate detector's rectified plates read by both recognisers ([`plate_det`],
//!   [`plate_dual`]: plates at an angle, province characters the text box cut off);
//! - for a tight crop, the whole image read by both recognisers.
//!
//! A plate that only single reads support gets a dual read of its box before ranking, so every
//! reported plate's confidence means the same thing: two recognisers' fused belief.

use std::rc::Rc;
use std::time::Instant;

use image::RgbImage;

use crate::error::ModelError;
use crate::imgops::{self, Quad};
use crate::ocr::pipeline::{self, LineSource, OcrOutput};
use crate::ocr::rec::CharAlts;
use crate::ocr::runtime::OcrSessions;
use crate::read::calibrate::PlateCues;
use crate::read::options::{ReadOptions, SceneRegions, SurePlate};
use crate::read::plate;
use crate::read::plate_det::{self, PlateBox};
use crate::read::plate_dual::{self, PlateAlphabets, PlateScan};
use crate::read::plate_find;
use crate::read::plate_rank::{self, PlateCandidate, PlateEvidence};
use crate::read::plate_read;
use crate::reads::PlateRead;

/// At most this many plates without a dual read get one before ranking (the largest first).
const MAX_VERIFIED: usize = 3;

/// Every plate in the image, main plate first, with what speaks for its read (its confidence is
/// their calibrated map, see [`crate::read::calibrate`]). `alts` are the alternatives of
/// `out.lines` as they were before this call; region and detector reads add lines to `out`.
///
/// `detected` is the plate detector's work on this scene when it was done before the text
/// detector ran (see [`detect_scene_plates`]); on a scene without it, it is done here.
pub fn plates_in_image(
    s: &mut OcrSessions,
    img: &RgbImage,
    out: &mut OcrOutput,
    alts: &[Vec<CharAlts>],
    o: &ReadOptions,
    cameras: &[String],
    detected: Option<&DetectedPlates>,
) -> Result<Vec<(PlateRead, PlateCues)>, ModelError> {
    let dict = s.rec.dictionary.clone();
    let alphabets = alphabets(s, o);
    let fresh;
    let detected = match detected {
        Some(d) => Some(d),
        None if is_scene(img) => {
            fresh = detect_with(s, img, o, &alphabets)?;
            out.det_ms += fresh.det_ms;
            out.rec_ms += fresh.rec_ms;
            Some(&fresh)
        }
        None => None,
    };
    let t = Instant::now();
    // Plate-coloured regions are read as tight crops; their reads vote with the lines' reads.
    let sure = o.sure_plate.zip(detected).is_some_and(|(sure, d)| d.is_sure(&sure));
    let mut found = if !is_scene(img)
        || (o.scene_regions != SceneRegions::Never && !(o.regions_unless_sure_plate && sure))
    {
        plate_find::find_regions(img)
    } else {
        Vec::new()
    };
    if o.regions_skip_detected {
        if let Some(d) = detected {
            found.retain(|r| {
                !d.found.iter().any(|e| imgops::holds_centre(&imgops::quad_bbox(&e.quad), &r.bbox))
            });
        }
    }
    let regions = plate_read::unread_regions(found, &out.lines, alts, &dict);
    let cands = plate_read::region_candidates(img, &regions);
    let mut region_found = Vec::new();
    if !cands.is_empty() {
        let parts: Vec<_> = cands.iter().map(|c| (c.0, c.1)).collect();
        let mut lines =
            pipeline::recognize(s, cands.into_iter().map(|c| (c.2, c.3, LineSource::PlateRegion)).collect())?;
        region_found = plate_read::region_reads(&parts, &lines, &dict);
        plate_read::as_region_lines(&mut lines);
        out.lines.extend(lines);
    }
    let mut evidence = plate_read::evidence_in_lines(&out.lines, alts, &dict, region_found);
    out.rec_ms += t.elapsed().as_secs_f64() * 1e3;

    if pipeline::is_line_shaped(img) {
        // A tight crop: the image is the plate.
        let t = Instant::now();
        let (w, h) = (img.width() as f32, img.height() as f32);
        let whole: Quad = [[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]];
        let scans = plate_dual::scan_plates(s, &alphabets, std::slice::from_ref(img))?;
        evidence.extend(scans.into_iter().filter_map(|scan| as_evidence(scan, whole, 0.0, &alphabets)));
        out.rec_ms += t.elapsed().as_secs_f64() * 1e3;
    }
    let mut unread = Vec::new();
    if let Some(d) = detected.filter(|_| is_scene(img)) {
        evidence.extend(d.found.iter().cloned());
        unread = d.unread.clone();
    }

    let mut groups = plate_rank::group(evidence, &alphabets);
    plate_rank::attach_detections(&mut groups, &unread);
    verify(s, img, &mut groups, out, &alphabets)?;
    let ranked = plate_rank::rank(img, groups, &o.rank);
    Ok(ranked.into_iter().map(|c| to_read(img, c, s, o, cameras)).collect())
}

/// A scan's own best read as evidence at `quad`.
fn as_evidence(
    scan: PlateScan,
    quad: Quad,
    det_score: f32,
    alphabets: &PlateAlphabets,
) -> Option<PlateEvidence> {
    let d = scan.judge(&[], alphabets)?;
    Some(PlateEvidence { quad, read: d.as_plate_text(), det_score, scan: Some(Rc::new(scan)) })
}

/// A scene: neither a tight line crop nor a column crop, so the plate detector looks at it.
pub fn is_scene(img: &RgbImage) -> bool {
    !pipeline::is_line_shaped(img) && !pipeline::is_column_shaped(img)
}

/// What the plate detector found in a scene: single-row plates rectified and read by both
/// recognisers, and the boxes not read: two-row ones, which the line recognisers cannot read
/// whole (their text comes from the row reads of [`plate_read`]), and those without a credible
/// read. An unread box still tells the ranking a plate is where the text lines read one.
#[derive(Debug, Clone, Default)]
pub struct DetectedPlates {
    pub found: Vec<PlateEvidence>,
    pub unread: Vec<PlateBox>,
    /// Time spent detecting and reading, for the image's timings.
    pub det_ms: f64,
    pub rec_ms: f64,
}

impl DetectedPlates {
    /// Is some single-row plate as sure as `sure` asks (see [`SurePlate`])?
    pub fn is_sure(&self, sure: &SurePlate) -> bool {
        self.found.iter().any(|e| e.det_score >= sure.min_score && e.read.confidence >= sure.min_confidence)
    }
}

/// Run the plate detector on a scene and read its single-row plates (see [`DetectedPlates`]).
/// Done before the text detector, its result decides whether that one runs at all
/// ([`ReadOptions::sure_plate`]), and [`plates_in_image`] takes it instead of detecting again.
pub fn detect_scene_plates(
    s: &mut OcrSessions,
    img: &RgbImage,
    o: &ReadOptions,
) -> Result<DetectedPlates, ModelError> {
    let alphabets = alphabets(s, o);
    detect_with(s, img, o, &alphabets)
}

fn detect_with(
    s: &mut OcrSessions,
    img: &RgbImage,
    o: &ReadOptions,
    alphabets: &PlateAlphabets,
) -> Result<DetectedPlates, ModelError> {
    let t = Instant::now();
    let (two_row, boxes): (Vec<PlateBox>, Vec<PlateBox>) =
        plate_det::detect(s, img, o.plate_det_max_side, o.plate_det_min_score)?
            .into_iter()
            .partition(|b| plate_det::is_two_row(&b.corners));
    let det_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let crops: Vec<RgbImage> = boxes
        .iter()
        .map(|b| imgops::crop_quad(img, &imgops::grow_quad(&b.corners, PLATE_MARGIN.0, PLATE_MARGIN.1, img)))
        .collect();
    let scans = plate_dual::scan_plates(s, alphabets, &crops)?;
    let rec_ms = t.elapsed().as_secs_f64() * 1e3;
    let (mut found, mut unread) = (Vec::new(), two_row);
    for (b, scan) in boxes.into_iter().zip(scans) {
        // A box the experts read nothing credible in (one row of a two-row plate, a background
        // shape) is still a box: it may frame a plate the text lines read.
        match as_evidence(scan, b.corners, b.score, alphabets) {
            Some(e) => found.push(e),
            None => unread.push(b),
        }
    }
    Ok(DetectedPlates { found, unread, det_ms, rec_ms })
}

/// Margin added around a detected plate's corners before reading (fraction of width, height).
const PLATE_MARGIN: (f32, f32) = (0.02, 0.04);
/// Margin added around a text box to take in the whole plate.
const TEXT_BOX_MARGIN: (f32, f32) = (0.06, 0.25);

/// Give the largest plates that only single reads support a dual read of their box. Two-row
/// plates are not scanned: read as one line they are garbage the experts would still spell.
fn verify(
    s: &mut OcrSessions,
    img: &RgbImage,
    groups: &mut [PlateCandidate],
    out: &mut OcrOutput,
    alphabets: &PlateAlphabets,
) -> Result<(), ModelError> {
    let mut todo: Vec<usize> = (0..groups.len())
        .filter(|&i| !groups[i].has_scan() && !plate_det::is_two_row(&groups[i].quad))
        .collect();
    todo.sort_by(|&a, &b| groups[b].size.total_cmp(&groups[a].size));
    todo.truncate(MAX_VERIFIED);
    if todo.is_empty() {
        return Ok(());
    }
    let t = Instant::now();
    let crops: Vec<RgbImage> = todo
        .iter()
        .map(|&i| {
            imgops::crop_quad(
                img,
                &imgops::grow_quad(&groups[i].quad, TEXT_BOX_MARGIN.0, TEXT_BOX_MARGIN.1, img),
            )
        })
        .collect();
    let scans = plate_dual::scan_plates(s, alphabets, &crops)?;
    for (i, scan) in todo.into_iter().zip(scans) {
        groups[i].add_scan(scan, alphabets);
    }
    out.rec_ms += t.elapsed().as_secs_f64() * 1e3;
    Ok(())
}

/// The reported read: the ranking weighed the raw confidence, the lane gets the calibrated one.
fn to_read(
    img: &RgbImage,
    c: PlateCandidate,
    s: &OcrSessions,
    o: &ReadOptions,
    cameras: &[String],
) -> (PlateRead, PlateCues) {
    let color = c.color.or_else(|| {
        plate::plate_color(img, &imgops::grow_quad(&c.quad, TEXT_BOX_MARGIN.0, TEXT_BOX_MARGIN.1, img))
    });
    let mut models = Vec::new();
    if c.det_score > 0.0 {
        models.push(s.plate_det_label.clone());
    }
    models.push(s.rec.label.clone());
    if c.dual.is_some() {
        models.push(s.rec_alt.label.clone());
        if o.plate_rec {
            models.push(s.rec_plate.label.clone());
        }
    }
    let cues = c.cues();
    let read =
        PlateRead { text: c.text, confidence: cues.confidence(), color, cameras: cameras.to_vec(), models };
    (read, cues)
}

/// The plate experts' alphabets from the loaded recognisers, with the options' settings.
fn alphabets(s: &OcrSessions, o: &ReadOptions) -> PlateAlphabets {
    let dicts = [&s.rec.dictionary[..], &s.rec_alt.dictionary[..], &s.rec_plate.dictionary[..]];
    let mut a = PlateAlphabets::of(&dicts, o.alt_reads_province, o.plate_color_prior);
    a.plate_rec = o.plate_rec;
    a.plate_rec_province = o.plate_rec_province;
    a.min_confidence = o.plate_dual_min_confidence;
    a.plate_rec_home_discount = o.plate_rec_home_discount;
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::plate::PlateText;

    fn found(det_score: f32, confidence: f32) -> PlateEvidence {
        let read = PlateText { text: "京A12345".into(), confidence, corrected: vec![], forced: false };
        PlateEvidence { det_score, ..PlateEvidence::line([[0.0; 2]; 4], read) }
    }

    #[test]
    fn sure_needs_one_plate_both_well_detected_and_well_read() {
        let sure = SurePlate { min_score: 0.7, min_confidence: 0.7 };
        let d = |found: Vec<PlateEvidence>| DetectedPlates { found, ..Default::default() };
        assert!(d(vec![found(0.9, 0.8)]).is_sure(&sure));
        assert!(!d(vec![]).is_sure(&sure), "no plate");
        assert!(!d(vec![found(0.6, 0.99)]).is_sure(&sure), "read well, detected weakly");
        assert!(!d(vec![found(0.99, 0.6)]).is_sure(&sure), "detected well, read weakly");
        assert!(!d(vec![found(0.99, 0.6), found(0.6, 0.99)]).is_sure(&sure), "not one plate with both");
        assert!(d(vec![found(0.99, 0.6), found(0.75, 0.75)]).is_sure(&sure));
    }
}
