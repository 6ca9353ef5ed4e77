//! Reading one line of the audit log, torn writes included.
//!
//! A write cut short (power cut, full disk) leaves part of an entry without its newline. The
//! agent cuts such a tail off before it writes again, but a log written by an older version, or
//! copied mid-write, can hold the fragment followed on the same line by the next complete entry.
//! Both starting and loading the log, and `audit verify`, read lines the same way: a fragment is
//! named as such, never mistaken for an entry, and an entry after it on the same line is found.

use super::Entry;

/// Where a complete entry starts (entries are written by serde in field order, `seq` first).
const ENTRY_START: &[u8] = b"{\"seq\":";

#[derive(Debug, PartialEq)]
pub enum Line {
    /// A complete entry, the whole line.
    Entry(Entry),
    /// `torn` bytes of a fragment, then a complete entry.
    TornThen { torn: usize, entry: Entry },
    /// Nothing but a fragment (or garbage).
    Torn,
}

/// Reads a line without its newline.
pub fn parse(line: &[u8]) -> Line {
    if let Ok(e) = serde_json::from_slice::<Entry>(line) {
        return Line::Entry(e);
    }
    // The last place an entry could start that still parses to the end of the line.
    let mut at = line.len();
    while let Some(start) = find_last(&line[..at], ENTRY_START) {
        if start > 0 {
            if let Ok(entry) = serde_json::from_slice::<Entry>(&line[start..]) {
                return Line::TornThen { torn: start, entry };
            }
        }
        at = start;
    }
    Line::Torn
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    (0..=hay.len().checked_sub(needle.len())?).rev().find(|&i| hay[i..].starts_with(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64) -> (Entry, String) {
        let mut e = Entry {
            seq,
            at: chrono::Utc::now(),
            kind: "decision".into(),
            passage: None,
            data: serde_json::json!({"nested": {"seq": 1}}),
            prev: super::super::GENESIS.into(),
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        let text = serde_json::to_string(&e).unwrap();
        (e, text)
    }

    #[test]
    fn whole_torn_and_torn_then_whole_lines_are_told_apart() {
        let (e, text) = entry(7);
        assert_eq!(parse(text.as_bytes()), Line::Entry(e.clone()));
        let torn = &text[..text.len() / 2];
        assert_eq!(parse(torn.as_bytes()), Line::Torn);
        let glued = format!("{torn}{text}");
        assert_eq!(parse(glued.as_bytes()), Line::TornThen { torn: torn.len(), entry: e });
        assert_eq!(parse(b""), Line::Torn);
        assert_eq!(parse(b"{\"seq\":"), Line::Torn);
    }
}
