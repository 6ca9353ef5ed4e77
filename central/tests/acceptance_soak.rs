//! The long run outside the default suite (`scripts/soak`, or
//! `cargo test -p central --test acceptance_soak -- --ignored --nocapture`):
//! the acceptance scenario (`common::scenario`) with 1,000 passages and more
//! over five real `edge-agent` lanes through repeated faults — every lane
//! killed with SIGKILL in turn, the central instances killed alternately, the
//! broker restarted every round — with the same checks as the short run.
//! `SOAK_VEHICLES` (per lane and start, default 150), `SOAK_LANES` (5),
//! `SOAK_ROUNDS` (8), `SOAK_STORE=file` for a folder instead of S3.

mod common;

use std::time::Duration;

use common::scenario::{run, Plan};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
#[ignore = "minutes long: run by scripts/soak"]
fn a_thousand_passages_over_five_lanes_through_repeated_faults() {
    let (lanes, vehicles, rounds) = (env("SOAK_LANES", 5), env("SOAK_VEHICLES", 150), env("SOAK_ROUNDS", 8));
    let s3 = std::env::var("SOAK_STORE").map_or(true, |s| s != "file");
    let report = run(Plan {
        lanes: lanes as usize,
        vehicles,
        fault_rounds: rounds as u32,
        s3,
        limit: Duration::from_secs(60 * 60),
    });
    assert!(report.passages as u64 >= (lanes * vehicles).min(1000), "{report:?}");
    assert_eq!(report.agent_kills, rounds as u32);
    eprintln!(
        "soak: {} passages, {} images over {lanes} lanes; {} agent kills, {} central kills, {} broker restarts; \
         {} gaps healed, {} resends answered; {:.0} s",
        report.passages,
        report.images,
        report.agent_kills,
        report.central_kills,
        report.broker_restarts,
        report.healed_gaps,
        report.resends_accepted,
        report.elapsed.as_secs_f64()
    );
}
