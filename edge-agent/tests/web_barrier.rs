//! The barrier cycle from the page is refused while a vehicle is under the arm
//! and runs once the zone is clear: the lane in-process on simulated devices
//! (so the test can put a vehicle under the arm), the page on real TCP.

#[path = "web_support/mod.rs"]
mod web_support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use drivers::sim::{SimLane, SimTiming, Zone};
use drivers::BarrierState;
use edge_agent::lane::{Lane, Publish};
use edge_agent::outbox::Message;
use edge_agent::{config, web};

struct Nowhere;

impl Publish for Nowhere {
    fn publish(&self, _: Message) -> bool {
        true
    }
}

fn post(port: u16, path: &str) -> web_support::Response {
    web_support::http(port, "POST", path, &[("X-Edge-Agent", "1")], b"")
}

#[test]
fn cycle_is_refused_while_occupied_and_runs_when_clear() {
    let dir = tempfile::tempdir().unwrap();
    let demo = hil_tests::with_sim_truth(
        &std::fs::read_to_string(web_support::repo().join("config/demo.toml")).unwrap(),
    );
    let text = demo
        .split("\n[sim]")
        .next()
        .unwrap()
        .replace("../.cache/demo-data", &dir.path().display().to_string());
    let cfg = config::from_str(Path::new("test.toml"), &text).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = SimLane::new(SimTiming::fast());
    let (port, _stop) = rt.block_on(async {
        let outbox = edge_agent::outbox::OutboxHandle::open(&dir.path().join("outbox.db"), 1 << 24).unwrap();
        let lane = Lane::new(cfg, Some(sim.clone()), Arc::new(Nowhere)).unwrap();
        let sources = web::Sources {
            site: "DEMO".into(),
            lane: "G01".into(),
            technician: lane.technician(),
            outbox,
            uplink_connected: tokio::sync::watch::channel(false).1,
            metrics: Arc::default(),
            data_dir: dir.path().to_path_buf(),
            action_limit: Duration::from_secs(10),
            link: None,
            outbox_counters: None,
            storage: None,
            operators: Arc::default(),
            language: None,
        };
        let server = web::start("127.0.0.1:0".parse().unwrap(), None, sources).await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(lane.run(async {
            stopped.await.ok();
        }));
        (server.addr.port(), (server, stop))
    });

    web_support::until_status(port, "the barrier closed", |s| s["barrier"] == "closed");
    sim.set_zone(Zone::UnderArm, true);
    web_support::until_status(port, "the zone under the arm occupied", |s| s["under_arm_occupied"] == true);
    let refused = post(port, "/api/barrier/cycle");
    assert_eq!(refused.status, 409, "{}", refused.text());
    assert!(refused.text().contains("occupied"), "{}", refused.text());
    assert_eq!(sim.barrier(), BarrierState::Closed, "the arm never moved");

    sim.set_zone(Zone::UnderArm, false);
    web_support::until_status(port, "the zone clear again", |s| s["under_arm_occupied"] == false);
    let done = post(port, "/api/barrier/cycle");
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(sim.barrier(), BarrierState::Closed, "opened and closed again");

    // A camera that is unplugged: the page says so, and the light goes red.
    sim.set_down("plate-front", true);
    let snap = post(port, "/api/snapshot?device=plate-front");
    assert_eq!(snap.status, 502, "{}", snap.text());
    web_support::until_status(port, "plate-front down", |s| {
        s["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["device"] == "plate-front" && d["health"]["state"] == "down")
    });
    drop(rt);
}
