//! The lanes' signed audit checkpoints. Each is verified like a record, then
//! checked against every checkpoint of that lane seen before (the contract's
//! `CheckpointLedger`): one seq vouches for one hash, ever, and later
//! checkpoints never vouch for earlier points. A contradiction flags the lane
//! (`lanes.trail_state = 'broken'`) and raises an alarm: its trail was
//! rewritten or cut. The lane row is locked while checking, so two instances
//! receiving two checkpoints of one lane check them one after the other.

use chrono::{DateTime, Utc};
use contract::audit::{Admitted, AuditCheckpoint, CheckpointLedger, AUDIT_CHECKPOINT_SCHEMA};

use super::{Ingest, IngestError, Outcome};
use crate::db::sql;

impl Ingest {
    pub(super) async fn checkpoint(
        &self,
        topic: &str,
        site: &str,
        lane: &str,
        payload: &[u8],
    ) -> Result<Outcome, IngestError> {
        let c = match self.verify_on_topic::<AuditCheckpoint>(topic, site, lane, payload).await? {
            Ok(v) => v.value,
            Err(quarantined) => return Ok(quarantined),
        };
        let mut tx = self.pool.begin().await?;
        sql::query("SELECT 1 FROM lanes WHERE site = $1 AND lane = $2 FOR UPDATE")
            .bind(site)
            .bind(lane)
            .execute(&mut *tx)
            .await?;
        let seen: Vec<(i64, String, DateTime<Utc>)> =
            sql::query_as("SELECT seq, hash, signed_at FROM audit_checkpoints WHERE site = $1 AND lane = $2")
                .bind(site)
                .bind(lane)
                .fetch_all(&mut *tx)
                .await?;
        let seen: Vec<AuditCheckpoint> = seen
            .into_iter()
            .map(|(seq, hash, at)| AuditCheckpoint {
                schema: AUDIT_CHECKPOINT_SCHEMA.into(),
                seq: seq as u64,
                hash,
                at,
            })
            .collect();
        let mut ledger = CheckpointLedger::from_checkpoints(&seen);
        let outcome = match ledger.admit(&c) {
            Ok(Admitted::Repeat) => Outcome::Duplicate,
            Ok(Admitted::New) => {
                sql::query(
                    "INSERT INTO audit_checkpoints (site, lane, seq, hash, signed_at, payload) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(site)
                .bind(lane)
                .bind(c.seq as i64)
                .bind(&c.hash)
                .bind(c.at)
                .bind(payload)
                .execute(&mut *tx)
                .await?;
                Outcome::Stored
            }
            Err(broken) => {
                let detail = broken.to_string();
                sql::query("UPDATE lanes SET trail_state = 'broken', trail_detail = $3 WHERE site = $1 AND lane = $2")
                    .bind(site)
                    .bind(lane)
                    .bind(&detail)
                    .execute(&mut *tx)
                    .await?;
                crate::alarms::raise(
                    &mut *tx,
                    site,
                    lane,
                    "audit_trail_broken",
                    None,
                    &format!("the audit trail of {site}/{lane} was rewritten or cut: {detail}"),
                    &format!("trail:{site}/{lane}:{}:{}", c.seq, c.hash),
                )
                .await?;
                self.metrics.bad_input("audit_trail_broken", topic, &detail);
                Outcome::Refused("audit_trail_broken")
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }
}
