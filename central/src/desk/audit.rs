//! Central's audit log of reviewer actions, in PostgreSQL: each entry's
//! canonical JSON (`body`) names its sequence number and the previous entry's
//! hash, its sha256 is signed with central's key, and the newest entry is
//! signed again in `desk_audit_head`. So an entry changed, removed, moved or
//! cut off the end no longer verifies — see [`verify`] and
//! `lane-central audit verify`.
//!
//! Appends from every instance are serialised by a transaction-scoped
//! advisory lock; callers append inside the transaction that does the action,
//! so an action and its entry are committed together or not at all.

use base64::Engine;
use chrono::{DateTime, SubsecRound, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use futures::TryStreamExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::db::sql::{self, PgPool, Transaction};
use crate::error::Result;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// The lock every append takes (the bytes of "deskaudt").
const LOCK: i64 = 0x6465_736b_6175_6474;
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One action to record.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// The user, or `cli:<name>` for the command line, `system` for central itself.
    pub actor: String,
    /// `login`, `claim`, `decision`, `correction`, `takeover`, `declaration_import`, `user_add`, ...
    pub action: String,
    pub site: Option<String>,
    pub lane: Option<String>,
    pub passage: Option<String>,
    pub detail: Value,
}

impl Entry {
    pub fn new(actor: &str, action: &str, detail: Value) -> Self {
        Entry { actor: actor.into(), action: action.into(), detail, ..Entry::default() }
    }

    pub fn on(mut self, site: &str, lane: &str, passage: Option<&str>) -> Self {
        self.site = Some(site.into());
        self.lane = Some(lane.into());
        self.passage = passage.map(str::to_string);
        self
    }
}

/// Signs entries with central's command key (the same key the lanes trust).
pub struct AuditLog {
    key_id: String,
    key: Option<SigningKey>,
}

impl AuditLog {
    pub fn new(key_id: String, key: Option<SigningKey>) -> Self {
        AuditLog { key_id, key }
    }

    fn sign(&self, hash: &[u8]) -> String {
        self.key.as_ref().map(|k| B64.encode(k.sign(hash).to_bytes())).unwrap_or_default()
    }

    /// Appends `e` inside `tx`; returns its sequence number.
    pub async fn append(&self, tx: &mut Transaction<'_>, e: Entry) -> Result<i64> {
        sql::query("SELECT pg_advisory_xact_lock($1)").bind(LOCK).execute(&mut **tx).await?;
        let last: Option<(i64, String)> =
            sql::query_as("SELECT seq, hash FROM desk_audit ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut **tx)
                .await?;
        let (seq, prev) = last.map_or((1, GENESIS.to_string()), |(s, h)| (s + 1, h));
        // PostgreSQL keeps microseconds: the body must say what the row says.
        let at = Utc::now().trunc_subsecs(6);
        let body = body(seq, at, &e, &prev);
        let hash = hex::encode(Sha256::digest(body.as_bytes()));
        let signature = self.sign(&hex::decode(&hash).expect("hex we made"));
        sql::query(
            "INSERT INTO desk_audit (seq, at, actor, action, site, lane, passage_id, detail, prev_hash, body, hash, key_id, signature) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(seq)
        .bind(at)
        .bind(&e.actor)
        .bind(&e.action)
        .bind(&e.site)
        .bind(&e.lane)
        .bind(&e.passage)
        .bind(&e.detail)
        .bind(&prev)
        .bind(&body)
        .bind(&hash)
        .bind(&self.key_id)
        .bind(&signature)
        .execute(&mut **tx)
        .await?;
        let head = self.sign(head_message(seq, &hash).as_bytes());
        sql::query(
            "INSERT INTO desk_audit_head (id, seq, hash, key_id, signature) VALUES (1, $1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET seq = $1, hash = $2, key_id = $3, signature = $4",
        )
        .bind(seq)
        .bind(&hash)
        .bind(&self.key_id)
        .bind(&head)
        .execute(&mut **tx)
        .await?;
        Ok(seq)
    }

    /// Appends `e` in a transaction of its own.
    pub async fn record(&self, pool: &PgPool, e: Entry) -> Result<i64> {
        let mut tx = pool.begin().await?;
        let seq = self.append(&mut tx, e).await?;
        tx.commit().await?;
        Ok(seq)
    }
}

fn body(seq: i64, at: DateTime<Utc>, e: &Entry, prev: &str) -> String {
    let v = json!({
        "seq": seq,
        "at": at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "actor": e.actor,
        "action": e.action,
        "site": e.site,
        "lane": e.lane,
        "passage": e.passage,
        "detail": e.detail,
        "prev": prev,
    });
    String::from_utf8(contract::signing::canonical(&v)).expect("canonical JSON is UTF-8")
}

fn head_message(seq: i64, hash: &str) -> String {
    format!("lanectl.desk-audit-head/1 {seq} {hash}")
}

/// What [`verify`] found.
#[derive(Debug, Default)]
pub struct Verification {
    pub entries: u64,
    pub last_seq: i64,
    pub last_hash: String,
    /// Entries without a signature (written while central had no key).
    pub unsigned: u64,
    /// Every problem, one sentence each, in log order.
    pub problems: Vec<String>,
}

impl Verification {
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
}

type Row = (
    i64,
    DateTime<Utc>,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Value,
    String,
    String,
    String,
    String,
    String,
);

/// Walks the whole log in order: sequence without holes, each body matching
/// its columns and the previous hash, each hash matching its body, each
/// signature by a known key, and the signed head matching the last entry.
pub async fn verify(pool: &PgPool, keys: &[(String, VerifyingKey)]) -> Result<Verification> {
    let mut v = Verification::default();
    let mut prev_hash = GENESIS.to_string();
    let mut expect = 1i64;
    let mut rows = sql::query_as::<_, Row>(
        "SELECT seq, at, actor, action, site, lane, passage_id, detail, prev_hash, body, hash, key_id, signature \
         FROM desk_audit ORDER BY seq",
    )
    .fetch(pool);
    while let Some((
        seq,
        at,
        actor,
        action,
        site,
        lane,
        passage,
        detail,
        prev,
        text,
        hash,
        key_id,
        signature,
    )) = rows.try_next().await?
    {
        v.entries += 1;
        if seq > expect {
            let range = if seq - 1 == expect { format!("{expect}") } else { format!("{expect}-{}", seq - 1) };
            v.problems
                .push(format!("entry {range} missing: the log jumps from {} to {seq} (deleted)", expect - 1));
        }
        expect = seq + 1;
        let e = Entry { actor, action, site, lane, passage, detail };
        let claimed: Option<Value> = serde_json::from_str(&text).ok();
        let body_seq = claimed.as_ref().and_then(|b| b["seq"].as_i64());
        if body_seq != Some(seq) {
            v.problems.push(format!(
                "entry {seq}: out of order (its signed body is entry {})",
                body_seq.map_or("?".into(), |s| s.to_string())
            ));
        } else if prev != prev_hash || claimed.as_ref().and_then(|b| b["prev"].as_str()) != Some(&prev_hash) {
            v.problems.push(format!(
                "entry {seq}: does not follow the entry before it (chain broken: moved, or one before it removed)"
            ));
        }
        if hex::encode(Sha256::digest(text.as_bytes())) != hash {
            v.problems.push(format!("entry {seq}: modified (its hash does not match its content)"));
        } else if body(seq, at, &e, &prev) != text {
            v.problems.push(format!("entry {seq}: modified (its columns differ from its signed content)"));
        }
        if signature.is_empty() {
            v.unsigned += 1;
        } else if !signed_by(keys, &key_id, &hex::decode(&hash).unwrap_or_default(), &signature) {
            v.problems.push(format!("entry {seq}: signature does not verify with key {key_id:?}"));
        }
        prev_hash = hash;
        v.last_seq = seq;
    }
    v.last_hash = prev_hash.clone();
    let head: Option<(i64, String, String, String)> =
        sql::query_as("SELECT seq, hash, key_id, signature FROM desk_audit_head WHERE id = 1")
            .fetch_optional(pool)
            .await?;
    match head {
        None if v.entries > 0 => v.problems.push("the signed head is missing".into()),
        None => {}
        Some((seq, hash, key_id, signature)) => {
            if seq != v.last_seq || hash != v.last_hash {
                v.problems.push(format!(
                    "the signed head names entry {seq}, the log ends at {}: entries were cut off the end",
                    v.last_seq
                ));
            }
            if !signature.is_empty()
                && !signed_by(keys, &key_id, head_message(seq, &hash).as_bytes(), &signature)
            {
                v.problems.push("the head's signature does not verify".into());
            }
        }
    }
    Ok(v)
}

fn signed_by(keys: &[(String, VerifyingKey)], key_id: &str, message: &[u8], signature: &str) -> bool {
    let Some((_, key)) = keys.iter().find(|(id, _)| id == key_id) else { return false };
    let Ok(bytes) = B64.decode(signature) else { return false };
    Signature::from_slice(&bytes).is_ok_and(|s| key.verify(message, &s).is_ok())
}

/// The log's entries about one passage, oldest first (its part of the story).
pub async fn for_passage(pool: &PgPool, site: &str, lane: &str, passage: &str) -> Result<Vec<Value>> {
    Ok(sql::query_scalar(
        "SELECT jsonb_build_object('seq', seq, 'at', at, 'actor', actor, 'action', action, 'detail', detail) \
         FROM desk_audit WHERE site = $1 AND lane = $2 AND passage_id = $3 ORDER BY seq",
    )
    .bind(site)
    .bind(lane)
    .bind(passage)
    .fetch_all(pool)
    .await?)
}
