//! The seal reader driver against the simulated reader over a real PTY pair, in
//! every fault scenario: what the caller gets, what health says, and that the
//! driver recovers once the fault stops.

use std::time::Duration;

use drivers::seal_reader::{SealReaderConfig, SealReaderDriver};
use drivers::transport::SerialConnector;
use drivers::{DeviceError, HealthState, SealReader, SealStatus};
use hil_tests::sim::seal::{pty_pair, sample_seals, serve, SealsInRange};
use hil_tests::sim::testkit::{fast_backoff, feed_connector, real_device, wait_health};
use hil_tests::sim::{Scenario, ScenarioCtl};
use tokio_serial::SerialStream;

const LIMIT: Duration = Duration::from_secs(5);

fn cfg() -> SealReaderConfig {
    SealReaderConfig {
        address: 1,
        window: Duration::from_millis(30),
        reply_margin: Duration::from_millis(250),
        attempts: 2,
        keepalive: Duration::from_millis(300),
        backoff: fast_backoff(),
    }
}

struct Rig {
    driver: SealReaderDriver,
    feed: tokio::sync::mpsc::UnboundedSender<SerialStream>,
    seals: SealsInRange,
    ctl: ScenarioCtl,
}

impl Rig {
    /// A reader on a fresh PTY pair, attached for the driver's next (re)connect.
    fn attach(&self) {
        let (master, slave) = pty_pair().unwrap();
        tokio::spawn(serve(master, 1, self.seals.clone(), self.ctl.clone()));
        self.feed.send(slave).unwrap();
    }
}

async fn rig() -> Rig {
    let (connector, feed) = feed_connector::<SerialStream>("pty");
    let rig = Rig {
        driver: SealReaderDriver::spawn("seal", connector, cfg()),
        feed,
        seals: std::sync::Arc::new(std::sync::Mutex::new(sample_seals(3))),
        ctl: ScenarioCtl::new(Scenario::Normal),
    };
    rig.attach();
    wait_health(&mut rig.driver.health(), HealthState::Ok, LIMIT).await;
    rig
}

/// After a fault: back to normal, and the next exchange (or keepalive) is clean.
async fn recovers(rig: &mut Rig) {
    rig.ctl.set(Scenario::Normal);
    assert_eq!(rig.driver.interrogate().await.unwrap().len(), 3);
    wait_health(&mut rig.driver.health(), HealthState::Ok, LIMIT).await;
}

#[tokio::test]
async fn normal_reads_seals_log_and_firmware() {
    let mut rig = rig().await;
    let seals = rig.driver.interrogate().await.unwrap();
    assert_eq!(seals.len(), 3);
    assert_eq!(seals[0].id, "1234-DEAD0000");
    assert_eq!(seals[2].status, SealStatus::Tampered);
    assert_eq!(seals[0].rssi_dbm, -60);
    let (fw, serial) = rig.driver.ping().await.unwrap();
    assert_eq!((fw, serial), ((2, 7), 0x00C0_FFEE));
    let id = drivers::protocol::seal::SealId { manufacturer: 0x1234, serial: 0xDEAD_0000 };
    assert_eq!(rig.driver.read_log(id).await.unwrap().len(), 200, "log read page by page");
    assert_eq!(rig.driver.health().borrow().state, HealthState::Ok);
}

#[tokio::test]
async fn garbage_between_frames_is_skipped_and_reported_degraded() {
    let mut rig = rig().await;
    rig.ctl.set(Scenario::Garbage);
    assert_eq!(rig.driver.interrogate().await.unwrap().len(), 3, "garbage does not cost the reading");
    let h = wait_health(&mut rig.driver.health(), HealthState::Degraded, LIMIT).await;
    assert!(h.reason.unwrap().contains("garbage"));
    recovers(&mut rig).await;
}

#[tokio::test]
async fn truncated_replies_are_a_protocol_error() {
    let mut rig = rig().await;
    rig.ctl.set(Scenario::Truncated);
    let err = rig.driver.interrogate().await.unwrap_err();
    assert!(matches!(&err, DeviceError::Protocol(m) if m.contains("truncated")), "{err:?}");
    let h = wait_health(&mut rig.driver.health(), HealthState::Degraded, LIMIT).await;
    assert!(h.reason.unwrap().contains("truncated"));
    recovers(&mut rig).await;
}

#[tokio::test]
async fn bad_crc_is_a_protocol_error() {
    let mut rig = rig().await;
    rig.ctl.set(Scenario::BadCrc);
    let err = rig.driver.interrogate().await.unwrap_err();
    assert!(matches!(&err, DeviceError::Protocol(m) if m.contains("CRC")), "{err:?}");
    let h = wait_health(&mut rig.driver.health(), HealthState::Degraded, LIMIT).await;
    assert!(h.reason.unwrap().contains("CRC"));
    recovers(&mut rig).await;
}

#[tokio::test]
async fn silent_reader_times_out_and_goes_down() {
    let mut rig = rig().await;
    rig.ctl.set(Scenario::Silent);
    let err = rig.driver.interrogate().await.unwrap_err();
    assert!(matches!(err, DeviceError::Timeout(_)), "{err:?}");
    let h = wait_health(&mut rig.driver.health(), HealthState::Down, LIMIT).await;
    assert!(h.reason.unwrap().contains("does not answer"));
    recovers(&mut rig).await;
}

#[tokio::test]
async fn hang_up_goes_down_and_reopens_by_itself() {
    let mut rig = rig().await;
    rig.ctl.set(Scenario::Disconnect);
    let h = wait_health(&mut rig.driver.health(), HealthState::Down, LIMIT).await;
    assert!(h.reason.unwrap().contains("hung up"));
    // While the port is gone, calls fail at once rather than hang.
    let err = rig.driver.interrogate().await.unwrap_err();
    assert!(matches!(err, DeviceError::Disconnected(_)), "{err:?}");
    // Plugged back in: the driver reopens on its own.
    rig.ctl.set(Scenario::Normal);
    rig.attach();
    wait_health(&mut rig.driver.health(), HealthState::Ok, LIMIT).await;
    assert_eq!(rig.driver.interrogate().await.unwrap().len(), 3);
}

#[tokio::test]
async fn path_connector_reopens_a_pty_by_path() {
    // The production connector, on a PTY slave path, with the simulator's end kept.
    let (master, path, keeper) = hil_tests::sim::seal::pty_for_path().unwrap();
    let ctl = ScenarioCtl::new(Scenario::Normal);
    tokio::spawn(serve(master, 1, std::sync::Arc::new(std::sync::Mutex::new(sample_seals(2))), ctl));
    let mut driver =
        SealReaderDriver::spawn("seal", SerialConnector::new(path.to_string_lossy(), 115_200), cfg());
    wait_health(&mut driver.health(), HealthState::Ok, LIMIT).await;
    assert_eq!(driver.interrogate().await.unwrap().len(), 2);
    drop(keeper);
}

#[tokio::test]
#[ignore = "needs a real seal reader: \
            HIL_SEAL_PORT=/dev/ttyUSB0 cargo test -p hil-tests --test seal_hil -- --ignored"]
async fn real_reader_from_environment() {
    let port =
        real_device("HIL_SEAL_PORT", "seal reader (e.g. /dev/ttyUSB0; HIL_SEAL_BAUD defaults to 115200)");
    let baud = std::env::var("HIL_SEAL_BAUD").ok().and_then(|b| b.parse().ok()).unwrap_or(115_200);
    let cfg = SealReaderConfig { backoff: fast_backoff(), ..SealReaderConfig::default() };
    let mut driver = SealReaderDriver::spawn("seal", SerialConnector::new(port, baud), cfg);
    wait_health(&mut driver.health(), HealthState::Ok, Duration::from_secs(10)).await;
    let seals = driver.interrogate().await.expect("the reader answers an interrogation");
    let (fw, serial) = driver.ping().await.expect("the reader answers a ping");
    assert_eq!(driver.health().borrow().state, HealthState::Ok, "clean exchanges");
    eprintln!("real reader {serial} (firmware {fw:?}): {} seals in range: {seals:?}", seals.len());
}
