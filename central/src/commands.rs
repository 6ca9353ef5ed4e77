//! Commands central signs and sends to a lane: the completeness loop's
//! `resend` requests here, the reviewers' decisions from the desk. Each is
//! recorded in `commands` before it is published (so its ack, on `<base>/ack`,
//! finds it), signed with central's key (`[commands] key`), valid for
//! `[commands] validity`.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use contract::command::{sign, Action, Command};
use contract::Topics;
use ed25519_dalek::SigningKey;

use crate::db::sql::{self, PgPool};
use crate::error::{Error, Result};
use crate::mqtt::Publisher;

pub struct CommandSender {
    pub key_id: String,
    key: SigningKey,
    pub validity: Duration,
    pub prefix: String,
    publisher: Publisher,
}

#[derive(Debug, thiserror::Error)]
#[error("central's command key {path}: {why}")]
pub struct KeyFileError {
    pub path: String,
    pub why: String,
}

/// Reads a key written by `edge-agent command keygen` (base64 of 32 bytes).
pub fn load_key(path: &Path) -> Result<SigningKey, KeyFileError> {
    let err = |why: String| KeyFileError { path: path.display().to_string(), why };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    contract::signing::secret_key(&text)
        .map_err(|e| err(format!("not a key written by `edge-agent command keygen` ({e})")))
}

impl CommandSender {
    pub fn new(
        key_id: String,
        key: SigningKey,
        validity: Duration,
        prefix: String,
        publisher: Publisher,
    ) -> Self {
        CommandSender { key_id, key, validity, prefix, publisher }
    }

    /// Signs, records and publishes one command; returns its id.
    pub async fn send(
        &self,
        pool: &PgPool,
        site: &str,
        lane: &str,
        by: &str,
        action: Action,
    ) -> Result<String> {
        let now = Utc::now();
        let id = format!("c-{}-{:016x}", now.format("%Y%m%dT%H%M%S%3fZ"), rand::random::<u64>());
        let cmd = Command {
            id: id.clone(),
            site: site.into(),
            lane: lane.into(),
            issued_at: now,
            expires_at: now
                + chrono::Duration::from_std(self.validity).unwrap_or(chrono::Duration::minutes(5)),
            by: by.into(),
            action,
        };
        let envelope = serde_json::to_vec(&sign(&cmd, &self.key_id, &self.key)).expect("envelopes serialise");
        let action = serde_json::to_value(&cmd.action).expect("actions serialise");
        let (kind, passage) = (action["type"].as_str().unwrap_or("").to_string(), passage_of(&cmd.action));
        sql::query(
            "INSERT INTO commands (id, site, lane, action_type, passage_id, action, issued_by, issued_at, expires_at, envelope) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(site)
        .bind(lane)
        .bind(kind)
        .bind(passage)
        .bind(&action)
        .bind(by)
        .bind(cmd.issued_at)
        .bind(cmd.expires_at)
        .bind(&envelope)
        .execute(pool)
        .await?;
        let topic = Topics::new(&self.prefix, site, lane).cmd();
        self.publisher
            .publish(topic, envelope)
            .await
            .map_err(|e| Error::Internal(format!("publish: {e}")))?;
        Ok(id)
    }
}

fn passage_of(a: &Action) -> Option<String> {
    match a {
        Action::Release { passage } | Action::Hold { passage } | Action::Inspection { passage } => {
            Some(passage.clone())
        }
        Action::Resend { passage } => Some(passage.clone()),
        _ => None,
    }
}

/// Commands past their expiry without an ack are `expired` (the desk shows
/// them as failed; they can be issued again).
pub async fn expire_unanswered(pool: &PgPool) -> Result<u64> {
    let done =
        sql::query("UPDATE commands SET state = 'expired' WHERE state = 'sent' AND expires_at < now()")
            .execute(pool)
            .await?;
    Ok(done.rows_affected())
}
