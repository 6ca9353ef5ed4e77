//! Audit checkpoints: every `CHECKPOINT_EVERY` entries (and at a clean stop)
//! the lane signs the sequence number and hash its hash-chained audit trail
//! has reached, and publishes that on `<base>/audit/checkpoint`.
//!
//! A receiver keeps every checkpoint of a lane in a [`CheckpointLedger`]. The
//! trail only grows, so checkpoints must agree with each other: one sequence
//! number vouches for one hash, ever, and a later checkpoint (by its signed
//! time) never vouches for an earlier point of the trail. A lane whose trail
//! was rewritten or cut and restarted breaks one of the two — found however
//! the checkpoints arrive (late, twice, out of order, on several instances).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const AUDIT_CHECKPOINT_SCHEMA: &str = "lanectl.audit-checkpoint/1";

/// The point of the audit trail the lane vouches for. Published signed, like
/// passage records: a `signature` member `{alg, key_id, value}` beside these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditCheckpoint {
    /// Always `lanectl.audit-checkpoint/1` for this layout.
    pub schema: String,
    /// The last entry covered.
    pub seq: u64,
    /// That entry's hash (hex sha256), which covers every entry before it.
    pub hash: String,
    pub at: DateTime<Utc>,
}

/// Why a lane's checkpoints contradict each other.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChainBreak {
    #[error("entry {seq} was vouched for as {before} and now as {now}: the trail was rewritten")]
    Rewritten { seq: u64, before: String, now: String },
    #[error(
        "checkpoint of entry {seq} at {at} does not come after entry {earlier_seq} at {earlier_at}: \
         the trail was cut or rewound"
    )]
    Rewound { seq: u64, at: DateTime<Utc>, earlier_seq: u64, earlier_at: DateTime<Utc> },
}

/// What a checkpoint added to the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// A point of the trail not vouched for before.
    New,
    /// The same checkpoint again (at-least-once delivery).
    Repeat,
}

/// Every checkpoint seen from one lane, by sequence number.
#[derive(Debug, Clone, Default)]
pub struct CheckpointLedger {
    seen: BTreeMap<u64, (String, DateTime<Utc>)>,
}

impl CheckpointLedger {
    /// A ledger of checkpoints already accepted (e.g. loaded from a database).
    pub fn from_checkpoints<'a>(checkpoints: impl IntoIterator<Item = &'a AuditCheckpoint>) -> Self {
        let seen = checkpoints.into_iter().map(|c| (c.seq, (c.hash.clone(), c.at))).collect();
        CheckpointLedger { seen }
    }

    /// Checks a checkpoint (its signature already verified) against all seen
    /// before; a contradiction is refused and leaves the ledger unchanged.
    pub fn admit(&mut self, c: &AuditCheckpoint) -> Result<Admitted, ChainBreak> {
        if let Some((hash, _)) = self.seen.get(&c.seq) {
            if *hash != c.hash {
                return Err(ChainBreak::Rewritten { seq: c.seq, before: hash.clone(), now: c.hash.clone() });
            }
            return Ok(Admitted::Repeat);
        }
        // Only the neighbours matter: the ledger itself is consistent.
        if let Some((&earlier_seq, (_, earlier_at))) = self.seen.range(..c.seq).next_back() {
            if *earlier_at > c.at {
                return Err(ChainBreak::Rewound {
                    seq: c.seq,
                    at: c.at,
                    earlier_seq,
                    earlier_at: *earlier_at,
                });
            }
        }
        if let Some((&later_seq, (_, later_at))) = self.seen.range(c.seq + 1..).next() {
            if *later_at < c.at {
                return Err(ChainBreak::Rewound {
                    seq: later_seq,
                    at: *later_at,
                    earlier_seq: c.seq,
                    earlier_at: c.at,
                });
            }
        }
        self.seen.insert(c.seq, (c.hash.clone(), c.at));
        Ok(Admitted::New)
    }

    /// The furthest point of the trail vouched for.
    pub fn last(&self) -> Option<(u64, &str)> {
        self.seen.iter().next_back().map(|(s, (h, _))| (*s, h.as_str()))
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn cp(seq: u64, hash: &str, minute: i64) -> AuditCheckpoint {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        AuditCheckpoint {
            schema: AUDIT_CHECKPOINT_SCHEMA.into(),
            seq,
            hash: hash.into(),
            at: t0 + Duration::minutes(minute),
        }
    }

    #[test]
    fn a_growing_trail_is_accepted_in_any_order_and_twice() {
        let mut l = CheckpointLedger::default();
        assert_eq!(l.admit(&cp(300, "c", 30)), Ok(Admitted::New));
        assert_eq!(l.admit(&cp(100, "a", 10)), Ok(Admitted::New));
        assert_eq!(l.admit(&cp(200, "b", 20)), Ok(Admitted::New));
        assert_eq!(l.admit(&cp(200, "b", 20)), Ok(Admitted::Repeat));
        assert_eq!(l.last(), Some((300, "c")));
        assert_eq!(l.len(), 3);
    }

    #[test]
    fn a_rewritten_trail_is_caught() {
        let mut l = CheckpointLedger::from_checkpoints(&[cp(100, "a", 10)]);
        assert!(matches!(l.admit(&cp(100, "x", 50)), Err(ChainBreak::Rewritten { seq: 100, .. })));
        assert_eq!(l.len(), 1, "refused checkpoints are not kept");
    }

    #[test]
    fn a_cut_trail_that_restarted_lower_is_caught_whichever_arrives_first() {
        // Vouched for 200 at minute 20; then the end was cut and the lane went
        // on from 120, vouching for 150 at minute 40.
        let mut l = CheckpointLedger::from_checkpoints(&[cp(100, "a", 10), cp(200, "b", 20)]);
        let found = l.admit(&cp(150, "z", 40));
        assert!(matches!(found, Err(ChainBreak::Rewound { seq: 200, earlier_seq: 150, .. })), "{found:?}");
        let mut late = CheckpointLedger::from_checkpoints(&[cp(150, "z", 40)]);
        assert!(matches!(
            late.admit(&cp(200, "b", 20)),
            Err(ChainBreak::Rewound { seq: 200, earlier_seq: 150, .. })
        ));
    }

    /// The lane built checkpoints with `json!` before this type existed: the
    /// signed bytes are the same (keys are sorted either way).
    #[test]
    fn the_published_bytes_did_not_change() {
        let signer = crate::signing::ResultSigner::new("L", ed25519_dalek::SigningKey::from_bytes(&[9; 32]));
        let c = cp(200, &"e3".repeat(32), 20);
        let before = serde_json::json!({"schema": "lanectl.audit-checkpoint/1", "seq": c.seq, "hash": c.hash, "at": c.at});
        assert_eq!(signer.sign_json(&c).unwrap(), signer.sign_json(&before).unwrap());
        let got: crate::signing::Verified<AuditCheckpoint> =
            crate::signing::verify_payload(&signer.sign_json(&c).unwrap(), &[signer.key_entry()]).unwrap();
        assert_eq!(got.value, c);
    }
}
