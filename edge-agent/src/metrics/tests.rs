//! Tests of the metrics: series counted where each event happens, rendered in the Prometheus text format.

use std::sync::Arc;

use chrono::Utc;
use drivers::Health;

use super::*;
use crate::outbox::Depth;
use contract::command::CommandAck;
use contract::decision::{DecisionEvent, DecisionRecord, Outcome};
use contract::lane::DeviceHealthEvent;
use contract::passage::{ExitKind, PassageRecord, Stage, StageRecord, PASSAGE_SCHEMA};

fn record(outcome: Outcome, recognition_ms: u64) -> PassageRecord {
    let at = Utc::now();
    let stage = |stage, ms| StageRecord {
        stage,
        started_at: at,
        ended_at: Some(at),
        duration_ms: Some(ms),
        outcome: None,
    };
    PassageRecord {
        schema: PASSAGE_SCHEMA.into(),
        id: "G01-1".into(),
        site: "S".into(),
        lane: "G01".into(),
        seq: 1,
        arrived_at: at,
        completed_at: Some(at),
        total_ms: Some(2400),
        stages: vec![stage(Stage::Capture, 3), stage(Stage::Recognition, recognition_ms)],
        captures: vec![],
        reads: None,
        recognition_error: None,
        empty_check: None,
        uvss: None,
        empty_image: None,
        decision: Some(DecisionRecord { outcome, reasons: vec![], checks: vec![], by: "policy".into(), at }),
        review: None,
        exit: Some(ExitKind::DroveThrough),
        flags: vec![],
    }
}

fn now() -> Now {
    let down = DeviceHealthEvent {
        device: "plate \"front\"".into(),
        kind: "area_camera".into(),
        health: Health::down(Utc::now(), String::from("unplugged")),
    };
    let ok = DeviceHealthEvent {
        device: "barrier".into(),
        kind: "barrier".into(),
        health: Health::ok(Utc::now()),
    };
    Now {
        devices: vec![down, ok],
        outbox: Some(Depth {
            messages: 3,
            bytes: 300,
            results: 1,
            images: 2,
            telemetry: 0,
            file_bytes: 0,
            oldest_ms: Some(1_000),
        }),
        now_ms: 6_000,
        uplink_connected: true,
        loop_beats: 7,
        completed: 1,
        link: None,
        outbox_counters: None,
        storage: Some(StorageNow { free: 10, floor: 5, full: false }),
    }
}

#[test]
fn counts_histograms_and_gauges_render_as_prometheus_text() {
    let m = Metrics::default();
    m.passage(&record(Outcome::Release, 40));
    m.passage(&record(Outcome::Release, 700));
    let text = m.render(&now());
    assert!(text.contains("edge_passages_total{outcome=\"release\",exit=\"drove_through\"} 2\n"), "{text}");
    // 40 ms and 700 ms: one at or below 50 ms, both at or below 1 s.
    assert!(text.contains("edge_recognition_seconds_bucket{le=\"0.05\"} 1\n"), "{text}");
    assert!(text.contains("edge_recognition_seconds_bucket{le=\"1\"} 2\n"), "{text}");
    assert!(text.contains("edge_recognition_seconds_bucket{le=\"+Inf\"} 2\n"), "{text}");
    assert!(text.contains("edge_recognition_seconds_sum 0.74"), "{text}");
    assert!(text.contains("edge_stage_duration_seconds_count{stage=\"capture\"} 2\n"), "{text}");
    assert!(
        text.contains("edge_device_up{device=\"plate \\\"front\\\"\",kind=\"area_camera\"} 0\n"),
        "label escaped: {text}"
    );
    assert!(text.contains("edge_device_up{device=\"barrier\",kind=\"barrier\"} 1\n"), "{text}");
    assert!(text.contains("edge_outbox_oldest_age_seconds 5\n"), "{text}");
    assert!(text.contains("edge_outbox_messages{class=\"image\"} 2\n"), "{text}");
    // Every series has its TYPE line before it.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        let base = name.trim_end_matches("_bucket").trim_end_matches("_sum").trim_end_matches("_count");
        assert!(
            text.contains(&format!("# TYPE {base} ")) || text.contains(&format!("# TYPE {name} ")),
            "no TYPE for {name}"
        );
    }
}

#[test]
fn decisions_count_once_per_reason_without_device_names() {
    let m = Metrics::default();
    let mut d = record(Outcome::Hold, 1).decision.unwrap();
    d.reasons = vec!["low_confidence".into(), "device_down:plate-front".into()];
    let event = DecisionEvent {
        passage: "p".into(),
        site: "S".into(),
        lane: "G01".into(),
        plate: None,
        containers: vec![],
        decision: d,
        snapshot: None,
    };
    m.decision(&event);
    let text = m.render(&now());
    assert!(text.contains("edge_decisions_total{outcome=\"hold\",reason=\"low_confidence\"} 1\n"), "{text}");
    assert!(text.contains("edge_decisions_total{outcome=\"hold\",reason=\"device_down\"} 1\n"), "{text}");
}

#[test]
fn commands_count_by_outcome_or_reason_and_link_counters_render() {
    let m = Metrics::default();
    let ack = |accepted: bool, why: &str| CommandAck {
        id: None,
        accepted,
        reason: (!accepted).then(|| why.to_string()),
        detail: String::new(),
        outcome: accepted.then(|| why.to_string()),
        at: Utc::now(),
    };
    m.command(&ack(false, "too_large"));
    m.command(&ack(false, "too_large"));
    m.command(&ack(true, "released"));
    let link = Arc::new(crate::mqtt::LinkCounters::default());
    link.too_large.fetch_add(2, std::sync::atomic::Ordering::SeqCst);
    let text = m.render(&Now { link: Some(link), ..now() });
    assert!(text.contains("edge_commands_total{result=\"rejected\",why=\"too_large\"} 2\n"), "{text}");
    assert!(text.contains("edge_commands_total{result=\"accepted\",why=\"released\"} 1\n"), "{text}");
    assert!(text.contains("edge_inbound_messages_total{what=\"too_large\"} 2\n"), "{text}");
}
