//! The `storage_full` alarm: the data disk went below its floor (or already was at start). The
//! watcher only tells the loop; the loop raises it like every other alarm, so it is logged,
//! counted and handed to the outlet in order with everything else the lane sends, as a result
//! that may use the storage reserve and stays in the outbox until central has it.

use chrono::{DateTime, Utc};
use contract::lane::{Alarm, AlarmKind};
use tokio::sync::mpsc;

use super::Input;
use crate::storage::DiskGuard;

/// Sends [`Input::StorageFull`] each time `guard` turns full, until the loop is gone.
pub(super) fn watch(guard: &DiskGuard, tx: mpsc::Sender<Input>) {
    let mut full = guard.watch();
    tokio::spawn(async move {
        // Already full at start counts too: the value before the first change.
        let mut first = true;
        loop {
            if !std::mem::take(&mut first) && full.changed().await.is_err() {
                return;
            }
            if *full.borrow_and_update() && tx.send(Input::StorageFull).await.is_err() {
                return;
            }
        }
    });
}

/// The alarm, with the disk's figures as they are now.
pub(super) fn alarm(guard: &DiskGuard, at: DateTime<Utc>) -> Alarm {
    Alarm {
        kind: AlarmKind::StorageFull,
        passage: None,
        device: None,
        message: format!(
            "data disk below its floor ({} MB free, floor {} MB): images and telemetry are not kept, vehicles are held for review",
            guard.free() >> 20,
            guard.limits().floor >> 20
        ),
        at,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::storage::Limits;

    const MB: u64 = 1 << 20;

    #[tokio::test]
    async fn each_time_the_disk_turns_full_the_loop_is_told_once() {
        let dir = tempfile::tempdir().unwrap();
        let free = Arc::new(AtomicU64::new(MB));
        let probe = {
            let free = free.clone();
            Box::new(move |_: &std::path::Path| Ok(free.load(Ordering::SeqCst)))
        };
        let guard = DiskGuard::with_probe(dir.path(), Limits { floor: 4 * MB, reserve: 0 }, probe).unwrap();
        guard.measure();
        let (tx, mut rx) = mpsc::channel(8);
        watch(&guard, tx);
        assert!(matches!(rx.recv().await, Some(Input::StorageFull)), "full at start");
        free.store(64 * MB, Ordering::SeqCst);
        guard.measure();
        free.store(MB, Ordering::SeqCst);
        guard.measure();
        assert!(matches!(rx.recv().await, Some(Input::StorageFull)), "full again");
        assert!(rx.try_recv().is_err(), "once per time");
        let message = alarm(&guard, Utc::now()).message;
        assert!(message.contains("1 MB free, floor 4 MB"), "{message}");
    }
}
