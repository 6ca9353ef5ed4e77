//! Plate reads from text lines and from colour regions.
//!
//! Detected lines are parsed as plates (greedy first, then decoded under the layouts where the
//! line is known or likely to show a plate), two-row plates are assembled from a line above
//! another, and plate-coloured regions are read as tight crops at two paddings and, for two-row
//! shapes, per row. Every read becomes [`PlateEvidence`]; [`crate::read::plate_rank`] merges
//! them per physical plate.

use image::RgbImage;

use crate::imgops::{self, Quad};
use crate::ocr::pipeline::{LineSource, TextLine};
use crate::ocr::rec::CharAlts;
use crate::read::plate::{self, PlateText};
use crate::read::plate_find::PlateRegion;
use crate::read::plate_rank::PlateEvidence;

/// Alternatives kept per character.
const ALTS: usize = 8;

/// What part of a region a candidate line shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Whole,
    Top,
    Bottom,
}

/// Candidate line images for colour regions: each region at two paddings, and for regions of
/// two-row shape (440x220 mm) also its top and bottom rows.
pub fn region_candidates(img: &RgbImage, regions: &[PlateRegion]) -> Vec<(usize, Part, RgbImage, Quad)> {
    let mut out = Vec::new();
    for (k, r) in regions.iter().enumerate() {
        for (fx, fy) in [(0.03, 0.12), (0.10, 0.30)] {
            let q = r.quad(fx, fy, img);
            out.push((k, Part::Whole, imgops::crop_quad(img, &q), q));
        }
        let [x0, y0, x1, y1] = r.bbox;
        let (w, h) = (x1 - x0, y1 - y0);
        if w < 2.4 * h {
            // Rows of a two-row plate: the top row (province, letter) is about 2/5 of the height.
            let top: Quad = [
                [x0 + 0.1 * w, y0],
                [x1 - 0.1 * w, y0],
                [x1 - 0.1 * w, y0 + 0.42 * h],
                [x0 + 0.1 * w, y0 + 0.42 * h],
            ];
            let bottom: Quad = [[x0, y0 + 0.36 * h], [x1, y0 + 0.36 * h], [x1, y1], [x0, y1]];
            out.push((k, Part::Top, imgops::crop_quad(img, &top), top));
            out.push((k, Part::Bottom, imgops::crop_quad(img, &bottom), bottom));
        }
    }
    out
}

/// A plate in a line known to show one: greedy parsing first, then decoding under the plate
/// layouts (see [`plate::find_plate_decoded`]).
fn read_known_plate(
    l: &TextLine,
    alts: &[CharAlts],
    dict: &[String],
    layouts: &[Vec<Vec<usize>>],
) -> Option<PlateText> {
    plate::find_plate_with_lead(alts, l.rec.lead_alternatives(dict, ALTS).as_ref())
        .or_else(|| plate::find_plate_decoded(&l.rec, dict, layouts, KNOWN_PLATE_MIN_PROVINCE))
}

/// Weakest province probability accepted from layout decoding where the line is known to show a
/// plate (a tight crop, a plate-coloured region): enough that the model saw *some* province there.
const KNOWN_PLATE_MIN_PROVINCE: f32 = 1e-4;

/// Could this detected line be a plate the greedy read garbled? Plate length give or take one,
/// nearly all of it plate characters. Other text (signs, timestamps) is not decoded as a plate.
fn plate_like(text: &str) -> bool {
    let chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace() && !plate::is_separator(*c)).collect();
    let ascii = chars.iter().filter(|c| c.is_ascii_alphanumeric()).count();
    let province = chars.iter().filter(|c| plate::PROVINCES.contains(**c)).count();
    (6..=9).contains(&chars.len()) && ascii >= 4 && ascii + province + 1 >= chars.len()
}

/// Plates read from the recognised region candidates (`lines[i]` is candidate `parts[i]`).
pub fn region_reads(parts: &[(usize, Part)], lines: &[TextLine], dict: &[String]) -> Vec<(Quad, PlateText)> {
    let layouts = plate::layout_classes(dict);
    let mut out = Vec::new();
    for (i, (k, part)) in parts.iter().enumerate() {
        let alts = lines[i].rec.alternatives(dict, ALTS);
        // Every part may hold a whole single-row plate: a region of two-row shape is often a
        // single-row plate with a bright frame or bumper above it.
        // Such a part read is a fallback, like a forced one: it counts where no plain read of the
        // whole region exists.
        if let Some(mut p) = read_known_plate(&lines[i], &alts, dict, &layouts) {
            p.forced |= *part != Part::Whole;
            out.push((lines[i].quad, p));
            if *part == Part::Whole {
                continue;
            }
        }
        if *part == Part::Top {
            let Some(j) = parts.iter().position(|x| x.0 == *k && x.1 == Part::Bottom) else { continue };
            let bottom = lines[j].rec.alternatives(dict, ALTS);
            // The small top row often loses its province: decode it as province + letter.
            let two = plate::find_two_row(&alts, &bottom).or_else(|| {
                let top = crate::ocr::ctc_layout::decode(&lines[i].rec.probs, &layouts[0][..2])?;
                let top: Vec<CharAlts> = top
                    .classes
                    .iter()
                    .zip(&top.probs)
                    .filter_map(|(&c, &p)| {
                        Some(CharAlts {
                            cands: vec![(crate::ocr::rec::normalize_char(dict.get(c)?.chars().next()?), p)],
                        })
                    })
                    .collect();
                let p =
                    plate::find_two_row(&top, &bottom).filter(|p| p.confidence >= plate::MIN_DECODED_PROB)?;
                Some(PlateText { forced: true, ..p })
            });
            if let Some(p) = two {
                let (a, b) = (lines[i].quad, lines[j].quad);
                out.push(([a[0], a[1], b[2], b[3]], p));
            }
        }
    }
    out
}

/// Every plate read in the lines, unmerged (see [`crate::read::plate_rank::group`]). `extra` are
/// reads made outside the text lines (colour regions).
pub fn evidence_in_lines(
    lines: &[TextLine],
    alts: &[Vec<CharAlts>],
    dict: &[String],
    extra: Vec<(Quad, PlateText)>,
) -> Vec<PlateEvidence> {
    // Lines beyond `alts` were read for `extra` and are already parsed there.
    let lines = &lines[..alts.len().min(lines.len())];
    let layouts = plate::layout_classes(dict);
    let mut found: Vec<(Quad, PlateText)> = Vec::new();
    for (i, (l, a)) in lines.iter().zip(alts).enumerate() {
        if let Some(p) = plate::find_plate_with_lead(a, l.rec.lead_alternatives(dict, ALTS).as_ref()) {
            found.push((l.quad, p));
            continue;
        }
        let decoded = match l.source {
            LineSource::WholeImage => {
                plate::find_plate_decoded(&l.rec, dict, &layouts, KNOWN_PLATE_MIN_PROVINCE)
            }
            LineSource::Detected if plate_like(&l.text) => {
                plate::find_plate_decoded(&l.rec, dict, &layouts, plate::MIN_DECODED_PROB)
            }
            _ => None,
        };
        if let Some(p) = decoded {
            found.push((l.quad, p));
            continue;
        }
        // Two-row plate: this line (province + letter) above another.
        let b = l.bbox();
        for (j, m) in lines.iter().enumerate() {
            let c = m.bbox();
            let (h, below) = (b[3] - b[1], c[1] - b[3]);
            let overlap = b[2].min(c[2]) - b[0].max(c[0]);
            if j != i && below > -0.4 * h && below < 0.8 * h && overlap > 0.3 * (b[2] - b[0]) {
                // A small top row often loses its province character: take it from the lead.
                let mut top = a.clone();
                if top.iter().filter(|c| c.best().0.is_ascii_alphanumeric()).count() == 1 {
                    if let Some(lead) = l.rec.lead_alternatives(dict, ALTS) {
                        if let Some(p) =
                            lead.best_where(|c| plate::PROVINCES.contains(c)).filter(|x| x.1 >= 0.02)
                        {
                            top.insert(0, CharAlts { cands: vec![p] });
                        }
                    }
                }
                if let Some(p) = plate::find_two_row(&top, &alts[j]) {
                    // The plate's box spans both rows: its shape says two-row (see
                    // [`crate::read::plate_det::is_two_row`]), so it is not re-read as a line.
                    let (a, c) = (l.quad, m.quad);
                    found.push(([a[0], a[1], c[2], c[3]], p));
                }
            }
        }
    }
    found.extend(extra);
    found.into_iter().map(|(q, p)| PlateEvidence::line(q, p)).collect()
}

/// Drop regions that the whole (tight-crop) image already read as a plate with every character
/// sure (>= 0.9): a re-read would only cost time. In scenes every region is read: a detector box
/// read with confidence can still have lost a character the region read keeps.
pub fn unread_regions(
    regions: Vec<PlateRegion>,
    lines: &[TextLine],
    alts: &[Vec<CharAlts>],
    dict: &[String],
) -> Vec<PlateRegion> {
    let sure: Vec<[f32; 4]> = lines
        .iter()
        .zip(alts)
        .filter(|(l, _)| l.source == LineSource::WholeImage)
        .filter(|(l, a)| {
            plate::find_plate_with_lead(a, l.rec.lead_alternatives(dict, ALTS).as_ref())
                .is_some_and(|p| p.confidence >= 0.9)
        })
        .map(|(l, _)| l.bbox())
        .collect();
    regions
        .into_iter()
        .filter(|r| {
            let (cx, cy) = ((r.bbox[0] + r.bbox[2]) / 2.0, (r.bbox[1] + r.bbox[3]) / 2.0);
            !sure.iter().any(|b| cx > b[0] && cx < b[2] && cy > b[1] && cy < b[3])
        })
        .collect()
}

/// Mark lines as read from a colour region.
pub fn as_region_lines(lines: &mut [TextLine]) {
    for l in lines {
        l.source = LineSource::PlateRegion;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plate_like_lines_are_near_plate_length_and_plate_characters() {
        assert!(plate_like("MR35779"));
        assert!(plate_like("皖12288"));
        assert!(plate_like("川A·A662F"));
        assert!(!plate_like("2013-04-10 12:02:31"), "timestamps are longer");
        assert!(!plate_like("西门出口"));
        assert!(!plate_like("B2893"), "too short: the two-row path reads these");
    }
}
