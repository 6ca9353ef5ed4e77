//! A passage's whole story in one timeline: the lane's signed trail (its
//! stages with start and end, its decision, a person's review, the exit, its
//! alarms and its acks) merged with central's actions (claims, decisions,
//! corrections, takeovers from the audit log; the commands sent). Entries are
//! structured, not sentences: the page words them in the user's language.

use serde_json::{json, Value};

use crate::db::sql::{self, PgPool};
use crate::error::Result;

pub struct Story {
    /// Oldest first; each `{at, source: lane|central, kind, ...}`.
    pub events: Vec<Value>,
    /// The commands central sent about the passage, with their acks.
    pub commands: Vec<Value>,
}

fn at(v: &Value) -> String {
    v["at"].as_str().unwrap_or_default().to_string()
}

pub async fn of(pool: &PgPool, (site, lane, passage): (&str, &str, &str), record: &Value) -> Result<Story> {
    let mut events = Vec::new();
    let lane_event = |kind: &str, at: &Value, extra: Value| {
        let mut e = json!({"at": at, "source": "lane", "kind": kind});
        if let (Some(e), Value::Object(x)) = (e.as_object_mut(), extra) {
            e.extend(x);
        }
        e
    };
    if record["arrived_at"].is_string() {
        events.push(lane_event("arrived", &record["arrived_at"], json!({})));
    }
    for s in record["stages"].as_array().into_iter().flatten() {
        events.push(lane_event(
            "stage",
            &s["started_at"],
            json!({"stage": s["stage"], "ended_at": s["ended_at"], "ms": s["duration_ms"], "outcome": s["outcome"]}),
        ));
    }
    for (kind, d) in [("decision", &record["decision"]), ("review", &record["review"])] {
        if d.is_object() {
            events.push(lane_event(
                kind,
                &d["at"],
                json!({"outcome": d["outcome"], "reasons": d["reasons"], "by": d["by"]}),
            ));
        }
    }
    if record["completed_at"].is_string() {
        events.push(lane_event(
            "completed",
            &record["completed_at"],
            json!({"exit": record["exit"], "flags": record["flags"]}),
        ));
    }
    let alarms: Vec<Value> = sql::query_scalar(
        "SELECT jsonb_build_object('at', raised_at, 'source', source, 'kind', 'alarm', 'alarm', kind, 'message', message) \
         FROM alarms WHERE site = $1 AND lane = $2 AND passage_id = $3",
    )
    .bind(site)
    .bind(lane)
    .bind(passage)
    .fetch_all(pool)
    .await?;
    events.extend(alarms);
    let commands: Vec<Value> = sql::query_scalar(
        "SELECT jsonb_build_object('id', c.id, 'action', c.action_type, 'issued_by', c.issued_by, 'issued_at', c.issued_at, \
           'expires_at', c.expires_at, 'state', c.state, 'outcome', c.outcome, 'reason', c.reason, 'detail', c.detail, \
           'acked_at', c.acked_at, 'review_reason', r.reason, 'comment', r.comment) \
         FROM commands c LEFT JOIN desk_reviews r ON r.command_id = c.id \
         WHERE c.site = $1 AND c.lane = $2 AND c.passage_id = $3 ORDER BY c.issued_at",
    )
    .bind(site)
    .bind(lane)
    .bind(passage)
    .fetch_all(pool)
    .await?;
    for c in &commands {
        events.push(
            json!({"at": c["issued_at"], "source": "central", "kind": "command_sent", "action": c["action"],
                           "by": c["issued_by"], "id": c["id"]}),
        );
        if c["acked_at"].is_string() {
            events.push(json!({"at": c["acked_at"], "source": "lane", "kind": "ack", "id": c["id"],
                               "state": c["state"], "outcome": c["outcome"], "reason": c["reason"], "detail": c["detail"]}));
        } else if c["state"] == "expired" {
            events
                .push(json!({"at": c["expires_at"], "source": "central", "kind": "expired", "id": c["id"]}));
        }
    }
    for a in super::audit::for_passage(pool, site, lane, passage).await? {
        events.push(json!({"at": a["at"], "source": "central", "kind": "audit", "action": a["action"],
                           "by": a["actor"], "detail": a["detail"], "seq": a["seq"]}));
    }
    // RFC 3339 in UTC from both sides sorts as text once the fraction is even.
    events.sort_by_key(|e| normalise(&at(e)));
    Ok(Story { events, commands })
}

/// `2026-01-02T03:04:05.1Z` and `...05.100000+00:00` compare equal.
fn normalise(t: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(d) => d.with_timezone(&chrono::Utc).format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        Err(_) => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_from_postgres_and_from_records_sort_together() {
        let a = super::normalise("2026-01-02T03:04:05.1Z");
        let b = super::normalise("2026-01-02T03:04:05.100000+00:00");
        let c = super::normalise("2026-01-02T11:04:05.05+08:00");
        assert_eq!(a, b);
        assert!(c < a);
    }
}
