//! The recovering parse on a small config of its own: every mistake once, in words.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::parse;
use crate::Reporter;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read by serde only: the tests look at the mistakes
struct Raw {
    lane: Option<Lane>,
    mqtt: Option<Mqtt>,
    timeouts: Option<Timeouts>,
    devices: Option<BTreeMap<String, Device>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Lane {
    site: Option<String>,
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Mqtt {
    port: Option<u16>,
    keepalive: Option<String>,
    max_packet_size: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Timeouts {
    review: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Device {
    kind: Option<String>,
}

fn errors(src: &str) -> (Option<Raw>, Vec<String>) {
    let mut r = Reporter::new(Path::new("t.toml"), src);
    let raw = parse::<Raw>(src, &mut r, &|k| k.starts_with("timeouts.") || k.ends_with(".keepalive"));
    (raw, r.diagnostics.iter().map(|d| format!("{}|{}", d.message, d.help)).collect())
}

#[test]
fn all_type_and_key_mistakes_are_reported_in_one_pass() {
    let src = "[lane]\nsite = \"S\"\nid = \"L\"\n[mqtt]\nport = \"1883\"\nkeepaliv = \"3s\"\nmax_packet_size = -5\n";
    let (raw, e) = errors(src);
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(raw.is_some(), "the rest of the file is still read");
    assert!(e.iter().any(|m| m == "unknown key `keepaliv` in [mqtt]|did you mean `keepalive`?"), "{e:?}");
    assert!(
        e.iter().any(|m| m
            == "`mqtt.port` must be a port number from 1 to 65535, not \"1883\" (text)|remove the quotes: port = 1883"),
        "{e:?}"
    );
    assert!(e.iter().any(|m| m.starts_with("`mqtt.max_packet_size` = -5 is out of range|")), "{e:?}");
    assert!(e.iter().all(|m| !m.contains("u16") && !m.contains("struct") && !m.contains("Raw")), "{e:?}");
}

#[test]
fn durations_and_tables_are_named_in_words() {
    let (_, e) = errors("[timeouts]\nreview = 600\n[devices]\nbarrier = 3\n");
    assert!(
        e.iter().any(|m| m.contains("`timeouts.review` must be a duration in quotes")
            && m.contains("review = \"600s\"")),
        "{e:?}"
    );
    assert!(e.iter().any(|m| m.contains("`devices.barrier` must be a table")), "{e:?}");
}

#[test]
fn an_unknown_table_is_called_one() {
    let (_, e) = errors("[mqt]\nport = 1\n");
    assert_eq!(e, vec!["unknown table [mqt]|did you mean `mqtt`?".to_string()]);
}

#[test]
fn syntax_errors_stop_the_run_with_a_fix() {
    let (raw, e) = errors("[lane]\nsite = \"S\nid = 1\n");
    assert!(raw.is_none());
    assert!(!e.is_empty() && e.iter().all(|m| m.contains('|')), "{e:?}");
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Strict {
    database: Database,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Database {
    url: String,
}

#[test]
fn a_missing_required_key_is_named_once_at_its_table() {
    let src = "[database]\nurl_ = \"postgres://x\"\n";
    let mut r = Reporter::new(Path::new("t.toml"), src);
    assert!(parse::<Strict>(src, &mut r, &|_| false).is_none());
    let e: Vec<String> = r.diagnostics.iter().map(|d| d.message.clone()).collect();
    assert_eq!(
        e,
        vec!["unknown key `url_` in [database]".to_string(), "[database] has no `url`".to_string()]
    );
}
