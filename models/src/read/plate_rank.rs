//! Plates of one image: evidence grouped per physical plate, one text per plate, the lane's
//! vehicle first.
//!
//! A plate is usually read several times: the whole crop, the text detector's box, a re-read
//! extended to the left, the colour region at two paddings, and the plate detector's rectified
//! crop read by two recognisers. Reads whose boxes share a centre (or that spell the same plate)
//! are one plate. A read by both recognisers under the plate's layouts ([`DualRead`]) is the
//! strongest evidence and decides the text where there is one; elsewhere the text with the
//! largest summed confidence wins, plain reads before format-forced ones.
//!
//! Ranking is not by confidence alone: a camera framing the lane sees the vehicle in it as the
//! largest plate, found by the plate detector, and usually not at the image's edge; another
//! vehicle's plate in the background can be read just as confidently. [`RankWeights`] weighs
//! these cues; its values are chosen on grouped folds of the development data (`ocr-eval
//! --folds`), not on single images.

use std::rc::Rc;

use image::RgbImage;

use crate::imgops::Quad;
use crate::read::calibrate::PlateCues;
use crate::read::plate::{self, PlateText};
use crate::read::plate_det::PlateBox;
use crate::read::plate_dual::{DualRead, PlateAlphabets, PlateScan};
use crate::reads::PlateColor;

/// One read of a plate and where it came from.
#[derive(Debug, Clone)]
pub struct PlateEvidence {
    pub quad: Quad,
    pub read: PlateText,
    /// The plate detector's score when the read is of a detected plate, else 0.
    pub det_score: f32,
    /// Both recognisers' outputs on this crop, when it was scanned as a plate.
    pub scan: Option<Rc<PlateScan>>,
}

impl PlateEvidence {
    pub fn line(quad: Quad, read: PlateText) -> PlateEvidence {
        PlateEvidence { quad, read, det_score: 0.0, scan: None }
    }
}

/// One physical plate with the text chosen for it.
#[derive(Debug, Clone)]
pub struct PlateCandidate {
    pub quad: Quad,
    pub bbox: [f32; 4],
    /// Longer side of the largest box in the group, pixels.
    pub size: f32,
    pub det_score: f32,
    pub text: String,
    pub confidence: f32,
    pub color: Option<PlateColor>,
    /// The dual read the text came from, when it did.
    pub dual: Option<DualRead>,
    /// (text, summed confidence, best confidence, forced) per distinct text.
    votes: Vec<(String, f32, f32, bool)>,
    scans: Vec<Rc<PlateScan>>,
}

impl PlateCandidate {
    /// A scan of the plate made after grouping (see [`crate::read::plates`]): it joins the
    /// evidence and the text is chosen again.
    pub fn add_scan(&mut self, scan: PlateScan, alphabets: &PlateAlphabets) {
        self.scans.push(Rc::new(scan));
        self.choose(alphabets);
    }

    pub fn has_scan(&self) -> bool {
        !self.scans.is_empty()
    }

    /// What speaks for the chosen text (see [`crate::read::calibrate`]).
    pub fn cues(&self) -> PlateCues {
        match &self.dual {
            Some(d) if d.text == self.text => PlateCues {
                min_prob: d.confidence,
                agree: d.agree,
                agree_both: d.agree_both,
                margin: d.margin,
            },
            _ => PlateCues {
                min_prob: self.votes.iter().find(|v| v.0 == self.text).map_or(0.0, |v| v.2),
                ..PlateCues::default()
            },
        }
    }

    /// Every text read of this plate is a candidate; where the plate was scanned by both
    /// recognisers, they judge the candidates (see [`PlateScan::judge`]).
    fn choose(&mut self, alphabets: &PlateAlphabets) {
        let candidates: Vec<String> = self.votes.iter().map(|v| v.0.clone()).collect();
        let judged = self
            .scans
            .iter()
            .filter_map(|s| s.judge(&candidates, alphabets))
            .max_by(|a, b| a.confidence.total_cmp(&b.confidence));
        if let Some(d) = judged {
            self.text = d.text.clone();
            self.confidence = d.confidence;
            self.color = d.color.or(self.color);
            self.dual = Some(d);
            return;
        }
        self.choose_by_votes();
    }

    fn choose_by_votes(&mut self) {
        // Plain reads outvote forced ones; a forced read that a plain read agrees with is plain.
        if let Some(v) =
            self.votes.iter().max_by(|a, b| b.3.cmp(&a.3).then(a.1.total_cmp(&b.1)).then(a.2.total_cmp(&b.2)))
        {
            self.text = v.0.clone();
            // One recogniser, no second opinion: never as sure as an agreeing pair.
            self.confidence = v.2 * SINGLE_READ_DISCOUNT;
        }
    }
}

/// Confidence factor of a text no dual read supports.
const SINGLE_READ_DISCOUNT: f32 = 0.5;

fn bbox(q: &Quad) -> [f32; 4] {
    let xs = q.map(|p| p[0]);
    let ys = q.map(|p| p[1]);
    let min = |v: [f32; 4]| v.iter().copied().fold(f32::MAX, f32::min);
    let max = |v: [f32; 4]| v.iter().copied().fold(f32::MIN, f32::max);
    [min(xs), min(ys), max(xs), max(ys)]
}

fn contains_centre(outer: &[f32; 4], inner: &[f32; 4]) -> bool {
    let (cx, cy) = ((inner[0] + inner[2]) / 2.0, (inner[1] + inner[3]) / 2.0);
    cx > outer[0] && cx < outer[2] && cy > outer[1] && cy < outer[3]
}

/// Group evidence per physical plate and choose each plate's text.
pub fn group(found: Vec<PlateEvidence>, alphabets: &PlateAlphabets) -> Vec<PlateCandidate> {
    let mut groups: Vec<PlateCandidate> = Vec::new();
    for e in found {
        let b = bbox(&e.quad);
        let size = (b[2] - b[0]).max(b[3] - b[1]);
        let same = groups.iter().position(|g| {
            g.votes.iter().any(|v| plate::same_plate(&v.0, &e.read.text))
                || contains_centre(&g.bbox, &b)
                || contains_centre(&b, &g.bbox)
        });
        let g = match same {
            Some(k) => &mut groups[k],
            None => {
                groups.push(PlateCandidate {
                    quad: e.quad,
                    bbox: b,
                    size,
                    det_score: 0.0,
                    text: String::new(),
                    confidence: 0.0,
                    color: None,
                    dual: None,
                    votes: Vec::new(),
                    scans: Vec::new(),
                });
                groups.last_mut().expect("just pushed")
            }
        };
        if size > g.size || (e.det_score > g.det_score) {
            // The detector's quad is the plate's outline: the best box to crop and colour.
            if e.det_score >= g.det_score {
                g.quad = e.quad;
            }
            g.size = g.size.max(size);
        }
        g.det_score = g.det_score.max(e.det_score);
        if let Some(scan) = e.scan {
            g.scans.push(scan);
        }
        let p = e.read;
        match g.votes.iter_mut().find(|v| v.0 == p.text) {
            Some(v) => {
                v.1 += p.confidence;
                v.2 = v.2.max(p.confidence);
                v.3 &= p.forced;
            }
            None => g.votes.push((p.text, p.confidence, p.confidence, p.forced)),
        }
    }
    for g in &mut groups {
        g.choose(alphabets);
    }
    groups
}

/// Boxes the plate detector found that were not read (two-row plates, see
/// [`crate::read::plates`]) join the plate read there: their outline and score count for
/// cropping, colour and ranking as a read detected plate's would.
pub fn attach_detections(groups: &mut [PlateCandidate], boxes: &[PlateBox]) {
    for b in boxes {
        let g = groups
            .iter_mut()
            .find(|g| contains_centre(&g.bbox, &b.bbox) || contains_centre(&b.bbox, &g.bbox));
        if let Some(g) = g {
            if b.score >= g.det_score {
                g.quad = b.corners;
                g.det_score = b.score;
            }
            g.size = g.size.max((b.bbox[2] - b.bbox[0]).max(b.bbox[3] - b.bbox[1]));
        }
    }
}

/// How much each cue counts when ranking the plates of one image (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankWeights {
    /// Size relative to the largest plate in the image.
    pub size: f32,
    /// The plate detector's score.
    pub detector: f32,
    /// The read's confidence.
    pub confidence: f32,
    /// Closeness of the plate's centre to the image's vertical centre line.
    pub centre: f32,
    /// Subtracted when the plate touches the frame's left or right edge: a camera framing the
    /// lane has its vehicle whole in view; a plate the frame cuts belongs to a vehicle beside or
    /// passing out of it.
    pub edge: f32,
}

impl Default for RankWeights {
    fn default() -> Self {
        RankWeights { size: 1.0, detector: 0.5, confidence: 0.3, centre: 0.3, edge: 0.0 }
    }
}

/// A plate within this share of the image's width from its left or right side touches the edge.
const EDGE_MARGIN: f32 = 0.005;

/// Sort candidates, the lane's vehicle first.
pub fn rank(img: &RgbImage, mut cands: Vec<PlateCandidate>, w: &RankWeights) -> Vec<PlateCandidate> {
    let max_size = cands.iter().map(|c| c.size).fold(1.0f32, f32::max);
    let width = img.width().max(1) as f32;
    let score = |c: &PlateCandidate| {
        let cx = (c.bbox[0] + c.bbox[2]) / 2.0 / width;
        let at_edge = c.bbox[0] <= EDGE_MARGIN * width || c.bbox[2] >= (1.0 - EDGE_MARGIN) * width;
        w.size * c.size / max_size
            + w.detector * c.det_score
            + w.confidence * c.confidence
            + w.centre * (1.0 - 2.0 * (cx - 0.5).abs()).max(0.0)
            - if at_edge { w.edge } else { 0.0 }
    };
    cands.sort_by(|a, b| score(b).total_cmp(&score(a)));
    cands
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quad(x: f32, y: f32, w: f32, h: f32) -> Quad {
        [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]
    }

    fn read(text: &str, confidence: f32, forced: bool) -> PlateText {
        PlateText { text: text.into(), confidence, corrected: vec![], forced }
    }

    fn candidate(text: &str, confidence: f32, bbox: [f32; 4], det_score: f32) -> PlateCandidate {
        let quad = [[bbox[0], bbox[1]], [bbox[2], bbox[1]], [bbox[2], bbox[3]], [bbox[0], bbox[3]]];
        PlateCandidate {
            quad,
            bbox,
            size: bbox[2] - bbox[0],
            det_score,
            text: text.into(),
            confidence,
            color: None,
            dual: None,
            votes: vec![],
            scans: vec![],
        }
    }

    #[test]
    fn without_a_scan_plain_votes_win_at_a_discount() {
        let dict: Vec<String> =
            ["", "京", "沪", "A", "B", "1", "2", "3", "4", "5", "6"].map(String::from).to_vec();
        let alphabets = PlateAlphabets::of(&[&dict, &dict], false, 4.0);
        let groups = group(
            vec![
                PlateEvidence::line(quad(0.0, 0.0, 90.0, 30.0), read("京A12345", 0.9, false)),
                PlateEvidence::line(quad(1.0, 1.0, 88.0, 28.0), read("京A12346", 0.95, true)),
                PlateEvidence::line(quad(400.0, 1.0, 88.0, 28.0), read("沪B55555", 0.95, false)),
            ],
            &alphabets,
        );
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].text, "京A12345", "plain before forced");
        assert!((groups[0].confidence - 0.45).abs() < 1e-6);
        assert_eq!(groups[1].text, "沪B55555");
    }

    #[test]
    fn an_unread_detector_box_joins_the_plate_it_frames() {
        let mut groups = vec![candidate("粤AB2893", 0.5, [450.0, 420.0, 540.0, 500.0], 0.0)];
        let corners = [[400.0, 410.0], [580.0, 410.0], [580.0, 510.0], [400.0, 510.0]];
        let boxed = PlateBox { bbox: [400.0, 410.0, 580.0, 510.0], corners, score: 0.9 };
        let elsewhere = PlateBox { bbox: [0.0, 0.0, 60.0, 20.0], corners: [[0.0; 2]; 4], score: 0.95 };
        attach_detections(&mut groups, &[boxed, elsewhere]);
        assert_eq!(groups[0].det_score, 0.9);
        assert_eq!(groups[0].quad, corners);
        assert_eq!(groups[0].size, 180.0);
        assert_eq!(groups[0].text, "粤AB2893");
    }

    #[test]
    fn the_large_detected_plate_ranks_before_a_confident_small_one() {
        let img = RgbImage::new(1000, 600);
        let near = candidate("沪A11111", 0.6, [420.0, 400.0, 580.0, 450.0], 0.98);
        let far = candidate("沪B22222", 0.99, [850.0, 100.0, 910.0, 120.0], 0.0);
        let ranked = rank(&img, vec![far, near], &RankWeights::default());
        assert_eq!(ranked[0].text, "沪A11111");
    }

    #[test]
    fn a_plate_the_frame_cuts_ranks_below_a_whole_one_when_the_edge_counts() {
        let img = RgbImage::new(1000, 600);
        let cut = || candidate("湘A11R55", 0.9, [0.0, 500.0, 160.0, 540.0], 0.9);
        let whole = || candidate("湘A07G31", 0.9, [520.0, 400.0, 620.0, 430.0], 0.9);
        let ranked = rank(&img, vec![cut(), whole()], &RankWeights::default());
        assert_eq!(ranked[0].text, "湘A11R55", "larger, and the edge does not count by default");
        let w = RankWeights { edge: 0.5, ..RankWeights::default() };
        assert_eq!(rank(&img, vec![cut(), whole()], &w)[0].text, "湘A07G31");
    }
}
