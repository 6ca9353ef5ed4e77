//! GPIO lines come from the lane file's chip and line offsets. A chip that is
//! not there fails the build with a sentence saying what to check, and the
//! agent stops rather than run a lane with part of its devices wired.
//! (Tests run where there is no GPIO chip; a chip numbered 99 is absent anywhere.)

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const CHIP_MESSAGE: &str =
    "cannot open /dev/gpiochip99: No such file or directory — is the GPIO chip name right? `ls /dev/gpiochip*`";

fn lane(dir: &Path, arm_loop: &str, barrier: &str) -> String {
    format!(
        r#"
[lane]
site = "T"
id = "G01"

[storage]
data_dir = {data:?}

[mqtt]
host = "127.0.0.1"
port = 1

[web]
enabled = false

[devices.arrival-loop]
kind = "presence"
role = "arrival"
modbus = {{ port = "/nonexistent/ttyRS485", unit = 3, presence_input = 0 }}

[devices.arm-loop]
kind = "presence"
role = "under_arm"
{arm_loop}

[devices.barrier]
kind = "barrier"
{barrier}
"#,
        data = dir.join("data").display().to_string()
    )
}

const MODBUS_ARM: &str = r#"modbus = { port = "/nonexistent/ttyRS485", unit = 2, presence_input = 0 }"#;
const GPIO_ARM: &str = r#"gpio = { chip = "gpiochip99", line = 27, active_low = true }"#;
const GPIO_BARRIER: &str =
    r#"gpio = { chip = "/dev/gpiochip99", open = 5, close = 6, opened = 19, closed = 26 }"#;

#[tokio::test]
async fn a_missing_chip_fails_the_build_with_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lane.toml");
    for (arm, barrier, device) in
        [(GPIO_ARM, GPIO_BARRIER, "arm-loop"), (MODBUS_ARM, GPIO_BARRIER, "barrier")]
    {
        let cfg = edge_agent::config::from_str(&file, &lane(dir.path(), arm, barrier))
            .unwrap_or_else(|e| panic!("{e}"));
        let err = edge_agent::lane::build_devices(&cfg, None)
            .err()
            .expect("no devices without their chip")
            .to_string();
        assert_eq!(err, format!("device `{device}`: {CHIP_MESSAGE}"));
    }
}

#[test]
fn the_agent_does_not_start_half_wired() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lane.toml");
    // The loops (Modbus) would build; the barrier's chip is missing.
    std::fs::write(&file, lane(dir.path(), MODBUS_ARM, GPIO_BARRIER)).unwrap();
    let started = Instant::now();
    let out =
        Command::new(env!("CARGO_BIN_EXE_edge-agent")).args(["run", "--config"]).arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Exit 2: the lane could not start (docs/cli.md).
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("edge-agent run: device `barrier`: {CHIP_MESSAGE}")), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "it stops at once, it does not run on without a barrier"
    );
    let audit = std::fs::read_to_string(dir.path().join("data/audit.log")).unwrap_or_default();
    assert!(!audit.contains("\"start\""), "the lane never started: {audit}");
}
