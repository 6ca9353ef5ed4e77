//! The UVSS driver against the simulated line-scan camera over TCP, in every
//! fault scenario, asserting scans, errors, health, and recovery.

use std::time::Duration;

use bytes::BytesMut;
use drivers::protocol::uvss::{self, CameraState, SpeedSource, UvssMsg};
use drivers::transport::TcpConnector;
use drivers::uvss::{UvssConfig, UvssDriver};
use drivers::{DeviceError, HealthState, ImageFormat, UnderVehicleCamera};
use hil_tests::sim::testkit::{fast_backoff, feed_connector, real_device, wait_health};
use hil_tests::sim::uvss::{UvssSim, UvssSimConfig};
use hil_tests::sim::{Scenario, ScenarioCtl};
use tokio::io::AsyncWriteExt;

// Generous: a CI machine running every test binary at once starves these runtimes for seconds.
const LIMIT: Duration = Duration::from_secs(20);

async fn rig() -> (UvssSim, UvssDriver, ScenarioCtl) {
    let ctl = ScenarioCtl::new(Scenario::Normal);
    let sim_cfg = UvssSimConfig { heartbeat: Duration::from_millis(100), ..Default::default() };
    let sim = UvssSim::start("127.0.0.1:0", ctl.clone(), sim_cfg).await.unwrap();
    let cfg = UvssConfig {
        silence: Duration::from_millis(800),
        stall: Duration::from_millis(200),
        scan_wait: Duration::from_secs(3),
        // Long enough that a loaded machine still sees the transient state.
        trouble_hold: Duration::from_secs(8),
        backoff: fast_backoff(),
        ..Default::default()
    };
    let driver = UvssDriver::spawn("uvss", TcpConnector::new(sim.addr.to_string()), cfg);
    wait_health(&mut driver.health(), HealthState::Ok, LIMIT).await;
    (sim, driver, ctl)
}

/// Normal again: the next pass assembles and health returns to ok.
async fn recovers(sim: &UvssSim, driver: &mut UvssDriver, ctl: &ScenarioCtl) {
    ctl.set(Scenario::Normal);
    wait_health(&mut driver.health(), HealthState::Ok, LIMIT).await;
    sim.drive_over();
    let scan = driver.next_assembled().await.unwrap();
    assert_eq!(scan.meta.rows_dropped, 0);
}

#[tokio::test]
async fn normal_pass_is_assembled_speed_normalised() {
    let (sim, mut driver, _ctl) = rig().await;
    let id = sim.drive_over();
    let scan = driver.next_assembled().await.unwrap();
    assert_eq!(scan.meta.scan_id, id);
    assert_eq!(scan.meta.rows_received, 1024);
    assert_eq!(scan.meta.speed_source, SpeedSource::Camera);
    // 1024 rows at 2 kHz and 1.389 m/s is 0.711 m, at 500 rows per metre ~356 rows.
    assert!((350..=360).contains(&scan.height), "height {}", scan.height);
    assert!((scan.meta.mean_speed_kmh - 5.0).abs() < 0.1);
    // The trait hands out each scan once: the next call waits for the next pass.
    sim.drive_over();
    let png = driver.last_scan().await.unwrap();
    assert_eq!(png.image.format, ImageFormat::Png);
    assert!(matches!(driver.last_scan().await, Err(DeviceError::Timeout(_))));
}

#[tokio::test]
async fn garbage_is_skipped_scan_survives_health_degraded() {
    let (sim, mut driver, ctl) = rig().await;
    ctl.set(Scenario::Garbage);
    sim.drive_over();
    let scan = driver.next_assembled().await.unwrap();
    assert_eq!(scan.meta.rows_received, 1024, "no rows lost to garbage between frames");
    let h = wait_health(&mut driver.health(), HealthState::Degraded, LIMIT).await;
    assert!(h.reason.unwrap().contains("garbage"));
    recovers(&sim, &mut driver, &ctl).await;
}

#[tokio::test]
async fn bad_crc_loses_the_pass_and_degrades() {
    let (sim, mut driver, ctl) = rig().await;
    ctl.set(Scenario::BadCrc);
    sim.drive_over();
    let h = wait_health(&mut driver.health(), HealthState::Degraded, LIMIT).await;
    assert!(h.reason.unwrap().contains("CRC"));
    assert!(matches!(driver.next_assembled().await, Err(DeviceError::Timeout(_))));
    recovers(&sim, &mut driver, &ctl).await;
}

#[tokio::test]
async fn truncated_frames_are_skipped_and_degrade() {
    let (sim, mut driver, ctl) = rig().await;
    ctl.set(Scenario::Truncated);
    sim.drive_over();
    let h = wait_health(&mut driver.health(), HealthState::Degraded, LIMIT).await;
    assert!(h.reason.is_some());
    // Whatever survived is flagged, never passed off as a whole pass.
    if let Ok(scan) = driver.next_assembled().await {
        assert!(scan.meta.rows_dropped > 0 || scan.meta.end_reason.is_none(), "{:?}", scan.meta);
    }
    recovers(&sim, &mut driver, &ctl).await;
}

/// A camera that keeps talking but whose every frame is corrupt is not a silent
/// one: a pass of truncated frames swallows the heartbeats between them, and
/// once that took longer than `silence` the driver used to drop a live link as
/// "silent" and forget the corrupt data it had seen (this test's scenario
/// failed 1 run in 20 that way). Paused time: the camera's cadence is virtual.
#[tokio::test(start_paused = true)]
async fn talking_camera_with_only_corrupt_data_degrades_and_keeps_the_link() {
    let (connector, feed) = feed_connector::<tokio::io::DuplexStream>("duplex");
    let (host, mut camera) = tokio::io::duplex(64 * 1024);
    feed.send(host).unwrap();
    let cfg = UvssConfig {
        silence: Duration::from_millis(800),
        stall: Duration::from_millis(200),
        backoff: fast_backoff(),
        ..Default::default()
    };
    let driver = UvssDriver::spawn("uvss", connector, cfg);
    let mut heartbeat = BytesMut::new();
    uvss::encode(
        &UvssMsg::Heartbeat { now_us: 1, state: CameraState::Armed, temperature_c: 35 },
        &mut heartbeat,
    )
    .unwrap();
    camera.write_all(&heartbeat).await.unwrap();
    wait_health(&mut driver.health(), HealthState::Ok, LIMIT).await;
    // Three seconds of bytes without one valid frame (no sync byte in them).
    let talk = tokio::spawn(async move {
        for _ in 0..60 {
            camera.write_all(&[0x00, 0x13, 0x37, 0xFE]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        camera
    });
    let h = wait_health(&mut driver.health(), HealthState::Degraded, Duration::from_secs(2)).await;
    let reason = h.reason.unwrap();
    assert!(reason.contains("no valid frame") && reason.contains("garbage"), "{reason}");
    // Still the first link: a reconnect would have found no second one and said so.
    let _camera = talk.await.unwrap();
    assert_eq!(driver.health().borrow().state, HealthState::Degraded, "{:?}", *driver.health().borrow());
}

#[tokio::test]
async fn silent_camera_goes_down_and_comes_back() {
    let (sim, mut driver, ctl) = rig().await;
    ctl.set(Scenario::Silent);
    let h = wait_health(&mut driver.health(), HealthState::Down, LIMIT).await;
    assert!(h.reason.unwrap().contains("silent"));
    recovers(&sim, &mut driver, &ctl).await;
}

#[tokio::test]
async fn tcp_drop_goes_down_and_reconnects_by_itself() {
    let (sim, mut driver, ctl) = rig().await;
    ctl.set(Scenario::Disconnect);
    let h = wait_health(&mut driver.health(), HealthState::Down, LIMIT).await;
    assert!(h.reason.unwrap().contains("tcp://"));
    recovers(&sim, &mut driver, &ctl).await;
}

#[tokio::test]
#[ignore = "needs a real UVSS camera and a vehicle driven over it: \
            HIL_UVSS_ADDR=host:port cargo test -p hil-tests --test uvss_hil -- --ignored"]
async fn real_camera_from_environment() {
    let addr = real_device("HIL_UVSS_ADDR", "UVSS camera (host:port); drive a vehicle over it within 60 s");
    let cfg = UvssConfig { scan_wait: Duration::from_secs(60), ..Default::default() };
    let mut driver = UvssDriver::spawn("uvss", TcpConnector::new(addr), cfg);
    wait_health(&mut driver.health(), HealthState::Ok, Duration::from_secs(10)).await;
    let scan = driver.next_assembled().await.expect("a pass within 60 s");
    assert!(scan.width > 0 && scan.height > 0, "an image: {}x{}", scan.width, scan.height);
    assert_eq!(scan.pixels.len(), (scan.width * scan.height) as usize, "8-bit grey, whole rows");
    scan.to_uvss_scan().expect("the pass encodes for the passage record");
    eprintln!("real UVSS pass: {:?}", scan.meta);
}
