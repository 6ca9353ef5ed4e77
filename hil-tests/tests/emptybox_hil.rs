//! The empty-box detector driver against the simulated detector over TCP, in
//! every fault scenario: verdicts and images, errors, health, and recovery.

use std::time::Duration;

use drivers::emptybox::{EmptyBoxConfig, EmptyBoxDriver};
use drivers::transport::TcpConnector;
use drivers::{DeviceError, EmptyBoxDetector, EmptyVerdict, HealthState};
use hil_tests::sim::emptybox::{EmptyBoxSim, EmptyBoxSimConfig};
use hil_tests::sim::testkit::{fast_backoff, real_device, wait_health};
use hil_tests::sim::{Scenario, ScenarioCtl};

const LIMIT: Duration = Duration::from_secs(8);

async fn rig(sim_cfg: EmptyBoxSimConfig) -> (EmptyBoxDriver, ScenarioCtl) {
    let ctl = ScenarioCtl::new(Scenario::Normal);
    let sim = EmptyBoxSim::start("127.0.0.1:0", ctl.clone(), sim_cfg).await.unwrap();
    let cfg = EmptyBoxConfig {
        reply_timeout: Duration::from_millis(300),
        scan_timeout: Duration::from_secs(2),
        chunk_timeout: Duration::from_millis(300),
        keepalive: Duration::from_millis(300),
        backoff: fast_backoff(),
        ..Default::default()
    };
    let driver = EmptyBoxDriver::spawn("emptybox", TcpConnector::new(sim.addr.to_string()), cfg);
    wait_health(&mut driver.health(), HealthState::Ok, LIMIT).await;
    (driver, ctl)
}

fn fast() -> EmptyBoxSimConfig {
    EmptyBoxSimConfig { scan_time: Duration::from_millis(50), ..Default::default() }
}

async fn recovers(driver: &mut EmptyBoxDriver, ctl: &ScenarioCtl) {
    ctl.set(Scenario::Normal);
    let r = driver.scan(Some("CSQU3054384")).await.unwrap();
    assert_eq!(r.verdict, EmptyVerdict::Empty);
    wait_health(&mut driver.health(), HealthState::Ok, LIMIT).await;
}

#[tokio::test]
async fn normal_scan_returns_verdict_profile_and_image() {
    let (mut driver, _ctl) = rig(fast()).await;
    let r = driver.scan(Some("CSQU3054383")).await.unwrap();
    assert_eq!(r.verdict, EmptyVerdict::NotEmpty);
    assert_eq!(r.container.as_deref(), Some("CSQU3054383"));
    assert!((r.confidence - 0.93).abs() < 1e-6);
    assert_eq!(r.depth_profile.len(), 120);
    assert_eq!(r.depth_profile[50], 4.0);
    let img = r.interior.expect("interior image");
    assert_eq!(&img.bytes[..2], &[0xFF, 0xD8], "a JPEG");
    assert_eq!((img.width, img.height), (320, 240));
    assert_eq!(driver.scan(Some("CSQU3054384")).await.unwrap().verdict, EmptyVerdict::Empty);
}

#[tokio::test]
async fn a_lost_chunk_is_fetched_again() {
    let (mut driver, _ctl) = rig(EmptyBoxSimConfig { lose_chunk: true, ..fast() }).await;
    let r = driver.scan(Some("CSQU3054384")).await.unwrap();
    let img = r.interior.expect("image completed after GetChunk");
    image::load_from_memory(&img.bytes).expect("the reassembled JPEG decodes");
    // The corrupt first copy is reported, the result is whole.
    let h = wait_health(&mut driver.health(), HealthState::Degraded, LIMIT).await;
    assert!(h.reason.unwrap().contains("CRC"));
}

#[tokio::test]
async fn garbage_is_skipped_and_degrades() {
    let (mut driver, ctl) = rig(fast()).await;
    ctl.set(Scenario::Garbage);
    let r = driver.scan(Some("CSQU3054384")).await.unwrap();
    assert!(r.interior.is_some());
    let h = wait_health(&mut driver.health(), HealthState::Degraded, LIMIT).await;
    assert!(h.reason.unwrap().contains("garbage"));
    recovers(&mut driver, &ctl).await;
}

#[tokio::test]
async fn bad_crc_is_a_protocol_error() {
    let (mut driver, ctl) = rig(fast()).await;
    ctl.set(Scenario::BadCrc);
    let err = driver.scan(Some("CSQU3054384")).await.unwrap_err();
    assert!(matches!(&err, DeviceError::Protocol(m) if m.contains("CRC")), "{err:?}");
    wait_health(&mut driver.health(), HealthState::Degraded, LIMIT).await;
    recovers(&mut driver, &ctl).await;
}

#[tokio::test]
async fn truncated_is_a_protocol_error() {
    let (mut driver, ctl) = rig(fast()).await;
    ctl.set(Scenario::Truncated);
    let err = driver.scan(Some("CSQU3054384")).await.unwrap_err();
    // Cut frames run into the next ones: reported as truncation or a failed check.
    assert!(matches!(&err, DeviceError::Protocol(m) if m.contains("no clean reply")), "{err:?}");
    wait_health(&mut driver.health(), HealthState::Degraded, LIMIT).await;
    recovers(&mut driver, &ctl).await;
}

#[tokio::test]
async fn silent_detector_times_out_and_goes_down() {
    let (mut driver, ctl) = rig(fast()).await;
    ctl.set(Scenario::Silent);
    let err = driver.scan(Some("CSQU3054384")).await.unwrap_err();
    assert!(matches!(err, DeviceError::Timeout(_)), "{err:?}");
    let h = wait_health(&mut driver.health(), HealthState::Down, LIMIT).await;
    assert!(h.reason.unwrap().contains("does not answer"));
    recovers(&mut driver, &ctl).await;
}

#[tokio::test]
async fn tcp_drop_goes_down_and_reconnects_by_itself() {
    let (mut driver, ctl) = rig(fast()).await;
    ctl.set(Scenario::Disconnect);
    wait_health(&mut driver.health(), HealthState::Down, LIMIT).await;
    let err = driver.scan(None).await.unwrap_err();
    assert!(matches!(err, DeviceError::Disconnected(_)), "{err:?}");
    ctl.set(Scenario::Normal);
    wait_health(&mut driver.health(), HealthState::Ok, LIMIT).await;
    recovers(&mut driver, &ctl).await;
}

#[tokio::test]
async fn works_over_a_serial_line_too() {
    // The same driver and simulator over a PTY pair instead of TCP.
    let ctl = ScenarioCtl::new(Scenario::Normal);
    let (connector, feed) = hil_tests::sim::testkit::feed_connector::<tokio_serial::SerialStream>("pty");
    let (master, slave) = hil_tests::sim::pty::pty_pair().unwrap();
    let scans = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(1));
    tokio::spawn(hil_tests::sim::emptybox::serve(master, ctl, fast(), scans));
    feed.send(slave).unwrap();
    let cfg = EmptyBoxConfig { backoff: fast_backoff(), ..Default::default() };
    let mut driver = EmptyBoxDriver::spawn("emptybox", connector, cfg);
    wait_health(&mut driver.health(), HealthState::Ok, LIMIT).await;
    let r = driver.scan(Some("CSQU3054383")).await.unwrap();
    assert_eq!(r.verdict, EmptyVerdict::NotEmpty);
    assert!(r.interior.is_some());
}

#[tokio::test]
#[ignore = "needs a real empty-box detector: \
            HIL_EMPTYBOX_ADDR=host:port cargo test -p hil-tests --test emptybox_hil -- --ignored"]
async fn real_detector_from_environment() {
    let addr =
        real_device("HIL_EMPTYBOX_ADDR", "empty-box detector (host:port) with a container in position");
    let mut driver = EmptyBoxDriver::spawn("emptybox", TcpConnector::new(addr), EmptyBoxConfig::default());
    wait_health(&mut driver.health(), HealthState::Ok, Duration::from_secs(10)).await;
    let r = driver.scan(None).await.expect("a scan result");
    assert!((0.0..=1.0).contains(&r.confidence), "confidence {}", r.confidence);
    assert!(!r.depth_profile.is_empty(), "a depth profile along the box");
    eprintln!("real detector: {:?} confidence {}", r.verdict, r.confidence);
}
