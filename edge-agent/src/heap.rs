//! The allocator's arena count, fixed while the process still has one thread.
//!
//! glibc gives threads that contend for the heap arenas of their own, up to eight per core.
//! The agent runs a dozen threads (tokio workers, the recognition worker, device tasks); each
//! arena keeps the pages its thread's frames and buffers once used, and the recognition
//! worker's idle release (`malloc_trim`) can return only whole free pages. Measured with
//! `scripts/idle-usage` (the simulated lane, PP-OCR, idle after 5 vehicles): 144–162 MB with
//! glibc's default, 121–131 MB with two arenas. On the lane PC's two cores two arenas are as many
//! as can be busy at once.

/// Limit the arenas to one per core (at least two). Call first in `main`, before any thread.
pub fn limit_arenas() {
    let arenas = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a glibc allocator parameter; it has no preconditions, and it
    // runs before the process starts any thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, i32::try_from(arenas).unwrap_or(i32::MAX));
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = arenas;
}
