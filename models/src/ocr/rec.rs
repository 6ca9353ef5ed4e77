//! Text-line recognition: batching by width and CTC decoding.
//!
//! Lines are sorted by aspect ratio and recognised in batches of similar width (padding a short
//! line to a long one's width wastes compute on 2 cores). The raw per-time-step probabilities are
//! kept ([`LineProbs`]) because the parsers re-decode them under constraints: a container code's
//! digit positions or a plate's province position choose the best *allowed* character at the
//! time step where CTC emitted one, which fixes most O/0, B/8 and 京/东 confusions without guessing.

use image::RgbImage;

use crate::error::ModelError;
use crate::imgops;
use crate::ocr::runtime::Recogniser;

/// Narrowest batch width. PaddleOCR pads every line to 320 pixels; most of that is wasted on
/// short lines (a lone character, `22G1`), so ours pad only to 96.
const MIN_W: usize = 96;
const MAX_W: usize = 2400;
const BATCH: usize = 6;

/// Per-time-step class probabilities of one recognised line.
#[derive(Debug, Clone, Default)]
pub struct LineProbs {
    pub t: usize,
    pub c: usize,
    pub probs: Vec<f32>,
}

/// One decoded character: its dictionary index, probability and the time step of its peak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CharHit {
    pub class: usize,
    pub prob: f32,
    pub step: usize,
    /// First and last time step of the run that emitted it.
    pub span: (usize, usize),
}

/// A recognised line: text, per-character hits and the raw probabilities.
#[derive(Debug, Clone, Default)]
pub struct RecLine {
    pub text: String,
    pub chars: Vec<CharHit>,
    pub probs: LineProbs,
}

impl RecLine {
    /// Mean character confidence (0 for an empty line).
    pub fn confidence(&self) -> f32 {
        if self.chars.is_empty() {
            return 0.0;
        }
        self.chars.iter().map(|c| c.prob).sum::<f32>() / self.chars.len() as f32
    }
}

/// A character position with its candidate readings, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct CharAlts {
    /// (character, probability), best first; the first is what greedy decoding read.
    pub cands: Vec<(char, f32)>,
}

impl CharAlts {
    /// A position known only as text (no probabilities), e.g. in tests.
    pub fn certain(c: char) -> CharAlts {
        CharAlts { cands: vec![(c, 1.0)] }
    }

    pub fn best(&self) -> (char, f32) {
        self.cands.first().copied().unwrap_or((' ', 0.0))
    }

    /// Best candidate satisfying `ok`.
    pub fn best_where(&self, ok: impl Fn(char) -> bool) -> Option<(char, f32)> {
        self.cands.iter().copied().find(|&(c, _)| ok(c))
    }
}

/// Positions of a plain string, each certain.
pub fn certain_chars(text: &str) -> Vec<CharAlts> {
    text.chars().map(CharAlts::certain).collect()
}

impl RecLine {
    /// Candidates for a character the decoder did *not* emit before the first one (time steps
    /// `0..first`): a plate's province character is often dropped this way when it is small or
    /// dim, yet still carries some probability there. `None` when the line starts at step 0.
    pub fn lead_alternatives(&self, dict: &[String], n: usize) -> Option<CharAlts> {
        let first = self.chars.first()?.span.0;
        if first == 0 {
            return None;
        }
        let mut maxes = vec![0.0f32; self.probs.c];
        for s in 0..first {
            for (k, &p) in self.probs.row(s).iter().enumerate().skip(1) {
                maxes[k] = maxes[k].max(p);
            }
        }
        let mut idx: Vec<usize> = (1..self.probs.c).filter(|&k| maxes[k] > 1e-4).collect();
        idx.sort_by(|&a, &b| maxes[b].total_cmp(&maxes[a]));
        let mut cands: Vec<(char, f32)> = Vec::new();
        for k in idx {
            let c = first_char(dict, k);
            if !cands.iter().any(|x| x.0 == c) {
                cands.push((c, maxes[k]));
            }
            if cands.len() >= n {
                break;
            }
        }
        (!cands.is_empty()).then_some(CharAlts { cands })
    }

    /// Every decoded character with up to `n` alternatives from its time-step span.
    pub fn alternatives(&self, dict: &[String], n: usize) -> Vec<CharAlts> {
        let mut out = Vec::with_capacity(self.chars.len());
        let mut best: Vec<(usize, f32)> = Vec::with_capacity(n + 1);
        for hit in &self.chars {
            best.clear();
            let mut maxes = vec![0.0f32; self.probs.c];
            for s in hit.span.0..=hit.span.1.min(self.probs.t.saturating_sub(1)) {
                for (k, &p) in self.probs.row(s).iter().enumerate().skip(1) {
                    if p > maxes[k] {
                        maxes[k] = p;
                    }
                }
            }
            for (k, &p) in maxes.iter().enumerate() {
                if p > 0.001 && (best.len() < n || p > best[best.len() - 1].1) {
                    best.push((k, p));
                    best.sort_by(|a, b| b.1.total_cmp(&a.1));
                    best.truncate(n);
                }
            }
            // Greedy decoding's choice stays first even if a neighbour step peaks higher.
            let mut cands: Vec<(char, f32)> = vec![(first_char(dict, hit.class), hit.prob)];
            for &(k, p) in &best {
                let c = first_char(dict, k);
                if k != hit.class && !cands.iter().any(|x| x.0 == c) {
                    cands.push((c, p));
                }
            }
            out.push(CharAlts { cands });
        }
        out
    }
}

fn first_char(dict: &[String], k: usize) -> char {
    normalize_char(dict.get(k).and_then(|s| s.chars().next()).unwrap_or(' '))
}

/// The dictionary holds full-width forms (`Ａ`, `２`) and look-alike Cyrillic/Greek letters the
/// model emits for Latin text on containers; the parsers work on ASCII.
pub fn normalize_char(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        'А' | 'Α' => 'A',
        'В' | 'Β' => 'B',
        'С' => 'C',
        'Е' | 'Ε' => 'E',
        'Н' | 'Η' => 'H',
        'І' | 'Ι' => 'I',
        'К' | 'Κ' => 'K',
        'М' | 'Μ' => 'M',
        'О' | 'Ο' | 'о' => 'O',
        'Р' | 'Ρ' => 'P',
        'Т' | 'Τ' => 'T',
        'Х' | 'Χ' => 'X',
        'З' | 'з' => '3',
        _ => c,
    }
}

impl LineProbs {
    pub fn row(&self, step: usize) -> &[f32] {
        &self.probs[step * self.c..(step + 1) * self.c]
    }

    /// Best class among `allowed` over the steps `span` (inclusive), with its max probability.
    pub fn best_allowed(
        &self,
        span: (usize, usize),
        allowed: &dyn Fn(usize) -> bool,
    ) -> Option<(usize, f32)> {
        let mut best: Option<(usize, f32)> = None;
        for s in span.0..=span.1.min(self.t.saturating_sub(1)) {
            for (k, &p) in self.row(s).iter().enumerate() {
                if k != 0 && allowed(k) && best.is_none_or(|(_, bp)| p > bp) {
                    best = Some((k, p));
                }
            }
        }
        best
    }
}

/// Greedy CTC decoding; `allowed` restricts the classes (blank is always allowed).
pub fn ctc_decode(probs: &LineProbs, dict: &[String], allowed: Option<&dyn Fn(usize) -> bool>) -> RecLine {
    let mut chars: Vec<CharHit> = Vec::new();
    let mut prev = 0usize;
    for s in 0..probs.t {
        let row = probs.row(s);
        let (mut best, mut bp) = (0usize, row[0]);
        for (k, &p) in row.iter().enumerate().skip(1) {
            if p > bp && allowed.is_none_or(|f| f(k)) {
                best = k;
                bp = p;
            }
        }
        if best != 0 && best == prev {
            let last = chars.last_mut().expect("prev != 0 implies a char");
            last.span.1 = s;
            if bp > last.prob {
                last.prob = bp;
                last.step = s;
            }
        } else if best != 0 {
            chars.push(CharHit { class: best, prob: bp, step: s, span: (s, s) });
        }
        prev = best;
    }
    // Let each character's span reach into neighbouring blanks, for constrained re-decoding.
    for i in 0..chars.len() {
        let lo = if i == 0 { 0 } else { chars[i - 1].span.1 + 1 };
        let hi = if i + 1 == chars.len() {
            probs.t.saturating_sub(1)
        } else {
            chars[i + 1].span.0.saturating_sub(1)
        };
        chars[i].span = (
            chars[i].span.0.min(lo.max(chars[i].span.0.saturating_sub(1))),
            chars[i].span.1.max(hi.min(chars[i].span.1 + 1)),
        );
    }
    let text = chars
        .iter()
        .flat_map(|c| dict.get(c.class).map(String::as_str).unwrap_or("").chars().map(normalize_char))
        .collect();
    RecLine { text, chars, probs: probs.clone() }
}

/// Recognise many line images with `r`; results in input order.
pub fn recognize(r: &mut Recogniser, lines: &[RgbImage]) -> Result<Vec<RecLine>, ModelError> {
    recognize_min_width(r, lines, MIN_W)
}

/// [`recognize`] with short lines padded (with zeros, i.e. mid-grey) to at least `min_w` pixels.
pub fn recognize_min_width(
    r: &mut Recogniser,
    lines: &[RgbImage],
    min_w: usize,
) -> Result<Vec<RecLine>, ModelError> {
    let h = r.height;
    let started = std::time::Instant::now();
    let mut order: Vec<usize> = (0..lines.len()).collect();
    let ratio = |i: usize| lines[i].width() as f32 / lines[i].height().max(1) as f32;
    order.sort_by(|&a, &b| ratio(a).total_cmp(&ratio(b)));
    let mut out = vec![RecLine::default(); lines.len()];
    for batch in order.chunks(BATCH) {
        let max_ratio = batch.iter().map(|&i| ratio(i)).fold(min_w as f32 / h as f32, f32::max);
        let bw = ((h as f32 * max_ratio).ceil() as usize).clamp(min_w.min(MAX_W), MAX_W);
        let item = 3 * h * bw;
        let mut input = vec![0.0f32; item * batch.len()];
        for (k, &i) in batch.iter().enumerate() {
            let w = ((h as f32 * ratio(i)).ceil() as usize).clamp(1, bw);
            imgops::resize_into_tensor(&lines[i], w, h, &mut input[k * item..(k + 1) * item], bw);
        }
        let (t, c, probs) = r.run(&input, batch.len(), bw)?;
        for (k, &i) in batch.iter().enumerate() {
            let p = LineProbs { t, c, probs: probs[k * t * c..(k + 1) * t * c].to_vec() };
            out[i] = ctc_decode(&p, &r.dictionary, None);
        }
    }
    // Where a scene's recognition time goes (which model, how many lines) is the question every
    // speed change starts from.
    tracing::debug!(
        model = %r.label,
        lines = lines.len(),
        ms = started.elapsed().as_secs_f64() * 1e3,
        "recognised"
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctc_merges_repeats_and_drops_blanks() {
        let dict: Vec<String> = ["", "A", "B"].iter().map(|s| s.to_string()).collect();
        // steps: A A blank A B B
        let seq = [1, 1, 0, 1, 2, 2];
        let mut probs = Vec::new();
        for &k in &seq {
            let mut row = vec![0.05f32; 3];
            row[k] = 0.9;
            probs.extend(row);
        }
        let p = LineProbs { t: 6, c: 3, probs };
        let line = ctc_decode(&p, &dict, None);
        assert_eq!(line.text, "AAB");
        let only_b = |k: usize| k == 2;
        assert_eq!(ctc_decode(&p, &dict, Some(&only_b)).text, "B");
    }
}
