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
//! every event: the loop tells when ([`Progress`]); the outlet's thread writes
//! ([`Journal`]), before it sends anything that follows.

use std::collections::{BTreeMap, BTreeSet};
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
}

/// The loop's side: what the journal was last told, to tell when a passage
/// moved on far enough to write it again.
#[derive(Debug, Default)]
pub struct Progress {
    seq: u64,
    current: Option<(String, Mark)>,
    /// Tailgaters' records waiting for their leader, already written (they do
    /// not change while they wait).
    followers: BTreeSet<String>,
}

impl Progress {
    pub fn after(seq: u64) -> Self {
        Progress { seq, current: None, followers: BTreeSet::new() }
    }

    /// The number and passage to write when either moved on since last time.
    pub fn moved<'a>(
        &mut self,
        seq: u64,
        current: Option<&'a PassageRecord>,
    ) -> Option<(u64, Option<&'a PassageRecord>)> {
        let mark = current.map(|r| (r.id.clone(), Mark::of(r)));
        let passage_moved = mark.is_some() && mark != self.current;
        if seq <= self.seq && !passage_moved {
            return None;
        }
        self.seq = self.seq.max(seq);
        if passage_moved {
            self.current = mark;
        }
        Some((self.seq, current.filter(|_| passage_moved)))
    }

    /// The tailgaters' records not written yet, of those waiting now.
    pub fn new_followers<'a>(
        &mut self,
        waiting: impl Iterator<Item = &'a PassageRecord>,
    ) -> Vec<&'a PassageRecord> {
        let waiting: Vec<&PassageRecord> = waiting.collect();
        let new = waiting.iter().copied().filter(|r| !self.followers.contains(&r.id)).collect();
        self.followers = waiting.iter().map(|r| r.id.clone()).collect();
        new
    }
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
        (Journal { path: path.to_path_buf(), state }, problem)
    }

    /// The passages that were in progress when the agent last stopped.
    pub fn open_passages(&self) -> Vec<PassageRecord> {
        self.state.open.values().cloned().collect()
    }

    pub fn last_seq(&self) -> u64 {
        self.state.last_seq
    }

    /// Makes `seq` the last number given out (if beyond the one on disk), and
    /// `current` a passage in progress as far as it got, durably. Returns once
    /// it is on disk (or the disk refused).
    pub fn note(&mut self, seq: u64, current: Option<&PassageRecord>) -> Result<(), JournalError> {
        if seq <= self.state.last_seq && current.is_none() {
            return Ok(());
        }
        let mut next = self.state.clone();
        next.last_seq = next.last_seq.max(seq);
        if let Some(r) = current {
            next.open.insert(r.id.clone(), r.clone());
        }
        self.replace(next)
    }

    /// The passage's record is archived and handed to the outbox: it is no
    /// longer in progress.
    pub fn done(&mut self, id: &str) -> Result<(), JournalError> {
        if !self.state.open.contains_key(id) {
            return Ok(());
        }
        let mut next = self.state.clone();
        next.open.remove(id);
        self.replace(next)
    }

    fn replace(&mut self, next: State) -> Result<(), JournalError> {
        self.write(&next)?;
        self.state = next;
        Ok(())
    }

    fn write(&self, state: &State) -> Result<(), JournalError> {
        let bytes = serde_json::to_vec(state).expect("the journal serialises");
        crate::durable::replace(&self.path, &bytes)
            .map_err(|source| JournalError::Io { path: self.path.display().to_string(), source })
    }
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
        assert!(!dir.path().join("passages.json.tmp").exists(), "nothing left aside");
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
        std::fs::create_dir(dir.path().join("passages.json.tmp")).unwrap();
        let r = record("G07-5", 5);
        assert!(matches!(j.note(6, Some(&r)), Err(JournalError::Io { .. })));
        assert_eq!(j.last_seq(), 5);
        assert_eq!(Journal::open(&path).0.last_seq(), 5);
        std::fs::remove_dir(dir.path().join("passages.json.tmp")).unwrap();
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

    /// Events that change nothing the journal keeps do not rewrite it; a new
    /// number, a new passage or a passage that moved on does.
    #[test]
    fn only_what_moved_on_is_written_again() {
        use contract::passage::Stage;
        let mut p = Progress::after(4);
        assert_eq!(p.moved(4, None), None);
        let mut r = record("G07-5", 5);
        assert_eq!(p.moved(5, Some(&r)), Some((5, Some(&r))));
        assert_eq!(p.moved(5, Some(&r)), None, "nothing moved on");
        r.reads = Some(Default::default());
        assert_eq!(p.moved(5, Some(&r)), None, "reads alone are not worth a write");
        stage(&mut r, Stage::Decision);
        assert_eq!(p.moved(5, Some(&r)).map(|m| m.1.is_some()), Some(true));
        r.decision = Some(contract::decision::DecisionRecord {
            outcome: contract::decision::Outcome::Hold,
            reasons: vec![],
            checks: vec![],
            by: "policy".into(),
            at: r.arrived_at,
        });
        assert_eq!(p.moved(5, Some(&r)).map(|m| m.1.is_some()), Some(true), "a decision is");
        assert_eq!(p.moved(6, None), Some((6, None)), "a tailgater's number alone");
        assert_eq!(p.moved(3, None), None, "never backwards");
    }

    /// A tailgater's record is written once when it starts waiting, not on every event.
    #[test]
    fn a_waiting_tailgater_is_written_once() {
        let mut p = Progress::after(0);
        let a = record("G07-1", 1);
        let b = record("G07-2", 2);
        assert_eq!(p.new_followers([&a].into_iter()), vec![&a]);
        assert!(p.new_followers([&a].into_iter()).is_empty(), "already written");
        assert_eq!(p.new_followers([&a, &b].into_iter()), vec![&b]);
        assert!(p.new_followers(std::iter::empty()).is_empty());
        assert_eq!(p.new_followers([&a].into_iter()), vec![&a], "a new wait is written again");
    }
}
