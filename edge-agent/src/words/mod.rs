//! The lane's words for people: the vocabulary (device kinds, states, outcomes, stages,
//! reasons) in English and Simplified Chinese and values in their wire words; and, from
//! `tomlcheck` (shared with central), plurals, articles, "did you mean" and durations as
//! a technician writes and reads them.
//!
//! One module so the config errors, every command's output and the technician page
//! say the same thing the same way: a device kind is "area camera" everywhere a person
//! reads it, `area_camera` only where a file or a machine does. It imports nothing from
//! the rest of the crate, so anything may use it.

mod vocab;

pub use tomlcheck::duration::{format_duration, parse_duration, DurationError};
pub use tomlcheck::words::*;
pub use vocab::{reason_en, Lang, Term, TABLES};

/// The English words for `key` in the vocabulary table `table` (`kind`, `health`,
/// `outcome`, `stage`, `exit`, `lane_state`, `flag`, `reason`); the key itself when unknown.
pub fn vocab_en(table: &str, key: &'static str) -> &'static str {
    TABLES.iter().find(|(n, _)| *n == table).map_or(key, |(_, t)| vocab::en(t, key))
}

/// As [`vocab_en`] for a key that is not `'static` (read from a message).
pub fn en_of(table: &str, key: &str) -> String {
    TABLES.iter().find(|(n, _)| *n == table).map_or(key, |(_, t)| vocab::en(t, key)).to_string()
}

/// The word a value has on the wire and in files (its serde name): `Outcome::Release` ->
/// `release`. For logs and messages, never `Some(Release)`.
pub fn wire_word<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) => "none".into(),
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}
