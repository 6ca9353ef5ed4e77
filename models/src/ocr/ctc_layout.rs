//! CTC decoding under a format: the most probable reading of a line whose j-th character must
//! belong to a given class set (a plate's province, letter, alphanumerics…).
//!
//! Greedy decoding picks the best class at every time step on its own. On a small or blurred
//! plate that goes wrong in ways the format rules out: the province character comes out as a
//! Latin letter (`TA7YOO1` for `皖A7Y001`), two characters merge into one (`皖12288` for
//! `皖M12288`), or a character is dropped. Position-wise correction of the greedy read (see
//! [`crate::read::plate`]) cannot fix a wrong *number* of characters. This is a Viterbi search over
//! every CTC alignment of exactly `L` characters, each from its allowed set: it returns the best
//! path's classes, each character's peak probability over the steps it occupies, and the path's
//! log-probability next to the unconstrained (greedy) path's, so callers can tell a reading the
//! model agrees with from one the format forced.
//!
//! CTC's rule that two equal consecutive characters need a blank between them is kept: a path
//! may move from one character to the next directly only when their classes differ.

use crate::ocr::rec::LineProbs;

/// Result of [`decode`].
#[derive(Debug, Clone, PartialEq)]
pub struct LayoutRead {
    /// Dictionary class of each character.
    pub classes: Vec<usize>,
    /// Peak probability of each character's class over the steps it was emitted on.
    pub probs: Vec<f32>,
    /// Log-probability of the best constrained path.
    pub log_p: f32,
    /// Log-probability of the best unconstrained path (the greedy one), `>= log_p`.
    pub greedy_log_p: f32,
}

impl LayoutRead {
    /// The weakest character's probability.
    pub fn min_prob(&self) -> f32 {
        self.probs.iter().copied().fold(1.0, f32::min)
    }
}

#[derive(Clone, Copy)]
enum Back {
    Start,
    Stay,
    /// From the blank before this character (label states) or from character `j-1` (blank
    /// states: the index into its class set).
    Blank,
    From(u16),
}

fn ln(p: f32) -> f32 {
    p.max(1e-9).ln()
}

/// Best path of `probs` spelling exactly `allowed.len()` characters, the j-th from `allowed[j]`
/// (dictionary classes; 0 is the blank and must not appear). `None` when no such path exists
/// (fewer time steps than the layout needs) or a set is empty.
pub fn decode(probs: &LineProbs, allowed: &[Vec<usize>]) -> Option<LayoutRead> {
    let (t_len, l) = (probs.t, allowed.len());
    if l == 0 || t_len < l || allowed.iter().any(|s| s.is_empty() || s.contains(&0)) {
        return None;
    }
    const NEG: f32 = f32::NEG_INFINITY;
    // lab[j][i]: best score ending at this step inside character j with class allowed[j][i];
    // blank[j]: in a blank after j characters.
    let mut lab: Vec<Vec<f32>> = allowed.iter().map(|s| vec![NEG; s.len()]).collect();
    let mut blank = vec![NEG; l + 1];
    let mut back_lab: Vec<Vec<Vec<Back>>> = Vec::with_capacity(t_len);
    let mut back_blank: Vec<Vec<Back>> = Vec::with_capacity(t_len);
    let row0 = probs.row(0);
    blank[0] = ln(row0[0]);
    for (i, &c) in allowed[0].iter().enumerate() {
        lab[0][i] = ln(row0[c]);
    }
    back_lab.push(allowed.iter().map(|s| vec![Back::Start; s.len()]).collect());
    back_blank.push(vec![Back::Start; l + 1]);
    let mut greedy = row0.iter().copied().fold(0.0f32, f32::max).max(1e-9).ln();
    for t in 1..t_len {
        let row = probs.row(t);
        greedy += ln(row.iter().copied().fold(0.0f32, f32::max));
        let mut nlab: Vec<Vec<f32>> = allowed.iter().map(|s| vec![NEG; s.len()]).collect();
        let mut nblank = vec![NEG; l + 1];
        let mut blab: Vec<Vec<Back>> = allowed.iter().map(|s| vec![Back::Stay; s.len()]).collect();
        let mut bblank = vec![Back::Stay; l + 1];
        let lb = ln(row[0]);
        for j in 0..=l {
            // Blank after j characters: stay, or leave character j-1.
            let mut best = (blank[j], Back::Stay);
            if j > 0 {
                for (i, &s) in lab[j - 1].iter().enumerate() {
                    if s > best.0 {
                        best = (s, Back::From(i as u16));
                    }
                }
            }
            nblank[j] = best.0 + lb;
            bblank[j] = best.1;
        }
        for j in 0..l {
            // The two best of character j-1, so "from a different class" costs O(1).
            let (mut p1, mut p2) = ((NEG, usize::MAX), (NEG, usize::MAX));
            if j > 0 {
                for (i, &s) in lab[j - 1].iter().enumerate() {
                    if s > p1.0 {
                        p2 = p1;
                        p1 = (s, i);
                    } else if s > p2.0 {
                        p2 = (s, i);
                    }
                }
            }
            for (i, &c) in allowed[j].iter().enumerate() {
                let mut best = (lab[j][i], Back::Stay);
                if blank[j] > best.0 {
                    best = (blank[j], Back::Blank);
                }
                if j > 0 {
                    let prev = if p1.1 != usize::MAX && allowed[j - 1][p1.1] != c { p1 } else { p2 };
                    if prev.1 != usize::MAX && prev.0 > best.0 {
                        best = (prev.0, Back::From(prev.1 as u16));
                    }
                }
                nlab[j][i] = best.0 + ln(row[c]);
                blab[j][i] = best.1;
            }
        }
        lab = nlab;
        blank = nblank;
        back_lab.push(blab);
        back_blank.push(bblank);
    }
    // End in the last character or the blank after it.
    let (mut end_s, mut state) = (blank[l], None::<(usize, usize)>);
    for (i, &s) in lab[l - 1].iter().enumerate() {
        if s > end_s {
            end_s = s;
            state = Some((l - 1, i));
        }
    }
    if end_s == NEG {
        return None;
    }
    // Walk back: `state` is Some((j, i)) inside character j, None means the blank after `bj`.
    let mut classes = vec![0usize; l];
    let mut peak = vec![0.0f32; l];
    let mut bj = l;
    for t in (0..t_len).rev() {
        match state {
            Some((j, i)) => {
                classes[j] = allowed[j][i];
                peak[j] = peak[j].max(probs.row(t)[allowed[j][i]]);
                match back_lab[t][j][i] {
                    Back::Stay => {}
                    Back::Blank => {
                        state = None;
                        bj = j;
                    }
                    Back::From(k) => state = Some((j - 1, k as usize)),
                    Back::Start => break,
                }
            }
            None => match back_blank[t][bj] {
                Back::Stay | Back::Blank => {}
                Back::From(k) => state = Some((bj - 1, k as usize)),
                Back::Start => break,
            },
        }
    }
    Some(LayoutRead { classes, probs: peak, log_p: end_s, greedy_log_p: greedy })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `t`x`c` matrix: each step gives `p` to one class and spreads the rest evenly.
    fn probs(c: usize, steps: &[(usize, f32)]) -> LineProbs {
        let mut v = Vec::new();
        for &(k, p) in steps {
            let rest = (1.0 - p) / (c - 1) as f32;
            v.extend((0..c).map(|i| if i == k { p } else { rest }));
        }
        LineProbs { t: steps.len(), c, probs: v }
    }

    #[test]
    fn unconstrained_layout_gives_the_greedy_reading() {
        // classes: 0 blank, 1..=4 "ABCD"; steps read A A _ B C
        let p = probs(5, &[(1, 0.9), (1, 0.9), (0, 0.9), (2, 0.8), (3, 0.9)]);
        let all = vec![vec![1, 2, 3, 4]; 3];
        let r = decode(&p, &all).unwrap();
        assert_eq!(r.classes, vec![1, 2, 3]);
        assert!((r.log_p - r.greedy_log_p).abs() < 1e-4);
        assert!((r.probs[1] - 0.8).abs() < 1e-6);
    }

    #[test]
    fn a_class_constraint_picks_the_runner_up() {
        // Step 1 prefers class 1, but position 0 must be class 2 (e.g. a province).
        let mut p = probs(4, &[(1, 0.6), (0, 0.9), (3, 0.9)]);
        p.probs[2] = 0.3; // class 2 at step 0
        let r = decode(&p, &[vec![2], vec![3]]).unwrap();
        assert_eq!(r.classes, vec![2, 3]);
        assert!((r.probs[0] - 0.3).abs() < 1e-6);
        assert!(r.log_p < r.greedy_log_p);
    }

    #[test]
    fn a_merged_character_is_split_when_the_layout_needs_one_more() {
        // Greedy: X X X _ Y (two characters); four are required, X Z X Y: one step of the X
        // run must become Z, the one where Z is strongest.
        let mut p = probs(4, &[(1, 0.9), (1, 0.5), (1, 0.9), (0, 0.9), (2, 0.9)]);
        p.probs[4 + 3] = 0.4; // class 3 at step 1
        let r = decode(&p, &[vec![1], vec![3], vec![1, 2], vec![1, 2]]).unwrap();
        assert_eq!(r.classes, vec![1, 3, 1, 2]);
        assert!((r.probs[1] - 0.4).abs() < 1e-6);
        // Equal neighbours need a blank between them: "XX" cannot come from one run of X.
        let q = probs(3, &[(1, 0.9), (1, 0.9), (1, 0.9)]);
        let r = decode(&q, &[vec![1], vec![1]]).unwrap();
        assert_eq!(r.classes, vec![1, 1]);
        assert!(r.log_p < r.greedy_log_p - 1.0, "a blank had to be forced: {r:?}");
    }

    #[test]
    fn impossible_layouts_are_none() {
        let p = probs(3, &[(1, 0.9), (2, 0.9)]);
        assert!(decode(&p, &[vec![1], vec![2], vec![1]]).is_none());
        assert!(decode(&p, &[]).is_none());
        assert!(decode(&p, &[vec![]]).is_none());
    }
}
