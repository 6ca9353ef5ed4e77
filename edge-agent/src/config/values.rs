//! Checks of single values shared by the lane-wide and the per-device validation:
//! identifiers, durations, required keys. Kept apart from both so neither imports the
//! other.

use std::time::Duration;

use toml::Spanned;

use crate::words::{self, DurationError};
use tomlcheck::Reporter;

pub const ID_HELP: &str = "use letters, digits, '-' and '_' only (it becomes part of MQTT topics)";

/// An identifier (site, lane, device name); the empty string when missing (reported).
pub fn ident(
    value: Option<&Spanned<String>>,
    key: &str,
    table: std::ops::Range<usize>,
    r: &mut Reporter,
) -> String {
    let Some(value) = value else {
        r.missing(table, key, format!("add `{} = \"…\"`; {ID_HELP}", key.rsplit('.').next().unwrap_or(key)));
        return String::new();
    };
    let v = value.get_ref();
    if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        r.error(value.span(), format!("`{key}` = {v:?} is not a valid identifier"), ID_HELP);
    } else if v.len() > MAX_IDENT_LEN {
        r.error(
            value.span(),
            format!("`{key}` is {} characters long, more than {MAX_IDENT_LEN}", v.len()),
            "use a shorter name: passage ids are made of it and name the lane's archived records",
        );
    }
    v.clone()
}

/// The longest identifier accepted. A passage id is `<lane>-<arrival time>-<number>`: 41
/// characters past the lane id at most (a 20-digit number), and the archive refuses a
/// record whose id exceeds 128 characters (`archive::record_path`). A lane id of 64 leaves room.
pub const MAX_IDENT_LEN: usize = 64;

/// A positive duration such as "5s", "250ms" or "10m" (see [`words::parse_duration`]).
pub fn duration(value: &Spanned<String>, key: &str, r: &mut Reporter) -> Option<Duration> {
    match words::parse_duration(value.get_ref()) {
        Ok(d) if d.is_zero() => {
            r.error(
                value.span(),
                format!("`{key}` must be longer than zero"),
                "a zero timeout would fire at once; give a positive duration such as \"5s\"",
            );
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            let given = value.get_ref();
            let general = "write a number with a unit, e.g. \"500ms\", \"5s\", \"10m\" or \"1m 30s\"";
            let (what, help) = match e {
                DurationError::Months => {
                    ("uses `M`, which is not a unit".to_string(), "write \"10m\" for ten minutes".to_string())
                }
                DurationError::NoUnit(n) => {
                    let n = n.trim().to_string();
                    ("has no unit".into(), format!("add one: \"{n}s\" for seconds, \"{n}m\" for minutes"))
                }
                DurationError::UnknownUnit { unit } => {
                    (format!("has an unknown unit {unit:?}"), general.into())
                }
                DurationError::TooLong => ("is longer than a year".into(), general.into()),
                DurationError::Empty | DurationError::NotANumber(_) => {
                    ("is not a duration".into(), general.into())
                }
            };
            r.error(value.span(), format!("`{key}` = {given:?} {what}"), help);
            None
        }
    }
}

pub fn duration_or(
    value: &Option<Spanned<String>>,
    key: &str,
    default: Duration,
    r: &mut Reporter,
) -> Duration {
    value.as_ref().and_then(|v| duration(v, key, r)).unwrap_or(default)
}
