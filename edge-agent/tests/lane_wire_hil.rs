//! The lane loop itself on wire-level devices (the `lane-sim` simulators,
//! in-process): Modbus loops and barrier on a PTY, the seal reader on a PTY,
//! UVSS and the empty-box detector over TCP, the plate camera over HTTP. What
//! the lane does when they are silent as it starts (health `down` published
//! with the reason; the barrier's position not assumed), when they answer
//! (`ok`, by itself, the barrier read), and with a vehicle it cannot read
//! (held, with the reason, captures from the real drivers in its record). The
//! decision table itself is tested on the in-process lane.

mod common;

use std::time::Duration;

use common::wire::{Book, WireLane};
use common::{outcome, reasons, runtime};
use hil_tests::sim::lane::LaneSimOptions;
use hil_tests::sim::modbus::ARRIVAL_INPUT;
use hil_tests::sim::Scenario;

/// Devices whose drivers notice silence while the lane is idle (polled loops,
/// heartbeats, status queries) and the barrier, read at start.
const WATCHED: [&str; 5] = ["arrival-loop", "arm-loop", "barrier", "uvss", "empty-box"];

fn all(h: &Book, state: &str) -> bool {
    WATCHED.iter().all(|d| h.get(*d).is_some_and(|(s, _)| s == state))
}

#[test]
fn devices_silent_at_start_are_down_then_come_back_and_an_unreadable_vehicle_is_held() {
    let rt = runtime();
    // No recognition models: every vehicle is held with that reason.
    let no_models = "\n[recognition]\nmodels_dir = \"/nonexistent/edge-agent-models\"\n";
    let mut lane = WireLane::start(
        &rt,
        |o| LaneSimOptions { scenario: Scenario::Silent, ..o },
        no_models,
        Duration::from_secs(20),
    );
    let (sim, watch) = (&lane.sim, &mut lane.watch);

    watch.until("every watched device down", |h, _, _| all(h, "down"));
    for d in WATCHED {
        let reason = watch.health[d].1.clone().unwrap_or_default();
        assert!(reason.len() > 10, "{d} is down with a reason: {reason:?}");
    }
    sim.ctl.set(Scenario::Normal);
    watch.until("every watched device ok, by itself", |h, _, _| all(h, "ok"));

    // A vehicle on the arrival loop: captured through the real drivers, held.
    sim.gate.set_input(ARRIVAL_INPUT, true);
    sim.uvss.drive_over();
    let (_, decision) = watch.until("a decision", |_, t, _| t.ends_with("/decision"));
    assert_eq!(decision["decision"]["outcome"], "hold", "{decision}");
    sim.gate.set_input(ARRIVAL_INPUT, false);
    let (_, record) = watch.until("the passage record", |_, t, _| t.ends_with("/passage"));
    assert_eq!(outcome(&record), "hold", "{record:#}");
    assert!(reasons(&record).contains(&"recognition_failed"), "{:?}", reasons(&record));
    assert_eq!(record["exit"], "left_unreleased");
    let captured = |device: &str| {
        record["captures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["device"] == device)
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        captured("plate")["image"].is_object(),
        "the plate camera's snapshot over HTTP: {}",
        captured("plate")
    );
    assert_eq!(
        captured("seals")["seals"].as_array().map(Vec::len),
        Some(2),
        "seals over the PTY: {}",
        captured("seals")
    );
    assert!(sim.gate.input(1), "the barrier never opened for a held vehicle");

    lane.stop(&rt);
}
