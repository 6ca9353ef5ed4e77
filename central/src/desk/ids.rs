//! What a person types for a container or a plate, checked before it goes
//! anywhere: ISO 6346 codes with their check digit, and Chinese plates per
//! GA 36 (the forms `models::read::plate` reads). Text only — the desk never
//! reads images — so this stays a few rules rather than the recogniser's
//! position-aware reading.

const PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";
const SUFFIXES: &str = "挂学警港澳领";

/// Upper-cases and drops the separators people type (spaces, dots, dashes).
pub fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, ' ' | '.' | '·' | '-' | '\u{3000}'))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn letter_value(c: char) -> u32 {
    // A=10, then upward skipping multiples of 11 (11, 22, 33).
    let mut v = 10;
    for l in 'A'..c {
        let _ = l;
        v += 1;
        if v % 11 == 0 {
            v += 1;
        }
    }
    v
}

/// The ISO 6346 check digit of the first ten characters.
pub fn iso6346_check_digit(first_ten: &str) -> Option<u32> {
    let chars: Vec<char> = first_ten.chars().collect();
    if chars.len() != 10 {
        return None;
    }
    let mut sum = 0u32;
    for (i, c) in chars.iter().enumerate() {
        let v = match (i, c) {
            (0..=3, 'A'..='Z') => letter_value(*c),
            (4..=9, '0'..='9') => c.to_digit(10)?,
            _ => return None,
        };
        sum += v << i;
    }
    Some(sum % 11 % 10)
}

/// What was typed, quoted for a message: whole when short, else its beginning and its length
/// (a refusal need not repeat 20,000 characters back).
fn quoted(text: &str) -> String {
    const SHOWN: usize = 24;
    let n = text.chars().count();
    if n <= SHOWN {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(SHOWN).collect();
        format!("{:?} ({n} characters)", head + "…")
    }
}

/// Why a container code is refused, in words a person can act on; `Ok` when valid.
pub fn check_container(code: &str) -> Result<(), String> {
    let chars: Vec<char> = code.chars().collect();
    let shape =
        || format!("{} is not a container number: 4 letters and 7 digits (e.g. MSKU1234565)", quoted(code));
    if chars.len() != 11 {
        return Err(shape());
    }
    if !matches!(chars[3], 'U' | 'J' | 'Z') {
        return Err(format!("{}: the fourth letter is the category U, J or Z", quoted(code)));
    }
    // By characters: a byte slice would cut a character typed in another script.
    let first_ten: String = chars[..10].iter().collect();
    let Some(expected) = iso6346_check_digit(&first_ten) else {
        return Err(shape());
    };
    if chars[10].to_digit(10) != Some(expected) {
        return Err(format!("{}: the check digit should be {expected} (ISO 6346)", quoted(code)));
    }
    Ok(())
}

/// GA 36: province, letter, then 5 characters (the last may be a suffix),
/// 6 for new-energy plates, or `使` and 6 digits.
pub fn is_ga36_plate(plate: &str) -> bool {
    let c: Vec<char> = plate.chars().collect();
    let alnum = |ch: char| ch.is_ascii_digit() || (ch.is_ascii_uppercase() && ch != 'I' && ch != 'O');
    if c.first() == Some(&'使') {
        return c.len() == 7 && c[1..].iter().all(|ch| ch.is_ascii_digit());
    }
    if c.len() < 7 || !PROVINCES.contains(c[0]) || !c[1].is_ascii_uppercase() {
        return false;
    }
    let rest = &c[2..];
    match rest.len() {
        5 => rest[..4].iter().all(|&ch| alnum(ch)) && (alnum(rest[4]) || SUFFIXES.contains(rest[4])),
        6 => {
            let energy = |ch: char| ch == 'D' || ch == 'F';
            rest.iter().all(|&ch| alnum(ch))
                && (energy(rest[0]) || (energy(rest[5]) && rest[..5].iter().all(|ch| ch.is_ascii_digit())))
        }
        _ => false,
    }
}

pub fn check_plate(plate: &str) -> Result<(), String> {
    if is_ga36_plate(plate) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a plate per GA 36 (province, letter, 5 characters; new energy 6), e.g. 沪A12345",
            quoted(plate)
        ))
    }
}

/// A corrected plate: GA 36, or a foreign plate (border ports see Russian
/// and Mongolian ones) written in 4 to 10 Latin letters and digits.
pub fn check_corrected_plate(plate: &str) -> Result<(), String> {
    let foreign =
        (4..=10).contains(&plate.chars().count()) && plate.chars().all(|c| c.is_ascii_alphanumeric());
    if foreign {
        return Ok(());
    }
    check_plate(plate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso6346_check_digits_of_real_codes() {
        // From the standard's example and codes in the test data's labels.
        for code in ["CSQU3054383", "MSKU1234565", "BEAU2656931", "TRHU1700369", "OOLU7504607"] {
            assert_eq!(check_container(code), Ok(()), "{code}");
        }
        assert!(check_container("CSQU3054384").unwrap_err().contains("should be 3"));
        assert!(check_container("CSQX3054383").unwrap_err().contains("category"));
        assert!(check_container("CSQU305438").is_err());
        assert!(check_container("CSQU30543A3").is_err());
        // Another script where a digit belongs: refused, not a panic on a byte slice.
        assert!(check_container("ABCU12345沪7").unwrap_err().contains("not a container number"));
        assert!(check_container("ABCU1234沪67").is_err());
        let long = check_container(&"9".repeat(20_000)).unwrap_err();
        assert!(long.len() < 200 && long.contains("(20000 characters)"), "{long}");
        assert_eq!(letter_value('A'), 10);
        assert_eq!(letter_value('B'), 12, "11 is skipped");
        assert_eq!(letter_value('K'), 21);
        assert_eq!(letter_value('L'), 23, "22 is skipped");
        assert_eq!(letter_value('Z'), 38);
    }

    #[test]
    fn ga36_plates() {
        for p in ["京CX8888", "沪A12345", "粤Z1234港", "苏AD12345", "浙B12345F", "使123456", "川AA662F"]
        {
            assert!(is_ga36_plate(p), "{p}");
        }
        for p in ["京CX888", "XA12345", "沪112345", "沪AI2345", "京CX88888", "使12345"] {
            assert!(!is_ga36_plate(p), "{p}");
        }
        assert_eq!(normalise("沪a·123 45"), "沪A12345");
        assert!(check_corrected_plate("A123BC77").is_ok(), "a Russian plate");
        assert!(check_corrected_plate("京C").is_err());
        let long = check_plate(&"沪".repeat(20_000)).unwrap_err();
        assert!(long.chars().count() < 150 && long.contains("(20000 characters)"), "{long}");
    }
}
