//! One device's health, observable: a `watch` channel that always holds the
//! current [`Health`], and a structured log line on every change (not on every
//! repeat), so the technician page, the MQTT health topic and the decision policy
//! all see the same thing.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::{Health, HealthState};

/// The reason a reporter starts with, before its first connection.
pub const NOT_CONNECTED_YET: &str = "not connected yet";

#[derive(Clone)]
pub struct HealthReporter {
    device: Arc<str>,
    tx: Arc<watch::Sender<Health>>,
}

impl HealthReporter {
    /// Starts `down` ("not connected yet"): nothing is assumed to work until it did.
    pub fn new(device: impl Into<String>) -> Self {
        let (tx, _) = watch::channel(Health::down(Utc::now(), NOT_CONNECTED_YET));
        HealthReporter { device: Arc::from(device.into()), tx: Arc::new(tx) }
    }

    pub fn subscribe(&self) -> watch::Receiver<Health> {
        self.tx.subscribe()
    }

    pub fn current(&self) -> Health {
        self.tx.borrow().clone()
    }

    pub fn device(&self) -> &str {
        &self.device
    }

    pub fn ok(&self) {
        self.set(Health::ok(Utc::now()));
    }

    pub fn degraded(&self, reason: impl Into<String>) {
        self.set(Health::degraded(Utc::now(), reason));
    }

    pub fn down(&self, reason: impl Into<String>) {
        self.set(Health::down(Utc::now(), reason));
    }

    /// Sets `h` unless the state and reason are unchanged (then `since` is kept).
    pub fn set(&self, h: Health) {
        let changed = self.tx.send_if_modified(|cur| {
            if cur.same_as(&h) {
                return false;
            }
            *cur = h.clone();
            true
        });
        if changed {
            let reason = h.reason.as_deref().unwrap_or("");
            match h.state {
                HealthState::Ok => info!(device = %self.device, state = "ok", "device health changed"),
                HealthState::Degraded => {
                    warn!(device = %self.device, state = "degraded", reason, "device health changed")
                }
                HealthState::Down => {
                    warn!(device = %self.device, state = "down", reason, "device health changed")
                }
            }
        }
    }
}
