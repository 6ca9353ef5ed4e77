//! Prometheus metrics (`GET /metrics`, text format), hand-written like the
//! lane's: a few dozen series rendered on request, no global registry, so each
//! test's instance counts only its own.
//!
//! Every message ingested is counted by its leaf and what became of it
//! (`stored`, `duplicate`, `quarantined`, `refused`), and every kind of bad
//! input by name, so a flood of garbage shows as a number, not a log storm.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// (leaf, outcome) -> messages.
    messages: BTreeMap<(String, String), u64>,
    /// bad-input kind -> count.
    bad_input: BTreeMap<String, u64>,
    /// Transient failures (database or store refusing): the message was kept
    /// unacknowledged and tried again.
    retries: BTreeMap<String, u64>,
    counters: BTreeMap<&'static str, u64>,
    gauges: BTreeMap<&'static str, f64>,
    /// Last time a warning of this kind was logged, for the rate limit.
    logged: BTreeMap<String, Instant>,
    suppressed: BTreeMap<String, u64>,
}

/// One warning per kind per this long; the rest only counted.
const LOG_EVERY: Duration = Duration::from_secs(10);

impl Metrics {
    pub fn message(&self, leaf: &str, outcome: &str) {
        let mut m = self.inner.lock().expect("metrics lock");
        *m.messages.entry((leaf.into(), outcome.into())).or_default() += 1;
    }

    /// Counts bad input of `kind` and logs it, at most once per kind per 10 s.
    pub fn bad_input(&self, kind: &str, topic: &str, detail: &str) {
        let mut m = self.inner.lock().expect("metrics lock");
        *m.bad_input.entry(kind.into()).or_default() += 1;
        let now = Instant::now();
        let due = m.logged.get(kind).is_none_or(|t| now.duration_since(*t) >= LOG_EVERY);
        if due {
            let suppressed = m.suppressed.remove(kind).unwrap_or(0);
            m.logged.insert(kind.into(), now);
            drop(m);
            tracing::warn!(kind, topic, detail, suppressed, "bad input");
        } else {
            *m.suppressed.entry(kind.into()).or_default() += 1;
        }
    }

    pub fn retry(&self, what: &str) {
        *self.inner.lock().expect("metrics lock").retries.entry(what.into()).or_default() += 1;
    }

    pub fn add(&self, counter: &'static str, n: u64) {
        *self.inner.lock().expect("metrics lock").counters.entry(counter).or_default() += n;
    }

    pub fn set(&self, gauge: &'static str, v: f64) {
        self.inner.lock().expect("metrics lock").gauges.insert(gauge, v);
    }

    pub fn bad_input_count(&self, kind: &str) -> u64 {
        self.inner.lock().expect("metrics lock").bad_input.get(kind).copied().unwrap_or(0)
    }

    pub fn counter(&self, counter: &str) -> u64 {
        self.inner.lock().expect("metrics lock").counters.get(counter).copied().unwrap_or(0)
    }

    pub fn render(&self) -> String {
        let m = self.inner.lock().expect("metrics lock");
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP central_messages_total MQTT messages ingested, by leaf and what became of them."
        );
        let _ = writeln!(out, "# TYPE central_messages_total counter");
        for ((leaf, outcome), n) in &m.messages {
            let _ = writeln!(out, "central_messages_total{{leaf=\"{leaf}\",outcome=\"{outcome}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP central_bad_input_total Refused or quarantined input, by kind.");
        let _ = writeln!(out, "# TYPE central_bad_input_total counter");
        for (kind, n) in &m.bad_input {
            let _ = writeln!(out, "central_bad_input_total{{kind=\"{kind}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP central_ingest_retries_total Messages kept unacknowledged and retried (database or store refusing).");
        let _ = writeln!(out, "# TYPE central_ingest_retries_total counter");
        for (what, n) in &m.retries {
            let _ = writeln!(out, "central_ingest_retries_total{{what=\"{what}\"}} {n}");
        }
        for (name, n) in &m.counters {
            let _ = writeln!(out, "# TYPE central_{name} counter\ncentral_{name} {n}");
        }
        for (name, v) in &m.gauges {
            let _ = writeln!(out, "# TYPE central_{name} gauge\ncentral_{name} {v}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_is_counted_every_time_and_logged_rarely() {
        let m = Metrics::default();
        for _ in 0..1000 {
            m.bad_input("malformed_json", "lanectl/S/L/passage", "expected value");
        }
        assert_eq!(m.bad_input_count("malformed_json"), 1000);
        let inner = m.inner.lock().unwrap();
        assert_eq!(inner.suppressed["malformed_json"], 999, "one log line, the rest counted");
        drop(inner);
        m.message("passage", "stored");
        let text = m.render();
        assert!(text.contains("central_bad_input_total{kind=\"malformed_json\"} 1000"), "{text}");
        assert!(text.contains("central_messages_total{leaf=\"passage\",outcome=\"stored\"} 1"));
    }
}
