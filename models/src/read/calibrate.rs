//! A read's confidence as a calibrated probability that it is exactly right.
//!
//! The lane releases a vehicle on a read at or above its threshold (0.80 by default), so the
//! number must mean what it says: of reads reported at 0.9, about nine in ten are right. The
//! recognisers' own probabilities do not: a plate both recognisers spell alike at every framing is
//! nearly always right even when its weakest character sits at 0.6, and a container code whose
//! check digit, as read, verifies the other ten characters is right however faint its boxed digit.
//!
//! So the confidence is a logistic map `σ(w·x)` of a few cues that generalise across cameras and
//! sources ([`PlateCues`], [`CodeCues`]); each can only raise the confidence the more it speaks
//! for the read (the fit keeps every weight but the bias at zero or above). The plate weights
//! are fit by `ocr-eval --folds` (`models/src/eval/folds.rs`), which also fits them again without
//! each source and judges that source on the map fit without it (the held-out calibration
//! figures); the container map is a rule from ISO 6346. Both are conservative by the lane's
//! costs ([`COST_ODDS`]): at the default threshold a read's measured odds of being right are
//! at least ten to one.

/// What speaks for a plate read (see [`crate::read::plate_dual`] for the experts).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PlateCues {
    /// The weakest character's probability (for a dual read, averaged over the experts; else
    /// one recogniser's plain read).
    pub min_prob: f32,
    /// Share of the experts whose own best read is this text (0 without a dual read).
    pub agree: f32,
    /// The same share for each recogniser apart, the smallest one: all must read the text.
    pub agree_both: f32,
    /// How much likelier the experts found this text than the runner-up candidate: the
    /// difference of their summed log-likelihoods, in nats (0 without a dual read).
    pub margin: f32,
}

/// What speaks for a container code read from one image.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CodeCues {
    /// The weakest character's probability, lowered for class fixes and a window that starts or
    /// ends inside a word (see [`crate::read::iso6346::find_codes`]).
    pub min_prob: f32,
    /// The check digit verifies the code as read: no character was changed to make it do so.
    pub verified: bool,
}

/// Number of weights of a map (the first is the bias).
pub const PLATE_FEATURES: usize = 5;
pub const CODE_FEATURES: usize = 3;

/// `logit(p)`, bounded: a probability of 1e-6 or 0.999999 is not that much surer than 0.007/0.993.
fn logit(p: f32) -> f32 {
    let p = p.clamp(0.007, 0.993);
    (p / (1.0 - p)).ln()
}

/// A margin of this many nats or more counts as decisive (about e^8 ≈ 3000 to 1).
const MARGIN_CAP: f32 = 8.0;

impl PlateCues {
    /// The map's inputs: 1, logit of the weakest character, agreement, agreement of both,
    /// margin / cap.
    pub fn features(&self) -> [f32; PLATE_FEATURES] {
        [
            1.0,
            logit(self.min_prob),
            self.agree.clamp(0.0, 1.0),
            self.agree_both.clamp(0.0, 1.0),
            self.margin.clamp(0.0, MARGIN_CAP) / MARGIN_CAP,
        ]
    }

    pub fn confidence(&self) -> f32 {
        apply(&PLATE_WEIGHTS, &self.features())
    }
}

impl CodeCues {
    /// The map's inputs: 1, logit of the weakest character, verified.
    pub fn features(&self) -> [f32; CODE_FEATURES] {
        [1.0, logit(self.min_prob), self.verified as u8 as f32]
    }

    pub fn confidence(&self) -> f32 {
        apply(&CODE_WEIGHTS, &self.features())
    }
}

/// `σ(w·x)`.
pub fn apply(w: &[f32], x: &[f32]) -> f32 {
    let z: f32 = w.iter().zip(x).map(|(a, b)| a * b).sum();
    1.0 / (1.0 + (-z).exp())
}

/// How much less likely than measured a read is reported right: the odds of the lane's default
/// threshold (0.80: 4 to 1) against `WRONG_RELEASE_COST` (a released wrong read costs ten held
/// right ones, so releasing pays from odds of 10 to 1): 10 / 4. A read reported at 0.80 is
/// right ten times in eleven.
pub const COST_ODDS: f32 = 2.5;

/// Plate map, fit by `ocr-eval --folds ../shared/testdata/containers ../shared/testdata/plates`
/// on all sources of `../shared/testdata/plates` ("map fit on all sources", 2026-12-05, three
/// recognisers: `agree_both` is the smallest of their three shares; fit before the plate
/// recogniser judged the province: the fit after it, `[-0.027, 0.614, 0.724, 1.871, 0.064]`,
/// released 10 fewer right reads of 462 at 0.80 and stopped the same 10 of 13 wrong ones), each
/// wrong read counting [`COST_ODDS`] times (which lowers the bias by about ln 2.5), ridge 1;
/// order as in [`PlateCues::features`]. The overall agreement fits to 0 on all sources (the
/// agreement of both recognisers says more) but not on every fold, so it stays a cue.
pub const PLATE_WEIGHTS: [f32; PLATE_FEATURES] = [-0.353, 0.609, 0.0, 1.289, 1.435];

/// Container map: a rule from the standard, not a fit (the development set has one wrong
/// first read of 66, too few to fit on). The read's own odds `p / (1 - p)`, times 11 when the
/// check digit verifies it as read (ISO 6346's digit is the weighted sum mod 11: no single wrong
/// character passes, and a wrong code in general at most one time in eleven), divided by
/// [`COST_ODDS`]: `logit(p) + ln 11 · verified − ln 2.5`.
pub const CODE_WEIGHTS: [f32; CODE_FEATURES] = [-0.916_290_7, 1.0, 2.397_895_3];

#[cfg(test)]
mod tests {
    use super::*;

    fn plate(min_prob: f32, agree: f32, margin: f32) -> PlateCues {
        PlateCues { min_prob, agree, agree_both: agree, margin }
    }

    #[test]
    fn both_recognisers_agreeing_clear_the_lane_threshold_and_a_disagreement_does_not() {
        // Every expert reads the same text by a clear margin, the weakest character only fair.
        assert!(plate(0.6, 1.0, 12.0).confidence() >= 0.8);
        // Half the experts read another text, the runner-up nearly as likely.
        assert!(plate(0.6, 0.5, 0.5).confidence() < 0.8);
        // One recogniser's read alone (no experts, no margin), even a sure one.
        assert!(plate(0.9, 0.0, 0.0).confidence() < 0.8);
    }

    #[test]
    fn every_plate_cue_only_raises_the_confidence() {
        let base = plate(0.5, 0.5, 2.0);
        let c = base.confidence();
        assert!(PlateCues { min_prob: 0.9, ..base }.confidence() > c);
        assert!(PlateCues { agree: 1.0, agree_both: 1.0, ..base }.confidence() > c);
        assert!(PlateCues { margin: 6.0, ..base }.confidence() > c);
        assert!(PLATE_WEIGHTS[1..].iter().all(|&w| w >= 0.0));
    }

    #[test]
    fn a_check_digit_read_and_verified_clears_the_threshold_and_a_guess_does_not() {
        let code = |min_prob, verified| CodeCues { min_prob, verified }.confidence();
        // A boxed digit read at 0.6 that verifies the code.
        assert!(code(0.6, true) >= 0.8);
        // The same read, the check digit having chosen a character (or not verifying).
        assert!(code(0.6, false) < 0.8);
        // Verification does not make a read the recogniser hardly saw a release.
        assert!(code(0.1, true) < 0.8);
        // The rule: odds times 11, divided by 2.5.
        let odds = |p: f32| p / (1.0 - p);
        assert!((odds(code(0.5, true)) - 11.0 / COST_ODDS).abs() < 1e-3);
    }

    #[test]
    fn logit_is_bounded() {
        assert_eq!(logit(0.0), logit(1e-6));
        assert!(logit(1.0).is_finite() && logit(1.0) > 4.0);
    }
}
