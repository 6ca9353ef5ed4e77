//! The HTTP area camera driver against the simulated IP camera: digest and
//! basic authentication, wrong passwords, and every fault scenario, asserting
//! the error, the health, and recovery.

use std::time::Duration;

use drivers::http_camera::auth::Credentials;
use drivers::http_camera::{HttpCamera, HttpCameraConfig};
use drivers::{AreaCamera, DeviceError, HealthState, ImageFormat};
use hil_tests::sim::camera::{snapshot_path, CameraSim, CameraSimConfig, SimAuth};
use hil_tests::sim::testkit::real_device;
use hil_tests::sim::{Scenario, ScenarioCtl};

async fn rig(auth: SimAuth, password: &str) -> (HttpCamera, ScenarioCtl) {
    let ctl = ScenarioCtl::new(Scenario::Normal);
    let sim = CameraSim::start("127.0.0.1:0", ctl.clone(), CameraSimConfig { auth, ..Default::default() })
        .await
        .unwrap();
    let addr = sim.addr.to_string();
    let mut cfg = HttpCameraConfig::new(&addr, snapshot_path("plate"));
    cfg.credentials = Some(Credentials { user: "admin".into(), password: password.into() });
    cfg.timeout = Duration::from_millis(700);
    (HttpCamera::new("camera.plate", &addr, cfg), ctl)
}

fn state(cam: &HttpCamera) -> HealthState {
    cam.health().borrow().state
}

async fn recovers(cam: &mut HttpCamera, ctl: &ScenarioCtl) {
    ctl.set(Scenario::Normal);
    cam.snapshot().await.unwrap();
    assert_eq!(state(cam), HealthState::Ok);
}

#[tokio::test]
async fn digest_snapshots_with_nonce_reuse() {
    let (mut cam, _) = rig(SimAuth::Digest, "lane-sim").await;
    for _ in 0..4 {
        // Alternates Content-Length and chunked bodies.
        let img = cam.snapshot().await.unwrap();
        assert_eq!(img.format, ImageFormat::Jpeg);
        assert_eq!((img.width, img.height), (640, 480));
    }
    assert_eq!(state(&cam), HealthState::Ok);
}

#[tokio::test]
async fn basic_auth_snapshot() {
    let (mut cam, _) = rig(SimAuth::Basic, "lane-sim").await;
    cam.snapshot().await.unwrap();
}

#[tokio::test]
async fn wrong_password_is_a_fault_that_says_so() {
    for auth in [SimAuth::Digest, SimAuth::Basic] {
        let (mut cam, _) = rig(auth, "wrong").await;
        let err = cam.snapshot().await.unwrap_err();
        assert!(matches!(&err, DeviceError::Fault(m) if m.contains("password")), "{err:?}");
        assert_eq!(state(&cam), HealthState::Down);
    }
}

#[tokio::test]
async fn garbage_instead_of_http_is_a_protocol_error() {
    let (mut cam, ctl) = rig(SimAuth::Digest, "lane-sim").await;
    ctl.set(Scenario::Garbage);
    let err = cam.snapshot().await.unwrap_err();
    assert!(matches!(err, DeviceError::Protocol(_)), "{err:?}");
    assert_eq!(state(&cam), HealthState::Degraded);
    recovers(&mut cam, &ctl).await;
}

#[tokio::test]
async fn truncated_body_is_a_protocol_error() {
    let (mut cam, ctl) = rig(SimAuth::Digest, "lane-sim").await;
    ctl.set(Scenario::Truncated);
    let err = cam.snapshot().await.unwrap_err();
    assert!(matches!(&err, DeviceError::Protocol(m) if m.contains("closed before")), "{err:?}");
    assert_eq!(state(&cam), HealthState::Degraded);
    recovers(&mut cam, &ctl).await;
}

#[tokio::test]
async fn corrupt_jpeg_is_a_protocol_error() {
    let (mut cam, ctl) = rig(SimAuth::Digest, "lane-sim").await;
    ctl.set(Scenario::BadCrc);
    let err = cam.snapshot().await.unwrap_err();
    assert!(matches!(&err, DeviceError::Protocol(m) if m.contains("JPEG")), "{err:?}");
    recovers(&mut cam, &ctl).await;
}

#[tokio::test]
async fn silent_camera_times_out_and_goes_down() {
    let (mut cam, ctl) = rig(SimAuth::Digest, "lane-sim").await;
    ctl.set(Scenario::Silent);
    let err = cam.snapshot().await.unwrap_err();
    assert!(matches!(err, DeviceError::Timeout(_)), "{err:?}");
    assert_eq!(state(&cam), HealthState::Down);
    recovers(&mut cam, &ctl).await;
}

#[tokio::test]
async fn dropped_connections_go_down_and_recover() {
    let (mut cam, ctl) = rig(SimAuth::Digest, "lane-sim").await;
    cam.snapshot().await.unwrap();
    ctl.set(Scenario::Disconnect);
    let err = cam.snapshot().await.unwrap_err();
    assert!(matches!(err, DeviceError::Disconnected(_) | DeviceError::Protocol(_)), "{err:?}");
    assert_ne!(state(&cam), HealthState::Ok);
    recovers(&mut cam, &ctl).await;
}

#[tokio::test]
async fn camera_that_is_not_there_is_down() {
    let port = hil_tests::free_port();
    let cfg = HttpCameraConfig::new("127.0.0.1", "/snap.jpg");
    let mut cam = HttpCamera::new("camera.rear", &format!("127.0.0.1:{port}"), cfg);
    assert!(matches!(cam.snapshot().await, Err(DeviceError::Disconnected(_))));
    assert_eq!(state(&cam), HealthState::Down);
}

#[tokio::test]
#[ignore = "needs a real IP camera: HIL_CAMERA_ADDR=192.168.1.64:80 \
            HIL_CAMERA_PATH=/ISAPI/Streaming/channels/101/picture HIL_CAMERA_USER=admin \
            HIL_CAMERA_PASSWORD=... cargo test -p hil-tests --test camera_hil -- --ignored"]
async fn real_camera_from_environment() {
    let addr =
        real_device("HIL_CAMERA_ADDR", "IP camera (host:port, with HIL_CAMERA_PATH, _USER, _PASSWORD)");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let mut cfg = HttpCameraConfig::new(addr.split(':').next().unwrap_or(&addr), var("HIL_CAMERA_PATH"));
    cfg.credentials =
        Some(Credentials { user: var("HIL_CAMERA_USER"), password: var("HIL_CAMERA_PASSWORD") });
    let mut cam = HttpCamera::new("camera", &addr, cfg);
    let img = cam.snapshot().await.expect("a snapshot");
    assert_eq!(img.format, ImageFormat::Jpeg);
    let decoded = image::load_from_memory(&img.bytes).expect("the snapshot decodes");
    assert_eq!((decoded.width(), decoded.height()), (img.width, img.height), "size as reported");
    assert_eq!(cam.health().borrow().state, HealthState::Ok);
    eprintln!("real camera: {}x{} JPEG, {} bytes", img.width, img.height, img.bytes.len());
}
