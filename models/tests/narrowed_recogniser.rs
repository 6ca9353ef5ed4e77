//! A recogniser whose output layer is cut to the characters its readers use (the plates' second
//! one to the plate alphabet, PP-OCRv4 to the code and plate characters) must say exactly
//! what the whole model says about those characters: at every time step, each kept class's
//! probability is the whole model's, renormalised over the kept classes (`models::ocr::narrow`).
//! A wrong column kept, a bias left unsliced or a shape left at the old class count fails here.
//! Needs the models (`scripts/setup-models`); skipped with a message when absent.

use models::engine::{code_or_plate_class, plate_class};
use models::manifest::{Manifest, ModelPaths};
use models::ocr::runtime::{AltRec, Narrowing, OcrSessions, Recogniser};

fn load(narrowing: Narrowing) -> Result<OcrSessions, models::ModelError> {
    let paths = ModelPaths::discover(&Manifest::builtin()?);
    OcrSessions::load_with(&paths, 1, AltRec::Small, narrowing)
}

/// A deterministic input with structure at several scales (not a constant: every class must
/// get some probability to compare).
fn input(h: usize, w: usize) -> Vec<f32> {
    let mut state = 0x2545_f491_u32;
    (0..3 * h * w)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let stripe = if (i % w) / 12 % 2 == 0 { 0.6 } else { -0.6 };
            stripe + (state as f32 / u32::MAX as f32 - 0.5) * 0.8
        })
        .collect()
}

/// The class of each of `kept` in `full`: the kept classes must be a subsequence of the whole
/// dictionary, in order, the CTC blank first.
fn classes_in_full(kept: &[String], full: &[String]) -> Vec<usize> {
    let mut class_in_full = Vec::with_capacity(kept.len());
    let mut next = 0;
    for s in kept {
        let k = (next..full.len()).find(|&k| &full[k] == s).expect("kept class not in the whole dictionary");
        class_in_full.push(k);
        next = k + 1;
    }
    assert_eq!(class_in_full[0], 0, "the CTC blank comes first");
    class_in_full
}

/// Runs both recognisers on one input and checks the cut one's probabilities against the whole
/// one's renormalised over the kept classes.
fn assert_cut_output_is_whole_output_renormalised(whole: &mut Recogniser, cut: &mut Recogniser) {
    let (full, kept) = (whole.dictionary.clone(), cut.dictionary.clone());
    let class_in_full = classes_in_full(&kept, &full);
    let (h, w) = (whole.height, 160);
    let x = input(h, w);
    let (t, c_full, p_full) = whole.run(&x, 1, w).expect("whole run");
    let (t_cut, c_cut, p_cut) = cut.run(&x, 1, w).expect("cut run");
    assert_eq!((t_cut, c_full, c_cut), (t, full.len(), kept.len()));
    // Relative error on every probability big enough to be more than rounding, and enough of
    // those among the non-blank classes that a wrong column would show (a noise input leaves
    // most of each step to the blank, but every class keeps some probability).
    let (mut worst, mut compared) = (0.0f32, 0);
    for step in 0..t {
        let whole_row = &p_full[step * c_full..(step + 1) * c_full];
        let cut_row = &p_cut[step * c_cut..(step + 1) * c_cut];
        let mass: f32 = class_in_full.iter().map(|&k| whole_row[k]).sum();
        for (j, &k) in class_in_full.iter().enumerate() {
            let want = whole_row[k] / mass;
            if want > 1e-6 {
                worst = worst.max((cut_row[j] - want).abs() / want);
                compared += usize::from(j > 0);
            }
        }
    }
    assert!(compared > 500, "only {compared} non-blank probabilities above 1e-6 to compare");
    assert!(worst < 1e-3, "largest relative difference {worst}");
}

#[test]
fn the_cut_second_recogniser_gives_the_whole_ones_plate_probabilities_renormalised() {
    // Only the whole model missing is a reason to skip: the cut one failing is what is tested.
    let mut whole = match load(Narrowing::default()) {
        Ok(s) => s,
        Err(e) => return eprintln!("skipping: recognition models unavailable: {e}"),
    };
    let mut cut = load(Narrowing { rec: None, rec_alt: Some(plate_class) }).expect("the cut model loads");
    let kept = &cut.rec_alt.dictionary;
    // The blank and the 121 plate classes of PP-OCRv6's dictionary (Greek and full-width
    // look-alikes of Latin letters and digits included).
    assert_eq!((kept.len(), whole.rec_alt.dictionary.len()), (122, 18_710));
    for c in "京沪粤皖ABCDEFGHJKLMNPQRSTUVWXYZ0123456789学警".chars() {
        assert!(kept.iter().any(|s| s.starts_with(c)), "{c} was cut");
    }
    assert!(!kept.iter().any(|s| s == "的" || s == "a"), "characters no plate has are cut");
    assert_cut_output_is_whole_output_renormalised(&mut whole.rec_alt, &mut cut.rec_alt);
}

/// PP-OCRv4 keeps its weights in `Constant` nodes and its dictionary in the model's metadata:
/// both paths of the cut are taken here, on the real file.
#[test]
fn the_cut_first_recogniser_gives_the_whole_ones_code_and_plate_probabilities_renormalised() {
    let mut whole = match load(Narrowing::default()) {
        Ok(s) => s,
        Err(e) => return eprintln!("skipping: recognition models unavailable: {e}"),
    };
    let mut cut =
        load(Narrowing { rec: Some(code_or_plate_class), rec_alt: None }).expect("the cut model loads");
    let kept = &cut.rec.dictionary;
    assert_eq!(whole.rec.dictionary.len(), 6_625, "6,623 characters, the blank and the space");
    // The blank, the space, ASCII's 94 printable characters and their full-width forms, the
    // plate alphabet's provinces and suffixes, and the separators the parsers skip.
    assert_eq!(kept.len(), 224);
    for c in "京沪粤皖ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-/学警".chars() {
        assert!(kept.iter().any(|s| s.starts_with(c)), "{c} was cut");
    }
    assert!(!kept.iter().any(|s| s == "的"), "characters no code or plate has are cut");
    assert_cut_output_is_whole_output_renormalised(&mut whole.rec, &mut cut.rec);
}
