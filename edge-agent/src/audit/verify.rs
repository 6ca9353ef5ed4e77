//! `edge-agent audit verify`: walks the chain and says where it breaks.
//!
//! What a crash or a full disk leaves is told apart from tampering: a fragment of a torn write in
//! front of an entry, or a torn last line, is reported (the chain must still be whole across it),
//! and `gap` and `recovered` entries — the lane's own record of entries it could not write and of
//! repairs it made — are listed. A whole line that is not an entry, a modified, missing, inserted
//! or moved entry, or a bad checkpoint signature is broken.

use std::io::BufRead;
use std::path::Path;

use ed25519_dalek::VerifyingKey;

use super::line::{self, Line};
use super::{Entry, GENESIS};

#[derive(Debug, PartialEq)]
pub struct Verified {
    pub entries: u64,
    pub checkpoints: u64,
    pub last_hash: String,
    /// Lines holding a torn fragment (in front of an entry, or the torn last line).
    pub torn: Vec<u64>,
    /// `gap` entries: entries the lane had to drop while its disk refused writes.
    pub gaps: Vec<Gap>,
    /// `recovered` entries: repairs after a crash.
    pub recovered: u64,
}

#[derive(Debug, PartialEq)]
pub struct Gap {
    pub seq: u64,
    pub lost_entries: u64,
    pub why: String,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum Broken {
    #[error("line {line}: not an audit entry ({why})")]
    Unreadable { line: u64, why: String },
    #[error(
        "line {line}: sequence {found} where {expected} was due (an entry was deleted, inserted or moved)"
    )]
    Sequence { line: u64, expected: u64, found: u64 },
    #[error("entry {seq}: does not follow the entry before it (deleted, inserted or moved)")]
    Link { seq: u64 },
    #[error("entry {seq}: its content does not match its hash (modified)")]
    Modified { seq: u64 },
    #[error("entry {seq}: checkpoint signature invalid: {why}")]
    Checkpoint { seq: u64, why: String },
    #[error("cannot read the log: {0}")]
    Io(String),
}

/// Checks every link and hash; with `keys`, every checkpoint's signature too.
pub fn verify_file(path: &Path, keys: &[(String, VerifyingKey)]) -> Result<Verified, Broken> {
    let file = std::fs::File::open(path).map_err(|e| Broken::Io(e.to_string()))?;
    let mut v = Verified {
        entries: 0,
        checkpoints: 0,
        last_hash: GENESIS.to_string(),
        torn: vec![],
        gaps: vec![],
        recovered: 0,
    };
    let mut reader = std::io::BufReader::new(file);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(|e| Broken::Io(e.to_string()))? == 0 {
            break;
        }
        line_no += 1;
        let complete = buf.ends_with(b"\n");
        let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let e = match (complete, line::parse(body)) {
            (true, Line::Entry(e)) => e,
            (true, Line::TornThen { entry, .. }) => {
                v.torn.push(line_no);
                entry
            }
            // A last line without its newline: a write a crash cut short, never confirmed.
            (false, _) => {
                v.torn.push(line_no);
                break;
            }
            (true, Line::Torn) => {
                let why =
                    serde_json::from_slice::<Entry>(body).err().map_or_else(String::new, |e| e.to_string());
                return Err(Broken::Unreadable { line: line_no, why });
            }
        };
        check(&e, line_no, &v.last_hash, v.entries + 1, keys)?;
        match e.kind.as_str() {
            "checkpoint" => v.checkpoints += 1,
            "recovered" => v.recovered += 1,
            "gap" => v.gaps.push(Gap {
                seq: e.seq,
                lost_entries: e.data["lost_entries"].as_u64().unwrap_or(0),
                why: e.data["why"].as_str().unwrap_or_default().to_string(),
            }),
            _ => {}
        }
        v.last_hash = e.hash;
        v.entries += 1;
    }
    Ok(v)
}

fn check(
    e: &Entry,
    line: u64,
    prev: &str,
    expected: u64,
    keys: &[(String, VerifyingKey)],
) -> Result<(), Broken> {
    if e.hash != e.compute_hash() {
        return Err(Broken::Modified { seq: e.seq });
    }
    if e.seq != expected {
        return Err(Broken::Sequence { line, expected, found: e.seq });
    }
    if e.prev != prev {
        return Err(Broken::Link { seq: e.seq });
    }
    if e.kind == "checkpoint" {
        check_checkpoint(e, prev, keys)?;
    }
    Ok(())
}

fn check_checkpoint(e: &Entry, prev: &str, keys: &[(String, VerifyingKey)]) -> Result<(), Broken> {
    let why = |why: String| Broken::Checkpoint { seq: e.seq, why };
    if e.data["seq"].as_u64() != Some(e.seq - 1) || e.data["hash"].as_str() != Some(prev) {
        return Err(why("it vouches for another point of the chain".into()));
    }
    if !keys.is_empty() {
        contract::signing::verify(&e.data, keys).map_err(|err| why(err.to_string()))?;
    }
    Ok(())
}
