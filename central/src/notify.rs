//! systemd's notify protocol (`Type=notify`, `WatchdogSec=`) through the
//! `sd-notify` crate: READY=1 once the service is up; WATCHDOG=1 every half of
//! the watchdog interval, but only while the database answers — a central that
//! cannot reach its database is restarted rather than left pretending.
//! Without `NOTIFY_SOCKET` (tests, a terminal) every call does nothing.

use std::time::Duration;

use crate::db::sql::{self, PgPool};

pub fn ready() {
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
}

pub async fn watchdog(pool: PgPool, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let every = Duration::from_micros(usec / 2);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
                return;
            }
        }
        let alive = tokio::time::timeout(every, sql::query("SELECT 1").execute(&pool)).await;
        if matches!(alive, Ok(Ok(_))) {
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
        } else {
            tracing::error!("database not answering: no watchdog heartbeat");
        }
    }
}
