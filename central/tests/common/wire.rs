//! The lane's wire format without a broker: a passage record (as the lane
//! builds it: captures with image references, reads, stages, decision) and
//! the decision event, unsigned. Shared by the synthetic test lane
//! (`lane.rs`) and the load benchmark (`benches/ingest_load.rs`, through
//! `#[path]`), so both speak exactly what central's schema check accepts.

use chrono::{DateTime, Utc};
use contract::image::ImageRef;
use serde_json::{json, Value};

/// One captured image: the device, the capture kind (`plate_image`,
/// `container_image`, `uvss_scan`) and the image's reference.
pub struct Capture {
    pub device: String,
    pub kind: &'static str,
    pub image: ImageRef,
}

/// The passage id the lane gives: `<lane>-<arrival time>-<seq, four digits at least>`.
pub fn passage_id(lane: &str, at: DateTime<Utc>, seq: u64) -> String {
    format!("{lane}-{}-{seq:04}", at.format("%Y%m%dT%H%M%S%3fZ"))
}

/// The passage record (unsigned) of passage `seq`, decided `outcome`.
pub fn passage_record(
    site: &str,
    lane: &str,
    id: &str,
    seq: u64,
    captures: &[Capture],
    outcome: &str,
) -> Value {
    let now = Utc::now();
    let captures: Vec<Value> = captures
        .iter()
        .map(|c| {
            let uvss = (c.kind == "uvss_scan").then(|| json!({"rows_per_metre": 40.0, "speed_kmh": 8.0}));
            json!({"device": c.device, "kind": c.kind, "outcome": "ok", "at": now, "error": null,
                   "uvss": uvss, "image": c.image})
        })
        .collect();
    let review_stage = if outcome == "release" {
        vec![]
    } else {
        vec![
            json!({"stage": "review", "started_at": now, "ended_at": now, "duration_ms": 4000 + seq, "outcome": "ok"}),
        ]
    };
    json!({
        "schema": "lanectl.passage/1", "id": id, "site": site, "lane": lane, "seq": seq,
        "arrived_at": now, "completed_at": now, "total_ms": 2000 + seq * 10,
        "stages": review_stage, "captures": captures,
        "reads": {"plates": [{"text": format!("沪A{:05}", seq % 100_000), "confidence": 0.97, "color": "blue", "cameras": ["cam-0"]}], "containers": [], "models": []},
        "recognition_error": null, "empty_check": null,
        "decision": decision(outcome, now),
        "review": null, "exit": "drove_through", "flags": []
    })
}

/// The decision event the lane sends as soon as it decided (unsigned).
pub fn decision_event(site: &str, lane: &str, passage: &str, seq: u64, outcome: &str) -> Value {
    json!({"passage": passage, "site": site, "lane": lane, "plate": format!("沪A{:05}", seq % 100_000),
           "containers": [], "decision": decision(outcome, Utc::now())})
}

fn decision(outcome: &str, at: DateTime<Utc>) -> Value {
    let reasons: Vec<&str> = if outcome == "release" { vec![] } else { vec!["low_confidence"] };
    json!({"outcome": outcome, "reasons": reasons, "checks": [], "by": "policy", "at": at})
}
