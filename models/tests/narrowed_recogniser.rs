//! The plates' second recogniser, its output layer cut to the plate alphabet, must say exactly
//! what the whole model says about those characters: at every time step, each kept class's
//! probability is the whole model's, renormalised over the kept classes (`models::ocr::narrow`).
//! A wrong column kept, a bias left unsliced or a shape left at the old class count fails here.
//! Needs the models (`scripts/setup-models`); skipped with a message when absent.

use models::manifest::{Manifest, ModelPaths};
use models::ocr::rec::normalize_char;
use models::ocr::runtime::{AltRec, KeepChar, OcrSessions};
use models::read::plate;

fn load(keep: Option<KeepChar>) -> Result<OcrSessions, models::ModelError> {
    let paths = ModelPaths::discover(&Manifest::builtin()?);
    OcrSessions::load_with(&paths, 1, AltRec::Small, keep)
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

#[test]
fn the_cut_recogniser_gives_the_whole_ones_plate_probabilities_renormalised() {
    // Only the whole model missing is a reason to skip: the cut one failing is what is tested.
    let mut whole = match load(None) {
        Ok(s) => s,
        Err(e) => return eprintln!("skipping: recognition models unavailable: {e}"),
    };
    let mut cut = load(Some(|c| plate::is_plate_char(normalize_char(c)))).expect("the cut model loads");
    let (full, kept) = (whole.rec_alt.dictionary.clone(), cut.rec_alt.dictionary.clone());
    // The blank and the 121 plate classes of PP-OCRv6's dictionary (Greek and full-width
    // look-alikes of Latin letters and digits included).
    assert_eq!((kept.len(), full.len()), (122, 18_710));
    // The kept classes are a subsequence of the whole dictionary, in order.
    let mut class_in_full = Vec::with_capacity(kept.len());
    let mut next = 0;
    for s in &kept {
        let k = (next..full.len()).find(|&k| &full[k] == s).expect("kept class not in the whole dictionary");
        class_in_full.push(k);
        next = k + 1;
    }
    assert_eq!(class_in_full[0], 0, "the CTC blank comes first");
    for c in "京沪粤皖ABCDEFGHJKLMNPQRSTUVWXYZ0123456789学警".chars() {
        assert!(kept.iter().any(|s| s.starts_with(c)), "{c} was cut");
    }
    assert!(!kept.iter().any(|s| s == "的" || s == "a"), "characters no plate has are cut");

    let (h, w) = (whole.rec_alt.height, 160);
    let x = input(h, w);
    let (t, c_full, p_full) = whole.rec_alt.run(&x, 1, w).expect("whole run");
    let (t_cut, c_cut, p_cut) = cut.rec_alt.run(&x, 1, w).expect("cut run");
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
