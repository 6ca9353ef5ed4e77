//! Chinese vehicle plates per GA 36: format, position-aware reading, colour.
//!
//! Formats accepted (separator dots and spaces are dropped):
//! - ordinary: province + letter + 5 alphanumerics (`京CX8888`), the last may be a suffix
//!   (挂 学 警 港 澳 领: `粤Z1234港`);
//! - new energy: province + letter + 6 (`D`/`F` first for small cars, `D`/`F` last for large ones);
//! - embassy: `使` + 6 digits.
//!
//! Letters I and O do not occur after the second position; a read `O` there is `0`, `I` is `1`.
//! Like [`crate::read::iso6346`], each position takes the best recogniser candidate of its class, so a
//! province character misread as a look-alike Han character is recovered from the runner-ups.

use image::RgbImage;

use crate::imgops::Quad;
use crate::ocr::ctc_layout;
use crate::ocr::rec::{certain_chars, normalize_char, CharAlts, RecLine};
use crate::reads::PlateColor;

pub const PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";
pub const SUFFIXES: &str = "挂学警港澳使领";

/// A plate read from text.
#[derive(Debug, Clone, PartialEq)]
pub struct PlateText {
    pub text: String,
    /// Weakest character's probability.
    pub confidence: f32,
    pub corrected: Vec<String>,
    /// Read by decoding under the plate layouts ([`find_plate_decoded`]) rather than from the
    /// greedy read: the format chose some character, so such a read only counts where no plain
    /// read of the same plate exists.
    pub forced: bool,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Class {
    Province,
    Letter,
    /// Letters (no I/O) and digits.
    Alnum,
    Digit,
    /// `D` or `F` (new energy).
    Energy,
    AlnumOrSuffix,
}

fn fits(class: Class, c: char) -> bool {
    let alnum = |c: char| c.is_ascii_digit() || (c.is_ascii_uppercase() && c != 'I' && c != 'O');
    match class {
        Class::Province => PROVINCES.contains(c),
        Class::Letter => c.is_ascii_uppercase(),
        Class::Alnum => alnum(c),
        Class::Digit => c.is_ascii_digit(),
        Class::Energy => c == 'D' || c == 'F',
        Class::AlnumOrSuffix => alnum(c) || "挂学警港澳领".contains(c),
    }
}

/// Look-alike fallback for a class, when the recogniser offered nothing of that class.
fn look_alike(class: Class, c: char) -> Option<char> {
    let m = match (class, c) {
        (Class::Alnum | Class::AlnumOrSuffix | Class::Digit, 'O' | 'o' | 'Q') => '0',
        (Class::Alnum | Class::AlnumOrSuffix | Class::Digit, 'I' | 'l' | '|') => '1',
        (Class::Digit, 'Z') => '2',
        (Class::Digit, 'S') => '5',
        (Class::Digit, 'B') => '8',
        (Class::Letter, '0') => 'O',
        (Class::Letter, '8') => 'B',
        (Class::Letter, '1') => 'I',
        (Class::Letter | Class::Alnum | Class::AlnumOrSuffix, c) if c.is_ascii_lowercase() => {
            c.to_ascii_uppercase()
        }
        _ => return None,
    };
    fits(class, m).then_some(m)
}

const LAYOUTS: &[&[Class]] = {
    use Class::*;
    &[
        &[Province, Letter, Alnum, Alnum, Alnum, Alnum, AlnumOrSuffix],
        &[Province, Letter, Energy, Alnum, Alnum, Alnum, Alnum, Alnum],
        &[Province, Letter, Digit, Digit, Digit, Digit, Digit, Energy],
    ]
};

fn read_layout(chars: &[CharAlts], layout: &[Class]) -> Option<PlateText> {
    let mut text = String::new();
    let mut conf = 1.0f32;
    let mut corrected = Vec::new();
    for (i, (alts, &class)) in chars.iter().zip(layout).enumerate() {
        let (raw, raw_p) = alts.best();
        let (c, p) = if fits(class, raw) {
            (raw, raw_p)
        } else if let Some((c, p)) = alts.best_where(|c| fits(class, c)).filter(|x| x.1 >= 0.01) {
            (c, p)
        } else {
            (look_alike(class, raw)?, raw_p * 0.7)
        };
        if c != raw {
            corrected.push(format!("{raw}->{c}@{i}"));
        }
        text.push(c);
        conf = conf.min(p);
    }
    Some(PlateText { text, confidence: conf, corrected, forced: false })
}

/// A character some plate may hold (after [`crate::ocr::rec::normalize_char`]).
pub fn is_plate_char(c: char) -> bool {
    c.is_ascii_digit() || c.is_ascii_uppercase() || PROVINCES.contains(c) || SUFFIXES.contains(c)
}

pub(crate) fn is_separator(c: char) -> bool {
    matches!(c, '·' | '•' | '.' | '-' | ' ' | '・' | ':' | '：' | '"' | '\'' | '“' | '”' | '。' | '_')
}

/// Find a plate in a recognised line: the best layout over windows starting at a province
/// character (or at any position whose runner-ups include one).
pub fn find_plate(chars: &[CharAlts]) -> Option<PlateText> {
    let chars: Vec<CharAlts> = chars.iter().filter(|a| !is_separator(a.best().0)).cloned().collect();
    let mut best: Option<PlateText> = None;
    for start in 0..chars.len() {
        let head = &chars[start];
        let province_like = fits(Class::Province, head.best().0)
            || (!head.best().0.is_ascii()
                && head.best_where(|c| fits(Class::Province, c)).is_some_and(|x| x.1 >= 0.01));
        if !province_like {
            continue;
        }
        for layout in LAYOUTS {
            let end = start + layout.len();
            if end > chars.len() {
                continue;
            }
            // A plate is the whole token: no alphanumeric may continue it.
            if chars.get(end).is_some_and(|a| a.best().0.is_ascii_alphanumeric()) {
                continue;
            }
            if let Some(p) = read_layout(&chars[start..end], layout) {
                let better = best.as_ref().is_none_or(|b| {
                    (p.text.chars().count(), p.confidence) > (b.text.chars().count(), b.confidence)
                        && p.confidence > 0.3
                        || p.confidence > b.confidence + 0.3
                });
                if better {
                    best = Some(p);
                }
            }
        }
    }
    best.or_else(|| embassy(&chars))
}

/// Weakest character probability a format-decoded plate may have: below it the format, not the
/// image, chose a character.
pub const MIN_DECODED_PROB: f32 = 0.02;

/// For each layout, each position's allowed dictionary classes.
pub fn layout_classes(dict: &[String]) -> Vec<Vec<Vec<usize>>> {
    let single: Vec<(usize, char)> = dict
        .iter()
        .enumerate()
        .skip(1)
        .filter_map(|(k, s)| {
            let mut it = s.chars();
            let c = it.next()?;
            it.next().is_none().then_some((k, normalize_char(c)))
        })
        .collect();
    LAYOUTS
        .iter()
        .map(|layout| {
            layout
                .iter()
                .map(|&class| single.iter().filter(|(_, c)| fits(class, *c)).map(|x| x.0).collect())
                .collect()
        })
        .collect()
}

/// A plate read by decoding the whole line under each plate layout (see [`crate::ocr::ctc_layout`]):
/// for lines known to show a plate (a tight crop, a plate-coloured region) whose greedy read is
/// not one, e.g. a province read as a Latin letter or two characters merged. The most probable
/// layout wins; its weakest character is the confidence and must reach [`MIN_DECODED_PROB`],
/// except the province's, which must reach `min_province`: on a small plate the province is the
/// least legible character, and where the region is known to be a plate the best province is
/// still the best guess (reported with its low confidence).
pub fn find_plate_decoded(
    rec: &RecLine,
    dict: &[String],
    layouts: &[Vec<Vec<usize>>],
    min_province: f32,
) -> Option<PlateText> {
    let best = layouts
        .iter()
        .filter_map(|sets| ctc_layout::decode(&rec.probs, sets))
        .max_by(|a, b| a.log_p.total_cmp(&b.log_p))?;
    if best.probs[0] < min_province || best.probs[1..].iter().any(|&p| p < MIN_DECODED_PROB) {
        return None;
    }
    let text: String =
        best.classes.iter().filter_map(|&k| dict.get(k)?.chars().next().map(normalize_char)).collect();
    let corrected = if text == rec.text { vec![] } else { vec![format!("{}->{text}", rec.text)] };
    Some(PlateText { text, confidence: best.min_prob(), corrected, forced: true })
}

fn embassy(chars: &[CharAlts]) -> Option<PlateText> {
    let s: String = chars.iter().map(|a| a.best().0).collect();
    let i = s.chars().position(|c| c == '使')?;
    let digits: String = s.chars().skip(i + 1).take_while(|c| c.is_ascii_digit()).collect();
    (digits.len() == 6).then(|| PlateText {
        text: format!("使{digits}"),
        confidence: 0.5,
        corrected: vec![],
        forced: false,
    })
}

/// A plate from a line whose province character the decoder dropped: `lead` holds the
/// candidates from the time steps before the first character (see
/// [`crate::ocr::rec::RecLine::lead_alternatives`]). Only a province among them with some probability
/// is accepted, and the read's confidence is capped by it.
pub fn find_plate_with_lead(chars: &[CharAlts], lead: Option<&CharAlts>) -> Option<PlateText> {
    let direct = find_plate(chars);
    if direct.is_some() {
        return direct;
    }
    let lead = lead?;
    let (prov, p) = lead.best_where(|c| fits(Class::Province, c)).filter(|x| x.1 >= 0.02)?;
    let mut seq = vec![CharAlts { cands: vec![(prov, p)] }];
    seq.extend(chars.iter().cloned());
    find_plate(&seq)
}

/// Two-row plates (trucks, trailers): province + letter on top, the rest below.
pub fn find_two_row(top: &[CharAlts], bottom: &[CharAlts]) -> Option<PlateText> {
    let t: Vec<&CharAlts> = top.iter().filter(|a| !is_separator(a.best().0)).collect();
    if t.len() != 2 {
        return None;
    }
    let mut seq: Vec<CharAlts> = t.into_iter().cloned().collect();
    seq.extend(bottom.iter().cloned());
    find_plate(&seq).or_else(|| {
        // GA 36's two-row plates carry five characters below; a bottom box that runs on (a
        // number painted beside the plate, its frame read as `1`) still holds them first.
        let b: Vec<CharAlts> = bottom.iter().filter(|a| !is_separator(a.best().0)).cloned().collect();
        if b.len() <= TWO_ROW_BOTTOM {
            return None;
        }
        seq.truncate(2);
        seq.extend(b[..TWO_ROW_BOTTOM].iter().cloned());
        find_plate(&seq)
    })
}

/// Characters on the lower row of a two-row plate.
const TWO_ROW_BOTTOM: usize = 5;

/// Convenience for plain text.
pub fn parse_text(text: &str) -> Option<PlateText> {
    find_plate(&certain_chars(text))
}

/// True when `text` is a well-formed plate.
pub fn is_valid(text: &str) -> bool {
    parse_text(text).is_some_and(|p| p.text == text && p.corrected.is_empty())
}

/// Compare plates as the data set defines equality: `粤O` and `粤0` are the same plate.
pub fn same_plate(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.chars().enumerate().map(|(i, c)| if i == 1 && c == '0' { 'O' } else { c }).collect::<String>()
    };
    norm(a) == norm(b)
}

/// Plate colour from the pixels of the plate region (the text box grown to take in the border).
pub fn plate_color(img: &RgbImage, quad: &Quad) -> Option<PlateColor> {
    let xs = quad.map(|p| p[0]);
    let ys = quad.map(|p| p[1]);
    let (x0, x1) = (xs.iter().copied().fold(f32::MAX, f32::min), xs.iter().copied().fold(f32::MIN, f32::max));
    let (y0, y1) = (ys.iter().copied().fold(f32::MAX, f32::min), ys.iter().copied().fold(f32::MIN, f32::max));
    let (x0, x1) = (x0.max(0.0) as u32, (x1 as u32).min(img.width()));
    let (y0, y1) = (y0.max(0.0) as u32, (y1 as u32).min(img.height()));
    if x1 <= x0 + 2 || y1 <= y0 + 2 {
        return None;
    }
    // counts: blue, yellow, green, white, black
    let mut n = [0u32; 5];
    for y in y0..y1 {
        for x in x0..x1 {
            let p = img.get_pixel(x, y);
            let (r, g, b) = (p[0] as f32 / 255.0, p[1] as f32 / 255.0, p[2] as f32 / 255.0);
            let max = r.max(g).max(b);
            let min = r.min(g).min(b);
            let s = if max > 0.0 { (max - min) / max } else { 0.0 };
            let h = hue(r, g, b, max, min);
            if max < 0.25 {
                n[4] += 1;
            } else if s < 0.2 && max > 0.6 {
                n[3] += 1;
            } else if s >= 0.3 {
                match h {
                    h if (190.0..=255.0).contains(&h) => n[0] += 1,
                    h if (30.0..70.0).contains(&h) => n[1] += 1,
                    h if (70.0..170.0).contains(&h) => n[2] += 1,
                    _ => {}
                }
            }
        }
    }
    let total: u32 = n.iter().sum();
    if total == 0 {
        return None;
    }
    let colors =
        [PlateColor::Blue, PlateColor::Yellow, PlateColor::Green, PlateColor::White, PlateColor::Black];
    // Coloured backgrounds win over white/black when they hold a fair share: white characters on
    // blue, and the white half of a green new-energy plate, would otherwise outvote them.
    let (ci, &cn) = n[..3].iter().enumerate().max_by_key(|x| x.1)?;
    if cn as f32 >= 0.25 * total as f32 {
        return Some(colors[ci]);
    }
    let (i, _) = n.iter().enumerate().max_by_key(|x| x.1)?;
    Some(colors[i])
}

fn hue(r: f32, g: f32, b: f32, max: f32, min: f32) -> f32 {
    let d = max - min;
    if d <= 0.0 {
        return 0.0;
    }
    let h = if max == r {
        60.0 * (((g - b) / d) % 6.0)
    } else if max == g {
        60.0 * ((b - r) / d + 2.0)
    } else {
        60.0 * ((r - g) / d + 4.0)
    };
    if h < 0.0 {
        h + 360.0
    } else {
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_new_energy_and_suffix_plates() {
        assert_eq!(parse_text("京C·X8888").unwrap().text, "京CX8888");
        assert_eq!(parse_text("川AA662F").unwrap().text, "川AA662F");
        assert_eq!(parse_text("皖AD12345").unwrap().text, "皖AD12345");
        assert_eq!(parse_text("粤B12345D").unwrap().text, "粤B12345D");
        assert_eq!(parse_text("粤Z1234港").unwrap().text, "粤Z1234港");
        assert_eq!(parse_text("鲁B1234挂").unwrap().text, "鲁B1234挂");
        assert_eq!(parse_text("使014578").unwrap().text, "使014578");
        assert!(parse_text("LINE").is_none());
        assert!(parse_text("京C88").is_none());
    }

    #[test]
    fn look_alikes_are_corrected_by_position() {
        let p = parse_text("沪AGH O92").unwrap();
        assert_eq!(p.text, "沪AGH092");
        assert_eq!(p.corrected, vec!["O->0@4"]);
        assert!(is_valid("苏E12345"));
        assert!(!is_valid("苏E1234O"));
    }

    #[test]
    fn two_row_plates_and_dropped_province() {
        assert_eq!(find_two_row(&certain_chars("津A"), &certain_chars("D9823")).unwrap().text, "津AD9823");
        // The lower row's box ran on over a number beside the plate.
        assert_eq!(find_two_row(&certain_chars("粤·A"), &certain_chars("K93312")).unwrap().text, "粤AK9331");
        assert!(find_two_row(&certain_chars("粤A"), &certain_chars("K93")).is_none());
        let lead = CharAlts { cands: vec![('1', 0.3), ('皖', 0.05)] };
        assert_eq!(find_plate_with_lead(&certain_chars("BBC666"), Some(&lead)).unwrap().text, "皖BBC666");
        assert!(find_plate_with_lead(&certain_chars("BBC666"), None).is_none());
    }

    #[test]
    fn layout_decoding_recovers_a_province_read_as_a_letter() {
        // Dictionary: blank, then 皖 A 7 Y 0 1 T O.
        let dict: Vec<String> =
            ["", "皖", "A", "7", "Y", "0", "1", "T", "O"].iter().map(|s| s.to_string()).collect();
        let layouts = layout_classes(&dict);
        assert_eq!(layouts[0][0], vec![1], "only 皖 is a province");
        assert!(!layouts[0][2].contains(&8), "no O after the second position");
        // Greedy "TA7Y001" with a weak 皖 under the T and an O competing with each 0.
        let seq = [
            (7, 1, 0.3),
            (0, 0, 0.0),
            (2, 0, 0.0),
            (3, 0, 0.0),
            (4, 0, 0.0),
            (5, 8, 0.4),
            (0, 0, 0.0),
            (5, 8, 0.4),
            (6, 0, 0.0),
        ];
        let c = dict.len();
        let mut probs = Vec::new();
        for (best, runner, p) in seq {
            let mut row = vec![0.01f32; c];
            row[best] = 0.9 - p;
            if p > 0.0 {
                row[runner] = p;
            }
            probs.extend(row);
        }
        let rec = RecLine {
            text: "TA7YO01".into(),
            chars: vec![],
            probs: crate::ocr::rec::LineProbs { t: seq.len(), c, probs },
        };
        assert!(find_plate_decoded(&rec, &dict, &layouts, 0.5).is_none(), "province too weak");
        let p = find_plate_decoded(&rec, &dict, &layouts, MIN_DECODED_PROB).unwrap();
        assert_eq!(p.text, "皖A7Y001");
        assert!((p.confidence - 0.3).abs() < 1e-6, "{p:?}");
        assert!(parse_text("TA7YO01").is_none(), "greedy parsing alone cannot read it");
    }

    #[test]
    fn guangdong_o_equals_zero() {
        assert!(same_plate("粤OA1234", "粤0A1234"));
        assert!(!same_plate("粤BA1234", "粤BA1235"));
    }

    #[test]
    fn colour_from_pixels() {
        let blue = RgbImage::from_pixel(40, 12, image::Rgb([20, 60, 200]));
        let q = [[0.0, 0.0], [40.0, 0.0], [40.0, 12.0], [0.0, 12.0]];
        assert_eq!(plate_color(&blue, &q), Some(PlateColor::Blue));
        let yellow = RgbImage::from_pixel(40, 12, image::Rgb([230, 190, 30]));
        assert_eq!(plate_color(&yellow, &q), Some(PlateColor::Yellow));
    }
}
