//! Replacing a small file so that a crash at any point — kill -9 or power
//! loss — leaves either the old content or the new, and the new is on disk
//! when the call returns: written aside, fsynced, renamed over, the directory
//! fsynced. For the lane's records and its passage journal.

use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes`, durably. A write the disk refuses leaves
/// nothing behind (no half-written temporary file).
pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
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
    fn replaces_and_a_refused_write_leaves_the_old_content_and_no_leftover() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        replace(&path, b"one").unwrap();
        replace(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        // Something where the temporary file goes: the write fails.
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        replace(&ro.join("y.json"), b"old").unwrap();
        std::fs::create_dir(ro.join("y.json.tmp")).unwrap(); // in the way
        assert!(replace(&ro.join("y.json"), b"new").is_err());
        assert_eq!(std::fs::read(ro.join("y.json")).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
