//! Reading an image known to show one plate with two recognisers, under the plate's layouts.
//!
//! Two things make a read trustworthy enough to release a vehicle on: the format and a second
//! opinion. The format is applied by decoding each recogniser's output under the GA 36 layouts
//! the plate's colour allows (a green new-energy plate has 8 characters, a blue one 7), so a
//! recogniser cannot answer with a character no plate has at that position, nor drop one. The
//! second opinion is a recogniser trained on other data (PP-OCRv6 beside PP-OCRv4): their
//! mistakes (Q/O, D/0, 4/A, a province look-alike) rarely coincide, so a character both read is
//! very likely right, and one they disagree on is weak however sure either is alone. The fused
//! confidence is built that way, which is what makes a single threshold separate right reads
//! from wrong ones (see `eval::calibration`).

use std::collections::HashMap;

use image::RgbImage;

use crate::error::ModelError;
use crate::ocr::ctc_layout;
use crate::ocr::rec::{self, normalize_char, RecLine};
use crate::ocr::runtime::OcrSessions;
use crate::read::plate::{self, PlateText};
use crate::reads::PlateColor;

/// A plate image read by both recognisers.
#[derive(Debug, Clone, PartialEq)]
pub struct DualRead {
    pub text: String,
    /// Fused confidence, the weakest character's (see the module doc).
    pub confidence: f32,
    pub color: Option<PlateColor>,
    /// Both recognisers read exactly this text.
    pub agree: bool,
}

impl DualRead {
    pub fn as_plate_text(&self) -> PlateText {
        PlateText { text: self.text.clone(), confidence: self.confidence, corrected: vec![], forced: false }
    }
}

/// One recogniser's layout-decoded read: characters and their probabilities.
#[derive(Debug, Clone, PartialEq)]
struct Decoded {
    chars: Vec<char>,
    probs: Vec<f32>,
    log_p: f32,
}

/// Log-prior of a plate of `len` characters given the colour seen: a layout the colour argues
/// against (7 characters on green, 8 on blue) costs `strength`. Colour from pixels is not
/// certain (a washed-out green plate looks white, dusk turns blue grey), so it weighs against
/// the recognisers' evidence instead of ruling a length out.
fn color_prior(color: Option<PlateColor>, len: usize, strength: f32) -> f32 {
    let layout = if len == 8 { 1 } else { 0 };
    if layouts_for(color).contains(&layout) {
        0.0
    } else {
        -strength
    }
}

/// Layout indices (into `plate::layout_classes`) a plate of this colour may have.
fn layouts_for(color: Option<PlateColor>) -> &'static [usize] {
    match color {
        Some(PlateColor::Green) => &[1, 2],
        Some(PlateColor::Blue | PlateColor::Yellow | PlateColor::White | PlateColor::Black) => &[0],
        None => &[0, 1, 2],
    }
}

/// What one recogniser's dictionary needs for plates: the layouts' class sets and the class of
/// each plate character.
struct PlateAlphabet {
    layouts: Vec<Vec<Vec<usize>>>,
    class_of: HashMap<char, usize>,
    provinces: Vec<usize>,
}

impl PlateAlphabet {
    fn of(dict: &[String]) -> PlateAlphabet {
        let mut class_of = HashMap::new();
        for (k, s) in dict.iter().enumerate().skip(1) {
            let mut it = s.chars();
            let (Some(c), None) = (it.next(), it.next()) else { continue };
            let c = normalize_char(c);
            if plate::is_plate_char(c) {
                class_of.entry(c).or_insert(k);
            }
        }
        let provinces =
            class_of.iter().filter(|(c, _)| plate::PROVINCES.contains(**c)).map(|(_, &k)| k).collect();
        PlateAlphabet { layouts: plate::layout_classes(dict), class_of, provinces }
    }
}

/// One recogniser's output on a plate image.
#[derive(Debug)]
struct Scan {
    line: RecLine,
    /// The best reading under each layout.
    per_layout: Vec<Decoded>,
    /// The best of them once the colour prior is counted.
    decoded: Option<Decoded>,
}

impl Scan {
    fn new(
        line: RecLine,
        dict: &[String],
        alphabet: &PlateAlphabet,
        color: Option<PlateColor>,
        prior: f32,
    ) -> Scan {
        let per_layout: Vec<Decoded> = alphabet
            .layouts
            .iter()
            .filter_map(|sets| {
                let best = ctc_layout::decode(&line.probs, sets)?;
                let chars: Option<Vec<char>> =
                    best.classes.iter().map(|&k| dict.get(k)?.chars().next().map(normalize_char)).collect();
                Some(Decoded { chars: chars?, probs: best.probs, log_p: best.log_p })
            })
            .collect();
        let score = |d: &Decoded| d.log_p + color_prior(color, d.chars.len(), prior);
        let decoded = per_layout.iter().max_by(|a, b| score(a).total_cmp(&score(b))).cloned();
        Scan { line, per_layout, decoded }
    }

    /// This recogniser's reading of exactly `text`: the best alignment's log-probability and
    /// each character's peak probability on it. `None` if a character is not in its dictionary.
    /// With `any_province`, a leading province may be any province (this recogniser has no say
    /// on it).
    fn spell(&self, text: &[char], alphabet: &PlateAlphabet, any_province: bool) -> Option<Decoded> {
        let mut sets: Vec<Vec<usize>> =
            text.iter().map(|c| alphabet.class_of.get(c).map(|&k| vec![k])).collect::<Option<_>>()?;
        if any_province && text.first().is_some_and(|c| plate::PROVINCES.contains(*c)) {
            sets[0] = alphabet.provinces.clone();
        }
        let r = ctc_layout::decode(&self.line.probs, &sets)?;
        Some(Decoded { chars: text.to_vec(), probs: r.probs, log_p: r.log_p })
    }
}

/// Both recognisers' outputs on one plate image: reads its own best text, and judges any
/// candidate text (a line read of the same plate, say) by both recognisers' likelihoods.
#[derive(Debug)]
pub struct PlateScan {
    pub color: Option<PlateColor>,
    scans: [Scan; 2],
}

impl PlateScan {
    /// The best text among `candidates` and the two recognisers' own reads, by the product of
    /// both recognisers' likelihoods of it (a product of experts: each must find it plausible),
    /// with its fused confidence (see the module doc).
    pub fn judge(&self, candidates: &[String], s: &PlateAlphabets) -> Option<DualRead> {
        let own: Vec<Vec<char>> =
            self.scans.iter().filter_map(|x| Some(x.decoded.as_ref()?.chars.clone())).collect();
        let mut texts: Vec<Vec<char>> = own.clone();
        texts.extend(self.scans.iter().flat_map(|x| x.per_layout.iter().map(|d| d.chars.clone())));
        if let (Some(a), Some(b)) = (&self.scans[0].decoded, &self.scans[1].decoded) {
            texts.push(fuse(a, b).0.chars().collect());
        }
        texts.extend(candidates.iter().map(|c| c.chars().collect()));
        texts.sort();
        texts.dedup();
        let mut best: Option<(f32, Vec<char>, [Decoded; 2])> = None;
        for t in texts {
            let (Some(a), Some(b)) = (
                self.scans[0].spell(&t, &s.alphabets[0], false),
                self.scans[1].spell(&t, &s.alphabets[1], !s.alt_reads_province),
            ) else {
                continue;
            };
            let score = a.log_p + b.log_p + color_prior(self.color, t.len(), s.color_prior);
            if best.as_ref().is_none_or(|x| score > x.0) {
                best = Some((score, t, [a, b]));
            }
        }
        let (_, text, [a, b]) = best?;
        // Per character: both recognisers' own reads agree with it, one does, or neither.
        let mut conf = 1.0f32;
        for i in 0..text.len() {
            let own_char = |k: usize| -> Option<(char, f32)> {
                let d = self.scans[k].decoded.as_ref()?;
                (d.chars.len() == text.len()).then(|| (d.chars[i], d.probs[i]))
            };
            let (pa, pb) = (a.probs[i], b.probs[i]);
            let agrees = |k: usize| own_char(k).is_some_and(|(c, _)| c == text[i]);
            let doubt = |k: usize| own_char(k).map_or(0.0, |(_, p)| p);
            let alone = i == 0 && !s.alt_reads_province;
            let p = match (agrees(0), agrees(1)) {
                // The province is the first recogniser's alone.
                (true, _) if alone => pa,
                (false, _) if alone => pa * (1.0 - doubt(0)),
                (true, true) => 1.0 - (1.0 - pa) * (1.0 - pb),
                (true, false) => pa * (1.0 - doubt(1)),
                (false, true) => pb * (1.0 - doubt(0)),
                (false, false) => pa * pb,
            };
            conf = conf.min(p);
        }
        let agree = own.len() == 2 && own[0] == text && own[1] == text;
        Some(DualRead { text: text.into_iter().collect(), confidence: conf, color: self.color, agree })
    }
}

/// Both recognisers' plate alphabets, computed once per image, and how they judge.
pub struct PlateAlphabets {
    alphabets: [PlateAlphabet; 2],
    /// Whether the second recogniser judges the province character too. PP-OCRv6 reads
    /// provinces worse than PP-OCRv4 (新 for 皖, 鄂 for 粤 on the development folds), so by
    /// default the province is the first recogniser's alone.
    pub alt_reads_province: bool,
    /// Log-odds against a plate length its colour argues against (see [`color_prior`]).
    pub color_prior: f32,
}

impl PlateAlphabets {
    pub fn new(s: &OcrSessions, alt_reads_province: bool, color_prior: f32) -> PlateAlphabets {
        PlateAlphabets::of(&s.rec.dictionary, &s.rec_alt.dictionary, alt_reads_province, color_prior)
    }

    /// From the two recognisers' dictionaries (index 0 the CTC blank).
    pub fn of(
        first: &[String],
        second: &[String],
        alt_reads_province: bool,
        color_prior: f32,
    ) -> PlateAlphabets {
        PlateAlphabets {
            alphabets: [PlateAlphabet::of(first), PlateAlphabet::of(second)],
            alt_reads_province,
            color_prior,
        }
    }
}

/// Fuse two reads of one plate position by position. Where they agree, the character is wrong
/// only if both are: `1 - (1-p)(1-q)`. Where they differ, the more probable wins, weakened by the
/// other's belief in its own character: `p (1 - q)`. Reads of different lengths (layouts) are
/// not fused: the more probable one stands, at half its confidence.
fn fuse(a: &Decoded, b: &Decoded) -> (String, f32, bool) {
    if a.chars.len() != b.chars.len() {
        let (w, _) = if a.log_p >= b.log_p { (a, b) } else { (b, a) };
        let conf = w.probs.iter().copied().fold(1.0, f32::min) * 0.5;
        return (w.chars.iter().collect(), conf, false);
    }
    let mut text = String::new();
    let mut conf = 1.0f32;
    for i in 0..a.chars.len() {
        let (ca, pa, cb, pb) = (a.chars[i], a.probs[i], b.chars[i], b.probs[i]);
        let (c, p) = if ca == cb {
            (ca, 1.0 - (1.0 - pa) * (1.0 - pb))
        } else if pa >= pb {
            (ca, pa * (1.0 - pb))
        } else {
            (cb, pb * (1.0 - pa))
        };
        text.push(c);
        conf = conf.min(p);
    }
    (text, conf, a.chars == b.chars)
}

/// Scan each image (a rectified plate or a tight crop) with both recognisers.
pub fn scan_plates(
    s: &mut OcrSessions,
    alphabets: &PlateAlphabets,
    images: &[RgbImage],
) -> Result<Vec<PlateScan>, ModelError> {
    if images.is_empty() {
        return Ok(Vec::new());
    }
    let colors: Vec<Option<PlateColor>> = images.iter().map(plate_color_of_crop).collect();
    let first = rec::recognize(&mut s.rec, images)?;
    let second = rec::recognize(&mut s.rec_alt, images)?;
    let (d0, d1) = (s.rec.dictionary.as_slice(), s.rec_alt.dictionary.as_slice());
    Ok(first
        .into_iter()
        .zip(second)
        .zip(colors)
        .map(|((a, b), color)| PlateScan {
            color,
            scans: [
                Scan::new(a, d0, &alphabets.alphabets[0], color, alphabets.color_prior),
                Scan::new(b, d1, &alphabets.alphabets[1], color, alphabets.color_prior),
            ],
        })
        .collect())
}

/// The colour of a plate image that is (nearly) all plate.
pub fn plate_color_of_crop(img: &RgbImage) -> Option<PlateColor> {
    let (w, h) = (img.width() as f32, img.height() as f32);
    plate::plate_color(img, &[[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str, probs: &[f32]) -> Decoded {
        Decoded {
            chars: text.chars().collect(),
            probs: probs.to_vec(),
            log_p: probs.iter().map(|p| p.ln()).sum(),
        }
    }

    #[test]
    fn agreement_raises_confidence_and_disagreement_lowers_it() {
        let a = d("京A12345", &[0.8, 0.9, 0.9, 0.9, 0.9, 0.9, 0.7]);
        let (text, conf, agree) = fuse(&a, &a.clone());
        assert_eq!(text, "京A12345");
        assert!(agree && (conf - 0.91).abs() < 1e-4, "{conf}");

        // A D/0 disagreement at the end: the surer one wins, but not confidently.
        let b = d("京A1234D", &[0.8, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]);
        let (text, conf, agree) = fuse(&a, &b);
        assert_eq!(text, "京A1234D");
        assert!(!agree && conf < 0.3, "{conf}");
    }

    #[test]
    fn reads_of_different_lengths_keep_the_likelier_at_half_confidence() {
        let seven = d("皖AD1989", &[0.9; 7]);
        let eight = d("皖AD19789", &[0.99; 8]);
        let (text, conf, agree) = fuse(&seven, &eight);
        assert_eq!(text, "皖AD19789");
        assert!(!agree && (conf - 0.495).abs() < 1e-4);
    }

    #[test]
    fn colour_decides_the_layouts() {
        assert_eq!(layouts_for(Some(PlateColor::Green)), &[1, 2]);
        assert_eq!(layouts_for(Some(PlateColor::Blue)), &[0]);
        assert_eq!(layouts_for(None).len(), 3);
    }
}
