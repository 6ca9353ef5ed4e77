//! What the lane writes into the audit trail, and the checkpoints it sends to
//! central. A failing audit disk never stops the lane: it raises an alarm
//! once and keeps working, as clearance must not stop (the outbox still has
//! every result).

use serde_json::{json, Value};
use tracing::error;

use super::{Lane, Publish};
use crate::record::{Alarm, AlarmKind};

impl<P: Publish> Lane<P> {
    pub(super) fn audit(&mut self, kind: &str, passage: Option<&str>, data: Value) {
        let result = self.audit.append(kind, passage, data).and_then(|_| self.audit.checkpoint_if_due(&self.signer));
        match result {
            Ok(Some(checkpoint)) => {
                let topic = format!("{}/audit/checkpoint", self.topics.base());
                self.send(topic, &checkpoint, false);
                self.audit_failing = false;
            }
            Ok(None) => self.audit_failing = false,
            Err(e) if !self.audit_failing => {
                self.audit_failing = true;
                error!(cause = %e, path = %self.audit.path().display(), "cannot write the audit trail");
                let alarm = Alarm {
                    kind: AlarmKind::AuditFailing,
                    passage: passage.map(str::to_string),
                    device: None,
                    message: format!("cannot write the audit trail: {e}"),
                    at: self.clock.now().utc,
                };
                self.send(self.topics.alarm(), &alarm, false);
            }
            Err(_) => {}
        }
    }
}

/// The effective configuration's fingerprint, so a change between starts
/// shows in the trail (`edge-agent audit show --kind start`).
pub(super) fn start_entry(cfg: &crate::config::LaneConfig) -> Value {
    use sha2::Digest;
    let fingerprint = hex::encode(sha2::Sha256::digest(format!("{cfg:?}").as_bytes()));
    json!({
        "agent_version": env!("CARGO_PKG_VERSION"),
        "site": cfg.site,
        "lane": cfg.lane,
        "config_sha256": fingerprint,
        "devices": cfg.devices.iter().map(|d| d.name.clone()).collect::<Vec<_>>(),
    })
}
