//! Appending to the audit log. Each append is written and fsynced before the
//! call returns: an entry the lane has recorded survives power loss.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde_json::{json, Value};

use super::{Entry, GENESIS};
use contract::audit::{AuditCheckpoint, AUDIT_CHECKPOINT_SCHEMA};
use contract::signing::ResultSigner;

/// A signed checkpoint after this many entries.
pub const CHECKPOINT_EVERY: u64 = 100;

pub struct AuditLog {
    path: PathBuf,
    file: File,
    seq: u64,
    last: String,
}

impl AuditLog {
    /// Opens (or creates) the log and finds where the chain ends. A torn last
    /// line (power cut mid-write) is cut off and the cut recorded.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(path)?;
        let (mut seq, mut last, mut good_len, mut torn) = (0, GENESIS.to_string(), 0u64, 0u64);
        let mut reader = BufReader::new(&file);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)? as u64;
            if n == 0 {
                break;
            }
            match serde_json::from_slice::<Entry>(&line) {
                Ok(e) if line.ends_with(b"\n") => {
                    seq = e.seq;
                    last = e.hash;
                    good_len += n + torn;
                    torn = 0;
                }
                _ => torn += n,
            }
        }
        drop(reader);
        if torn > 0 {
            file.set_len(good_len)?;
            file.seek(SeekFrom::End(0))?;
        }
        let mut log = AuditLog { path: path.to_path_buf(), file, seq, last };
        if torn > 0 {
            log.append(
                "recovered",
                None,
                json!({"dropped_bytes": torn, "why": "incomplete last entry after a crash"}),
            )?;
        }
        Ok(log)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry, durably; returns it.
    pub fn append(&mut self, kind: &str, passage: Option<&str>, data: Value) -> std::io::Result<Entry> {
        let mut e = Entry {
            seq: self.seq + 1,
            at: Utc::now(),
            kind: kind.into(),
            passage: passage.map(str::to_string),
            data,
            prev: self.last.clone(),
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        let mut line = serde_json::to_vec(&e).expect("entries serialise");
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()?;
        self.seq = e.seq;
        self.last = e.hash.clone();
        Ok(e)
    }

    /// Appends a checkpoint when one is due: the seq and hash it vouches for,
    /// signed with the lane's key. Returns it (to publish) when written.
    pub fn checkpoint_if_due(&mut self, signer: &ResultSigner) -> std::io::Result<Option<Value>> {
        if self.seq % CHECKPOINT_EVERY != 0 || self.seq == 0 {
            return Ok(None);
        }
        self.checkpoint(signer).map(Some)
    }

    pub fn checkpoint(&mut self, signer: &ResultSigner) -> std::io::Result<Value> {
        let body = AuditCheckpoint {
            schema: AUDIT_CHECKPOINT_SCHEMA.into(),
            seq: self.seq,
            hash: self.last.clone(),
            at: Utc::now(),
        };
        let signed: Value = serde_json::from_slice(&signer.sign_json(&body).map_err(std::io::Error::other)?)
            .map_err(std::io::Error::other)?;
        self.append("checkpoint", None, signed.clone())?;
        Ok(signed)
    }
}
