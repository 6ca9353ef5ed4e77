//! Signed records: passages and decisions. Verified first (`verify_on_topic`),
//! then stored exactly once by their natural key, with the payload kept byte
//! for byte so anyone can verify the signature again later.

use contract::decision::{DecisionEvent, Outcome as Decision};
use contract::passage::PassageRecord;

use super::{is_data_error, word, Ingest, IngestError, Outcome};
use crate::db::sql::{self, Transaction};

/// Every image a record refers to: (sha256, device, role), each once.
pub fn image_refs(r: &PassageRecord) -> Vec<(String, String, &'static str)> {
    let mut out: Vec<_> =
        r.images().into_iter().map(|i| (i.image.sha256.clone(), i.camera, i.role)).collect();
    out.sort();
    out.dedup();
    out
}

impl Ingest {
    pub(super) async fn passage(
        &self,
        topic: &str,
        site: &str,
        lane: &str,
        payload: &[u8],
    ) -> Result<Outcome, IngestError> {
        let verified = match self.verify_on_topic::<PassageRecord>(topic, site, lane, payload).await? {
            Ok(v) => v,
            Err(quarantined) => return Ok(quarantined),
        };
        let r = &verified.value;
        let record: serde_json::Value = serde_json::from_slice(payload).expect("verified records are JSON");
        let mut tx = self.pool.begin().await?;
        match insert_passage(&mut tx, r, &verified.signature.key_id, &record, payload, &self.instance).await {
            Ok(true) => {}
            Ok(false) => return Ok(Outcome::Duplicate),
            Err(e) if is_data_error(&e) => return Ok(self.refuse("unstorable", topic, &e.to_string())),
            Err(e) => return Err(e.into()),
        }
        for (sha, device, role) in image_refs(r) {
            sql::query(
                "INSERT INTO passage_images (site, lane, passage_id, sha256, device, role) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(site)
            .bind(lane)
            .bind(&r.id)
            .bind(sha)
            .bind(device)
            .bind(role)
            .execute(&mut *tx)
            .await?;
        }
        // Completeness counts from the first seq central saw of this lane.
        sql::query(
            "UPDATE lanes SET first_seq = LEAST(COALESCE(first_seq, $3), $3), last_seq = GREATEST(COALESCE(last_seq, $3), $3) \
             WHERE site = $1 AND lane = $2",
        )
        .bind(site)
        .bind(lane)
        .bind(r.seq as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.metrics.add("passages_stored_total", 1);
        Ok(Outcome::Stored)
    }

    pub(super) async fn decision(
        &self,
        topic: &str,
        site: &str,
        lane: &str,
        payload: &[u8],
    ) -> Result<Outcome, IngestError> {
        let verified = match self.verify_on_topic::<DecisionEvent>(topic, site, lane, payload).await? {
            Ok(v) => v,
            Err(quarantined) => return Ok(quarantined),
        };
        let d = &verified.value;
        let record: serde_json::Value = serde_json::from_slice(payload).expect("verified records are JSON");
        let done = sql::query(
            "INSERT INTO decisions (site, lane, passage_id, outcome, reasons, decided_by, decided_at, plate, containers, key_id, record, payload) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING",
        )
        .bind(site)
        .bind(lane)
        .bind(&d.passage)
        .bind(word(&d.decision.outcome))
        .bind(&d.decision.reasons)
        .bind(&d.decision.by)
        .bind(d.decision.at)
        .bind(&d.plate)
        .bind(&d.containers)
        .bind(&verified.signature.key_id)
        .bind(&record)
        .bind(payload)
        .execute(&self.pool)
        .await;
        match done {
            Ok(d) if d.rows_affected() == 1 => Ok(Outcome::Stored),
            Ok(_) => Ok(Outcome::Duplicate),
            Err(e) if is_data_error(&e) => Ok(self.refuse("unstorable", topic, &e.to_string())),
            Err(e) => Err(e.into()),
        }
    }
}

/// How long the held vehicle waited for a person's decision: from the lane's hold to the
/// review it ended with. Not the review stage's length: that runs until the vehicle left, and
/// after a reviewer's inspection or hold it measures the inspection, not the reviewer. None
/// without a review (the vehicle left undecided).
fn review_wait_ms(r: &PassageRecord) -> Option<i64> {
    let (held, review) = (r.decision.as_ref()?, r.review.as_ref()?);
    Some((review.at - held.at).num_milliseconds().max(0))
}

/// True when the passage is new.
async fn insert_passage(
    tx: &mut Transaction<'_>,
    r: &PassageRecord,
    key_id: &str,
    record: &serde_json::Value,
    payload: &[u8],
    instance: &str,
) -> Result<bool, sql::Error> {
    let lane_outcome = r.decision.as_ref().map(|d| word(&d.outcome));
    let direct = r.review.is_none() && r.decision.as_ref().is_some_and(|d| d.outcome == Decision::Release);
    let review_ms = review_wait_ms(r);
    let done = sql::query(
        "INSERT INTO passages (site, lane, id, seq, arrived_at, completed_at, total_ms, plate, containers, \
         lane_outcome, lane_reasons, review_outcome, review_by, final_outcome, direct_release, review_ms, exit, flags, \
         key_id, record, payload, received_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) \
         ON CONFLICT (site, lane, id) DO NOTHING",
    )
    .bind(&r.site)
    .bind(&r.lane)
    .bind(&r.id)
    .bind(r.seq as i64)
    .bind(r.arrived_at)
    .bind(r.completed_at)
    .bind(r.total_ms.map(|v| v as i64))
    .bind(r.plate())
    .bind(r.container_codes())
    .bind(lane_outcome)
    .bind(r.decision.as_ref().map(|d| d.reasons.clone()).unwrap_or_default())
    .bind(r.review.as_ref().map(|d| word(&d.outcome)))
    .bind(r.review.as_ref().map(|d| d.by.clone()))
    .bind(r.final_outcome().map(|o| word(&o)))
    .bind(direct)
    .bind(review_ms)
    .bind(r.exit.as_ref().map(word))
    .bind(r.flags.iter().map(word).collect::<Vec<_>>())
    .bind(key_id)
    .bind(record)
    .bind(payload)
    .bind(instance)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(review_after_s: Option<i64>, left_after_s: i64) -> PassageRecord {
        let held = chrono::Utc::now();
        let at = |s: i64| held + chrono::Duration::seconds(s);
        let decision = |outcome: &str, by: &str, t| json!({"outcome": outcome, "reasons": [], "checks": [], "by": by, "at": t});
        serde_json::from_value(json!({
            "schema": "lanectl.passage/1", "id": "G01-1", "site": "S", "lane": "G01", "seq": 1,
            "arrived_at": held, "completed_at": at(left_after_s), "total_ms": 1000,
            "stages": [{"stage": "review", "started_at": held, "ended_at": at(left_after_s),
                        "duration_ms": left_after_s * 1000, "outcome": "ok"}],
            "captures": [], "reads": {"plates": [], "containers": [], "models": []},
            "recognition_error": null, "empty_check": null,
            "decision": decision("hold", "policy", held),
            "review": review_after_s.map(|s| decision("inspection", "central:li", at(s))),
            "exit": "left_unreleased", "flags": []
        }))
        .expect("a passage record")
    }

    #[test]
    fn review_time_is_the_wait_for_the_reviewer_not_the_vehicle() {
        // Sent to inspection after 19 s, the vehicle left 5 minutes after the hold.
        assert_eq!(review_wait_ms(&record(Some(19), 300)), Some(19_000));
        assert_eq!(review_wait_ms(&record(None, 300)), None, "left undecided: no review time");
    }
}
