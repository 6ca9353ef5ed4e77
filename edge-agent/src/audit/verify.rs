//! `edge-agent audit verify`: walks the chain and says where it breaks.

use std::io::BufRead;
use std::path::Path;

use ed25519_dalek::VerifyingKey;

use super::{Entry, GENESIS};

#[derive(Debug, PartialEq)]
pub struct Verified {
    pub entries: u64,
    pub checkpoints: u64,
    pub last_hash: String,
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
    let (mut prev, mut expected, mut checkpoints) = (GENESIS.to_string(), 1u64, 0u64);
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line_no = i as u64 + 1;
        let line = line.map_err(|e| Broken::Io(e.to_string()))?;
        let e: Entry = serde_json::from_str(&line)
            .map_err(|err| Broken::Unreadable { line: line_no, why: err.to_string() })?;
        if e.hash != e.compute_hash() {
            return Err(Broken::Modified { seq: e.seq });
        }
        if e.seq != expected {
            return Err(Broken::Sequence { line: line_no, expected, found: e.seq });
        }
        if e.prev != prev {
            return Err(Broken::Link { seq: e.seq });
        }
        if e.kind == "checkpoint" {
            checkpoints += 1;
            check_checkpoint(&e, &prev, keys)?;
        }
        prev = e.hash;
        expected += 1;
    }
    Ok(Verified { entries: expected - 1, checkpoints, last_hash: prev })
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
