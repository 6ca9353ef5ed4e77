//! A small filesystem of its own for tests of a full disk: a tmpfs of a given size, mounted on a
//! fresh directory and unmounted when dropped. Mounting needs root with CAP_SYS_ADMIN; where the
//! test process may not mount, [`TinyDisk::mount`] says why and the test skips (its logic is also
//! covered by unit tests on a filesystem that refuses writes).

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    /// A tmpfs of `bytes` (rounded up to pages), or why there cannot be one here.
    pub fn mount(bytes: u64) -> Result<TinyDisk, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes},mode=0755"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cannot mount a tmpfs (root with CAP_SYS_ADMIN needed): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(TinyDisk { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes available on it now.
    pub fn free(&self) -> u64 {
        let out =
            Command::new("df").args(["-B1", "--output=avail"]).arg(self.path()).output().expect("df runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df says")
    }

    /// Fills the disk with a file of its own until at most `leave` bytes are free; returns the
    /// file, whose removal gives the space back.
    pub fn fill(&self, leave: u64) -> PathBuf {
        let path = self.path().join(format!("filler-{}", crate::free_port()));
        let take = self.free().saturating_sub(leave);
        let status = Command::new("fallocate").args(["-l", &take.to_string()]).arg(&path).status();
        if !status.is_ok_and(|s| s.success()) {
            // Without fallocate support: write until the disk says no.
            let _ = std::fs::write(&path, vec![0u8; take as usize]);
        }
        path
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        // Lazy: a process of the test that still has a file open must not keep it mounted.
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}
