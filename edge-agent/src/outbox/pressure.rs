//! What the outbox gives back when the data disk is below its floor, in this order: queued
//! telemetry, then images central already has (oldest delivery first). Images still waiting to
//! be delivered are never touched: a row that reads from a file keeps that file.
//!
//! The outbox knows which images were delivered: when the broker acknowledges the last chunk row
//! reading from a file, the file goes on the [`Delivered`] list. Those are evicted first. The
//! list lives in memory, so after a restart the image store is also searched for files no row
//! reads from; a file written moments ago may not have its rows queued yet (the capture task
//! stores it, the lane loop queues it), so that search leaves files younger than [`YOUNG`] alone.
//! The same image stored again (the image store keeps each image once, by hash) refreshes the
//! file's time, and a listed file touched within [`TOUCHED`] is left for later.
//!
//! Should an image be evicted just as the same bytes are queued again, its rows find no file;
//! central already has those bytes under the same hash, so such rows are dropped (see
//! [`Delivered::was_evicted`]) instead of being retried for ever.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tracing::{info, warn};

use super::store::{Outbox, OutboxError};
use crate::storage::DiskGuard;

/// Files found by searching the image store must be at least this old to be evicted.
pub const YOUNG: Duration = Duration::from_secs(120);
/// A delivered file stored again within this time is left for later.
pub const TOUCHED: Duration = Duration::from_secs(30);
/// Evicted files remembered, for rows that turn up for them later.
const REMEMBER: usize = 100_000;

/// Images whose every chunk the broker acknowledged, oldest first.
#[derive(Debug, Default)]
pub struct Delivered {
    files: VecDeque<PathBuf>,
    evicted: HashSet<PathBuf>,
}

impl Delivered {
    /// The last row reading from `file` was acknowledged.
    pub fn push(&mut self, file: PathBuf) {
        self.evicted.remove(&file);
        self.files.push_back(file);
    }

    /// True when `file` is gone because it was evicted after delivery.
    pub fn was_evicted(&self, file: &Path) -> bool {
        self.evicted.contains(file)
    }

    fn evicted(&mut self, file: PathBuf) {
        if self.evicted.len() >= REMEMBER {
            self.evicted.clear();
        }
        self.evicted.insert(file);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.files.len()
    }
}

/// Deletes delivered images until the guard no longer reports the disk full: the listed ones
/// first, then (when `search` is set) unlisted ones found in the image store. Returns how many
/// files went.
pub fn evict_delivered_images(
    outbox: &Outbox,
    delivered: &mut Delivered,
    images: &Path,
    guard: &DiskGuard,
    search: bool,
) -> Result<u64, OutboxError> {
    let now = SystemTime::now();
    let mut evicted = 0u64;
    let mut later = VecDeque::new();
    while guard.is_full() {
        let Some(file) = delivered.files.pop_front() else { break };
        if outbox.references(&file.to_string_lossy())? {
            continue; // queued again: it will be listed again once delivered
        }
        if modified_within(&file, now, TOUCHED) {
            later.push_back(file);
            continue;
        }
        evicted += remove(&file, delivered);
        if evicted % 16 == 0 {
            guard.measure();
        }
    }
    later.append(&mut delivered.files);
    delivered.files = later;
    if search && guard.is_full() {
        let mut candidates = image_files(images);
        candidates.retain(|(modified, _)| now.duration_since(*modified).is_ok_and(|age| age >= YOUNG));
        candidates.sort();
        for (_, path) in candidates {
            if !guard.is_full() {
                break;
            }
            if outbox.references(&path.to_string_lossy())? {
                continue; // not delivered yet: never deleted
            }
            evicted += remove(&path, delivered);
            if evicted % 16 == 0 {
                guard.measure();
            }
        }
    }
    if evicted > 0 {
        guard.measure();
        info!(evicted, "delivered images evicted to make room on the data disk");
    }
    Ok(evicted)
}

fn remove(path: &Path, delivered: &mut Delivered) -> u64 {
    match std::fs::remove_file(path) {
        Ok(()) => {
            delivered.evicted(path.to_path_buf());
            1
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => {
            warn!(cause = %e, path = %path.display(), "cannot evict a delivered image");
            0
        }
    }
}

fn modified_within(path: &Path, now: SystemTime, within: Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| now.duration_since(t).map_or(true, |age| age < within))
}

/// Every image file of the store (`<images>/<2 hex>/<sha256>.<ext>`) with its modification time.
fn image_files(images: &Path) -> Vec<(SystemTime, PathBuf)> {
    let Ok(shards) = std::fs::read_dir(images) else { return vec![] };
    let mut out = Vec::new();
    for shard in shards.flatten() {
        let Ok(files) = std::fs::read_dir(shard.path()) else { continue };
        for f in files.flatten() {
            // Temporary files of a write in progress start with a dot.
            if f.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if let Ok(modified) = f.metadata().and_then(|m| m.modified()) {
                out.push((modified, f.path()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::outbox::{FilePart, Message};
    use crate::storage::Limits;

    fn file(dir: &Path, name: &str, age: Duration) -> PathBuf {
        let shard = dir.join(&name[..2]);
        std::fs::create_dir_all(&shard).unwrap();
        let path = shard.join(name);
        std::fs::write(&path, b"jpeg").unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(SystemTime::now() - age).unwrap();
        path
    }

    fn full_guard(dir: &Path) -> (Arc<AtomicU64>, DiskGuard) {
        let free = Arc::new(AtomicU64::new(0));
        let probe_free = free.clone();
        let probe: crate::storage::Probe = Box::new(move |_| Ok(probe_free.load(Ordering::SeqCst)));
        let guard = DiskGuard::with_probe(dir, Limits { floor: 1 << 20, reserve: 0 }, probe).unwrap();
        (free, guard)
    }

    #[test]
    fn delivered_images_go_first_then_old_unreferenced_ones_never_waiting_ones() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("images");
        let mut outbox = Outbox::open(&dir.path().join("outbox.db"), 1 << 20).unwrap();
        let (free, guard) = full_guard(dir.path());
        let listed = file(&images, "aa1.jpg", Duration::from_secs(60));
        let touched = file(&images, "ab1.jpg", Duration::ZERO);
        let old_unlisted = file(&images, "cc1.jpg", YOUNG + Duration::from_secs(5));
        let waiting = file(&images, "bb2.jpg", YOUNG + Duration::from_secs(5));
        let young_unlisted = file(&images, "dd1.jpg", Duration::ZERO);
        outbox
            .push(
                &Message::image_chunk("i/0".into(), FilePart { path: waiting.clone(), offset: 0, len: 4 }),
                1,
            )
            .unwrap();
        let mut delivered = Delivered::default();
        delivered.push(listed.clone());
        delivered.push(touched.clone());

        assert_eq!(evict_delivered_images(&outbox, &mut delivered, &images, &guard, false).unwrap(), 1);
        assert!(!listed.exists(), "delivered: evicted without waiting");
        assert!(touched.exists() && delivered.len() == 1, "stored again just now: kept for later");
        assert!(delivered.was_evicted(&listed));

        assert_eq!(evict_delivered_images(&outbox, &mut delivered, &images, &guard, true).unwrap(), 1);
        assert!(!old_unlisted.exists(), "found by the search, old and read by no row");
        assert!(waiting.exists(), "still waiting to be sent: never deleted");
        assert!(young_unlisted.exists(), "too young to know whether its rows are queued yet");

        let listed_again = file(&images, "ee1.jpg", Duration::from_secs(60));
        delivered.push(listed_again.clone());
        free.store(10 << 20, Ordering::SeqCst);
        guard.measure();
        assert_eq!(evict_delivered_images(&outbox, &mut delivered, &images, &guard, true).unwrap(), 0);
        assert!(listed_again.exists(), "room again: nothing goes");
    }
}
