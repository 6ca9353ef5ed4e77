//! The gauges read at scrape time, and the counters the uplink and the outbox keep themselves.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use drivers::HealthState;

use super::{by_label, esc, head, single};
use crate::mqtt::LinkCounters;
use crate::outbox::{Counters as OutboxCounters, Depth};
use contract::lane::DeviceHealthEvent;

/// The data disk as the storage guard sees it.
#[derive(Debug, Clone, Copy)]
pub struct StorageNow {
    pub free: u64,
    pub floor: u64,
    pub full: bool,
}

/// The present, read at scrape time.
pub struct Now {
    pub devices: Vec<DeviceHealthEvent>,
    pub outbox: Option<Depth>,
    pub now_ms: i64,
    pub uplink_connected: bool,
    pub loop_beats: u64,
    pub completed: u64,
    pub link: Option<Arc<LinkCounters>>,
    pub outbox_counters: Option<Arc<OutboxCounters>>,
    pub storage: Option<StorageNow>,
}

impl Now {
    pub(super) fn render(&self, out: &mut String) {
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
        if let Some(c) = &self.link {
            self.render_link(out, c);
        }
        if let Some(c) = &self.outbox_counters {
            self.render_outbox(out, c);
        }
        if let Some(s) = &self.storage {
            self.render_storage(out, s);
        }
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

fn n(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

impl Now {
    fn render_link(&self, out: &mut String, c: &LinkCounters) {
        let connects = "Connections made to the broker (first and reconnects).";
        single(out, "edge_uplink_connects_total", "counter", connects, n(&c.connects));
        single(out, "edge_uplink_losses_total", "counter", "Connections to the broker lost.", n(&c.losses));
        let delivered = "Outbox messages the broker acknowledged.";
        single(out, "edge_uplink_delivered_total", "counter", delivered, n(&c.delivered));
        let inbound = "Messages from central by what became of them: handed to the lane, too large, \
                       dropped (queue full), on a topic the lane does not read.";
        let values = [
            ("command", n(&c.commands_in)),
            ("too_large", n(&c.too_large)),
            ("dropped_busy", n(&c.dropped_busy)),
            ("other_topic", n(&c.other_topic)),
        ];
        by_label(out, "edge_inbound_messages_total", inbound, "what", &values);
    }

    fn render_outbox(&self, out: &mut String, c: &OutboxCounters) {
        let retries = "Image-chunk reads that failed and were put off (the row is kept).";
        single(out, "edge_outbox_read_retries_total", "counter", retries, n(&c.read_retries));
        let evicted = [("telemetry", n(&c.telemetry_evicted)), ("delivered_image", n(&c.images_evicted))];
        by_label(
            out,
            "edge_outbox_evicted_total",
            "What the outbox gave back on a full disk.",
            "what",
            &evicted,
        );
        let refused = "Telemetry not stored: no room.";
        single(out, "edge_outbox_telemetry_refused_total", "counter", refused, n(&c.telemetry_refused));
        let lost = "Results the disk refused and memory could not hold (should stay 0).";
        single(out, "edge_outbox_results_lost_total", "counter", lost, n(&c.results_lost));
    }

    fn render_storage(&self, out: &mut String, s: &StorageNow) {
        single(out, "edge_storage_free_bytes", "gauge", "Free space on the data disk.", s.free);
        let floor = "Free space below which vehicles are held (storage_full).";
        single(out, "edge_storage_floor_bytes", "gauge", floor, s.floor);
        let full = "1 while the data disk is below its floor.";
        single(out, "edge_storage_full", "gauge", full, u8::from(s.full));
    }
}
