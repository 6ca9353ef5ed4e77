//! What the outbox gives back when the data disk is below its floor, in this order: queued
//! telemetry, then images central already has (oldest first). Images still waiting to be
//! delivered are never touched: a row that reads from a file keeps that file.
//!
//! The image store keeps one file per image and has no record of delivery; the outbox does — an
//! image whose rows are all acknowledged has been delivered. A file written moments ago may not
//! have its rows queued yet (the capture task stores it, the lane loop queues it), so files younger
//! than [`YOUNG`] are left alone; the image store refreshes a file's time when it stores the same
//! image again.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tracing::{info, warn};

use super::store::{Outbox, OutboxError};
use crate::storage::DiskGuard;

/// Image files at least this old (by modification time) may be evicted once delivered.
pub const YOUNG: Duration = Duration::from_secs(120);

/// Deletes delivered images, oldest first, until the guard no longer reports the disk full.
/// Returns how many files went.
pub fn evict_delivered_images(outbox: &Outbox, images: &Path, guard: &DiskGuard) -> Result<u64, OutboxError> {
    let now = SystemTime::now();
    let mut candidates = image_files(images);
    candidates.retain(|(modified, _)| now.duration_since(*modified).is_ok_and(|age| age >= YOUNG));
    candidates.sort();
    let mut evicted = 0u64;
    for (_, path) in candidates {
        if !guard.is_full() {
            break;
        }
        if outbox.references(&path.to_string_lossy())? {
            continue; // not delivered yet: never deleted
        }
        match std::fs::remove_file(&path) {
            Ok(()) => evicted += 1,
            Err(e) => warn!(cause = %e, path = %path.display(), "cannot evict a delivered image"),
        }
        if evicted % 16 == 0 {
            guard.measure();
        }
    }
    if evicted > 0 {
        guard.measure();
        info!(evicted, "delivered images evicted to make room on the data disk");
    }
    Ok(evicted)
}

/// Every image file of the store (`<images>/<2 hex>/<sha256>.<ext>`) with its modification time.
fn image_files(images: &Path) -> Vec<(SystemTime, PathBuf)> {
    let Ok(shards) = std::fs::read_dir(images) else { return vec![] };
    let mut out = Vec::new();
    for shard in shards.flatten() {
        let Ok(files) = std::fs::read_dir(shard.path()) else { continue };
        for f in files.flatten() {
            let name = f.file_name();
            // Temporary files of a write in progress start with a dot.
            if name.to_string_lossy().starts_with('.') {
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

    fn old_file(dir: &Path, name: &str) -> PathBuf {
        let shard = dir.join(&name[..2]);
        std::fs::create_dir_all(&shard).unwrap();
        let path = shard.join(name);
        std::fs::write(&path, b"jpeg").unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(SystemTime::now() - YOUNG - Duration::from_secs(5)).unwrap();
        path
    }

    #[test]
    fn only_delivered_images_old_enough_go_and_only_while_the_disk_is_full() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("images");
        let mut outbox = Outbox::open(&dir.path().join("outbox.db"), 1 << 20).unwrap();
        let delivered = old_file(&images, "aa1.jpg");
        let waiting = old_file(&images, "bb2.jpg");
        let young = images.join("cc").join("cc3.jpg");
        std::fs::create_dir_all(young.parent().unwrap()).unwrap();
        std::fs::write(&young, b"jpeg").unwrap();
        let part = FilePart { path: waiting.clone(), offset: 0, len: 4 };
        outbox.push(&Message::image_chunk("i/0".into(), part), 1).unwrap();

        let free = Arc::new(AtomicU64::new(0));
        let probe_free = free.clone();
        let probe: crate::storage::Probe = Box::new(move |_| Ok(probe_free.load(Ordering::SeqCst)));
        let guard = DiskGuard::with_probe(dir.path(), Limits { floor: 1 << 20, reserve: 0 }, probe).unwrap();
        assert!(guard.is_full());

        assert_eq!(evict_delivered_images(&outbox, &images, &guard).unwrap(), 1);
        assert!(!delivered.exists(), "delivered and old: evicted");
        assert!(waiting.exists(), "still waiting to be sent: never deleted");
        assert!(young.exists(), "too young to know whether its rows are queued yet");

        let again = old_file(&images, "dd4.jpg");
        free.store(10 << 20, Ordering::SeqCst);
        guard.measure();
        assert_eq!(evict_delivered_images(&outbox, &images, &guard).unwrap(), 0, "room again: nothing goes");
        assert!(again.exists());
    }
}
