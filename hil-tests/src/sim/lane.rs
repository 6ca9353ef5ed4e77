//! The whole simulated lane at wire level, as the `lane-sim` binary runs it:
//! every simulator started on its transport, one scenario for all of them, a
//! vehicle over the UVSS camera every so often, and a JSON description of the
//! endpoints for tests and the agent's config.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tracing::{info, warn};

use super::camera::{snapshot_path, CameraSim, CameraSimConfig, SimAuth};
use super::emptybox::{EmptyBoxSim, EmptyBoxSimConfig};
use super::modbus::{self, ModbusGate};
use super::uvss::{UvssSim, UvssSimConfig};
use super::{seal, Scenario, ScenarioCtl};

#[derive(Debug, Clone)]
pub struct LaneSimOptions {
    pub scenario: Scenario,
    pub bind: String,
    /// Where the symlink to the seal reader's PTY goes.
    pub seal_link: PathBuf,
    /// Where the symlink to the Modbus barrier controller's PTY goes.
    pub modbus_link: PathBuf,
    pub seal_address: u8,
    pub emptybox_port: u16,
    pub uvss_port: u16,
    pub camera_port: u16,
    pub cameras: Vec<String>,
    pub camera: CameraSimConfig,
    /// A vehicle drives over the UVSS camera this often (zero: never).
    pub vehicle_every: Duration,
    /// How long a dropped link stays away in the `disconnect` scenario.
    pub comeback: Duration,
    /// Only this simulator follows the scenario, the others stay normal
    /// (`None`: all of them), so a test sees the lane's reaction to one device.
    pub only: Option<SimDevice>,
}

/// One simulator of the lane, for [`LaneSimOptions::only`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimDevice {
    Seal,
    /// The barrier controller and the loops: one bus.
    Modbus,
    EmptyBox,
    Uvss,
    Camera,
}

impl LaneSimOptions {
    /// For tests: links in `dir`, free ports on loopback, a plate camera, no
    /// vehicles (the loops stay clear unless the test says otherwise).
    pub fn quiet(dir: &std::path::Path) -> Self {
        LaneSimOptions {
            scenario: Scenario::Normal,
            bind: "127.0.0.1".into(),
            seal_link: dir.join("seal"),
            modbus_link: dir.join("modbus"),
            seal_address: 1,
            emptybox_port: 0,
            uvss_port: 0,
            camera_port: 0,
            cameras: vec!["plate".into()],
            camera: CameraSimConfig::default(),
            vehicle_every: Duration::ZERO,
            comeback: Duration::from_secs(1),
            only: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SerialEndpoint {
    pub path: PathBuf,
    pub baud: u32,
    pub address: u8,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModbusEndpoint {
    pub path: PathBuf,
    pub baud: u32,
    pub registers: drivers::modbus::BarrierRegisters,
    pub under_arm_input: u16,
    pub arrival_input: u16,
    /// The same loops as stand-alone detectors: unit ids, occupancy on input 0.
    pub exit_input: u16,
    pub under_arm_unit: u8,
    pub arrival_unit: u8,
    pub exit_unit: u8,
}

#[derive(Debug, Clone, Serialize)]
pub struct CameraEndpoints {
    pub addr: String,
    pub auth: SimAuth,
    pub user: String,
    pub password: String,
    /// Camera name -> snapshot path.
    pub paths: BTreeMap<String, String>,
}

/// The machine-readable line `lane-sim` prints once everything listens.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoints {
    pub event: &'static str,
    pub scenario: Scenario,
    pub seal: SerialEndpoint,
    pub modbus: ModbusEndpoint,
    pub emptybox: String,
    pub uvss: String,
    pub cameras: CameraEndpoints,
}

pub struct LaneSim {
    pub endpoints: Endpoints,
    pub ctl: ScenarioCtl,
    pub uvss: Arc<UvssSim>,
    pub seals: seal::SealsInRange,
    pub gate: ModbusGate,
}

pub async fn start(opts: LaneSimOptions) -> io::Result<LaneSim> {
    let ctl = ScenarioCtl::new(opts.scenario);
    let ctl_for = |d: SimDevice| match opts.only {
        Some(only) if only != d => ScenarioCtl::new(Scenario::Normal),
        _ => ctl.clone(),
    };
    let seals: seal::SealsInRange = Arc::new(Mutex::new(seal::sample_seals(2)));
    for link in [&opts.seal_link, &opts.modbus_link] {
        if let Some(dir) = link.parent() {
            std::fs::create_dir_all(dir)?;
        }
    }
    tokio::spawn({
        let (link, seals, ctl, comeback) =
            (opts.seal_link.clone(), seals.clone(), ctl_for(SimDevice::Seal), opts.comeback);
        async move {
            if let Err(e) = seal::run_on_pty(link, opts.seal_address, seals, ctl, comeback).await {
                warn!(device = "seal", error = %e, "seal reader simulator stopped");
            }
        }
    });
    let gate = ModbusGate::spawn(ctl_for(SimDevice::Modbus), Duration::from_secs(2));
    tokio::spawn({
        let (link, gate, ctl, comeback) =
            (opts.modbus_link.clone(), gate.clone(), ctl_for(SimDevice::Modbus), opts.comeback);
        async move {
            let c = ctl.clone();
            let served = super::pty::serve_on_pty(link, "modbus", ctl, comeback, move |m| {
                modbus::serve(m, gate.clone(), c.clone())
            });
            if let Err(e) = served.await {
                warn!(device = "modbus", error = %e, "barrier controller simulator stopped");
            }
        }
    });
    let eb = EmptyBoxSim::start(
        &format!("{}:{}", opts.bind, opts.emptybox_port),
        ctl_for(SimDevice::EmptyBox),
        EmptyBoxSimConfig::default(),
    )
    .await?;
    let uvss = Arc::new(
        UvssSim::start(
            &format!("{}:{}", opts.bind, opts.uvss_port),
            ctl_for(SimDevice::Uvss),
            UvssSimConfig::default(),
        )
        .await?,
    );
    let cam = CameraSim::start(
        &format!("{}:{}", opts.bind, opts.camera_port),
        ctl_for(SimDevice::Camera),
        opts.camera.clone(),
    )
    .await?;
    if !opts.vehicle_every.is_zero() {
        let (uvss, gate) = (uvss.clone(), gate.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(opts.vehicle_every);
            tick.tick().await;
            loop {
                tick.tick().await;
                // Arrival loop, then over the UVSS camera and under the arm, then the exit loop.
                gate.set_input(modbus::ARRIVAL_INPUT, true);
                let scan_id = uvss.drive_over();
                info!(scan_id, "simulated vehicle over the UVSS camera");
                tokio::time::sleep(Duration::from_secs(1)).await;
                gate.set_input(modbus::ARRIVAL_INPUT, false);
                gate.set_input(modbus::UNDER_ARM_INPUT, true);
                tokio::time::sleep(Duration::from_secs(1)).await;
                gate.set_input(modbus::UNDER_ARM_INPUT, false);
                gate.set_input(modbus::EXIT_INPUT, true);
                tokio::time::sleep(Duration::from_secs(1)).await;
                gate.set_input(modbus::EXIT_INPUT, false);
            }
        });
    }
    // The seal link appears once the PTY task has run; wait for it explicitly.
    for _ in 0..200 {
        if opts.seal_link.exists() && opts.modbus_link.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let endpoints = Endpoints {
        event: "listening",
        scenario: opts.scenario,
        seal: SerialEndpoint { path: opts.seal_link.clone(), baud: 115_200, address: opts.seal_address },
        modbus: ModbusEndpoint {
            path: opts.modbus_link.clone(),
            baud: 9600,
            registers: modbus::registers(),
            under_arm_input: modbus::UNDER_ARM_INPUT,
            arrival_input: modbus::ARRIVAL_INPUT,
            exit_input: modbus::EXIT_INPUT,
            under_arm_unit: modbus::UNDER_ARM_UNIT,
            arrival_unit: modbus::ARRIVAL_UNIT,
            exit_unit: modbus::EXIT_UNIT,
        },
        emptybox: eb.addr.to_string(),
        uvss: uvss.addr.to_string(),
        cameras: CameraEndpoints {
            addr: cam.addr.to_string(),
            auth: opts.camera.auth,
            user: opts.camera.user.clone(),
            password: opts.camera.password.clone(),
            paths: opts.cameras.iter().map(|n| (n.clone(), snapshot_path(n))).collect(),
        },
    };
    Ok(LaneSim { endpoints, ctl, uvss, seals, gate })
}

/// A lane file whose devices are all real transports pointed at a running
/// simulator (`ep`: the [`Endpoints`] line as JSON): the Modbus loops each as
/// its own detector unit, the barrier controller, the plate camera with digest
/// auth, UVSS and empty-box over TCP, the seal reader on its PTY.
pub fn agent_lane_file(ep: &serde_json::Value, data_dir: &std::path::Path) -> String {
    let m = &ep["modbus"];
    let r = &m["registers"];
    let port = format!("port = {:?}, baud = 9600", m["path"].as_str().unwrap());
    let cams = &ep["cameras"];
    format!(
        r#"
[lane]
site = "HIL"
id = "G09"

[storage]
data_dir = {data:?}

[devices.arrival-loop]
kind = "presence"
role = "arrival"
modbus = {{ {port}, unit = {arrival}, presence_input = 0 }}

[devices.arm-loop]
kind = "presence"
role = "under_arm"
modbus = {{ {port}, unit = {under}, presence_input = 0 }}

[devices.exit-loop]
kind = "presence"
role = "exit"
modbus = {{ {port}, unit = {exit}, presence_input = 0 }}

[devices.barrier]
kind = "barrier"
modbus = {{ {port}, unit = {unit}, open_coil = {oc}, close_coil = {cc}, stop_coil = {sc}, opened_input = {oi}, closed_input = {ci} }}

[devices.plate]
kind = "area_camera"
role = "plate"
http = {{ url = "http://{cam}{path}", auth = "digest", username = {user}, password = {pass} }}

[devices.uvss]
kind = "under_vehicle_camera"
tcp = {{ address = {uvss} }}

[devices.seals]
kind = "seal_reader"
serial = {{ port = {seal:?}, baud = 115200 }}

[devices.empty-box]
kind = "empty_box_detector"
tcp = {{ address = {eb} }}
"#,
        data = data_dir.display().to_string(),
        // Each loop as its own detector unit: a lane file gives every Modbus device its own unit.
        arrival = m["arrival_unit"],
        under = m["under_arm_unit"],
        exit = m["exit_unit"],
        unit = r["unit"],
        oc = r["open_coil"],
        cc = r["close_coil"],
        sc = r["stop_coil"],
        oi = r["opened_input"],
        ci = r["closed_input"],
        cam = cams["addr"].as_str().unwrap(),
        path = cams["paths"]["plate"].as_str().unwrap(),
        user = cams["user"],
        pass = cams["password"],
        uvss = ep["uvss"],
        seal = ep["seal"]["path"].as_str().unwrap(),
        eb = ep["emptybox"],
    )
}
