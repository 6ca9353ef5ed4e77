//! Is this record from the lane its topic names, unaltered? The lane's keys
//! come from the registry; only an `approved` key verifies. Everything that
//! fails is kept in quarantine with the reason — never dropped, never shown
//! as verified — and records that waited only for their key's approval are
//! taken up again when it comes ([`super::Ingest::release_quarantined`]).

use contract::signing::{self, SigningError, Verified};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::{Ingest, IngestError, Outcome};
use crate::db::sql;

/// Why a record is not verified; the word is the `quarantine.kind`.
#[derive(Debug, Clone, PartialEq)]
pub struct Suspect {
    pub kind: &'static str,
    pub detail: String,
}

fn suspect(kind: &'static str, detail: impl Into<String>) -> Suspect {
    Suspect { kind, detail: detail.into() }
}

impl Ingest {
    /// Verifies `payload` as a `T` signed by one of the lane's keys.
    pub(super) async fn verify<T: DeserializeOwned>(
        &self,
        site: &str,
        lane: &str,
        payload: &[u8],
    ) -> Result<Result<Verified<T>, Suspect>, IngestError> {
        let v: serde_json::Value = match serde_json::from_slice(payload) {
            Ok(v) => v,
            Err(e) => return Ok(Err(suspect("malformed_json", e.to_string()))),
        };
        let Some(claimed) = signing::claimed_key_id(&v).map(str::to_string) else {
            return Ok(Err(suspect("unsigned", "the record carries no signature")));
        };
        let keys: Vec<(String, String, String)> = sql::query_as(
            "SELECT key_id, public_key, state FROM lane_keys WHERE site = $1 AND lane = $2 AND key_id = $3",
        )
        .bind(site)
        .bind(lane)
        .bind(&claimed)
        .fetch_all(&self.pool)
        .await?;
        if keys.is_empty() {
            return Ok(Err(suspect(
                "unknown_key",
                format!("{site}/{lane} has no key {claimed:?} in the registry"),
            )));
        }
        let mut mismatch = None;
        for (key_id, public, state) in keys {
            let Ok(key) = signing::public_key(&public) else { continue };
            match signing::verify_payload::<T>(payload, &[(key_id, key)]) {
                Ok(verified) => {
                    return Ok(match state.as_str() {
                        "approved" => Ok(verified),
                        "pending" => Err(suspect(
                            "pending_key",
                            format!(
                                "key {claimed:?} awaits approval (lane-central lanes approve {site}/{lane})"
                            ),
                        )),
                        _ => Err(suspect("revoked_key", format!("key {claimed:?} was revoked"))),
                    });
                }
                Err(SigningError::Shape { why, .. }) => return Ok(Err(suspect("schema", why))),
                Err(e) => mismatch = Some(e.to_string()),
            }
        }
        Ok(Err(suspect("bad_signature", mismatch.unwrap_or_else(|| "no usable key".into()))))
    }

    /// Keeps a record that failed verification (once per topic and content),
    /// raises a central alarm, counts it.
    pub(super) async fn quarantine(
        &self,
        topic: &str,
        site: &str,
        lane: &str,
        leaf: &str,
        payload: &[u8],
        why: Suspect,
    ) -> Result<Outcome, IngestError> {
        let sha = hex::encode(Sha256::digest(payload));
        let mut tx = self.pool.begin().await?;
        crate::registry::touch(&mut *tx, site, lane).await?;
        let id: Option<i64> = sql::query_scalar(
            "INSERT INTO quarantine (topic, site, lane, leaf, kind, detail, payload, payload_sha256) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (topic, payload_sha256) DO NOTHING RETURNING id",
        )
        .bind(topic)
        .bind(site)
        .bind(lane)
        .bind(leaf)
        .bind(why.kind)
        .bind(&why.detail)
        .bind(payload)
        .bind(&sha)
        .fetch_optional(&mut *tx)
        .await?;
        if id.is_some() {
            // One alarm per lane and reason while a key is pending (not one per
            // record); one per record for everything that looks forged.
            let dedup = if why.kind == "pending_key" {
                format!("pending_key:{site}/{lane}")
            } else {
                format!("quarantine:{sha}")
            };
            crate::alarms::raise(
                &mut *tx,
                site,
                lane,
                "quarantined",
                None,
                &format!("{leaf} record quarantined ({}): {}", why.kind, why.detail),
                &dedup,
            )
            .await?;
        }
        tx.commit().await?;
        self.metrics.bad_input(why.kind, topic, &why.detail);
        Ok(Outcome::Quarantined(why.kind))
    }
}
