//! The replay memory across restarts.

use chrono::{Duration, TimeZone, Utc};

use super::Replay;

#[test]
fn replayed_commands_are_rejected_even_after_a_restart() {
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
    let (id, expires_at) = ("c-1", now + Duration::minutes(5));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("commands.db");
    let mut r = Replay::open(&path).unwrap();
    assert_eq!(r.first_time(id, expires_at, now), Ok(()));
    assert_eq!(r.first_time(id, expires_at, now).unwrap_err().word(), "replayed");
    drop(r);
    let mut r = Replay::open(&path).unwrap();
    assert_eq!(r.first_time(id, expires_at, now).unwrap_err().word(), "replayed");
}
