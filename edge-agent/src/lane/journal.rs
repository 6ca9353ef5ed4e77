//! The passage journal: what the lane must remember across a restart about
//! passages, in one small file (`<data_dir>/passages.json`).
//!
//! Today that is the last passage number given out. Central finds missing
//! passages by gaps in each lane's `seq`, so a number is on disk before any
//! message carrying it can leave the lane, and is never given out twice —
//! through kill -9 and power loss. The file is replaced atomically (written
//! aside, fsynced, renamed, directory fsynced): a crash leaves the old file or
//! the new one, never half of one.

use std::path::{Path, PathBuf};

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
}

pub struct Journal {
    path: PathBuf,
    state: State,
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

    pub fn last_seq(&self) -> u64 {
        self.state.last_seq
    }

    /// Makes `seq` the last number given out, durably, when it is beyond the
    /// one on disk. Returns once it is on disk (or the disk refused).
    pub fn given_out(&mut self, seq: u64) -> Result<(), JournalError> {
        if seq <= self.state.last_seq {
            return Ok(());
        }
        let next = State { last_seq: seq };
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
        j.given_out(7).unwrap();
        j.given_out(3).unwrap();
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
        j.given_out(5).unwrap();
        // A directory where the temporary file would go: the write fails.
        std::fs::create_dir(dir.path().join("passages.tmp")).unwrap();
        assert!(matches!(j.given_out(6), Err(JournalError::Io { .. })));
        assert_eq!(j.last_seq(), 5);
        assert_eq!(Journal::open(&path).0.last_seq(), 5);
    }
}
