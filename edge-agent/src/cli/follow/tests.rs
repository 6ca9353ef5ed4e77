//! `follow`'s sentences and JSON lines for every kind of message a lane publishes.

use super::{describe, json_line};

#[test]
fn machine_topics_are_quiet_and_acks_are_sentences() {
    assert_eq!(describe("lanectl/S/L/image/ab12", b"{}"), "");
    assert_eq!(describe("lanectl/S/L/image/ab12/0", &[0xff, 0xd8]), "");
    assert_eq!(describe("lanectl/S/L/audit/checkpoint", b"{}"), "");
    let ack = br#"{"id":"c-1","accepted":false,"reason":"expired","detail":"expired at x","outcome":null,"at":"2026-11-23T09:00:00Z"}"#;
    let line = describe("lanectl/S/L/ack", ack);
    assert!(line.contains("command c-1 REJECTED (expired)"), "{line}");
    assert!(describe("lanectl/S/L/ack", b"garbage").contains("unreadable"));
}

#[test]
fn lane_ids_keep_their_case_and_states_are_words() {
    let status = br#"{"state":"online","site":"DEMO","lane":"G01","agent_version":"0.1.0","since":"2026-11-23T09:00:00Z","public_key":null,"key_id":null}"#;
    let line = describe("lanectl/DEMO/G01/status", status);
    assert!(line.starts_with("lane DEMO/G01 is online (since "), "{line}");
    let health = br#"{"device":"plate-front","kind":"area_camera","health":{"state":"degraded","reason":"slow answers","since":"2026-11-23T09:00:00Z"}}"#;
    let line = describe("lanectl/DEMO/G01/health/plate-front", health);
    assert!(line.ends_with("device plate-front (area camera): degraded (slow answers)"), "{line}");
    assert!(!line.contains("Degraded") && !line.contains("area_camera"), "{line}");
}

#[test]
fn one_passage_is_singular() {
    let stats = br#"{"schema":"lanectl.stats/1","site":"DEMO","lane":"G01","window_from":null,"window_to":null,"passages":1,"outcomes":{"release":1},"direct_release_ratio":1.0,"hold_reasons":{},"time_in_lane_ms":{"count":1,"mean":2573.0,"p95":2573},"stages_ms":{}}"#;
    let line = describe("lanectl/DEMO/G01/stats", stats);
    assert_eq!(line, "stats DEMO/G01: 1 passage, direct release 100.0 %, p95 time in lane 2.6s");
    assert_eq!(describe("lanectl/DEMO/G01/whatever", b"x"), "lanectl/DEMO/G01/whatever: 1 byte");
}

#[test]
fn held_vehicles_say_why_in_words() {
    let decision = r#"{"passage":"G01-20261123T090000000Z-0007","site":"DEMO","lane":"G01","plate":"苏R80828","containers":[],"decision":{"outcome":"hold","reasons":["low_confidence","device_down:uvss"],"checks":[],"by":"policy","at":"2026-11-23T09:00:00Z"}}"#;
    let line = describe("lanectl/DEMO/G01/decision", decision.as_bytes());
    assert!(
        line.contains("#0007  苏R80828")
            && line.ends_with("waiting: HOLD: low confidence, device down (uvss)"),
        "{line}"
    );
    let alarm = br#"{"kind":"tailgate","passage":"p","device":null,"message":"a second vehicle passed under the open barrier","at":"2026-11-23T09:00:00Z"}"#;
    assert!(describe("lanectl/DEMO/G01/alarm", alarm)
        .ends_with("ALARM tailgate: a second vehicle passed under the open barrier"));
}

#[test]
fn json_lines_are_json() {
    let v: serde_json::Value =
        serde_json::from_str(&json_line("a/b/status", br#"{"state":"online"}"#)).unwrap();
    assert_eq!(v["topic"], "a/b/status");
    assert_eq!(v["message"]["state"], "online");
    let v: serde_json::Value =
        serde_json::from_str(&json_line("a/b/image/x/0", &[0xff, 0xd8, 0x00])).unwrap();
    assert_eq!(v["bytes"], 3);
}
