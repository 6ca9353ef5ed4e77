//! Completed passage records kept on the lane PC, exactly as published
//! (signed), one file per passage: for `resend` commands from central and for
//! technicians. Bounded: the oldest files go once there are more than `keep`.

use std::path::{Path, PathBuf};

pub struct Archive {
    dir: PathBuf,
    keep: usize,
    written: usize,
}

impl Archive {
    pub fn open(dir: &Path, keep: usize) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut a = Archive { dir: dir.to_path_buf(), keep, written: 0 };
        a.prune()?;
        Ok(a)
    }

    /// Writes atomically and durably (see [`crate::durable`]): a crash leaves
    /// the old state or the new, never half a record, and a record put is on
    /// disk — the lane relies on it to tell, after a crash, a finished passage
    /// from one cut short.
    pub fn put(&mut self, id: &str, payload: &[u8]) -> std::io::Result<()> {
        let path =
            self.path(id).ok_or_else(|| std::io::Error::other(format!("unusable passage id {id:?}")))?;
        crate::durable::replace(&path, payload)?;
        self.written += 1;
        if self.written % 256 == 0 {
            self.prune()?;
        }
        Ok(())
    }

    /// Removes temporary files a crash left between write and rename (that record was never
    /// archived: its passage is still in the journal and is closed on the next start). For the
    /// lane at start only: readers must not race its writes.
    pub fn remove_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            if entry.path().extension().is_some_and(|x| x == "tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// The highest passage number among the kept records, read from their
    /// names (`<lane>-<time>-<seq>`): a floor for the lane's numbering should
    /// its journal ever be lost.
    pub fn last_seq(&self) -> u64 {
        self.files()
            .iter()
            .filter_map(|(p, _)| p.file_stem()?.to_str()?.rsplit('-').next()?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
    }

    pub fn get(&self, id: &str) -> Option<Vec<u8>> {
        self.shelf().get(id)
    }

    /// A read-only view for another thread (the archive itself is written by
    /// one owner).
    pub fn shelf(&self) -> Shelf {
        Shelf { dir: self.dir.clone() }
    }

    /// The newest first, at most `n`.
    pub fn latest(&self, n: usize) -> Vec<PathBuf> {
        let mut files = self.files();
        files.sort_by_key(|f| std::cmp::Reverse(f.1));
        files.into_iter().take(n).map(|(p, _)| p).collect()
    }

    fn path(&self, id: &str) -> Option<PathBuf> {
        record_path(&self.dir, id)
    }

    fn files(&self) -> Vec<(PathBuf, std::time::SystemTime)> {
        records_in(&self.dir)
    }

    fn prune(&mut self) -> std::io::Result<()> {
        let mut files = self.files();
        if files.len() <= self.keep {
            return Ok(());
        }
        files.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        for (path, _) in &files[..files.len() - self.keep] {
            std::fs::remove_file(path)?;
        }
        Ok(())
    }
}

/// Reading the kept records: cheap to clone, safe beside the writer (records
/// are replaced atomically).
#[derive(Debug, Clone)]
pub struct Shelf {
    dir: PathBuf,
}

impl Shelf {
    pub fn get(&self, id: &str) -> Option<Vec<u8>> {
        std::fs::read(record_path(&self.dir, id)?).ok()
    }

    /// The id of the newest kept passage with this `seq` (ids end in `-<seq>`,
    /// at least four digits); read back to be sure.
    pub fn find_seq(&self, seq: u64) -> Option<String> {
        let suffix = format!("-{seq:04}.json");
        let mut files: Vec<_> = records_in(&self.dir)
            .into_iter()
            .filter(|(p, _)| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(&suffix)))
            .collect();
        files.sort_by_key(|f| std::cmp::Reverse(f.1));
        files.into_iter().find_map(|(path, _)| {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
            (v.get("seq")?.as_u64()? == seq).then(|| v.get("id")?.as_str().map(str::to_string))?
        })
    }
}

/// The kept records in `dir` with their modification times.
fn records_in(dir: &Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return vec![] };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| Some((e.path(), e.metadata().ok()?.modified().ok()?)))
        .collect()
}

fn record_path(dir: &Path, id: &str) -> Option<PathBuf> {
    // Ids come from commands too: nothing that could leave the folder.
    let ok = !id.is_empty()
        && id.len() <= 128
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !id.starts_with('.');
    ok.then(|| dir.join(format!("{id}.json")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_records_and_refuses_ids_that_leave_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Archive::open(dir.path(), 10).unwrap();
        a.put("G07-1", b"{}").unwrap();
        assert_eq!(a.get("G07-1").unwrap(), b"{}");
        assert!(a.get("G07-2").is_none());
        assert!(a.put("../escape", b"{}").is_err());
        assert!(a.get("../../etc/passwd").is_none());
    }

    #[test]
    fn the_last_number_is_read_from_the_names() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Archive::open(dir.path(), 10).unwrap();
        assert_eq!(a.last_seq(), 0);
        for id in ["G07-20261123T080000.000Z-0009", "G07-20261123T090000.000Z-12345", "foreign"] {
            a.put(id, b"{}").unwrap();
        }
        assert_eq!(a.last_seq(), 12345);
    }

    #[test]
    fn a_passage_is_found_by_its_seq() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Archive::open(dir.path(), 10).unwrap();
        a.put("G07-20261204T100000000Z-0007", br#"{"id":"G07-20261204T100000000Z-0007","seq":7}"#).unwrap();
        a.put("G07-20261204T100001000Z-0017", br#"{"id":"G07-20261204T100001000Z-0017","seq":17}"#).unwrap();
        a.put("G07-20261204T100002000Z-12345", br#"{"id":"G07-20261204T100002000Z-12345","seq":12345}"#)
            .unwrap();
        assert_eq!(a.shelf().find_seq(7).as_deref(), Some("G07-20261204T100000000Z-0007"));
        assert_eq!(a.shelf().find_seq(12345).as_deref(), Some("G07-20261204T100002000Z-12345"));
        assert_eq!(a.shelf().find_seq(1), None);
    }

    #[test]
    fn the_oldest_go_beyond_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Archive::open(dir.path(), 3).unwrap();
        for i in 0..300 {
            a.put(&format!("p{i:03}"), b"{}").unwrap();
        }
        let a = Archive::open(dir.path(), 3).unwrap();
        assert_eq!(a.files().len(), 3);
    }
}
