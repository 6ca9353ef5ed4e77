//! Prometheus metrics, in the text exposition format (`GET /metrics`).
//!
//! Counted where each event happens, from the typed value at hand: the lane
//! counts a passage when it completes it, a decision when it announces it, an
//! alarm when it raises it, a command when it answers it; the uplink and the
//! outbox keep their own counters (`LinkCounters`, `outbox::Counters`). Nothing
//! is parsed back out of the bytes on their way to the broker. Gauges that
//! describe the present (device health, outbox depth, uplink, disk) are read
//! when scraped, see [`Now`].
//!
//! Hand-written rather than a metrics crate: a dozen series, rendered on
//! request, with no global registry to share between tests.

mod now;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

pub use now::{Now, StorageNow};

use contract::command::CommandAck;
use contract::decision::DecisionEvent;
use contract::lane::Alarm;
use contract::passage::PassageRecord;

/// Seconds; from a 1 ms capture to a 10-minute review.
const STAGE_BUCKETS: &[f64] =
    &[0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0];
/// Seconds; recognition on the lane PC's CPU.
const INFERENCE_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram { bounds, counts: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }

    fn observe(&mut self, v: f64) {
        for (b, c) in self.bounds.iter().zip(&mut self.counts) {
            if v <= *b {
                *c += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Debug)]
struct Inner {
    passages: BTreeMap<(String, String), u64>,
    decisions: BTreeMap<(String, String), u64>,
    alarms: BTreeMap<String, u64>,
    /// (`accepted` / `rejected`, outcome or reason).
    commands: BTreeMap<(String, String), u64>,
    stages: BTreeMap<String, Histogram>,
    total: Histogram,
    recognition: Histogram,
}

#[derive(Debug)]
pub struct Metrics {
    inner: Mutex<Inner>,
    /// Unix ms since when the passage journal refuses the write the outlet waits on; 0 while it
    /// is written. Everything after that write waits too (see `lane::outlet`).
    journal_stalled_since_ms: AtomicI64,
    journal_write_failures: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            journal_stalled_since_ms: AtomicI64::new(0),
            journal_write_failures: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                passages: BTreeMap::new(),
                decisions: BTreeMap::new(),
                alarms: BTreeMap::new(),
                commands: BTreeMap::new(),
                stages: BTreeMap::new(),
                total: Histogram::new(STAGE_BUCKETS),
                recognition: Histogram::new(INFERENCE_BUCKETS),
            }),
        }
    }
}

/// serde's name for an enum value (`release`, `drove_through`), as labels use.
fn word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

fn ms(v: u64) -> f64 {
    v as f64 / 1000.0
}

impl Metrics {
    pub fn passage(&self, r: &PassageRecord) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let outcome = r.final_outcome().map_or("none".into(), |o| word(&o));
        let exit = r.exit.map_or("none".into(), |e| word(&e));
        *m.passages.entry((outcome, exit)).or_default() += 1;
        if let Some(t) = r.total_ms {
            m.total.observe(ms(t));
        }
        for s in &r.stages {
            if let Some(d) = s.duration_ms {
                m.stages
                    .entry(word(&s.stage))
                    .or_insert_with(|| Histogram::new(STAGE_BUCKETS))
                    .observe(ms(d));
                if s.stage == contract::passage::Stage::Recognition {
                    m.recognition.observe(ms(d));
                }
            }
        }
    }

    pub fn decision(&self, d: &DecisionEvent) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let outcome = word(&d.decision.outcome);
        let reasons: Vec<String> = match d.decision.reasons.is_empty() {
            true => vec!["none".into()],
            // `device_down:plate-front` → `device_down`: device names would
            // make a series per device; the device metrics say which.
            false => {
                d.decision.reasons.iter().map(|r| r.split(':').next().unwrap_or(r).to_string()).collect()
            }
        };
        for reason in reasons {
            *m.decisions.entry((outcome.clone(), reason)).or_default() += 1;
        }
    }

    pub fn alarm(&self, a: &Alarm) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *m.alarms.entry(word(&a.kind)).or_default() += 1;
    }

    /// A command from central answered (accepted or rejected).
    pub fn command(&self, ack: &CommandAck) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (result, why) = match ack.accepted {
            true => ("accepted", ack.outcome.clone().unwrap_or_else(|| "none".into())),
            false => ("rejected", ack.reason.clone().unwrap_or_else(|| "none".into())),
        };
        *m.commands.entry((result.into(), why)).or_default() += 1;
    }

    /// A journal write failed and will be tried again; `since_ms` is when the first of the
    /// writes in a row failed.
    pub fn journal_failed(&self, since_ms: i64) {
        self.journal_write_failures.fetch_add(1, Ordering::Relaxed);
        self.journal_stalled_since_ms.store(since_ms.max(1), Ordering::Relaxed);
    }

    /// The journal took the write the outlet was waiting on.
    pub fn journal_written(&self) {
        self.journal_stalled_since_ms.store(0, Ordering::Relaxed);
    }

    /// The whole exposition: counters and histograms so far, gauges from `now`.
    pub fn render(&self, now: &Now) -> String {
        let m = self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone_out();
        let mut out = String::with_capacity(8192);
        head(
            &mut out,
            "edge_passages_total",
            "counter",
            "Completed passages by final outcome and how the vehicle left.",
        );
        for ((outcome, exit), n) in &m.passages {
            let _ = writeln!(
                out,
                "edge_passages_total{{outcome=\"{}\",exit=\"{}\"}} {n}",
                esc(outcome),
                esc(exit)
            );
        }
        head(
            &mut out,
            "edge_decisions_total",
            "counter",
            "Lane decisions by outcome and reason (one count per reason).",
        );
        for ((outcome, reason), n) in &m.decisions {
            let _ = writeln!(
                out,
                "edge_decisions_total{{outcome=\"{}\",reason=\"{}\"}} {n}",
                esc(outcome),
                esc(reason)
            );
        }
        head(&mut out, "edge_alarms_total", "counter", "Alarms raised, by kind.");
        for (kind, n) in &m.alarms {
            let _ = writeln!(out, "edge_alarms_total{{kind=\"{}\"}} {n}", esc(kind));
        }
        head(
            &mut out,
            "edge_commands_total",
            "counter",
            "Commands from central, accepted (by outcome) or rejected (by reason).",
        );
        for ((result, why), n) in &m.commands {
            let _ = writeln!(out, "edge_commands_total{{result=\"{result}\",why=\"{}\"}} {n}", esc(why));
        }
        head(&mut out, "edge_stage_duration_seconds", "histogram", "Duration of each passage stage.");
        for (stage, h) in &m.stages {
            h.render(&mut out, "edge_stage_duration_seconds", &format!("stage=\"{}\"", esc(stage)));
        }
        head(&mut out, "edge_passage_duration_seconds", "histogram", "Arrival to completion of a passage.");
        m.total.render(&mut out, "edge_passage_duration_seconds", "");
        head(
            &mut out,
            "edge_recognition_seconds",
            "histogram",
            "Recognition (model inference on the captured images) per passage.",
        );
        m.recognition.render(&mut out, "edge_recognition_seconds", "");
        let since = self.journal_stalled_since_ms.load(Ordering::Relaxed);
        let stalled = if since == 0 { 0.0 } else { (now.now_ms - since).max(0) as f64 / 1000.0 };
        single(
            &mut out,
            "edge_journal_stalled_seconds",
            "gauge",
            "How long the passage journal has refused a write (0: written); records, decisions and alarms wait behind it.",
            stalled,
        );
        single(
            &mut out,
            "edge_journal_write_failures_total",
            "counter",
            "Passage journal writes that failed and were tried again.",
            self.journal_write_failures.load(Ordering::Relaxed),
        );
        now.render(&mut out);
        out
    }
}

impl Inner {
    fn clone_out(&self) -> Inner {
        Inner {
            passages: self.passages.clone(),
            decisions: self.decisions.clone(),
            alarms: self.alarms.clone(),
            commands: self.commands.clone(),
            stages: self.stages.clone(),
            total: self.total.clone(),
            recognition: self.recognition.clone(),
        }
    }
}

/// A series with one value and no labels.
pub(crate) fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    head(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// A series with one label, one value per label value.
pub(crate) fn by_label(out: &mut String, name: &str, help: &str, label: &str, values: &[(&str, u64)]) {
    head(out, name, "counter", help);
    for (v, n) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {n}", esc(v));
    }
}

pub(crate) fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Label values may come from configuration (device names): escaped as the format says.
pub(crate) fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests;
