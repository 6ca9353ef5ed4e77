//! The value checkers shared by the general validation (`validate.rs`) and the
//! desk section (`desk.rs`): names and durations. They live in this leaf module,
//! importing neither of the two, so `validate.rs` can call into `desk.rs` while
//! `desk.rs` still uses the same checkers — the imports run one way.

use std::time::Duration;

use toml::Spanned;
use tomlcheck::duration::DurationError;
use tomlcheck::Reporter;

/// Site, lane and instance names go into topics and client ids.
pub(super) fn identifier(r: &mut Reporter, v: &Spanned<String>, what: &str) -> Option<String> {
    let s = v.get_ref();
    let ok =
        !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
    if !ok {
        r.error(v.span(), format!("{what} {s:?} is not usable"), "use 1 to 64 letters, digits, '-' or '_'");
        return None;
    }
    Some(s.clone())
}

pub(super) fn duration(r: &mut Reporter, v: Option<&Spanned<String>>, default: &str) -> Duration {
    let parse = tomlcheck::duration::parse_duration;
    let Some(v) = v else { return parse(default).expect("defaults parse") };
    match parse(v.get_ref()) {
        Ok(d) if !d.is_zero() => d,
        result => {
            let why = match result {
                Ok(_) => ": it is zero".to_string(),
                Err(
                    e
                    @ (DurationError::Months | DurationError::NoUnit(_) | DurationError::UnknownUnit { .. }),
                ) => {
                    format!(": {e}")
                }
                Err(_) => String::new(),
            };
            r.error(
                v.span(),
                format!("{:?} is not a duration{why}", v.get_ref()),
                "write a number with a unit, e.g. \"30s\", \"10m\", \"180d\"",
            );
            parse(default).expect("defaults parse")
        }
    }
}
