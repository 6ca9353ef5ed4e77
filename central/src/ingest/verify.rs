//! Is this record from the lane its topic names, unaltered? The lane's keys
//! come from the registry; only an `approved` key verifies. Everything that
//! fails is kept in quarantine with the reason — never dropped, never shown
//! as verified — and records that waited only for their key's approval are
//! taken up again when it comes ([`super::Ingest::release_quarantined`]).
//! [`Ingest::verify_on_topic`] is the one way a signed kind comes in: the
//! signature, then what the verified value says about itself ([`Signed`]).

use contract::audit::{AuditCheckpoint, AUDIT_CHECKPOINT_SCHEMA};
use contract::decision::DecisionEvent;
use contract::passage::PassageRecord;
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
    /// For `pending_key` and `unknown_key`: the key id the record claims,
    /// whose approval takes the record out of quarantine.
    pub awaits_key: Option<String>,
}

impl Suspect {
    pub fn new(kind: &'static str, detail: impl Into<String>) -> Self {
        Suspect { kind, detail: detail.into(), awaits_key: None }
    }
}

fn suspect(kind: &'static str, detail: impl Into<String>) -> Suspect {
    Suspect::new(kind, detail)
}

/// A record that waits for the lane's key `key_id` to be announced or approved.
fn awaiting(kind: &'static str, detail: String, key_id: &str) -> Suspect {
    Suspect { awaits_key: Some(key_id.to_string()), ..Suspect::new(kind, detail) }
}

/// A kind of signed payload central takes in, and what its verified value must
/// say of itself before it is stored.
pub(super) trait Signed: DeserializeOwned {
    /// The quarantine's `leaf` for this kind.
    const LEAF: &'static str;

    /// Why this verified value does not belong on `topic` (of `site`/`lane`), if it does not.
    fn misplaced(&self, topic: &str, site: &str, lane: &str) -> Option<Suspect>;
}

/// A record naming another lane than its topic's.
fn lane_mismatch(noun: &str, of: (&str, &str), topic: &str, site: &str, lane: &str) -> Option<Suspect> {
    (of != (site, lane)).then(|| suspect("topic_mismatch", format!("{noun} of {}/{} on {topic}", of.0, of.1)))
}

impl Signed for PassageRecord {
    const LEAF: &'static str = "passage";
    fn misplaced(&self, topic: &str, site: &str, lane: &str) -> Option<Suspect> {
        lane_mismatch("record", (self.site.as_str(), self.lane.as_str()), topic, site, lane)
    }
}

impl Signed for DecisionEvent {
    const LEAF: &'static str = "decision";
    fn misplaced(&self, topic: &str, site: &str, lane: &str) -> Option<Suspect> {
        lane_mismatch("decision", (self.site.as_str(), self.lane.as_str()), topic, site, lane)
    }
}

/// A checkpoint names no lane (its topic does, and the lane's key signed it);
/// its layout is what must match.
impl Signed for AuditCheckpoint {
    const LEAF: &'static str = "audit_checkpoint";
    fn misplaced(&self, _: &str, _: &str, _: &str) -> Option<Suspect> {
        (self.schema != AUDIT_CHECKPOINT_SCHEMA)
            .then(|| suspect("schema", format!("checkpoint schema {:?}", self.schema)))
    }
}

impl Ingest {
    /// The verified `T` on `topic`, or `Err` with the outcome of having
    /// quarantined it (signature, key, or what the value says of itself).
    pub(super) async fn verify_on_topic<T: Signed>(
        &self,
        topic: &str,
        site: &str,
        lane: &str,
        payload: &[u8],
    ) -> Result<Result<Verified<T>, Outcome>, IngestError> {
        let why = match self.verify::<T>(site, lane, payload).await? {
            Ok(verified) => match verified.value.misplaced(topic, site, lane) {
                None => return Ok(Ok(verified)),
                Some(why) => why,
            },
            Err(why) => why,
        };
        self.quarantine(topic, site, lane, T::LEAF, payload, why).await.map(Err)
    }

    /// Verifies `payload` as a `T` signed by one of the lane's keys.
    async fn verify<T: DeserializeOwned>(
        &self,
        site: &str,
        lane: &str,
        payload: &[u8],
    ) -> Result<Result<Verified<T>, Suspect>, IngestError> {
        let v: serde_json::Value = match serde_json::from_slice(payload) {
            Ok(v) => v,
            Err(e) => return Ok(Err(suspect("malformed_json", e.to_string()))),
        };
        // A record naming another lane than its topic is one lane publishing as
        // another, whoever signed it.
        let claims =
            |field: &str, topic: &str| v.get(field).and_then(|x| x.as_str()).is_some_and(|x| x != topic);
        if claims("site", site) || claims("lane", lane) {
            let detail = format!("record of {}/{} on {site}/{lane}'s topic", v["site"], v["lane"]);
            return Ok(Err(suspect("topic_mismatch", detail)));
        }
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
            return Ok(Err(awaiting(
                "unknown_key",
                format!("{site}/{lane} has no key {claimed:?} in the registry"),
                &claimed,
            )));
        }
        let mut mismatch = None;
        for (key_id, public, state) in keys {
            let Ok(key) = signing::public_key(&public) else { continue };
            match signing::verify_payload::<T>(payload, &[(key_id, key)]) {
                Ok(verified) => {
                    return Ok(match state.as_str() {
                        "approved" => Ok(verified),
                        "pending" => Err(awaiting(
                            "pending_key",
                            format!(
                                "key {claimed:?} awaits approval (lane-central lanes approve {site}/{lane})"
                            ),
                            &claimed,
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
    async fn quarantine(
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
        // Holds the lane's row until commit: an approval (which takes it too)
        // either sees this record in quarantine afterwards, or came first and
        // is seen here — then the record is checked again instead.
        crate::registry::touch(&mut *tx, site, lane).await?;
        if let Some(key_id) = &why.awaits_key {
            let decided: bool = sql::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM lane_keys WHERE site = $1 AND lane = $2 AND key_id = $3 \
                 AND (state = 'approved' OR $4))",
            )
            .bind(site)
            .bind(lane)
            .bind(key_id)
            .bind(why.kind == "unknown_key")
            .fetch_one(&mut *tx)
            .await?;
            if decided {
                return Err(IngestError::Transient(format!(
                    "{site}/{lane}: key {key_id:?} changed while this record was checked; checking it again"
                )));
            }
        }
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
