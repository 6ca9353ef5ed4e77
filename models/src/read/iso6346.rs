//! ISO 6346 container identification: owner code (3 letters), category (U, J, Z),
//! serial (6 digits), check digit; plus reading one from OCR output.
//!
//! Reading is position-aware: positions 0–3 must be letters, 4–10 digits, so each position takes
//! the best recogniser candidate *of the right class* (a digit `0` in the owner code becomes `O`,
//! recorded as a correction). If the check digit then fails, single substitutions from the
//! recogniser's own runner-up candidates, or from a table of look-alike pairs, are tried and the
//! most probable one that makes the check digit right wins. A wrong check digit is never "fixed" by
//! rewriting the check digit alone unless the recogniser itself doubted it.

use crate::ocr::rec::CharAlts;

/// Numeric value of a code character: digits as themselves, letters from A=10
/// upward skipping multiples of 11.
fn value(c: char) -> Option<u32> {
    match c {
        '0'..='9' => Some(c as u32 - '0' as u32),
        'A'..='Z' => {
            let n = c as u32 - 'A' as u32 + 10;
            Some(n + skips(n))
        }
        _ => None,
    }
}

/// One value is skipped for every multiple of 11 (11, 22, 33) passed on the way.
fn skips(n: u32) -> u32 {
    // Values run 10, 12..21, 23..32, 34..38: A=10, B..K=12..21, L..U=23..32, V..Z=34..38.
    match n {
        10 => 0,
        11..=20 => 1,
        21..=30 => 2,
        _ => 3,
    }
}

/// The check digit for the first ten characters, or `None` if any is not valid.
pub fn check_digit(first_ten: &str) -> Option<u32> {
    if first_ten.len() != 10 {
        return None;
    }
    let mut sum = 0;
    for (i, c) in first_ten.chars().enumerate() {
        let v = value(c)?;
        if i < 4 && !c.is_ascii_uppercase() || i >= 4 && !c.is_ascii_digit() {
            return None;
        }
        sum += v << i;
    }
    Some(sum % 11 % 10)
}

/// True for a well-formed 11-character code whose check digit is right.
pub fn is_valid(code: &str) -> bool {
    let Some(last) = code.chars().nth(10).and_then(|c| c.to_digit(10)) else {
        return false;
    };
    code.len() == 11
        && matches!(code.as_bytes()[3], b'U' | b'J' | b'Z')
        && check_digit(&code[..10]) == Some(last)
}

/// A container code read from text, after class-guided and check-digit-guided correction.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeRead {
    pub code: String,
    /// 0..1, the weakest character's confidence (lowered by guessed corrections).
    pub confidence: f32,
    pub check_digit_ok: bool,
    /// e.g. `"0->O@1"`: read `0` at index 1, corrected to `O`.
    pub corrected: Vec<String>,
    /// A character was changed so that the check digit verifies (the digit chose it).
    pub guessed: bool,
    /// How sure the recogniser was of what it saw: the weakest of the characters as read, a
    /// look-alike the layout put in another class (`I` read where a digit must be: `1`) at the
    /// probability of what was read, lowered like `confidence` for a window that starts or ends
    /// inside a word. Where the check digit verifies the code as read, this is the evidence.
    pub seen: f32,
}

impl CodeRead {
    /// What speaks for this read (see [`crate::read::calibrate`]).
    pub fn cues(&self) -> crate::read::calibrate::CodeCues {
        let verified = self.check_digit_ok && !self.guessed;
        crate::read::calibrate::CodeCues {
            min_prob: if verified { self.seen } else { self.confidence },
            verified,
        }
    }
}

/// Look-alikes: what a misread character in a letter position probably was.
fn letter_for(c: char) -> Option<char> {
    Some(match c {
        '0' => 'O',
        '1' => 'I',
        '2' => 'Z',
        '4' => 'A',
        '5' => 'S',
        '6' => 'G',
        '7' => 'T',
        '8' => 'B',
        c if c.is_ascii_lowercase() => c.to_ascii_uppercase(),
        _ => return None,
    })
}

/// Look-alikes: what a misread character in a digit position probably was.
fn digit_for(c: char) -> Option<char> {
    Some(match c {
        'O' | 'o' | 'D' | 'Q' | 'U' | 'C' => '0',
        'I' | 'i' | 'l' | 'L' | 'J' | '|' | '!' => '1',
        'Z' | 'z' => '2',
        'S' | 's' => '5',
        'B' => '8',
        'G' | 'b' => '6',
        'A' => '4',
        'T' => '7',
        'g' | 'q' => '9',
        _ => return None,
    })
}

/// Same-class look-alikes tried when the check digit fails and the recogniser gave no runner-up.
const SWAPS: &[(char, char)] = &[
    ('0', '8'),
    ('3', '8'),
    ('6', '8'),
    ('9', '8'),
    ('5', '6'),
    ('1', '7'),
    ('0', '6'),
    ('0', '9'),
    ('6', '9'),
    ('O', 'D'),
    ('O', 'Q'),
    ('C', 'G'),
    ('E', 'F'),
    ('M', 'N'),
    ('U', 'V'),
    ('I', 'L'),
    ('K', 'X'),
    ('H', 'M'),
];

fn class_ok(i: usize, c: char) -> bool {
    match i {
        0..=2 => c.is_ascii_uppercase(),
        3 => matches!(c, 'U' | 'J' | 'Z'),
        _ => c.is_ascii_digit(),
    }
}

/// Each position's allowed dictionary classes (single characters of the right class), for
/// decoding a line as a code (see [`crate::ocr::ctc_layout`]).
pub fn layout_classes(dict: &[String]) -> Vec<Vec<usize>> {
    (0..11)
        .map(|i| {
            dict.iter()
                .enumerate()
                .skip(1)
                .filter(|(_, s)| {
                    let mut it = s.chars();
                    it.next().is_some_and(|c| class_ok(i, crate::ocr::rec::normalize_char(c)))
                        && it.next().is_none()
                })
                .map(|x| x.0)
                .collect()
        })
        .collect()
}

/// Choose a character for position `i`: best candidate of the right class, else a look-alike.
fn choose(i: usize, alts: &CharAlts) -> Option<(char, f32, Option<String>)> {
    let (raw, raw_p) = alts.best();
    if class_ok(i, raw) {
        return Some((raw, raw_p, None));
    }
    let note = |c: char| Some(format!("{raw}->{c}@{i}"));
    if let Some((c, p)) = alts.best_where(|c| class_ok(i, c)) {
        if p >= 0.02 {
            return Some((c, p, note(c)));
        }
    }
    let mapped = look_alike(i, raw)?;
    Some((mapped, raw_p * 0.7, note(mapped)))
}

/// What a character read at position `i` of a code stands for when it is of the wrong class
/// there: a look-alike of the right class (`I` in the serial is `1`, `0` as category is `U`).
pub fn look_alike(i: usize, raw: char) -> Option<char> {
    let mapped = match i {
        0..=2 => letter_for(raw),
        3 => match raw {
            'V' | 'Y' | 'u' | 'W' | 'O' | '0' => Some('U'),
            'j' | '1' | 'I' => Some('J'),
            '2' | 'z' => Some('Z'),
            _ => None,
        },
        _ => digit_for(raw),
    }?;
    class_ok(i, mapped).then_some(mapped)
}

/// Read 10 positions as owner code + category + serial (everything but the check digit): the
/// code, its confidence (the weakest character chosen) and the corrections.
pub fn read_prefix(chars: &[CharAlts]) -> Option<(String, f32, Vec<String>)> {
    if chars.len() != 10 {
        return None;
    }
    let (mut code, mut conf, mut corrected) = (String::new(), 1.0f32, Vec::new());
    for (i, alts) in chars.iter().enumerate() {
        let (c, p, note) = choose(i, alts)?;
        code.push(c);
        conf = conf.min(p);
        corrected.extend(note);
    }
    (corrected.len() <= 2).then_some((code, conf, corrected))
}

/// Read exactly 11 positions as a container code, correcting as described in the module doc.
pub fn read_window(chars: &[CharAlts]) -> Option<CodeRead> {
    if chars.len() != 11 {
        return None;
    }
    let mut code = Vec::with_capacity(11);
    let mut probs = Vec::with_capacity(11);
    let mut corrected = Vec::new();
    for (i, alts) in chars.iter().enumerate() {
        let (c, p, note) = choose(i, alts)?;
        code.push(c);
        probs.push(p);
        corrected.extend(note);
    }
    // More than two class fixes: this window is not a code (e.g. a weight line read as one).
    if corrected.len() > 2 {
        return None;
    }
    let seen = chars.iter().map(|a| a.best().1).fold(1.0f32, f32::min);
    let as_string = |v: &[char]| v.iter().collect::<String>();
    let confidence = |p: &[f32]| p.iter().copied().fold(1.0f32, f32::min);
    let s = as_string(&code);
    if is_valid(&s) {
        return Some(CodeRead {
            code: s,
            confidence: confidence(&probs),
            check_digit_ok: true,
            corrected,
            guessed: false,
            seen,
        });
    }
    // One substitution, scored by how plausible the recogniser found it relative to its choice.
    let mut best: Option<(f32, usize, char, f32)> = None;
    for i in 0..11 {
        let mut options: Vec<(char, f32)> =
            chars[i].cands.iter().copied().filter(|&(c, _)| c != code[i] && class_ok(i, c)).collect();
        for &(a, b) in SWAPS {
            let other = if a == code[i] {
                b
            } else if b == code[i] {
                a
            } else {
                continue;
            };
            if !options.iter().any(|o| o.0 == other) {
                // A look-alike is as plausible as the recogniser was unsure of its choice.
                options.push((other, (1.0 - probs[i]).max(0.02) * 0.5));
            }
        }
        for (c, p) in options {
            let mut trial = code.clone();
            trial[i] = c;
            if is_valid(&as_string(&trial)) {
                let score = p / probs[i].max(1e-6);
                if best.is_none_or(|b| score > b.0) {
                    best = Some((score, i, c, p));
                }
            }
        }
    }
    match best {
        Some((score, i, c, p)) if score >= 0.05 => {
            corrected.push(format!("{}->{c}@{i}", code[i]));
            code[i] = c;
            // A guess the check digit made: halve the confidence on top of the runner-up's own.
            probs[i] = p.max(0.05).min(probs[i]) * 0.5;
            Some(CodeRead {
                code: as_string(&code),
                confidence: confidence(&probs),
                check_digit_ok: true,
                corrected,
                guessed: true,
                seen,
            })
        }
        _ => Some(CodeRead {
            code: s,
            confidence: confidence(&probs) * 0.5,
            check_digit_ok: false,
            corrected,
            guessed: false,
            seen,
        }),
    }
}

/// Every container code in a character sequence (windows of 11 over its alphanumerics),
/// valid ones first, then by confidence. Non-alphanumeric positions (spaces, punctuation, the
/// separators [`crate::read::container`] puts between lines) mark token boundaries: a window that starts
/// or ends inside a token (`XGROSS30480` out of `MAX.GROSS 30.480KGS`) is penalised.
pub fn find_codes(chars: &[CharAlts]) -> Vec<CodeRead> {
    let idx: Vec<usize> = (0..chars.len()).filter(|&i| chars[i].best().0.is_ascii_alphanumeric()).collect();
    let alnum: Vec<CharAlts> = idx.iter().map(|&i| chars[i].clone()).collect();
    let mut out: Vec<CodeRead> = Vec::new();
    for (k, w) in alnum.windows(11).enumerate() {
        let Some(r) = read_window(w) else { continue };
        let (first, last) = (idx[k], idx[k + 10]);
        let mid_start = first > 0 && idx.get(k.wrapping_sub(1)) == Some(&(first - 1));
        let mid_end = idx.get(k + 11) == Some(&(last + 1));
        let class_fixes = r.corrected.len() as i32;
        // Where the window stands: a shifted one reads a code that is not there.
        let mut place = 1.0f32;
        // A digit taken for the category letter (2->Z, 1->J) usually means the window is shifted.
        if r.corrected.iter().any(|c| c.ends_with("@3")) && w[3].best().0.is_ascii_digit() {
            place *= 0.5;
        }
        // Owner codes start a word; a window starting inside one is most likely shifted.
        if mid_start {
            place *= 0.3;
        }
        if mid_end {
            place *= 0.6;
        }
        let f = place * 0.85f32.powi(class_fixes);
        let r = CodeRead { confidence: r.confidence * f, seen: r.seen * place, ..r };
        match out.iter_mut().find(|o| o.code == r.code) {
            Some(o) if o.confidence < r.confidence => *o = r,
            Some(_) => {}
            None => out.push(r),
        }
    }
    out.sort_by(|a, b| b.check_digit_ok.cmp(&a.check_digit_ok).then(b.confidence.total_cmp(&a.confidence)));
    out
}

/// Convenience for plain text (no recogniser probabilities: every character gets 0.9).
pub fn parse_text(text: &str) -> Option<CodeRead> {
    let chars: Vec<CharAlts> = text.chars().map(|c| CharAlts { cands: vec![(c, 0.9)] }).collect();
    find_codes(&chars).into_iter().next()
}

/// An ISO 6346 size/type code (`22G1`, `45G1`, `L5G1`, `22R1`) in `text`, with look-alikes fixed.
pub fn size_type(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    if chars.len() != 4 {
        return None;
    }
    let len = match chars[0] {
        c @ ('1'..='4' | 'L' | 'M' | 'B') => c,
        _ => return None,
    };
    let height = match chars[1] {
        c @ ('0' | '2' | '5' | '6' | '8' | '9') => c,
        'S' => '5',
        'B' => '8',
        _ => return None,
    };
    let kind = match chars[2] {
        '6' | 'C' => 'G',
        '8' => 'B',
        'O' | '0' => 'U',
        c @ ('G' | 'R' | 'U' | 'P' | 'T' | 'B' | 'V' | 'H' | 'S' | 'K' | 'N') => c,
        _ => return None,
    };
    let detail = match chars[3] {
        c @ '0'..='9' => c,
        'I' | 'l' => '1',
        _ => return None,
    };
    Some([len, height, kind, detail].iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letter_values_follow_the_standard_table() {
        let expect = [('A', 10), ('B', 12), ('K', 21), ('L', 23), ('U', 32), ('V', 34), ('Z', 38)];
        for (c, v) in expect {
            assert_eq!(value(c), Some(v), "{c}");
        }
    }

    #[test]
    fn real_codes_validate() {
        for code in ["CSQU3054383", "BEAU2656931", "TRHU1700369", "MSKU9070323"] {
            assert!(is_valid(code), "{code}");
        }
        assert!(!is_valid("CSQU3054384"));
        assert!(!is_valid("CSQX3054383"));
        assert!(!is_valid("CSQU305438"));
    }

    #[test]
    fn class_guided_corrections_are_recorded() {
        let r = parse_text("BEAU2656931").unwrap();
        assert!(r.check_digit_ok && r.corrected.is_empty());
        // O read as 0 in the owner code, S as 5 and B as 8 in the serial.
        let r = parse_text("TRHU17OO369").unwrap();
        assert_eq!(r.code, "TRHU1700369");
        assert_eq!(r.corrected, vec!["O->0@6", "O->0@7"]);
        let r = parse_text("8EAU2S76878").unwrap();
        assert_eq!(r.code, "BEAU2576878");
        assert!(r.check_digit_ok);
        let r = parse_text("MSKU3B66O36").unwrap();
        assert_eq!(r.code, "MSKU3866036");
        let r = parse_text("PC1U2743129").unwrap();
        assert_eq!(r.code, "PCIU2743129");
        assert_eq!(r.corrected, vec!["1->I@2"]);
    }

    #[test]
    fn check_digit_guides_a_same_class_swap() {
        // 8 misread as 3 in the serial: only the check digit can tell.
        let r = parse_text("HALU2039976").unwrap();
        assert_eq!(r.code, "HALU2089976");
        assert!(r.check_digit_ok);
        assert_eq!(r.corrected, vec!["3->8@6"]);
    }

    #[test]
    fn a_verified_read_is_judged_by_what_was_seen_and_a_guess_by_its_guess() {
        // O seen clearly where digits must be: the code is verified as read, the look-alikes
        // do not make the recogniser less sure of what it saw.
        let r = parse_text("TRHU17OO369").unwrap();
        assert!(r.confidence < 0.7 && r.seen == 0.9, "{r:?}");
        assert_eq!(r.cues().min_prob, 0.9);
        assert!(r.cues().verified);
        // The check digit chose the 8: not verified, judged at the guess's confidence.
        let g = parse_text("HALU2039976").unwrap();
        assert!(g.guessed && !g.cues().verified);
        assert_eq!(g.cues().min_prob, g.confidence);
        assert_eq!(look_alike(3, '0'), Some('U'));
        assert_eq!(look_alike(5, 'I'), Some('1'));
        assert_eq!(look_alike(5, '7'), None);
    }

    #[test]
    fn codes_are_found_inside_longer_text_and_across_noise() {
        let r = parse_text("xx DRYU 213877 4 22G1").unwrap();
        assert_eq!(r.code, "DRYU2138774");
        assert!(parse_text("NO CODE HERE 12").is_none());
    }

    #[test]
    fn size_type_codes() {
        assert_eq!(size_type("22G1").as_deref(), Some("22G1"));
        assert_eq!(size_type("4561").as_deref(), Some("45G1"));
        assert_eq!(size_type("L5G1").as_deref(), Some("L5G1"));
        assert_eq!(size_type("LINE"), None);
        assert_eq!(size_type("2 2G1").as_deref(), Some("22G1"));
    }
}
