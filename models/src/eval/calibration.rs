//! Is the confidence calibrated? A right read should clear the lane's threshold, a wrong one not.
//!
//! The lane releases a vehicle only when every read is at or above its threshold, so the two
//! numbers that matter are the share of right reads at or above it (vehicles released directly)
//! and the share of wrong reads below it (vehicles a wrong read would have released, stopped).
//! A threshold chosen on data is judged like any other choice: chosen on some sources, measured
//! on another (see [`super::folds`]). Releasing a vehicle on a wrong read costs far more than
//! holding one for a reviewer, so the choice minimises `WRONG_RELEASE_COST` × wrong reads above
//! plus right reads below.

use std::fmt::Write;

use super::{logistic, EvalRow};
use crate::read::calibrate::{apply, COST_ODDS};

/// How many held right reads one released wrong read is worth (see also
/// [`crate::read::calibrate::COST_ODDS`], which follows from it).
pub const WRONG_RELEASE_COST: f32 = 10.0;

/// The lane's default confidence thresholds (`recognition.plate_min_confidence` and
/// `container_min_confidence`), chosen with [`choose_threshold`] on every source of the
/// development data; `ocr-eval --folds` shows how they hold on each source left out.
pub const DEFAULT_PLATE_MIN_CONFIDENCE: f32 = 0.8;
pub const DEFAULT_CONTAINER_MIN_CONFIDENCE: f32 = 0.8;

/// The lane's default threshold for a domain (`plates` / `containers`).
pub fn default_threshold(domain: &str) -> f32 {
    if domain == "containers" {
        DEFAULT_CONTAINER_MIN_CONFIDENCE
    } else {
        DEFAULT_PLATE_MIN_CONFIDENCE
    }
}

/// Counts of reads against one threshold. Rows with no read count in neither.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shares {
    pub right: usize,
    pub right_above: usize,
    pub wrong: usize,
    pub wrong_below: usize,
    pub unread: usize,
}

impl Shares {
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a EvalRow>, threshold: f32) -> Shares {
        let mut s = Shares::default();
        for r in rows {
            match r.confidence {
                None => s.unread += 1,
                Some(c) if r.read_right => {
                    s.right += 1;
                    s.right_above += (c >= threshold) as usize;
                }
                Some(c) => {
                    s.wrong += 1;
                    s.wrong_below += (c < threshold) as usize;
                }
            }
        }
        s
    }

    pub fn add(&mut self, o: Shares) {
        self.right += o.right;
        self.right_above += o.right_above;
        self.wrong += o.wrong;
        self.wrong_below += o.wrong_below;
        self.unread += o.unread;
    }

    fn cost(&self) -> f32 {
        WRONG_RELEASE_COST * (self.wrong - self.wrong_below) as f32 + (self.right - self.right_above) as f32
    }

    /// `right above a/b (x %), wrong below c/d (y %), n unread`.
    pub fn to_text(&self) -> String {
        let pct = |a: usize, b: usize| if b == 0 { 100.0 } else { 100.0 * a as f64 / b as f64 };
        let mut s = String::new();
        let _ = write!(
            s,
            "right above {}/{} ({:.1}%), wrong below {}/{} ({:.1}%), {} unread",
            self.right_above,
            self.right,
            pct(self.right_above, self.right),
            self.wrong_below,
            self.wrong,
            pct(self.wrong_below, self.wrong),
            self.unread
        );
        s
    }
}

/// Candidate thresholds: a grid fine enough to matter, coarse enough not to fit single reads.
pub const GRID: [f32; 12] = [0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98];

/// The threshold of [`GRID`] with the lowest cost on `rows` (the lowest such threshold on ties,
/// so that fewer right reads are held).
pub fn choose_threshold<'a>(rows: impl IntoIterator<Item = &'a EvalRow> + Clone) -> f32 {
    let mut best = (f32::MAX, GRID[0]);
    for &t in &GRID {
        let c = Shares::of(rows.clone(), t).cost();
        if c < best.0 {
            best = (c, t);
        }
    }
    best.1
}

/// The calibration map judged like every other choice. Plates: for each source, the map is fit
/// on the other sources' reads (see [`logistic`], wrong reads counting [`COST_ODDS`] times) and
/// applied to this source's `held_out` reads; their shares at the lane's default threshold are
/// the held-out calibration. Containers: the map is a rule with nothing chosen on the data (see
/// [`crate::read::calibrate::CODE_WEIGHTS`]), so held out is as reported. Then, per kind, the
/// shares as reported (the weights in `read::calibrate`) and the map fit on all sources: what
/// `PLATE_WEIGHTS` holds. The fit uses `all`, the default variant.
pub fn held_out_maps(sources: &[&str], held_out: &[EvalRow], all: &[EvalRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\n== calibration map: confidence = σ(w·cues), read::calibrate");
    let samples = |keep: &dyn Fn(&EvalRow) -> bool| -> Vec<(&[f32], bool)> {
        all.iter()
            .filter(|r| keep(r) && !r.features.is_empty())
            .map(|r| (r.features.as_slice(), r.read_right))
            .collect()
    };
    let fit = |keep: &dyn Fn(&EvalRow) -> bool| {
        logistic::fit(&samples(keep), logistic::RIDGE, f64::from(COST_ODDS))
    };
    let weights = |w: &[f32]| w.iter().map(|v| format!("{v:.3}")).collect::<Vec<_>>().join(", ");
    for domain in ["plates", "containers"] {
        let t = default_threshold(domain);
        let lane: Vec<&EvalRow> = all.iter().filter(|r| r.domain == domain).collect();
        let reported = Shares::of(lane.iter().copied(), t);
        if domain == "plates" {
            let mut judged = Shares::default();
            for src in sources {
                let w = fit(&|r| r.domain == domain && r.source != *src);
                let rows: Vec<EvalRow> = held_out
                    .iter()
                    .filter(|r| r.domain == domain && r.source == *src)
                    .map(|r| {
                        let mut r = r.clone();
                        if !r.features.is_empty() && w.len() == r.features.len() {
                            r.confidence = Some(apply(&w, &r.features));
                        }
                        r
                    })
                    .collect();
                if rows.is_empty() {
                    continue;
                }
                let shares = Shares::of(&rows, t);
                let _ = writeln!(s, "{domain:<11} {src:<46} w = [{}]: {}", weights(&w), shares.to_text());
                judged.add(shares);
            }
            let _ = writeln!(
                s,
                "{domain:<11} held out (map fit without the source judged), at the lane's default {t:.2}: {}",
                judged.to_text()
            );
        } else {
            let _ = writeln!(
                s,
                "{domain:<11} held out (a rule, nothing fit), at the lane's default {t:.2}: {}",
                reported.to_text()
            );
        }
        let _ = writeln!(
            s,
            "{domain:<11} as reported (the map in read::calibrate), at {t:.2}: {}",
            reported.to_text()
        );
        let _ =
            writeln!(s, "{domain:<11} map fit on all sources: [{}]", weights(&fit(&|r| r.domain == domain)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(exact: bool, confidence: Option<f32>) -> EvalRow {
        EvalRow::plate_for_test("s", "crop", exact, confidence, 0.0)
    }

    #[test]
    fn the_maps_cost_odds_follow_from_the_cost_and_the_default_threshold() {
        let odds = |p: f32| p / (1.0 - p);
        for t in [DEFAULT_PLATE_MIN_CONFIDENCE, DEFAULT_CONTAINER_MIN_CONFIDENCE] {
            assert!((COST_ODDS - WRONG_RELEASE_COST / odds(t)).abs() < 1e-4);
        }
    }

    #[test]
    fn shares_count_right_above_and_wrong_below() {
        let rows = [row(true, Some(0.9)), row(true, Some(0.5)), row(false, Some(0.4)), row(false, None)];
        let s = Shares::of(&rows, 0.8);
        assert_eq!(s, Shares { right: 2, right_above: 1, wrong: 1, wrong_below: 1, unread: 1 });
    }

    #[test]
    fn the_chosen_threshold_stops_wrong_reads_first() {
        // One wrong read at 0.72 costs ten held right reads: the threshold goes above it.
        let mut rows = vec![row(false, Some(0.72))];
        rows.extend((0..5).map(|_| row(true, Some(0.74))));
        rows.extend((0..20).map(|_| row(true, Some(0.99))));
        assert_eq!(choose_threshold(&rows), 0.75);
        // Without it, the lowest threshold that holds nothing right.
        assert_eq!(choose_threshold(&rows[1..]), 0.3);
    }
}
