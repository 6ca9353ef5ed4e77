//! Issue 13's acceptance, in the default suite: three real `edge-agent`
//! processes on simulated lanes → two `lane-central` instances on a real
//! Mosquitto, PostgreSQL and object storage (SeaweedFS over S3). During
//! traffic an agent, then a central instance, is killed with SIGKILL and the
//! broker restarted; a passage lost by the database is asked for again.
//! Afterwards every passage the lanes archived is in PostgreSQL exactly once
//! with a valid signature, every image whole in the store, no gap outstanding,
//! a forged and a tampered record quarantined. (`common::scenario` has the
//! steps and the checks; `acceptance_soak.rs` is the long run.)

mod common;

use std::time::Duration;

use common::scenario::{run, Plan};

#[test]
fn three_real_lanes_through_kills_and_a_broker_restart_arrive_whole_and_once() {
    let report =
        run(Plan { lanes: 3, vehicles: 18, fault_rounds: 1, s3: true, limit: Duration::from_secs(300) });
    assert!(report.passages >= 3 * 18, "{report:?}");
    assert_eq!((report.agent_kills, report.central_kills, report.broker_restarts), (1, 1, 1));
}
