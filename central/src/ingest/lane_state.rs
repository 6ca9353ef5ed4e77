//! The lane's unsigned messages: retained status (which also announces the
//! lane's signing key), device health, statistics, alarms and command acks.
//! A message whose body names another lane than its topic is one lane
//! publishing as another: refused and counted, never stored.

use contract::command::CommandAck;
use contract::lane::{Alarm, DeviceHealthEvent, LaneStatus};
use contract::stats::StatsReport;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::{is_data_error, word, Ingest, IngestError, Outcome};
use crate::db::sql;

impl Ingest {
    fn parse<T: DeserializeOwned>(&self, topic: &str, payload: &[u8]) -> Result<T, Outcome> {
        serde_json::from_slice(payload).map_err(|e| {
            let kind = if serde_json::from_slice::<serde_json::Value>(payload).is_ok() {
                "schema"
            } else {
                "malformed_json"
            };
            self.refuse(kind, topic, &e.to_string())
        })
    }

    pub(super) async fn status(
        &self,
        topic: &str,
        site: &str,
        lane: &str,
        payload: &[u8],
    ) -> Result<Outcome, IngestError> {
        if payload.is_empty() {
            return Ok(Outcome::Duplicate); // a cleared retained message
        }
        let s: LaneStatus = match self.parse(topic, payload) {
            Ok(s) => s,
            Err(o) => return Ok(o),
        };
        if s.site != site || s.lane != lane {
            return Ok(self.refuse("topic_mismatch", topic, &format!("status of {}/{}", s.site, s.lane)));
        }
        if let Some(k) = &s.signing_key {
            if contract::signing::public_key(&k.public_key).is_err() {
                return Ok(self.refuse("schema", topic, "signing_key is not an Ed25519 public key"));
            }
        }
        let mut tx = self.pool.begin().await?;
        crate::registry::touch(&mut *tx, site, lane).await?;
        // Retained and live statuses arrive in any order: the newer `since` wins.
        sql::query(
            "UPDATE lanes SET state = $3, state_since = $4, agent_version = $5 \
             WHERE site = $1 AND lane = $2 AND (state_since IS NULL OR state_since <= $4)",
        )
        .bind(site)
        .bind(lane)
        .bind(word(&s.state))
        .bind(s.since)
        .bind(&s.agent_version)
        .execute(&mut *tx)
        .await?;
        if let Some(k) = &s.signing_key {
            if crate::registry::announce_key(&mut *tx, site, lane, &k.key_id, &k.public_key).await? {
                crate::alarms::raise(
                    &mut *tx,
                    site,
                    lane,
                    "key_pending",
                    None,
                    &format!("{site}/{lane} announced signing key {} ({}); approve it with `lane-central lanes approve {site}/{lane}`", k.key_id, k.public_key),
                    &format!("key_pending:{site}/{lane}:{}", k.public_key),
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(Outcome::Stored)
    }

    pub(super) async fn health(
        &self,
        topic: &str,
        site: &str,
        lane: &str,
        device: &str,
        payload: &[u8],
    ) -> Result<Outcome, IngestError> {
        if payload.is_empty() {
            return Ok(Outcome::Duplicate);
        }
        let h: DeviceHealthEvent = match self.parse(topic, payload) {
            Ok(h) => h,
            Err(o) => return Ok(o),
        };
        if h.device != device {
            return Ok(self.refuse("topic_mismatch", topic, &format!("health of {}", h.device)));
        }
        let json: serde_json::Value = serde_json::to_value(&h.health).unwrap_or_default();
        let mut tx = self.pool.begin().await?;
        crate::registry::touch(&mut *tx, site, lane).await?;
        sql::query(
            "INSERT INTO lane_health (site, lane, device, kind, state, reason, health, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, now()) ON CONFLICT (site, lane, device) DO UPDATE SET \
             kind = EXCLUDED.kind, state = EXCLUDED.state, reason = EXCLUDED.reason, health = EXCLUDED.health, updated_at = now()",
        )
        .bind(site)
        .bind(lane)
        .bind(device)
        .bind(&h.kind)
        .bind(word(&h.health.state))
        .bind(&h.health.reason)
        .bind(&json)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Outcome::Stored)
    }

    pub(super) async fn stats(
        &self,
        topic: &str,
        site: &str,
        lane: &str,
        payload: &[u8],
    ) -> Result<Outcome, IngestError> {
        if payload.is_empty() {
            return Ok(Outcome::Duplicate);
        }
        let s: StatsReport = match self.parse(topic, payload) {
            Ok(s) => s,
            Err(o) => return Ok(o),
        };
        if s.site != site || s.lane != lane {
            return Ok(self.refuse("topic_mismatch", topic, &format!("stats of {}/{}", s.site, s.lane)));
        }
        let json = serde_json::to_value(&s).unwrap_or_default();
        let mut tx = self.pool.begin().await?;
        crate::registry::touch(&mut *tx, site, lane).await?;
        sql::query(
            "INSERT INTO lane_stats (site, lane, report, received_at) VALUES ($1, $2, $3, now()) \
             ON CONFLICT (site, lane) DO UPDATE SET report = EXCLUDED.report, received_at = now()",
        )
        .bind(site)
        .bind(lane)
        .bind(&json)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Outcome::Stored)
    }

    pub(super) async fn alarm(
        &self,
        topic: &str,
        site: &str,
        lane: &str,
        payload: &[u8],
    ) -> Result<Outcome, IngestError> {
        let a: Alarm = match self.parse(topic, payload) {
            Ok(a) => a,
            Err(o) => return Ok(o),
        };
        let dedup = format!("lane:{}", hex::encode(Sha256::digest([topic.as_bytes(), payload].concat())));
        let mut tx = self.pool.begin().await?;
        crate::registry::touch(&mut *tx, site, lane).await?;
        let done = sql::query(
            "INSERT INTO alarms (site, lane, source, kind, passage_id, device, message, raised_at, dedup_key) \
             VALUES ($1, $2, 'lane', $3, $4, $5, $6, $7, $8) ON CONFLICT (dedup_key) DO NOTHING",
        )
        .bind(site)
        .bind(lane)
        .bind(word(&a.kind))
        .bind(&a.passage)
        .bind(&a.device)
        .bind(&a.message)
        .bind(a.at)
        .bind(dedup)
        .execute(&mut *tx)
        .await;
        let outcome = match done {
            Ok(d) if d.rows_affected() == 1 => Outcome::Stored,
            Ok(_) => Outcome::Duplicate,
            Err(e) if is_data_error(&e) => return Ok(self.refuse("unstorable", topic, &e.to_string())),
            Err(e) => return Err(e.into()),
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// An ack: kept, and the command it answers (if central sent it) updated.
    pub(super) async fn ack(
        &self,
        topic: &str,
        site: &str,
        lane: &str,
        payload: &[u8],
    ) -> Result<Outcome, IngestError> {
        let a: CommandAck = match self.parse(topic, payload) {
            Ok(a) => a,
            Err(o) => return Ok(o),
        };
        let dedup = hex::encode(Sha256::digest([topic.as_bytes(), payload].concat()));
        let mut tx = self.pool.begin().await?;
        crate::registry::touch(&mut *tx, site, lane).await?;
        let done = sql::query(
            "INSERT INTO command_acks (site, lane, command_id, accepted, reason, outcome, detail, acked_at, dedup_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (dedup_key) DO NOTHING",
        )
        .bind(site)
        .bind(lane)
        .bind(&a.id)
        .bind(a.accepted)
        .bind(&a.reason)
        .bind(&a.outcome)
        .bind(&a.detail)
        .bind(a.at)
        .bind(dedup)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(Outcome::Duplicate);
        }
        if let Some(id) = &a.id {
            // Only the lane the command was addressed to answers for it.
            sql::query(
                "UPDATE commands SET state = CASE WHEN $4 THEN 'accepted' ELSE 'rejected' END, outcome = $5, reason = $6, \
                 detail = $7, acked_at = $8 WHERE id = $1 AND site = $2 AND lane = $3 AND state IN ('sent', 'expired')",
            )
            .bind(id)
            .bind(site)
            .bind(lane)
            .bind(a.accepted)
            .bind(&a.outcome)
            .bind(&a.reason)
            .bind(&a.detail)
            .bind(a.at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Outcome::Stored)
    }
}
