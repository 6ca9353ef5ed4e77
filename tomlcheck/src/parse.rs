//! The TOML text into the program's raw serde structs, with every mistake reported, not
//! only the first.
//!
//! serde stops at the first key it cannot take. So the text is parsed once into a spanned
//! document and deserialised in a loop: each error becomes a sentence at its position
//! (key paths, the lane's words for types — never `u16` or `struct RawMqtt`), the
//! offending entry is taken out of the document, and the rest is tried again. What is left
//! deserialises into the raw structs, so validation still checks every other value in the
//! same run. A program that makes its required keys `Option`s and reports them missing in
//! validation ([`Reporter::missing`]) gets those in the same run too; a key taken out here
//! for its type is remembered ([`Reporter::removed`]) so it is not reported again as
//! missing. A missing required key serde finds itself stops the run (after saying so).

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::Reporter;
use crate::words;

/// More mistakes than this in one file: the rest is not worth reading.
const MAX_ERRORS: usize = 50;

/// `source` into `T`, or `None` when a mistake stopped it; every mistake is in `r`.
/// `is_duration` says which dotted keys hold durations, so their type errors say so.
pub fn parse<T: DeserializeOwned>(
    source: &str,
    r: &mut Reporter,
    is_duration: &dyn Fn(&str) -> bool,
) -> Option<T> {
    let (mut doc, syntax) = DeTable::parse_recoverable(source);
    if !syntax.is_empty() {
        // After a syntax error the structure is a guess: report the syntax only.
        for e in syntax {
            let (message, help) = syntax_words(e.message());
            r.error(e.span().unwrap_or(0..0), message, help);
        }
        return None;
    }
    for _ in 0..MAX_ERRORS {
        let e = match T::deserialize(toml::Deserializer::from(doc.clone())) {
            Ok(raw) => return Some(raw),
            Err(e) => e,
        };
        let span = e.span().unwrap_or(0..0);
        let message = e.message().trim().to_string();
        if message.starts_with("missing field") {
            // Nothing to take out: say where it is missing, and stop (serde cannot go on).
            let found = take_out(doc.clone().get_mut(), &span, &mut Vec::new())
                .unwrap_or(Found { path: vec![], was_table: true });
            let (message, help) = explain(&message, &found, is_duration);
            r.error(span, message, help);
            return None;
        }
        let Some(found) = take_out(doc.get_mut(), &span, &mut Vec::new()) else {
            // Not tied to one entry (a missing table at the top): say it and stop.
            r.error(span, message, "see the example configuration for the layout of the file");
            return None;
        };
        let (message, help) = explain(&message, &found, is_duration);
        r.error(span, message, help);
        r.removed(found.path.join("."));
    }
    None
}

/// An entry taken out of the document: where it was and what it held.
struct Found {
    path: Vec<String>,
    was_table: bool,
}

/// Removes the entry whose key or value has `span` and returns its dotted path.
fn take_out(table: &mut DeTable<'_>, span: &Range<usize>, path: &mut Vec<String>) -> Option<Found> {
    let hit = table
        .iter()
        .find(|(k, v)| k.span() == *span || v.span() == *span)
        .map(|(k, v)| (k.clone(), matches!(v.get_ref(), DeValue::Table(_))));
    if let Some((key, was_table)) = hit {
        table.remove(&key);
        path.push(key.get_ref().to_string());
        return Some(Found { path: path.clone(), was_table });
    }
    // Spans are unique in one text: search every table below.
    for (k, v) in table.iter_mut() {
        if let DeValue::Table(inner) = v.get_mut() {
            path.push(k.get_ref().to_string());
            if let Some(found) = take_out(inner, span, path) {
                return Some(found);
            }
            path.pop();
        }
    }
    None
}

/// `[mqtt]`, `[devices.barrier]`, or "the top of the file".
fn table_name(path: &[String]) -> String {
    if path.is_empty() {
        "the top of the file".into()
    } else {
        format!("[{}]", path.join("."))
    }
}

/// The serde message made into the lane's words, with a fix.
fn explain(message: &str, found: &Found, is_duration: &dyn Fn(&str) -> bool) -> (String, String) {
    let key = found.path.join(".");
    let (table, last) = found.path.split_at(found.path.len().saturating_sub(1));
    let last = last.first().map_or("", String::as_str);
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let expected = backticked(rest.split_once("expected").map_or("", |(_, e)| e));
        let what = if found.was_table {
            format!("unknown table [{key}]")
        } else {
            format!("unknown key `{last}` in {}", table_name(table))
        };
        let help = if expected.is_empty() {
            format!("remove it: {} takes no keys", table_name(table))
        } else {
            words::did_you_mean_key(
                last,
                &expected,
                &format!("remove it, or use a key {} takes:", table_name(table)),
            )
        };
        return (what, help);
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (given, wanted) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let wanted = type_words(&key, wanted, is_duration(&key));
        let help = type_help(&key, given, wanted.as_str());
        return (format!("`{key}` must be {wanted}, not {}", given_words(given)), help);
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let (given, wanted) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let given = given_words(given);
        return match range_of(wanted) {
            Some(_) if last == "port" => (
                format!("`{key}` = {given} is not a port number"),
                "ports run from 1 to 65535 (MQTT: 1883, or 8883 with TLS)".into(),
            ),
            Some((lo, hi)) if hi < i64::MAX => (
                format!("`{key}` = {given} is out of range"),
                format!("give a whole number from {lo} to {hi}"),
            ),
            Some(_) => {
                (format!("`{key}` = {given} is out of range"), "give a whole number, 0 or more".into())
            }
            None => (
                format!("`{key}` = {given} is not {}", type_words(&key, wanted, is_duration(&key))),
                "see config/lane.example.toml".into(),
            ),
        };
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        let message = if found.path.is_empty() {
            format!("the file has no `{field}`")
        } else {
            format!("{} has no `{field}`", table_name(&found.path))
        };
        return (message, "add it (the example configuration shows every key and table)".into());
    }
    (format!("`{key}`: {message}"), "see the example configuration".into())
}

/// The names between backticks: "one of `a`, `b`" -> [a, b].
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// serde's names for the type a key wants, in people's words.
fn type_words(key: &str, wanted: &str, duration: bool) -> String {
    let last = key.rsplit('.').next().unwrap_or(key);
    if wanted == "a string" && duration {
        return "a duration in quotes, such as \"5s\" or \"10m\"".into();
    }
    match wanted {
        "a string" => "text in quotes".into(),
        "a boolean" => "true or false".into(),
        "u8" => "a whole number from 0 to 255".into(),
        "u16" if last == "port" => "a port number from 1 to 65535".into(),
        "u16" => "a whole number from 0 to 65535".into(),
        "u32" | "u64" | "usize" => "a whole number (0 or more)".into(),
        "i64" | "i32" => "a whole number".into(),
        "f64" | "f32" => "a number such as 0.85".into(),
        w if w.starts_with("struct ") || w == "a map" || w.contains("table") => {
            format!("a table, such as [{key}] or {last} = {{ … }}")
        }
        w => w.to_string(),
    }
}

/// serde's description of the value given: `string "1883"` -> `"1883" (text)`.
fn given_words(given: &str) -> String {
    if let Some(s) = given.strip_prefix("string ") {
        return format!("{s} (text)");
    }
    for prefix in ["integer ", "floating point ", "boolean "] {
        if let Some(v) = given.strip_prefix(prefix) {
            return v.trim_matches('`').to_string();
        }
    }
    match given {
        "map" => "a table".into(),
        "sequence" => "a list".into(),
        other => other.to_string(),
    }
}

/// How to write the value: drop the quotes, add them, or a unit.
fn type_help(key: &str, given: &str, wanted: &str) -> String {
    let text = given.strip_prefix("string ").map(|s| s.trim_matches('"'));
    let last = key.rsplit('.').next().unwrap_or(key);
    match text {
        Some(t) if wanted.contains("number") && t.trim().parse::<f64>().is_ok() => {
            format!("remove the quotes: {last} = {}", t.trim())
        }
        Some(t) if wanted == "true or false" && matches!(t.trim(), "true" | "false") => {
            format!("remove the quotes: {last} = {}", t.trim())
        }
        _ if wanted.starts_with("a duration") => {
            let n = given.split('`').nth(1).unwrap_or("5");
            format!("durations are text with a unit: {last} = \"{n}s\" (or \"{n}ms\", \"{n}m\")")
        }
        _ if wanted == "text in quotes" => {
            let v = given.split('`').nth(1).unwrap_or("…");
            format!("put it in quotes: {last} = \"{v}\"")
        }
        _ => format!("write {wanted}"),
    }
}

/// The range of an integer type serde names.
fn range_of(wanted: &str) -> Option<(i64, i64)> {
    match wanted {
        "u8" => Some((0, u8::MAX as i64)),
        "u16" => Some((0, u16::MAX as i64)),
        "u32" => Some((0, u32::MAX as i64)),
        "u64" | "usize" => Some((0, i64::MAX)),
        _ => None,
    }
}

/// The TOML parser's messages, first line, with a fix.
fn syntax_words(message: &str) -> (String, String) {
    let first = message.lines().next().unwrap_or(message).trim().to_string();
    let help = if first.contains("duplicate key") {
        "each key may appear once per table; remove one of them"
    } else if first.contains("string") {
        "close the quotes on this line: text values are written \"like this\""
    } else {
        "fix the TOML syntax at this spot (the example configuration shows the form)"
    };
    (first, help.into())
}

#[cfg(test)]
mod tests;
