//! ISO 6346 container identification: owner code (3 letters), category (U, J, Z),
//! serial (6 digits), check digit.

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
    code.len() == 11 && matches!(code.as_bytes()[3], b'U' | b'J' | b'Z') && check_digit(&code[..10]) == Some(last)
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
}
