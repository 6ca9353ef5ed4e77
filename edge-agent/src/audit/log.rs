//! Appending to the audit log so that it verifies through any crash or full disk.
//!
//! Each append is written and fsynced before it counts: an entry the lane has recorded survives
//! power loss. A write that fails part-way (no space, an I/O error, a failed fsync) is undone at
//! once — the file is cut back to the end of the last good entry — so a torn fragment never sits
//! in front of the next entry. The entry itself is not lost: it waits in memory, in order with
//! everything after it, and is written when the disk takes writes again, with its sequence
//! number assigned then. Only when that backlog outgrows memory are entries dropped, and the
//! first entry written afterwards is a `gap` saying how many, from when to when, and why.
//!
//! Opening repairs what a crash or an older version left: a torn last line is cut off, fragments
//! inside the file are removed (the file rewritten beside itself and renamed over), and each
//! repair is recorded as a `recovered` entry. `audit verify` reports `gap` and `recovered`
//! entries as what they are, not as tampering.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::line::{self, Line};
use super::{Entry, GENESIS};
use contract::audit::{AuditCheckpoint, AUDIT_CHECKPOINT_SCHEMA};
use contract::signing::ResultSigner;

/// A signed checkpoint after this many entries.
pub const CHECKPOINT_EVERY: u64 = 100;

/// Entries kept in memory while the disk refuses them; older ones are dropped beyond this
/// (and the gap recorded).
const PENDING_MAX: usize = 100_000;

/// An entry not yet written.
#[derive(Debug, Clone)]
struct Pending {
    kind: String,
    passage: Option<String>,
    data: Value,
    at: DateTime<Utc>,
}

/// Entries dropped while the disk refused writes: recorded as one `gap` entry.
#[derive(Debug, Clone)]
struct Dropped {
    count: u64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    why: String,
}

pub struct AuditLog {
    path: PathBuf,
    file: File,
    seq: u64,
    last: String,
    /// Length of the file up to the end of the last good entry.
    good_len: u64,
    /// Sequence number of the last checkpoint.
    checkpointed: u64,
    pending: VecDeque<Pending>,
    dropped: Option<Dropped>,
}

/// A torn piece found inside the file.
#[derive(Debug, Clone)]
struct Fragment {
    line: u64,
    bytes: u64,
}

impl AuditLog {
    /// Opens (or creates) the log, finds where the chain ends and repairs torn writes.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).read(true).append(true).open(path)?;
        let scan = scan(&file)?;
        let mut log = AuditLog {
            path: path.to_path_buf(),
            file,
            seq: scan.seq,
            last: scan.last,
            good_len: scan.good_len,
            checkpointed: scan.checkpointed,
            pending: VecDeque::new(),
            dropped: None,
        };
        if scan.tail > 0 {
            log.file.set_len(scan.good_len)?;
            log.file.seek(SeekFrom::End(0))?;
        }
        let repaired = !scan.fragments.is_empty() && log.rewrite_without(&scan.fragments).is_ok();
        if scan.tail > 0 || repaired {
            let inside: &[Fragment] = if repaired { &scan.fragments } else { &[] };
            let inside_bytes: u64 = inside.iter().map(|f| f.bytes).sum();
            log.append(
                "recovered",
                None,
                json!({
                    "dropped_bytes": scan.tail + inside_bytes,
                    "torn_tail_bytes": scan.tail,
                    "fragments": inside.iter().map(|f| json!({"line": f.line, "bytes": f.bytes})).collect::<Vec<_>>(),
                    "why": "writes cut short by a crash or a full disk; the chain is whole without them",
                }),
            )?;
        }
        Ok(log)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Entries waiting for the disk.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Records an entry that happened now; see [`record`](Self::record).
    pub fn append(&mut self, kind: &str, passage: Option<&str>, data: Value) -> std::io::Result<Entry> {
        self.record(kind, passage, data, Utc::now())
    }

    /// Records an entry that happened at `at`, durably, after any entries still waiting. On error
    /// the entry waits in memory too and is written by a later call or by [`retry`](Self::retry).
    pub fn record(
        &mut self,
        kind: &str,
        passage: Option<&str>,
        data: Value,
        at: DateTime<Utc>,
    ) -> std::io::Result<Entry> {
        self.queue(Pending { kind: kind.into(), passage: passage.map(str::to_string), data, at });
        self.retry()?.ok_or_else(|| std::io::Error::other("nothing was written"))
    }

    /// Writes what is waiting, in order; the last entry written (None if nothing waited).
    pub fn retry(&mut self) -> std::io::Result<Option<Entry>> {
        let mut last = None;
        if let Some(d) = self.dropped.clone() {
            let gap = json!({
                "lost_entries": d.count,
                "from": d.from,
                "to": d.to,
                "why": d.why,
            });
            last = Some(self.write(&Pending { kind: "gap".into(), passage: None, data: gap, at: d.to })?);
            self.dropped = None;
        }
        while let Some(p) = self.pending.front().cloned() {
            last = Some(self.write(&p)?);
            self.pending.pop_front();
        }
        Ok(last)
    }

    fn queue(&mut self, p: Pending) {
        if self.pending.len() >= PENDING_MAX {
            if let Some(old) = self.pending.pop_front() {
                let d = self.dropped.get_or_insert(Dropped {
                    count: 0,
                    from: old.at,
                    to: old.at,
                    why: "the disk refused writes for longer than memory could hold entries".into(),
                });
                d.count += 1;
                d.to = old.at;
            }
        }
        self.pending.push_back(p);
    }

    /// One entry, written and fsynced, or undone.
    fn write(&mut self, p: &Pending) -> std::io::Result<Entry> {
        let mut e = Entry {
            seq: self.seq + 1,
            at: p.at,
            kind: p.kind.clone(),
            passage: p.passage.clone(),
            data: p.data.clone(),
            prev: self.last.clone(),
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        let mut line = serde_json::to_vec(&e).expect("entries serialise");
        line.push(b'\n');
        let written = self.file.write_all(&line).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Whatever reached the file is cut off again, so the next entry starts a clean line.
            let _ = self.file.set_len(self.good_len);
            let _ = self.file.seek(SeekFrom::End(0));
            return Err(e);
        }
        self.good_len += line.len() as u64;
        self.seq = e.seq;
        self.last = e.hash.clone();
        Ok(e)
    }

    /// Rewrites the log without the fragments found inside it: a copy beside it, fsynced, renamed
    /// over the log. On any error the log stays as it was (and is repaired at a later start).
    fn rewrite_without(&mut self, fragments: &[Fragment]) -> std::io::Result<()> {
        let tmp = self.path.with_extension("repair");
        let result = (|| {
            let mut out = File::create(&tmp)?;
            let mut reader = BufReader::new(File::open(&self.path)?);
            let mut buf = Vec::new();
            let mut len = 0u64;
            loop {
                buf.clear();
                if reader.read_until(b'\n', &mut buf)? == 0 {
                    break;
                }
                let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
                // Only the fragment in front of an entry goes; anything else stays exactly as it
                // is (a whole line that is no entry was not made by a torn write: `audit verify`
                // must see it).
                let kept: &[u8] = match line::parse(body) {
                    Line::TornThen { torn, .. } => &body[torn..],
                    Line::Entry(_) | Line::Torn => body,
                };
                out.write_all(kept)?;
                out.write_all(b"\n")?;
                len += kept.len() as u64 + 1;
            }
            out.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent() {
                File::open(dir)?.sync_all()?;
            }
            Ok(len)
        })();
        match result {
            Ok(len) => {
                self.file = OpenOptions::new().read(true).append(true).open(&self.path)?;
                self.good_len = len;
                tracing::warn!(fragments = fragments.len(), path = %self.path.display(), "torn audit entries removed; recorded in the trail");
                Ok(())
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                tracing::error!(cause = %e, "cannot repair the audit log now; tried again at the next start");
                Err(e)
            }
        }
    }

    /// Appends a checkpoint when one is due: the seq and hash it vouches for,
    /// signed with the lane's key. Returns it (to publish) when written.
    pub fn checkpoint_if_due(&mut self, signer: &ResultSigner) -> std::io::Result<Option<Value>> {
        // Due by count, not at exact multiples: entries written in a burst after the disk came
        // back must not skip a checkpoint.
        if self.seq < self.checkpointed + CHECKPOINT_EVERY || !self.pending.is_empty() {
            return Ok(None);
        }
        self.checkpoint(signer).map(Some)
    }

    pub fn checkpoint(&mut self, signer: &ResultSigner) -> std::io::Result<Value> {
        self.retry()?;
        let body = AuditCheckpoint {
            schema: AUDIT_CHECKPOINT_SCHEMA.into(),
            seq: self.seq,
            hash: self.last.clone(),
            at: Utc::now(),
        };
        let signed: Value = serde_json::from_slice(&signer.sign_json(&body).map_err(std::io::Error::other)?)
            .map_err(std::io::Error::other)?;
        let e = self.write(&Pending {
            kind: "checkpoint".into(),
            passage: None,
            data: signed.clone(),
            at: Utc::now(),
        })?;
        self.checkpointed = e.seq;
        Ok(signed)
    }
}

struct Scan {
    seq: u64,
    last: String,
    /// End of the last complete line holding an entry.
    good_len: u64,
    /// Bytes after it (a torn last line).
    tail: u64,
    checkpointed: u64,
    /// Torn pieces in front of entries inside the file (left by older versions).
    fragments: Vec<Fragment>,
}

fn scan(file: &File) -> std::io::Result<Scan> {
    let mut s =
        Scan { seq: 0, last: GENESIS.to_string(), good_len: 0, tail: 0, checkpointed: 0, fragments: vec![] };
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let (mut line_no, mut offset) = (0u64, 0u64);
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)? as u64;
        if n == 0 {
            break;
        }
        line_no += 1;
        offset += n;
        let complete = buf.ends_with(b"\n");
        let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let entry = match (complete, line::parse(body)) {
            (true, Line::Entry(e)) => Some((e, None)),
            (true, Line::TornThen { torn, entry }) => Some((entry, Some(torn as u64))),
            _ => None,
        };
        // A line without an entry is kept if an entry follows (`audit verify` judges it), cut off
        // as the tail if not.
        if let Some((e, torn)) = entry {
            if let Some(bytes) = torn {
                s.fragments.push(Fragment { line: line_no, bytes });
            }
            s.seq = e.seq;
            if e.kind == "checkpoint" {
                s.checkpointed = e.seq;
            }
            s.last = e.hash;
            s.good_len = offset;
        }
    }
    // What follows the last entry is the tail: a write a crash cut short.
    s.tail = offset - s.good_len;
    Ok(s)
}
