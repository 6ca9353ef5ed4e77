//! Durations as technicians write them in the lane file and on the command line:
//! `"250ms"`, `"5s"`, `"1.5s"`, `"10m"`, `"1m 30s"`, `"10 minutes"`, `"2h"`.
//!
//! Our own small grammar rather than `humantime`'s, because humantime reads `"10M"` as
//! ten *months* and accepts units (years, weeks, nanoseconds) no lane timer wants; a
//! gate controller should refuse what it would misread. Printing goes the other way
//! (`format_duration`), so `check-config` can show what a value was taken to mean.

use std::time::Duration;

/// Why a text is not a duration; the message says how to write one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("it is empty")]
    Empty,
    #[error("{0:?} has no unit")]
    NoUnit(String),
    #[error("{0:?} is not a number")]
    NotANumber(String),
    #[error("`M` is not a unit (minutes are `m`)")]
    Months,
    #[error("{unit:?} is not a unit")]
    UnknownUnit { unit: String },
    #[error("it is too long")]
    TooLong,
}

/// Units in milliseconds, every spelling accepted.
const UNITS: &[(&[&str], u64)] = &[
    (&["ms", "msec", "msecs", "millisecond", "milliseconds"], 1),
    (&["s", "sec", "secs", "second", "seconds"], 1_000),
    (&["m", "min", "mins", "minute", "minutes"], 60_000),
    (&["h", "hr", "hrs", "hour", "hours"], 3_600_000),
    (&["d", "day", "days"], 86_400_000),
];

/// Reads `"5s"`, `"1m 30s"`, `"10 minutes"`: one or more number-unit pairs.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total_ms = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number = &rest[..number_len];
        let value: f64 = number.parse().map_err(|_| DurationError::NotANumber(text.to_string()))?;
        rest = rest[number_len..].trim_start();
        let unit_len = rest.find(|c: char| !c.is_alphabetic()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        if unit.is_empty() {
            return Err(DurationError::NoUnit(text.to_string()));
        }
        if unit == "M" {
            return Err(DurationError::Months);
        }
        let lower = unit.to_lowercase();
        let scale = UNITS
            .iter()
            .find(|(names, _)| names.contains(&lower.as_str()))
            .map(|(_, ms)| *ms)
            .ok_or_else(|| DurationError::UnknownUnit { unit: unit.to_string() })?;
        total_ms += value * scale as f64;
        rest = rest[unit_len..].trim_start_matches([' ', ',']);
    }
    if total_ms > 366.0 * 86_400_000.0 {
        return Err(DurationError::TooLong);
    }
    Ok(Duration::from_micros((total_ms * 1000.0).round() as u64))
}

/// `250ms`, `1.5s`, `30s`, `1m`, `1m 30s`, `2h`, `1h 5m`: short, exact to the millisecond
/// below a minute and to the second above.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    if ms < 60_000 {
        return if ms % 1_000 == 0 {
            format!("{}s", ms / 1_000)
        } else {
            let s = format!("{:.3}", ms as f64 / 1_000.0);
            format!("{}s", s.trim_end_matches('0'))
        };
    }
    let secs = ms / 1_000;
    let parts = [(secs / 86_400, "d"), (secs / 3_600 % 24, "h"), (secs / 60 % 60, "m"), (secs % 60, "s")];
    parts.iter().filter(|(n, _)| *n > 0).map(|(n, u)| format!("{n}{u}")).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_technicians_write() {
        let ms = |t: &str| parse_duration(t).map(|d| d.as_millis());
        assert_eq!(ms("250ms"), Ok(250));
        assert_eq!(ms("5s"), Ok(5_000));
        assert_eq!(ms("1.5s"), Ok(1_500));
        assert_eq!(ms("10m"), Ok(600_000));
        assert_eq!(ms("10 minutes"), Ok(600_000));
        assert_eq!(ms("1m 30s"), Ok(90_000));
        assert_eq!(ms("1m30s"), Ok(90_000));
        assert_eq!(ms("2h"), Ok(7_200_000));
        assert_eq!(ms(" 3 S "), Ok(3_000));
        assert_eq!(ms("0s"), Ok(0));
    }

    #[test]
    fn refuses_what_it_would_misread() {
        assert_eq!(parse_duration("10M"), Err(DurationError::Months));
        assert_eq!(parse_duration("10"), Err(DurationError::NoUnit("10".into())));
        assert_eq!(parse_duration("soon"), Err(DurationError::NotANumber("soon".into())));
        assert_eq!(
            parse_duration("5 fortnights"),
            Err(DurationError::UnknownUnit { unit: "fortnights".into() })
        );
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(parse_duration("1.2.3s"), Err(DurationError::NotANumber("1.2.3s".into())));
        assert_eq!(parse_duration("400d"), Err(DurationError::TooLong));
    }

    #[test]
    fn prints_short_and_round_trips() {
        for (text, shown) in [
            ("250ms", "250ms"),
            ("1.5s", "1.5s"),
            ("30s", "30s"),
            ("10 minutes", "10m"),
            ("90s", "1m 30s"),
            ("2h", "2h"),
            ("1.25s", "1.25s"),
        ] {
            let d = parse_duration(text).unwrap();
            assert_eq!(format_duration(d), shown, "{text}");
            assert_eq!(parse_duration(shown).unwrap(), d, "{shown}");
        }
    }
}
