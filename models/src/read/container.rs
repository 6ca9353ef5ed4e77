//! Container codes from the lines of one image, and fusion of several cameras' reads.
//!
//! On containers the code is often painted in pieces: owner+category in one box, serial in the
//! next, the check digit framed in a third, or the whole code over two or three lines. The
//! detector returns such pieces as separate boxes, so candidates are built from chains of up to
//! three lines whose geometry says they are one inscription: similar character height, and the
//! next piece either on the same row (centres aligned, a gap of a few characters) or on the next
//! row (overlapping horizontally, one line height down). Every chain is searched for an
//! 11-character code. Two boxes side by side, or a stack of reefers, also put codes next to each
//! other; the geometry rule keeps their pieces apart, and two valid codes read from the same
//! place are one too many: the weaker goes. Every other valid code is reported, so a frame with
//! two containers yields both.

use std::collections::BTreeMap;

use crate::ocr::pipeline::{LineSource, TextLine};
use crate::ocr::rec::CharAlts;
use crate::read::iso6346::{self, CodeRead};
use crate::reads::ContainerRead;

/// A code found in an image, with the lines it came from.
#[derive(Debug, Clone)]
pub struct ImageCode {
    pub read: CodeRead,
    pub size_type: Option<String>,
    pub lines: Vec<usize>,
}

/// Character height of a line (the short side, or the long side's share for columns).
fn char_height(l: &TextLine) -> f32 {
    let b = l.bbox();
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    match l.source {
        LineSource::Column | LineSource::Rotated => w,
        _ => h,
    }
}

/// May `b` follow `a` in one code?
pub fn follows(a: &TextLine, b: &TextLine) -> bool {
    if matches!(a.source, LineSource::Column | LineSource::Rotated)
        != matches!(b.source, LineSource::Column | LineSource::Rotated)
    {
        return false;
    }
    let (ha, hb) = (char_height(a), char_height(b));
    let limit = if is_lone_char(a) || is_lone_char(b) { LONE_CHAR_HEIGHT_RATIO } else { MAX_HEIGHT_RATIO };
    if ha.max(hb) > limit * ha.min(hb) {
        return false;
    }
    let h = ha.max(hb);
    let (ba, bb) = (a.bbox(), b.bbox());
    let v_overlap = ba[3].min(bb[3]) - ba[1].max(bb[1]);
    let h_overlap = ba[2].min(bb[2]) - ba[0].max(bb[0]);
    let vertical = matches!(a.source, LineSource::Column | LineSource::Rotated);
    if vertical {
        // Columns continue below (or in a neighbouring column to the right).
        let below =
            h_overlap > 0.3 * (ba[2] - ba[0]).min(bb[2] - bb[0]) && bb[1] > ba[1] && bb[1] - ba[3] < 2.0 * h;
        let right = v_overlap > 0.0 && bb[0] > ba[0] && bb[0] - ba[2] < 2.0 * h;
        below || right
    } else {
        let centre_offset = ((ba[1] + ba[3]) - (bb[1] + bb[3])).abs() / 2.0;
        let right = v_overlap > 0.5 * (ba[3] - ba[1]).min(bb[3] - bb[1])
            && centre_offset < 0.5 * h
            && bb[0] > ba[0] + 0.3 * h
            && bb[0] - ba[2] < 3.0 * h;
        // The next row starts under this one: overlapping it, or left-aligned with it.
        let aligned = h_overlap > 0.0 || (bb[0] - ba[0]).abs() < 1.5 * h;
        let below = aligned && bb[1] > ba[1] + 0.5 * h && bb[1] - ba[3] < 1.2 * h;
        right || below
    }
}

/// Largest ratio of two pieces' character heights that may still be one code (perspective makes
/// the far piece a little smaller; a different box's code at another distance differs more).
const MAX_HEIGHT_RATIO: f32 = 1.5;

/// The same for a piece of one character: the boxed check digit. The detector's box of a lone
/// glyph hugs the glyph (a `0` is narrower than the column of a serial with a `7` in it), so it
/// measures the line's height poorly; a check digit from another box must still verify the
/// code (one time in eleven by chance), which a longer piece need not.
const LONE_CHAR_HEIGHT_RATIO: f32 = 2.0;

fn is_lone_char(l: &TextLine) -> bool {
    l.text.chars().filter(|c| c.is_ascii_alphanumeric()).count() == 1
}

/// All container codes readable in `lines`, best first.
pub fn codes_in_lines(lines: &[TextLine], alts: &[Vec<CharAlts>]) -> Vec<ImageCode> {
    let mut found: Vec<ImageCode> = Vec::new();
    let mut push = |read: CodeRead, idx: Vec<usize>| {
        if let Some(f) = found.iter_mut().find(|f| f.read.code == read.code) {
            if read.confidence > f.read.confidence {
                f.read = read;
                f.lines = idx;
            }
        } else {
            found.push(ImageCode { read, size_type: None, lines: idx });
        }
    };
    let n = lines.len();
    for i in 0..n {
        for r in iso6346::find_codes(&alts[i]) {
            push(r, vec![i]);
        }
        for j in (0..n).filter(|&j| j != i && follows(&lines[i], &lines[j])) {
            let mut seq = alts[i].clone();
            seq.push(CharAlts::certain(' '));
            seq.extend(alts[j].iter().cloned());
            for r in iso6346::find_codes(&seq) {
                push(r, vec![i, j]);
            }
            for k in (0..n).filter(|&k| k != i && k != j && follows(&lines[j], &lines[k])) {
                let mut seq3 = seq.clone();
                seq3.push(CharAlts::certain(' '));
                seq3.extend(alts[k].iter().cloned());
                for r in iso6346::find_codes(&seq3) {
                    push(r, vec![i, j, k]);
                }
            }
        }
    }
    finish(lines, &mut found);
    found
}

/// Weakest character probability a layout-decoded code may have.
const MIN_DECODED_PROB: f32 = 0.02;

/// Could this line be a whole code the greedy read garbled (a dropped or merged character, a
/// framed check digit read as a letter, a look-alike from another script)? About code length,
/// mostly code characters, with digits.
fn code_like(text: &str) -> bool {
    let n = text.chars().filter(|c| !c.is_whitespace()).count();
    let alnum = text.chars().filter(|c| c.is_ascii_alphanumeric()).count();
    let digits = text.chars().filter(|c| c.is_ascii_digit()).count();
    (10..=13).contains(&n) && alnum + 2 >= n && digits >= 5
}

/// Codes read by decoding single code-like lines under the ISO 6346 layout (see
/// [`crate::ocr::ctc_layout`]): kept only when the check digit the model read there is right, so the
/// format picks among the model's own readings and the check digit confirms the pick.
pub fn decoded_codes(lines: &[TextLine], dict: &[String]) -> Vec<ImageCode> {
    let mut sets: Option<Vec<Vec<usize>>> = None;
    let mut out: Vec<ImageCode> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if !code_like(&l.text) {
            continue;
        }
        let sets = sets.get_or_insert_with(|| iso6346::layout_classes(dict));
        let Some(r) = crate::ocr::ctc_layout::decode(&l.rec.probs, sets) else { continue };
        let code: String = r
            .classes
            .iter()
            .filter_map(|&k| dict.get(k)?.chars().next().map(crate::ocr::rec::normalize_char))
            .collect();
        if r.min_prob() < MIN_DECODED_PROB
            || !iso6346::is_valid(&code)
            || out.iter().any(|c| c.read.code == code)
        {
            continue;
        }
        let corrected = if code == l.text { vec![] } else { vec![format!("{}->{code}", l.text)] };
        let seen = seen_in(&l.rec, dict, &code).unwrap_or(r.min_prob());
        let read = CodeRead {
            code,
            confidence: r.min_prob(),
            check_digit_ok: true,
            corrected,
            guessed: false,
            seen,
        };
        out.push(ImageCode { read, size_type: None, lines: vec![i] });
    }
    out
}

/// How sure the recogniser was of what it saw in a line decoded as `code` (see
/// [`CodeRead::seen`]): when its greedy read has the code's eleven characters, each the code's
/// own or a look-alike of the other class, the weakest of them as read. The layout's own
/// probability of a look-alike it moved into the right class (`0` as category `U`) is low
/// however clearly the recogniser saw the shape. `None` when the read is not such a spelling.
fn seen_in(rec: &crate::ocr::rec::RecLine, dict: &[String], code: &str) -> Option<f32> {
    let read: Vec<CharAlts> =
        rec.alternatives(dict, 1).into_iter().filter(|a| a.best().0.is_ascii_alphanumeric()).collect();
    if read.len() != 11 {
        return None;
    }
    let spelled = code.chars().zip(&read).enumerate().all(|(i, (c, a))| {
        let raw = a.best().0;
        raw == c || iso6346::look_alike(i, raw) == Some(c)
    });
    spelled.then(|| read.iter().map(|a| a.best().1).fold(1.0f32, f32::min))
}

/// Merge codes found another way (e.g. [`crate::read::checkdigit`]) into `found`.
pub fn merge(lines: &[TextLine], found: &mut Vec<ImageCode>, more: Vec<ImageCode>) {
    for m in more {
        match found.iter_mut().find(|f| f.read.code == m.read.code) {
            Some(f) if f.read.confidence < m.read.confidence => f.read = m.read,
            Some(_) => {}
            None => found.push(m),
        }
    }
    finish(lines, found);
}

fn finish(lines: &[TextLine], found: &mut Vec<ImageCode>) {
    // Keep invalid reads only when nothing valid was found.
    found.sort_by(|a, b| {
        b.read
            .check_digit_ok
            .cmp(&a.read.check_digit_ok)
            .then(b.read.confidence.total_cmp(&a.read.confidence))
    });
    if found.iter().any(|f| f.read.check_digit_ok) {
        found.retain(|f| f.read.check_digit_ok);
        // Two different valid codes read from the same place: one is a misread (or a join of
        // pieces that belong elsewhere); the stronger stays.
        let mut kept: Vec<ImageCode> = Vec::new();
        for f in found.drain(..) {
            if !kept.iter().any(|k| same_place(lines, &k.lines, &f.lines)) {
                kept.push(f);
            }
        }
        *found = kept;
    } else {
        // Without a valid code, only the most confident failed read is worth reporting.
        found.truncate(1);
    }
    for f in found.iter_mut() {
        f.size_type = nearest_size_type(lines, &f.lines);
    }
}

/// Do two codes' lines cover the same text? (A line's centre inside the other's box.)
fn same_place(lines: &[TextLine], a: &[usize], b: &[usize]) -> bool {
    let inside = |o: [f32; 4], i: [f32; 4]| {
        let (cx, cy) = ((i[0] + i[2]) / 2.0, (i[1] + i[3]) / 2.0);
        cx > o[0] && cx < o[2] && cy > o[1] && cy < o[3]
    };
    a.iter().any(|&i| {
        b.iter().any(|&j| {
            let (x, y) = (lines[i].bbox(), lines[j].bbox());
            inside(x, y) || inside(y, x)
        })
    })
}

fn nearest_size_type(lines: &[TextLine], code_lines: &[usize]) -> Option<String> {
    let anchor = code_lines.first().map(|&i| lines[i].bbox())?;
    let h = code_lines.first().map(|&i| char_height(&lines[i]))?;
    lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !code_lines.contains(i))
        .filter_map(|(_, l)| {
            let st = iso6346::size_type(&l.text)?;
            let b = l.bbox();
            let d = ((b[0] - anchor[0]).powi(2) + (b[1] - anchor[1]).powi(2)).sqrt();
            (d < 12.0 * h).then_some((d, st))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|x| x.1)
}

/// Fuse reads of the same container from several cameras into one answer per code.
///
/// Reads with a valid check digit vote for their code; an invalid read within two characters of
/// a valid code supports it. Confidence is `1 - Π(1 - cᵢ)` over supporting reads, scaled by the
/// share of the competing reads that support the code, so two cameras agreeing beat one sure
/// camera. Competing reads are those of the same container (within three characters of the
/// code): a second container of the passage is not a competitor and costs no confidence.
pub fn fuse(reads: &[ContainerRead]) -> Vec<ContainerRead> {
    let mut groups: BTreeMap<String, Vec<&ContainerRead>> = BTreeMap::new();
    for r in reads.iter().filter(|r| r.check_digit_ok) {
        groups.entry(r.code.clone()).or_default().push(r);
    }
    for r in reads.iter().filter(|r| !r.check_digit_ok) {
        let near = groups.keys().find(|k| hamming(k, &r.code) <= 2).cloned();
        groups.entry(near.unwrap_or_else(|| r.code.clone())).or_default().push(r);
    }
    let mut out: Vec<ContainerRead> = groups
        .into_iter()
        .map(|(code, rs)| {
            let valid: Vec<&&ContainerRead> =
                rs.iter().filter(|r| r.check_digit_ok && r.code == code).collect();
            let miss: f32 = rs
                .iter()
                .map(|r| 1.0 - r.confidence.clamp(0.0, 1.0) * if r.code == code { 1.0 } else { 0.5 })
                .product();
            let mut cameras: Vec<String> = rs.iter().flat_map(|r| r.cameras.iter().cloned()).collect();
            cameras.sort();
            cameras.dedup();
            let size_type = rs.iter().filter_map(|r| r.size_type.clone()).next();
            let mut corrected: Vec<String> = valid
                .iter()
                .min_by_key(|r| r.corrected.len())
                .map(|r| r.corrected.clone())
                .unwrap_or_default();
            corrected.dedup();
            let mut models: Vec<String> = rs.iter().flat_map(|r| r.models.iter().cloned()).collect();
            models.sort();
            models.dedup();
            ContainerRead {
                check_digit_ok: !valid.is_empty() || iso6346::is_valid(&code),
                confidence: (1.0 - miss) * (rs.len() as f32 / competing(reads, &code) as f32).sqrt(),
                code,
                corrected,
                size_type,
                cameras,
                models,
            }
        })
        .collect();
    out.sort_by(|a, b| b.check_digit_ok.cmp(&a.check_digit_ok).then(b.confidence.total_cmp(&a.confidence)));
    out
}

/// Reads that are about the container with `code`: within three characters of it.
fn competing(reads: &[ContainerRead], code: &str) -> usize {
    reads.iter().filter(|r| hamming(&r.code, code) <= 3).count().max(1)
}

fn hamming(a: &str, b: &str) -> usize {
    if a.len() != b.len() {
        return usize::MAX;
    }
    a.chars().zip(b.chars()).filter(|(x, y)| x != y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(code: &str, conf: f32, cam: &str) -> ContainerRead {
        ContainerRead {
            code: code.into(),
            confidence: conf,
            check_digit_ok: iso6346::is_valid(code),
            corrected: vec![],
            models: vec![],
            size_type: None,
            cameras: vec![cam.into()],
        }
    }

    #[test]
    fn code_like_lines() {
        assert!(code_like("BEAU265693D"));
        assert!(code_like("PC丨U274312g"));
        assert!(code_like("CX.01604074"));
        assert!(!code_like("MAERSK"));
        assert!(!code_like("2013-04-10 12:02:31"));
    }

    #[test]
    fn cameras_agreeing_win_and_near_misses_support() {
        let fused = fuse(&[
            read("BEAU2656931", 0.8, "LF"),
            read("BEAU2656931", 0.7, "RF"),
            read("BEAU2656981", 0.6, "AH"),
            read("TRHU1700369", 0.95, "AS"),
        ]);
        assert_eq!(fused[0].code, "BEAU2656931");
        assert_eq!(fused[0].cameras, vec!["AH", "LF", "RF"]);
        assert!(fused[0].confidence > fused[1].confidence);
        assert_eq!(fused[1].code, "TRHU1700369");
    }

    fn line(x: f32, y: f32, w: f32, h: f32) -> TextLine {
        TextLine {
            text: String::new(),
            confidence: 0.9,
            quad: [[x, y], [x + w, y], [x + w, y + h], [x, y + h]],
            source: LineSource::Detected,
            rec: Default::default(),
        }
    }

    #[test]
    fn pieces_join_only_when_their_geometry_is_one_inscription() {
        let owner = line(100.0, 100.0, 120.0, 30.0);
        // The serial on the same row, a character's gap to the right: one code.
        assert!(follows(&owner, &line(240.0, 102.0, 180.0, 30.0)));
        // On the next row, left-aligned: one code.
        assert!(follows(&owner, &line(100.0, 138.0, 200.0, 30.0)));
        // The next box's serial at another distance: characters twice as tall.
        assert!(!follows(&owner, &line(240.0, 90.0, 300.0, 60.0)));
        // Same height but a row lower and far to the right: another container's code.
        assert!(!follows(&owner, &line(600.0, 140.0, 180.0, 30.0)));
        // Same row but shifted by most of a line: not aligned.
        assert!(!follows(&owner, &line(240.0, 120.0, 180.0, 30.0)));
        // A boxed check digit whose box hugs the glyph (0.6 of the line's height) follows the
        // serial; a piece of several characters that small does not.
        let serial = TextLine { text: "073732".into(), ..line(240.0, 100.0, 180.0, 30.0) };
        let digit = |text: &str| TextLine { text: text.into(), ..line(430.0, 106.0, 14.0, 18.0) };
        assert!(follows(&serial, &digit(" 0")));
        assert!(!follows(&serial, &digit("02")));
    }

    #[test]
    fn two_valid_codes_from_one_place_keep_the_stronger_and_two_places_keep_both() {
        let lines =
            vec![line(0.0, 0.0, 300.0, 30.0), line(5.0, 2.0, 290.0, 28.0), line(0.0, 200.0, 300.0, 30.0)];
        let code = |c: &str, conf: f32, i: usize| ImageCode {
            read: CodeRead {
                code: c.into(),
                confidence: conf,
                check_digit_ok: true,
                corrected: vec![],
                guessed: false,
                seen: conf,
            },
            size_type: None,
            lines: vec![i],
        };
        let mut found =
            vec![code("BEAU2656931", 0.9, 0), code("CSQU3054383", 0.5, 1), code("TRHU1700369", 0.8, 2)];
        finish(&lines, &mut found);
        let codes: Vec<&str> = found.iter().map(|f| f.read.code.as_str()).collect();
        assert_eq!(codes, vec!["BEAU2656931", "TRHU1700369"]);
    }

    #[test]
    fn a_second_container_costs_the_first_no_confidence() {
        let one = fuse(&[read("BEAU2656931", 0.9, "LF")]);
        let two = fuse(&[read("BEAU2656931", 0.9, "LF"), read("TRHU1700369", 0.9, "RF")]);
        assert_eq!(two.len(), 2);
        assert_eq!(one[0].confidence, two.iter().find(|r| r.code == "BEAU2656931").unwrap().confidence);
        // A competing valid read of the same box (two characters off) does.
        let doubted = fuse(&[read("BEAU2656931", 0.9, "LF"), read("BEAU2657938", 0.9, "RF")]);
        assert!(doubted.iter().all(|r| r.confidence < one[0].confidence), "{doubted:?}");
    }
}
