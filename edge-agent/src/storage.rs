//! Disk pressure as a designed state: what the lane stops writing when its data disk fills, and
//! what it keeps writing until the very end.
//!
//! Two kinds of writes compete for the data disk. *Bulk* is new images and telemetry: useful, but
//! a lane that cannot keep them can still do its job honestly. *Results* are passage records,
//! decisions, alarms, command acks, audit entries and the outbox rows of images already kept:
//! without them the lane would produce evidence it cannot keep. So:
//!
//! - Below the **floor** (`storage.min_free_mb` free) the guard is *full*: bulk writes are refused,
//!   the outbox evicts its telemetry and the images central already has, and the lane holds every
//!   vehicle for review with reason `storage_full` (an alarm tells central, sent as a result).
//! - Results may use the space below the floor. So that something else on the disk (logs, another
//!   program, an operator's copy) cannot take that too, a **reserve** file (`storage.reserve_mb`)
//!   holds space that only results get: when a result write fails for lack of space, the reserve
//!   is released and the write tried again.
//! - Everything comes back by itself: *full* ends once free space is back above the floor with
//!   some margin (so the lane does not flap at the boundary), and the reserve is taken again once
//!   there is room for it above the floor.
//!
//! Free space is measured with `statvfs` (space available to this user), at most every
//! [`MEASURE_EVERY`], and bulk writes count against the last measurement in between, so a burst of
//! images cannot overshoot the floor between two measurements.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{info, warn};

/// How stale a measurement may be before a bulk write measures again.
pub const MEASURE_EVERY: Duration = Duration::from_millis(250);

/// After the reserve was given to results, it is not taken back sooner than this, even when the
/// disk seems to have room (space can run out in ways free-space figures do not show: quotas,
/// inodes), so the reserve does not go back and forth.
pub const RETAKE_AFTER: Duration = Duration::from_secs(30);

/// The reserve's file name inside the data directory.
pub const RESERVE_FILE: &str = "reserve.bin";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Free bytes below which the lane stops writing bulk data and holds vehicles.
    pub floor: u64,
    /// Bytes kept in the reserve file for results.
    pub reserve: u64,
}

impl Limits {
    /// Once full, free space must be back this far above the floor before the lane goes on.
    fn margin(&self) -> u64 {
        (self.floor / 8).max(256 * 1024)
    }
}

/// Measures the space available on a filesystem; a parameter so tests can play a disk filling up.
pub type Probe = Box<dyn Fn(&Path) -> io::Result<u64> + Send + Sync>;

struct State {
    free: u64,
    measured: Option<Instant>,
    full: bool,
    /// Bytes the reserve file holds now.
    reserve_held: u64,
    released_at: Option<Instant>,
}

/// Shared by everything that writes to the data disk. Cheap to clone.
#[derive(Clone)]
pub struct DiskGuard {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DiskGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskGuard").field("dir", &self.inner.dir).field("limits", &self.inner.limits).finish()
    }
}

struct Inner {
    dir: PathBuf,
    limits: Limits,
    probe: Probe,
    state: Mutex<State>,
    full: watch::Sender<bool>,
}

impl DiskGuard {
    /// Guards `dir` (the data directory, created if missing) and takes the reserve if there is room.
    pub fn open(dir: &Path, limits: Limits) -> io::Result<Self> {
        Self::with_probe(dir, limits, Box::new(available_bytes))
    }

    pub fn with_probe(dir: &Path, limits: Limits, probe: Probe) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let held = std::fs::metadata(dir.join(RESERVE_FILE)).map_or(0, |m| m.len());
        let guard = DiskGuard {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                limits,
                probe,
                state: Mutex::new(State {
                    free: 0,
                    measured: None,
                    full: false,
                    reserve_held: held,
                    released_at: None,
                }),
                full: watch::channel(false).0,
            }),
        };
        guard.measure();
        Ok(guard)
    }

    /// A guard that never refuses (tools and tests that do not exercise disk pressure).
    pub fn unlimited(dir: &Path) -> Self {
        let limits = Limits { floor: 0, reserve: 0 };
        Self::with_probe(dir, limits, Box::new(|_| Ok(u64::MAX))).expect("no I/O without a reserve")
    }

    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// True while free space is below the floor (with the margin on the way back).
    pub fn is_full(&self) -> bool {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner()).full
    }

    /// Follows [`is_full`](Self::is_full) as it changes.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.inner.full.subscribe()
    }

    /// Free bytes at the last measurement.
    pub fn free(&self) -> u64 {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner()).free
    }

    /// Whether `bytes` of bulk data (an image, telemetry) may be written now. When yes, they are
    /// counted against the free space until the next measurement.
    pub fn admit_bulk(&self, bytes: u64) -> bool {
        let stale = {
            let s = self.state();
            s.measured.is_none_or(|t| t.elapsed() >= MEASURE_EVERY)
        };
        if stale {
            self.measure();
        }
        let mut s = self.state();
        if s.full || s.free.saturating_sub(bytes) < self.inner.limits.floor {
            return false;
        }
        s.free -= bytes;
        true
    }

    /// Measures free space now: enters or leaves *full*, and takes the reserve back when there is
    /// room for it. Called by bulk writers when their view is stale and by a periodic check.
    pub fn measure(&self) -> bool {
        let free = match (self.inner.probe)(&self.inner.dir) {
            Ok(free) => free,
            Err(e) => {
                warn!(cause = %e, dir = %self.inner.dir.display(), "cannot measure free space");
                return self.is_full();
            }
        };
        let limits = self.inner.limits;
        let (was, now, retake) = {
            let mut s = self.state();
            let was = s.full;
            s.free = free;
            s.measured = Some(Instant::now());
            s.full = if s.full { free < limits.floor + limits.margin() } else { free < limits.floor };
            let missing = limits.reserve.saturating_sub(s.reserve_held);
            let settled = s.released_at.is_none_or(|t| t.elapsed() >= RETAKE_AFTER);
            let retake =
                settled && !s.full && missing > 0 && free >= limits.floor + missing + limits.margin();
            (was, s.full, retake)
        };
        if retake {
            self.take_reserve();
        }
        if was != now {
            if now {
                warn!(free, floor = limits.floor, "data disk below its floor: images and telemetry are not kept, vehicles are held for review");
            } else {
                info!(free, "data disk has room again: normal operation");
            }
            self.inner.full.send_replace(now);
        }
        now
    }

    /// A result could not be written for lack of space: gives the reserve up so it can be written
    /// on the next try. False when there was no reserve left to give.
    pub fn release_reserve(&self) -> bool {
        let held = self.state().reserve_held;
        if held == 0 {
            return false;
        }
        let path = self.inner.dir.join(RESERVE_FILE);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                warn!(bytes = held, "disk full: the space reserved for results is in use");
                let mut s = self.state();
                s.reserve_held = 0;
                s.released_at = Some(Instant::now());
                drop(s);
                self.measure();
                true
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.state().reserve_held = 0;
                false
            }
            Err(e) => {
                warn!(cause = %e, path = %path.display(), "cannot release the storage reserve");
                false
            }
        }
    }

    /// Call when a result write failed: true when the failure was lack of space and the reserve
    /// was released for it (worth one more try).
    pub fn relieve(&self, e: &io::Error) -> bool {
        is_no_space(e) && self.release_reserve()
    }

    fn take_reserve(&self) {
        let want = self.inner.limits.reserve;
        let path = self.inner.dir.join(RESERVE_FILE);
        match allocate(&path, want) {
            Ok(()) => {
                self.state().reserve_held = want;
                info!(bytes = want, "space reserved for results");
                // What the reserve took is no longer free; measure again without recursing into here.
                if let Ok(free) = (self.inner.probe)(&self.inner.dir) {
                    self.state().free = free;
                }
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                warn!(cause = %e, "cannot reserve space for results; retried when there is room");
            }
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// ENOSPC or EDQUOT, as the OS or SQLite reports them.
pub fn is_no_space(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
        || e.kind() == io::ErrorKind::StorageFull
}

/// Space available to this process on the filesystem holding `dir`.
pub fn available_bytes(dir: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Creates `path` with `len` bytes really allocated (not a sparse file, which would reserve
/// nothing), durably.
fn allocate(path: &Path, len: u64) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let file = std::fs::OpenOptions::new().create(true).write(true).truncate(false).open(path)?;
    // SAFETY: a valid open descriptor; fallocate only allocates blocks for it.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len as libc::off_t) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EOPNOTSUPP) {
            return Err(e);
        }
        write_zeros(&file, len)?;
    }
    file.sync_all()
}

fn write_zeros(mut file: &std::fs::File, len: u64) -> io::Result<()> {
    use std::io::Write;
    let block = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    const MB: u64 = 1 << 20;

    /// A disk whose free space the test sets; the reserve file is real (in a temp dir).
    fn guard(free: Arc<AtomicU64>, floor: u64, reserve: u64) -> (tempfile::TempDir, DiskGuard) {
        let dir = tempfile::tempdir().unwrap();
        let probe: Probe = Box::new(move |_| Ok(free.load(Ordering::SeqCst)));
        let g = DiskGuard::with_probe(dir.path(), Limits { floor, reserve }, probe).unwrap();
        (dir, g)
    }

    #[test]
    fn bulk_is_refused_below_the_floor_and_counted_between_measurements() {
        let free = Arc::new(AtomicU64::new(10 * MB));
        let (_d, g) = guard(free.clone(), 4 * MB, 0);
        assert!(!g.is_full());
        assert!(g.admit_bulk(3 * MB));
        assert!(g.admit_bulk(3 * MB), "6 MB counted so far, 4 MB left: at the floor");
        assert!(!g.admit_bulk(MB), "would go below the floor before the disk is measured again");
        free.store(3 * MB, Ordering::SeqCst);
        assert!(g.measure(), "below the floor: full");
        assert!(!g.admit_bulk(1));
    }

    #[test]
    fn full_ends_only_with_a_margin_above_the_floor() {
        let free = Arc::new(AtomicU64::new(MB));
        let (_d, g) = guard(free.clone(), 8 * MB, 0);
        let mut changes = g.watch();
        assert!(g.is_full());
        free.store(8 * MB + 1, Ordering::SeqCst);
        assert!(g.measure(), "just above the floor is not enough to go on");
        free.store(9 * MB + 1, Ordering::SeqCst);
        assert!(!g.measure());
        assert!(changes.has_changed().unwrap());
        assert!(!*changes.borrow_and_update());
    }

    #[test]
    fn the_reserve_is_taken_released_for_results_and_taken_again() {
        let free = Arc::new(AtomicU64::new(100 * MB));
        let (dir, g) = guard(free.clone(), 4 * MB, 2 * MB);
        let file = dir.path().join(RESERVE_FILE);
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 2 * MB, "taken at start when there is room");

        let enospc = io::Error::from_raw_os_error(libc::ENOSPC);
        assert!(g.relieve(&enospc), "a result that did not fit gets the reserve");
        assert!(!file.exists());
        assert!(!g.relieve(&enospc), "nothing left to give the second time");
        assert!(!g.relieve(&io::Error::other("not a space problem")));

        g.measure();
        assert!(!file.exists(), "not taken back at once, whatever the free space says");
        g.state().released_at = Some(Instant::now() - RETAKE_AFTER);
        free.store(5 * MB, Ordering::SeqCst);
        g.measure();
        assert!(!file.exists(), "no room above the floor for it yet");
        free.store(100 * MB, Ordering::SeqCst);
        g.measure();
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 2 * MB, "taken again once there is room");
    }

    #[test]
    fn free_space_of_a_real_directory_is_measured() {
        let dir = tempfile::tempdir().unwrap();
        assert!(available_bytes(dir.path()).unwrap() > 0);
        assert!(available_bytes(&dir.path().join("missing")).is_err());
    }
}
