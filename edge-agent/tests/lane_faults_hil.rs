//! Every fault the wire-level simulators can play, one device at a time, and
//! what the LANE does about it (the drivers' own reactions are in hil-tests).
//!
//! Each row of the table is one lane on its own simulators (own PTYs and
//! ports), where only the device under test misbehaves: the seal reader on a
//! PTY, the empty-box detector and UVSS over TCP, the plate camera over HTTP,
//! the barrier controller and loops on one Modbus PTY. Per row the test checks
//! the health published for the device (not `ok`, with a reason), that a
//! vehicle arriving during the fault is held with a reason naming the device
//! when the fault makes it unusable (`device_down:<name>` whenever the lane
//! has it down, the policy's rule), that the barrier never opens without a
//! release and is never closed on an occupied loop, and that once the fault
//! clears the device is `ok` again and the next vehicle is handled without
//! any reason naming it.
//!
//! The stuck barrier needs a release to show: the held vehicle is released
//! by a signed command, the arm does not move, the lane raises the barrier
//! fault and keeps the vehicle for a person; once the arm moves again a second
//! release lets it through and the arm closes behind it, never on it.
//!
//! The rows of a device class run concurrently, each on its own runtime; the
//! recognition models are left out so every vehicle is held (the reason
//! `recognition_failed`), which keeps the barrier's expected state simple.

mod common;

use std::time::Duration;

use common::wire::{Watch, WireLane};
use common::{reasons, runtime};
use edge_agent::lane::LaneView;
use hil_tests::sim::lane::{LaneSim, LaneSimOptions, SimDevice};
use hil_tests::sim::modbus::{ARRIVAL_INPUT, CLOSED_INPUT, EXIT_INPUT, OPENED_INPUT, UNDER_ARM_INPUT};
use hil_tests::sim::Scenario;
use serde_json::Value;

/// How long a step may take before the test fails; each wait ends at the signal it waits for.
const PATIENCE: Duration = Duration::from_secs(45);

const NO_MODELS: &str = "\n[recognition]\nmodels_dir = \"/nonexistent/edge-agent-models\"\n";

/// The Modbus devices of the lane file: all on the one bus.
const MODBUS: &[&str] = &["arrival-loop", "arm-loop", "exit-loop", "barrier"];

/// What a device's fault must do to the lane.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Noticed (down or degraded, with a reason); a vehicle during it is held
    /// with a reason naming the device.
    Unusable,
    /// Noticed (down or degraded, with a reason); a vehicle during it is held
    /// on the device's account only while it is down. The empty-box detector
    /// answering only in truncated or corrupt frames is `degraded` by the
    /// drivers' rule (something comes back), and its verdict matters to the
    /// decision only for a vehicle declared empty, which these are not.
    Noticed,
    /// Degraded with a reason, yet its data still arrives: a vehicle during
    /// it is not held on the device's account.
    StillWorks,
    /// Skipped by the driver, at most `degraded` (garbage around good frames
    /// on the Modbus bus, from the UVSS camera and the seal reader is dropped
    /// and the frames read; whether a retry shows depends on where the random
    /// bytes fall): the lane carries on, the vehicle is not held on its account.
    Unseen,
    /// A link that comes and goes: noticed, then back; whether a vehicle in
    /// between catches it down depends on timing, so only the decision's
    /// consistency with the health is checked.
    Flapping,
}

struct Row {
    device: SimDevice,
    /// The lane's devices on that simulator, and the one whose health shows the fault.
    names: &'static [&'static str],
    shows: &'static str,
    scenario: Scenario,
    expect: Expect,
}

/// Whether the lane notices trouble with no vehicle around (polled loops,
/// status queries, the UVSS heartbeat going quiet), or only when it captures
/// (the UVSS camera's mangled frames arrive with a scan).
fn watched_when_idle(row: &Row) -> bool {
    match row.device {
        SimDevice::Modbus => row.expect != Expect::Unseen,
        SimDevice::EmptyBox => true,
        SimDevice::Uvss => matches!(row.scenario, Scenario::Silent | Scenario::Disconnect),
        SimDevice::Seal | SimDevice::Camera => false,
    }
}

/// The five wire faults for one simulator.
fn wire_rows(
    device: SimDevice,
    names: &'static [&'static str],
    shows: &'static str,
    garbage: Expect,
) -> Vec<Row> {
    [
        (Scenario::Garbage, garbage),
        (Scenario::Truncated, Expect::Unusable),
        (Scenario::BadCrc, Expect::Unusable),
        (Scenario::Silent, Expect::Unusable),
        (Scenario::Disconnect, Expect::Flapping),
    ]
    .into_iter()
    .map(|(scenario, expect)| Row { device, names, shows, scenario, expect })
    .collect()
}

/// A vehicle over the arrival loop and the UVSS camera until the lane decides,
/// then gone without a release: the decision and the passage record.
fn vehicle(sim: &LaneSim, watch: &mut Watch) -> (Value, Value) {
    sim.gate.set_input(ARRIVAL_INPUT, true);
    sim.uvss.drive_over();
    let (_, decision) = watch.until("a decision", |_, t, _| t.ends_with("/decision"));
    sim.gate.set_input(ARRIVAL_INPUT, false);
    let (_, record) = watch.until("the passage record", |_, t, _| t.ends_with("/passage"));
    (decision, record)
}

/// Reasons in `decision` that name one of `names` (`device_down:x`, `capture_failed:x`, ...).
fn naming<'a>(decision: &'a Value, names: &[&str]) -> Vec<&'a str> {
    reasons(decision)
        .into_iter()
        .filter(|r| r.split_once(':').is_some_and(|(_, d)| names.contains(&d)))
        .collect()
}

/// The barrier as the simulator has it: never opened (nothing was released),
/// never closed on an occupied loop.
fn barrier_untouched(sim: &LaneSim, when: &str) {
    assert!(!sim.gate.input(OPENED_INPUT), "{when}: the barrier opened without a release");
    assert_eq!(
        sim.gate.closes_while_occupied.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "{when}: a close while occupied"
    );
}

fn run_row(row: &Row) {
    let rt = runtime();
    let mut lane = WireLane::start(
        &rt,
        |o| LaneSimOptions { scenario: row.scenario, only: Some(row.device), ..o },
        NO_MODELS,
        PATIENCE,
    );
    let (sim, watch) = (&lane.sim, &mut lane.watch);
    let shows = row.shows;
    let noticed = |h: &common::wire::Book, _: &str, _: &Value| h.get(shows).is_some_and(|(s, _)| s != "ok");

    // The fault, noticed: by itself, or when a vehicle makes the lane capture.
    let during = if watched_when_idle(row) {
        watch.until("the fault noticed", noticed);
        // A vehicle cannot be seen on a bus that does not answer.
        (row.device != SimDevice::Modbus && row.expect != Expect::Flapping).then(|| vehicle(sim, watch))
    } else {
        Some(vehicle(sim, watch))
    };
    if let Some((decision, record)) = &during {
        assert_eq!(decision["decision"]["outcome"], "hold", "{decision}");
        assert_eq!(record["exit"], "left_unreleased", "{record}");
        let named = naming(decision, row.names);
        let down = watch.state(shows) == "down";
        if down {
            assert!(
                named.contains(&format!("device_down:{shows}").as_str()),
                "{shows} is down: held for it, {named:?}"
            );
        }
        match row.expect {
            Expect::Unusable => assert!(!named.is_empty(), "held for {shows}: {:?}", reasons(decision)),
            Expect::StillWorks | Expect::Unseen => {
                assert!(named.is_empty(), "its data still arrives: {named:?}")
            }
            Expect::Flapping | Expect::Noticed => {}
        }
    }
    if !matches!(row.expect, Expect::Flapping | Expect::Unseen) {
        let (state, reason) =
            watch.health.get(shows).cloned().unwrap_or_else(|| panic!("no health for {shows}"));
        assert_ne!(state, "ok", "{shows} under {}", row.scenario);
        assert!(reason.is_some_and(|r| r.len() > 10), "{shows} is {state} with a reason");
    }
    barrier_untouched(sim, "during the fault");

    // The fault clears: back to ok by itself where the lane watches, else on
    // the next vehicle, which is decided without any reason naming the device.
    sim.ctl.set(Scenario::Normal);
    // Polled devices (and UVSS, whose heartbeats resume) come back by themselves.
    if !matches!(row.device, SimDevice::Seal | SimDevice::Camera) {
        watch.until("back to ok by itself", |h, _, _| {
            row.names.iter().all(|d| h.get(*d).is_none_or(|(s, _)| s == "ok"))
        });
    }
    let (decision, record) = vehicle(sim, watch);
    assert_eq!(naming(&decision, row.names), Vec::<&str>::new(), "after recovery: {:?}", reasons(&decision));
    assert!(reasons(&decision).contains(&"recognition_failed"), "{decision}");
    assert_eq!(record["exit"], "left_unreleased", "{record}");
    for d in row.names {
        assert_eq!(watch.state(d), "ok", "{d} after recovery: {:?}", watch.health.get(*d));
    }
    barrier_untouched(sim, "after recovery");
    lane.stop(&rt);
}

/// Runs every row at once, each on its own lane, and reports all failures.
fn run_table(rows: Vec<Row>) {
    let failed: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = rows.iter().map(|row| (row, s.spawn(|| run_row(row)))).collect();
        handles
            .into_iter()
            .filter_map(|(row, h)| {
                h.join().err().map(|e| {
                    let msg = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
                    format!("{:?} {}: {}", row.device, row.scenario, msg.unwrap_or_default())
                })
            })
            .collect()
    });
    assert!(failed.is_empty(), "failed rows:\n{}", failed.join("\n"));
}

#[test]
fn seal_reader_faults_over_the_pty() {
    run_table(wire_rows(SimDevice::Seal, &["seals"], "seals", Expect::Unseen));
}

#[test]
fn empty_box_detector_faults_over_tcp() {
    let rows = wire_rows(SimDevice::EmptyBox, &["empty-box"], "empty-box", Expect::StillWorks)
        .into_iter()
        .map(|row| match row.scenario {
            Scenario::Truncated | Scenario::BadCrc => Row { expect: Expect::Noticed, ..row },
            _ => row,
        })
        .collect();
    run_table(rows);
}

#[test]
fn uvss_camera_faults_over_tcp() {
    run_table(wire_rows(SimDevice::Uvss, &["uvss"], "uvss", Expect::Unseen));
}

#[test]
fn plate_camera_faults_over_http() {
    run_table(wire_rows(SimDevice::Camera, &["plate"], "plate", Expect::Unusable));
}

#[test]
fn modbus_bus_faults_and_a_chattering_loop() {
    let mut rows = wire_rows(SimDevice::Modbus, MODBUS, "arrival-loop", Expect::Unseen);
    rows.push(Row {
        device: SimDevice::Modbus,
        names: MODBUS,
        shows: "arm-loop",
        scenario: Scenario::ChatteringSensor,
        expect: Expect::StillWorks,
    });
    run_table(rows);
}

/// Central's key for the release commands.
fn central_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[7; 32])
}

/// Sends a signed release for `passage`, as central would, and waits for its ack.
fn release(lane: &mut WireLane, passage: &str, n: u32) {
    let now = chrono::Utc::now();
    let cmd = contract::command::Command {
        id: format!("release-{n}"),
        site: "HIL".into(),
        lane: "G09".into(),
        issued_at: now,
        expires_at: now + chrono::Duration::seconds(60),
        by: "hil".into(),
        action: contract::command::Action::Release { passage: passage.into() },
    };
    let envelope = contract::command::sign(&cmd, "central-1", &central_key());
    lane.commands.blocking_send(serde_json::to_vec(&envelope).unwrap()).unwrap();
    let (_, ack) = lane.watch.until("the release acknowledged", |_, t, _| t.ends_with("/ack"));
    assert_eq!(ack["accepted"], true, "{ack}");
}

/// Waits for the simulated controller's `input` to read `on`: woken by each change.
fn input_reads(sim: &LaneSim, what: &str, input: u16, on: bool) {
    assert!(sim.gate.wait_input(input, on, PATIENCE), "never: {what}");
}

/// Waits for the lane's own view (published every beat) to show `done`.
fn lane_sees(lane: &WireLane, rt: &tokio::runtime::Runtime, what: &str, done: impl Fn(&LaneView) -> bool) {
    let seen = rt.block_on(async { tokio::time::timeout(PATIENCE, lane.technician.view_until(done)).await });
    assert!(seen.is_ok_and(|v| v.is_some()), "never: {what}");
}

#[test]
fn stuck_barrier_raises_the_fault_and_a_second_release_lets_the_vehicle_through() {
    use base64::Engine;
    let rt = runtime();
    let public = base64::engine::general_purpose::STANDARD.encode(central_key().verifying_key().to_bytes());
    // The simulated arm travels 2 s. At 3 s the driver had 1.5 s after its 0.5 s press, so whether
    // a movement made it in time came down to the bus's milliseconds; 5 s gives it 3.5 s. (A move
    // that does come late is healthy again once the arm is read where it was sent: lane_runtime.)
    let extra = format!(
        "{NO_MODELS}\n[commands]\nkeys = {{ central-1 = \"{public}\" }}\n\n[timeouts]\nbarrier = \"5s\"\n"
    );
    let mut lane = WireLane::start(
        &rt,
        |o| LaneSimOptions { scenario: Scenario::StuckBarrier, only: Some(SimDevice::Modbus), ..o },
        &extra,
        PATIENCE,
    );

    lane.sim.gate.set_input(ARRIVAL_INPUT, true);
    lane.sim.uvss.drive_over();
    let (_, decision) = lane.watch.until("a decision", |_, t, _| t.ends_with("/decision"));
    assert_eq!(decision["decision"]["outcome"], "hold", "{decision}");
    let passage = decision["passage"].as_str().expect("the decision names its passage").to_string();
    barrier_untouched(&lane.sim, "held");

    release(&mut lane, &passage, 1);
    let (_, alarm) = lane
        .watch
        .until("the barrier fault alarm", |_, t, v| t.ends_with("/alarm") && v["kind"] == "barrier_fault");
    assert_eq!(alarm["passage"], passage.as_str(), "{alarm}");
    assert!(!lane.sim.gate.input(OPENED_INPUT), "the arm stuck closed");
    assert!(
        !lane.watch.seen.iter().any(|(t, _)| t.ends_with("/passage")),
        "the vehicle is kept for a person, not let go"
    );

    // The arm moves again: a person releases once more, the vehicle drives through.
    lane.sim.ctl.set(Scenario::Normal);
    release(&mut lane, &passage, 2);
    input_reads(&lane.sim, "the arm open", OPENED_INPUT, true);
    // The vehicle moves under the arm and on, each step once the lane has seen it.
    // A truck covers both loops for a while: under the arm before it leaves the arrival loop.
    lane.sim.gate.set_input(UNDER_ARM_INPUT, true);
    lane_sees(&lane, &rt, "the vehicle under the arm", |v| v.under_arm_occupied);
    lane.sim.gate.set_input(ARRIVAL_INPUT, false);
    assert!(lane.sim.gate.input(OPENED_INPUT), "the arm stays open over the vehicle");
    lane.sim.gate.set_input(UNDER_ARM_INPUT, false);
    lane.sim.gate.set_input(EXIT_INPUT, true);
    lane_sees(&lane, &rt, "the arm clear", |v| !v.under_arm_occupied);
    lane.sim.gate.set_input(EXIT_INPUT, false);
    let (_, record) = lane.watch.until("the passage record", |_, t, _| t.ends_with("/passage"));
    assert_eq!(record["exit"], "drove_through", "{record:#}");
    assert!(record["flags"].as_array().is_some_and(|f| f.iter().any(|x| x == "barrier_fault")), "{record:#}");
    input_reads(&lane.sim, "the arm closed behind it", CLOSED_INPUT, true);
    assert_eq!(
        lane.sim.gate.closes_while_occupied.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "never closed on the vehicle"
    );
    // However long the close took: on time the movement says so; late (a loaded machine), the
    // lane's next reading finds the arm down, where it was sent, and the barrier is ok again.
    lane.watch.until("the barrier ok again", |h, _, _| h.get("barrier").is_some_and(|(s, _)| s == "ok"));
    lane.stop(&rt);
}
