//! Prometheus metrics, in the text exposition format (`GET /metrics`).
//!
//! Counted from what the lane publishes, not from hooks scattered through the
//! lane: [`Observed`] wraps the lane's publisher and reads passage records,
//! decisions and alarms on their way to the outbox. What a metric says is
//! therefore exactly what central received. Gauges that describe the present
//! (device health, outbox depth, uplink) are read when scraped, see [`Now`].
//!
//! Hand-written rather than a metrics crate: a dozen series, rendered on
//! request, with no global registry to share between tests.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use drivers::HealthState;

use crate::lane::Publish;
use crate::outbox::Depth;
use contract::decision::DecisionEvent;
use contract::lane::{Alarm, DeviceHealthEvent};
use contract::passage::PassageRecord;
use contract::Topics;

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
    stages: BTreeMap<String, Histogram>,
    total: Histogram,
    recognition: Histogram,
}

#[derive(Debug)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            inner: Mutex::new(Inner {
                passages: BTreeMap::new(),
                decisions: BTreeMap::new(),
                alarms: BTreeMap::new(),
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
            stages: self.stages.clone(),
            total: self.total.clone(),
            recognition: self.recognition.clone(),
        }
    }
}

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Label values may come from configuration (device names): escaped as the format says.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The present, read at scrape time.
pub struct Now {
    pub devices: Vec<DeviceHealthEvent>,
    pub outbox: Option<Depth>,
    pub now_ms: i64,
    pub uplink_connected: bool,
    pub loop_beats: u64,
    pub completed: u64,
}

impl Now {
    fn render(&self, out: &mut String) {
        head(out, "edge_device_up", "gauge", "1 when the device answers (ok or degraded), 0 when down.");
        for d in &self.devices {
            let up = u8::from(d.health.state != HealthState::Down);
            let _ = writeln!(
                out,
                "edge_device_up{{device=\"{}\",kind=\"{}\"}} {up}",
                esc(&d.device),
                esc(&d.kind)
            );
        }
        head(out, "edge_device_degraded", "gauge", "1 when the device answers with errors.");
        for d in &self.devices {
            let degraded = u8::from(d.health.state == HealthState::Degraded);
            let _ = writeln!(
                out,
                "edge_device_degraded{{device=\"{}\",kind=\"{}\"}} {degraded}",
                esc(&d.device),
                esc(&d.kind)
            );
        }
        if let Some(d) = &self.outbox {
            head(out, "edge_outbox_messages", "gauge", "Messages waiting in the outbox, by class.");
            for (class, n) in [("result", d.results), ("image", d.images), ("telemetry", d.telemetry)] {
                let _ = writeln!(out, "edge_outbox_messages{{class=\"{class}\"}} {n}");
            }
            head(out, "edge_outbox_bytes", "gauge", "Bytes waiting in the outbox.");
            let _ = writeln!(out, "edge_outbox_bytes {}", d.bytes);
            head(
                out,
                "edge_outbox_oldest_age_seconds",
                "gauge",
                "Age of the oldest message waiting; 0 when empty.",
            );
            let age = d.oldest_ms.map_or(0.0, |t| ((self.now_ms - t).max(0)) as f64 / 1000.0);
            let _ = writeln!(out, "edge_outbox_oldest_age_seconds {age}");
        }
        head(out, "edge_uplink_connected", "gauge", "1 while connected to the MQTT broker.");
        let _ = writeln!(out, "edge_uplink_connected {}", u8::from(self.uplink_connected));
        head(
            out,
            "edge_lane_loop_beats_total",
            "counter",
            "Beats of the lane's main loop; stands still when the loop hangs.",
        );
        let _ = writeln!(out, "edge_lane_loop_beats_total {}", self.loop_beats);
        head(out, "edge_info", "gauge", "The agent's version.");
        let _ = writeln!(out, "edge_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
    }
}

/// The lane's publisher, counting results on their way out.
pub struct Observed<P> {
    inner: P,
    metrics: Arc<Metrics>,
    passage: String,
    decision: String,
    alarm: String,
}

impl<P> Observed<P> {
    pub fn new(inner: P, metrics: Arc<Metrics>, topics: &Topics) -> Self {
        Observed {
            inner,
            metrics,
            passage: topics.passage(),
            decision: topics.decision(),
            alarm: topics.alarm(),
        }
    }

    /// `result`: published as a result (the first time). A record resent on
    /// central's request goes through `publish` and is not counted again.
    fn observe(&self, topic: &str, payload: &[u8], result: bool) {
        // Only the lane's own messages, a few per passage: parsing them is cheap.
        if result && topic == self.passage {
            if let Ok(r) = serde_json::from_slice::<PassageRecord>(payload) {
                self.metrics.passage(&r);
            }
        } else if result && topic == self.decision {
            if let Ok(d) = serde_json::from_slice::<DecisionEvent>(payload) {
                self.metrics.decision(&d);
            }
        } else if !result && topic == self.alarm {
            if let Ok(a) = serde_json::from_slice::<Alarm>(payload) {
                self.metrics.alarm(&a);
            }
        }
    }
}

impl<P: Publish> Publish for Observed<P> {
    fn publish(&self, topic: String, payload: Vec<u8>, retain: bool) -> bool {
        self.observe(&topic, &payload, false);
        self.inner.publish(topic, payload, retain)
    }

    fn publish_result(&self, topic: String, payload: Vec<u8>) -> bool {
        self.observe(&topic, &payload, true);
        self.inner.publish_result(topic, payload)
    }

    fn publish_file(&self, topic: String, file: PathBuf, offset: u64, len: u64) -> bool {
        self.inner.publish_file(topic, file, offset, len)
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
