//! The passage journal: what the lane must remember across a restart about
//! passages, in one small file (`<data_dir>/passages.json`).
//!
//! - The last passage number given out. Central finds missing passages by gaps
//!   in each lane's `seq`, so a number is on disk before any message carrying
//!   it can leave the lane, and is never given out twice.
//! - The passages in progress, as far as they got (stages, captures, the
//!   decision). One the agent was in the middle of when it was stopped or
//!   killed is closed on the next start with what is known, and published
//!   like any other: its decision may already be out (a release may have
//!   opened the barrier), so its record must follow. A passage leaves the
//!   journal only once its record is archived and handed to the outbox.
//!
//! The file is replaced atomically (written aside, fsynced, renamed, directory
//! fsynced): a crash leaves the old file or the new one, never half of one.
//! It is rewritten only when a passage moves on (a stage, a decision), not on
//! every event.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use contract::passage::PassageRecord;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("passage journal {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("passage journal {path} is not readable ({source}); it was set aside as {aside}")]
    Unreadable { path: String, source: serde_json::Error, aside: String },
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct State {
    /// The last passage number given out.
    last_seq: u64,
    /// Passages in progress, by id, as far as they got.
    #[serde(default)]
    open: BTreeMap<String, PassageRecord>,
}

pub struct Journal {
    path: PathBuf,
    state: State,
    /// What the journal holds of each open passage, to tell whether it moved on.
    marks: BTreeMap<String, Mark>,
}

/// How far a passage got, as far as the journal cares: it is written again
/// when this changes.
#[derive(Debug, Clone, PartialEq)]
struct Mark {
    stages: usize,
    stage_ended: bool,
    captures: usize,
    decided: bool,
    reviewed: bool,
    flags: usize,
}

impl Mark {
    fn of(r: &PassageRecord) -> Mark {
        Mark {
            stages: r.stages.len(),
            stage_ended: r.stages.last().is_some_and(|s| s.ended_at.is_some()),
            captures: r.captures.len(),
            decided: r.decision.is_some(),
            reviewed: r.review.is_some(),
            flags: r.flags.len(),
        }
    }
}

impl Journal {
    /// Opens the journal, creating it empty. An unreadable file (not written by
    /// this program: the writes are atomic) is set aside and reported, and the
    /// journal starts empty: the lane runs on, numbering from what else it knows.
    pub fn open(path: &Path) -> (Journal, Option<JournalError>) {
        let shown = path.display().to_string();
        let (state, problem) = match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<State>(&bytes) {
                Ok(state) => (state, None),
                Err(source) => {
                    let aside = path.with_extension(format!("unreadable-{}", chrono::Utc::now().timestamp()));
                    let _ = std::fs::rename(path, &aside);
                    let aside = aside.display().to_string();
                    (State::default(), Some(JournalError::Unreadable { path: shown, source, aside }))
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (State::default(), None),
            Err(source) => (State::default(), Some(JournalError::Io { path: shown, source })),
        };
        let marks = state.open.iter().map(|(id, r)| (id.clone(), Mark::of(r))).collect();
        (Journal { path: path.to_path_buf(), state, marks }, problem)
    }

    /// The passages that were in progress when the agent last stopped.
    pub fn open_passages(&self) -> Vec<PassageRecord> {
        self.state.open.values().cloned().collect()
    }

    pub fn last_seq(&self) -> u64 {
        self.state.last_seq
    }

    /// Makes `seq` the last number given out, and `current` (the passage in
    /// progress, if any) as far as it got, durably — when either moved on.
    /// Returns once it is on disk (or the disk refused).
    pub fn note(&mut self, seq: u64, current: Option<&PassageRecord>) -> Result<(), JournalError> {
        let moved = current.filter(|r| self.marks.get(&r.id) != Some(&Mark::of(r)));
        if seq <= self.state.last_seq && moved.is_none() {
            return Ok(());
        }
        let mut next = self.state.clone();
        next.last_seq = next.last_seq.max(seq);
        if let Some(r) = moved {
            next.open.insert(r.id.clone(), r.clone());
        }
        self.replace(next)?;
        if let Some(r) = moved {
            self.marks.insert(r.id.clone(), Mark::of(r));
        }
        Ok(())
    }

    /// The passage's record is archived and handed to the outbox: it is no
    /// longer in progress.
    pub fn done(&mut self, id: &str) -> Result<(), JournalError> {
        if !self.state.open.contains_key(id) {
            return Ok(());
        }
        let mut next = self.state.clone();
        next.open.remove(id);
        self.replace(next)?;
        self.marks.remove(id);
        Ok(())
    }

    fn replace(&mut self, next: State) -> Result<(), JournalError> {
        self.write(&next)?;
        self.state = next;
        Ok(())
    }

    fn write(&self, state: &State) -> Result<(), JournalError> {
        let bytes = serde_json::to_vec(state).expect("the journal serialises");
        write_durably(&self.path, &bytes)
            .map_err(|source| JournalError::Io { path: self.path.display().to_string(), source })
    }
}

/// Replaces `path` with `bytes` so that a crash at any point leaves either the
/// old content or the new, and the new is on disk when this returns.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_number_survives_a_reopen_and_never_goes_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passages.json");
        let (mut j, problem) = Journal::open(&path);
        assert!(problem.is_none());
        assert_eq!(j.last_seq(), 0);
        j.note(7, None).unwrap();
        j.note(3, None).unwrap();
        let (j, _) = Journal::open(&path);
        assert_eq!(j.last_seq(), 7);
        assert!(!dir.path().join("passages.tmp").exists(), "nothing left aside");
    }

    #[test]
    fn an_unreadable_journal_is_set_aside_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passages.json");
        std::fs::write(&path, b"{\"last_seq\": ").unwrap();
        let (j, problem) = Journal::open(&path);
        assert_eq!(j.last_seq(), 0);
        assert!(matches!(problem, Some(JournalError::Unreadable { .. })), "{problem:?}");
        assert!(!path.exists(), "set aside, not overwritten");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the bad file is kept for a look");
    }

    #[test]
    fn a_refused_write_leaves_the_number_on_disk_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passages.json");
        let (mut j, _) = Journal::open(&path);
        j.note(5, None).unwrap();
        // A directory where the temporary file would go: the write fails.
        std::fs::create_dir(dir.path().join("passages.tmp")).unwrap();
        let r = record("G07-5", 5);
        assert!(matches!(j.note(6, Some(&r)), Err(JournalError::Io { .. })));
        assert_eq!(j.last_seq(), 5);
        assert_eq!(Journal::open(&path).0.last_seq(), 5);
        std::fs::remove_dir(dir.path().join("passages.tmp")).unwrap();
        j.note(6, Some(&r)).unwrap();
        assert_eq!(j.open_passages(), vec![r], "written once the disk takes it");
    }

    fn record(id: &str, seq: u64) -> PassageRecord {
        serde_json::from_value(serde_json::json!({
            "schema": contract::passage::PASSAGE_SCHEMA, "id": id, "site": "S", "lane": "G07", "seq": seq,
            "arrived_at": "2026-11-23T08:00:00Z", "stages": [], "captures": [], "flags": []
        }))
        .unwrap()
    }

    fn stage(r: &mut PassageRecord, stage: contract::passage::Stage) {
        let at = r.arrived_at;
        r.stages.push(contract::passage::StageRecord {
            stage,
            started_at: at,
            ended_at: None,
            duration_ms: None,
            outcome: None,
        });
    }

    /// Both the passage finishing and the next one starting are kept until the
    /// first is done: a crash between the two loses neither.
    #[test]
    fn passages_in_progress_are_kept_until_done() {
        use contract::passage::Stage;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passages.json");
        let (mut j, _) = Journal::open(&path);
        let mut a = record("G07-1", 1);
        stage(&mut a, Stage::Capture);
        j.note(1, Some(&a)).unwrap();
        stage(&mut a, Stage::Recognition);
        j.note(1, Some(&a)).unwrap();
        let b = record("G07-2", 2);
        j.note(2, Some(&b)).unwrap();
        let (reopened, _) = Journal::open(&path);
        assert_eq!(reopened.open_passages(), vec![a.clone(), b.clone()]);
        assert_eq!(reopened.last_seq(), 2);
        j.done("G07-1").unwrap();
        j.done("G07-unknown").unwrap();
        assert_eq!(Journal::open(&path).0.open_passages(), vec![b]);
    }

    /// Events that change nothing the journal keeps do not rewrite it.
    #[test]
    fn an_unchanged_passage_is_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passages.json");
        let (mut j, _) = Journal::open(&path);
        let r = record("G07-1", 1);
        j.note(1, Some(&r)).unwrap();
        std::fs::remove_file(&path).unwrap();
        j.note(1, Some(&r)).unwrap();
        assert!(!path.exists(), "nothing moved on: no write");
    }
}
