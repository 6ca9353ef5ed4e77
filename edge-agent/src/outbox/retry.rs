//! Rows whose image chunk could not be read, and when to try each again.
//!
//! A read error is a passing state until proven otherwise (too many open files, a disk that
//! hiccups), so the row stays and is retried with backoff — 1 s doubling to a minute — rather than
//! deleted. A file that is really gone keeps its row waiting, retried once a minute, visible in
//! `edge-agent outbox` and the metrics, instead of vanishing silently.

use std::collections::HashMap;
use std::time::{Duration, Instant};

const FIRST: Duration = Duration::from_secs(1);
const LONGEST: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct RetryBook {
    rows: HashMap<i64, (Instant, Duration)>,
}

impl RetryBook {
    /// Records a failed read at `now`; true the first time for this row (worth a log line).
    pub fn failed(&mut self, id: i64, now: Instant) -> bool {
        match self.rows.get_mut(&id) {
            Some((due, wait)) => {
                *wait = (*wait * 2).min(LONGEST);
                *due = now + *wait;
                false
            }
            None => {
                self.rows.insert(id, (now + FIRST, FIRST));
                true
            }
        }
    }

    /// Rows not to be tried yet.
    pub fn waiting(&self, now: Instant) -> impl Iterator<Item = i64> + '_ {
        self.rows.iter().filter(move |(_, (due, _))| *due > now).map(|(id, _)| *id)
    }

    /// The row was read or is gone from the outbox.
    pub fn forget(&mut self, id: i64) {
        self.rows.remove(&id);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_rows_wait_longer_each_time_and_come_back_when_due() {
        let mut book = RetryBook::default();
        let t0 = Instant::now();
        assert!(book.failed(7, t0), "first failure");
        assert_eq!(book.waiting(t0).collect::<Vec<_>>(), [7]);
        assert!(book.waiting(t0 + FIRST).next().is_none(), "due again after a second");
        assert!(!book.failed(7, t0 + FIRST));
        assert_eq!(book.waiting(t0 + FIRST + FIRST).collect::<Vec<_>>(), [7], "now two seconds");
        for _ in 0..10 {
            book.failed(7, t0);
        }
        assert!(book.waiting(t0 + LONGEST).next().is_none(), "never longer than a minute");
        book.forget(7);
        assert!(book.is_empty());
    }
}
