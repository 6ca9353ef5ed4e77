//! Every device at a glance: each is asked for one harmless reading, all at
//! once, each bounded by its own timeout — the presence loops' state, the
//! barrier's limit switches, a camera snapshot, the seals in range. The UVSS
//! camera and the empty-box detector are only watched until their driver has
//! talked to them (heartbeat, status query): a scan is not harmless.
//!
//! The Modbus barrier's first reading is its power-up sequence (command coils
//! released, limits read), as in the agent: a coil left on is never assumed off.

use std::collections::HashMap;
use std::time::Duration;

use drivers::{DeviceError, Health, HealthState, PresenceSensor};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::{DiagCmd, Outcome};
use crate::config::{DeviceConfig, DeviceKind, LaneConfig, Transport};
use crate::lane::{Captured, Capturer, Devices};
use contract::passage::CaptureKind;

/// One device's line in the at-a-glance report.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceReport {
    pub device: String,
    pub kind: &'static str,
    pub transport: String,
    /// It answered and gave a reading.
    pub ok: bool,
    /// Something answered at the other end (false: absent, unplugged, silent).
    pub reachable: bool,
    /// What answered spoke the protocol (false: garbage, wrong device, wrong register map).
    pub protocol_ok: bool,
    pub reading: Option<String>,
    pub last_error: Option<String>,
    /// What to do about `last_error`, when diag knows.
    pub hint: Option<String>,
}

#[derive(Serialize)]
struct LaneReport<'a> {
    site: &'a str,
    lane: &'a str,
    ok: bool,
    devices: &'a [DeviceReport],
}

/// How a device is wired, in a few words.
pub fn transport_label(d: &DeviceConfig) -> String {
    match &d.transport {
        Transport::Sim => "simulated".into(),
        Transport::Gpio(g) => format!("gpio {}", g.chip),
        Transport::Serial { port, baud, .. } => format!("serial {port} @{baud}"),
        Transport::Modbus(m) => format!("modbus {} @{} unit {}", m.port, m.baud, m.unit),
        Transport::Tcp { address } => format!("tcp {address}"),
        Transport::Http { url, .. } => format!("http {url}"),
    }
}

/// A sentence on what to do, for the errors technicians meet most.
pub fn hint(error: &str) -> Option<String> {
    // serialport locks the port (flock) and sets TIOCEXCL: either error means "in use".
    if error.contains("Device or resource busy") || error.contains("exclusive lock") {
        return Some(
            "port busy: another process holds it; a running edge-agent keeps its serial ports open exclusively, \
             so stop it first (`sudo systemctl stop edge-agent`) or use the technician page"
                .into(),
        );
    }
    if error.contains("Permission denied") {
        return Some(
            "the user may not open this device: add it to the `dialout` (serial) or `gpio` group".into(),
        );
    }
    if error.contains("No such file or directory") && error.contains("serial") {
        return Some("the port does not exist: check the cable and `port` in the lane file (`edge-agent diag ports` lists them)".into());
    }
    if error.contains("Connection refused") {
        return Some(
            "nothing listens at that address: is the device powered and the port in the lane file right?"
                .into(),
        );
    }
    None
}

/// The report for a finished probe.
pub fn report(d: &DeviceConfig, result: Result<String, DeviceError>) -> DeviceReport {
    let (reachable, protocol_ok) = match &result {
        Ok(_) => (true, true),
        Err(DeviceError::Timeout(_) | DeviceError::Disconnected(_)) => (false, false),
        Err(DeviceError::Protocol(_)) => (true, false),
        Err(DeviceError::Fault(_) | DeviceError::Refused(_)) => (true, true),
    };
    let last_error = result.as_ref().err().map(|e| e.to_string());
    DeviceReport {
        device: d.name.clone(),
        kind: d.kind.name(),
        transport: transport_label(d),
        ok: result.is_ok(),
        reachable,
        protocol_ok,
        hint: last_error.as_deref().and_then(hint),
        reading: result.ok(),
        last_error,
    }
}

/// The device a per-device subcommand without its action flag is about.
pub fn device_for(cfg: &LaneConfig, cmd: &DiagCmd) -> Result<String, String> {
    let of_kind = |kind: DeviceKind| {
        cfg.devices_of(kind)
            .next()
            .map(|d| d.name.clone())
            .ok_or_else(|| format!("the lane has no {}", kind.words()))
    };
    match cmd {
        DiagCmd::Barrier { .. } => of_kind(DeviceKind::Barrier),
        DiagCmd::Seal { .. } => of_kind(DeviceKind::SealReader),
        DiagCmd::Uvss { .. } => of_kind(DeviceKind::UnderVehicleCamera),
        DiagCmd::Camera { name, .. } => camera(cfg, name).map(|d| d.name.clone()),
        DiagCmd::Ports => Err("`ports` is not about one device".into()),
    }
}

/// The area camera called `name`, or an error naming the ones there are.
pub fn camera<'a>(cfg: &'a LaneConfig, name: &str) -> Result<&'a DeviceConfig, String> {
    cfg.devices_of(DeviceKind::AreaCamera).find(|d| d.name == name).ok_or_else(|| {
        let names: Vec<_> = cfg.devices_of(DeviceKind::AreaCamera).map(|d| d.name.as_str()).collect();
        if names.is_empty() {
            return "the lane has no area cameras".to_string();
        }
        let close = crate::words::suggest(name, names.iter().copied())
            .map(|s| format!("did you mean {s:?}? "))
            .unwrap_or_default();
        format!("the lane has no area camera named {name:?}; {close}its cameras: {}", names.join(", "))
    })
}

/// How long one device gets to answer: its own timeout, at least 3 s (a Modbus
/// barrier's first reading is five bus exchanges).
pub fn limit(cfg: &LaneConfig, device: &str) -> Duration {
    cfg.device_timeout(device).max(Duration::from_secs(3))
}

/// Waits until the driver's own health is ok; else says why it is not.
pub async fn until_ok(health: Option<watch::Receiver<Health>>, limit: Duration) -> Result<(), DeviceError> {
    let Some(mut rx) = health else { return Ok(()) };
    if timeout(limit, rx.wait_for(|h| h.state == HealthState::Ok)).await.is_ok_and(|r| r.is_ok()) {
        return Ok(());
    }
    let h = rx.borrow().clone();
    let why = h.reason.unwrap_or_else(|| "no answer".into());
    Err(match h.state {
        HealthState::Degraded => DeviceError::Protocol(why),
        _ if why == drivers::transport::NOT_CONNECTED_YET => DeviceError::Timeout(limit),
        _ => DeviceError::Disconnected(why),
    })
}

/// The sensor's first reading, once its driver has one.
pub async fn presence_reading(
    sensor: &mut Box<dyn PresenceSensor>,
    health: Option<watch::Receiver<Health>>,
    limit: Duration,
) -> Result<bool, DeviceError> {
    until_ok(health, limit).await?;
    timeout(limit, sensor.occupied()).await.unwrap_or(Err(DeviceError::Timeout(limit)))
}

/// One capture within `limit` (waiting for the device included).
pub async fn capture(
    handle: &std::sync::Arc<tokio::sync::Mutex<Capturer>>,
    limit: Duration,
) -> Result<Captured, DeviceError> {
    timeout(limit, async { handle.lock().await.capture(limit).await })
        .await
        .unwrap_or(Err(DeviceError::Timeout(limit)))
}

pub fn describe_image(i: &drivers::Image) -> String {
    let format = format!("{:?}", i.format).to_uppercase();
    format!("{format} {}×{}, {}", i.width, i.height, crate::cli::outbox::human_bytes(i.bytes.len() as u64))
}

pub async fn glance(cfg: &LaneConfig, devices: Devices, only: Option<&str>) -> Outcome {
    let Devices { barrier, presence, capturers, empty_box, health } = devices;
    let health: HashMap<String, watch::Receiver<Health>> = health.into_iter().collect();
    let wanted = |n: &str| only.is_none_or(|o| o == n);
    let mut set = JoinSet::new();
    for (name, _, mut sensor) in presence.into_iter().filter(|(n, _, _)| wanted(n)) {
        let (h, t) = (health.get(&name).cloned(), limit(cfg, &name));
        set.spawn(async move {
            let r = presence_reading(&mut sensor, h, t).await;
            (name, r.map(|o| if o { "occupied" } else { "clear" }.to_string()))
        });
    }
    if wanted(&barrier.0) {
        let (name, handle, t) = (barrier.0.clone(), barrier.1.clone(), limit(cfg, &barrier.0));
        set.spawn(async move {
            let r = timeout(t, async { handle.lock().await.state().await })
                .await
                .unwrap_or(Err(DeviceError::Timeout(t)));
            (name, r.map(|s| format!("{s:?}").to_lowercase()))
        });
    }
    for (name, (kind, handle)) in capturers.into_iter().filter(|(n, _)| wanted(n)) {
        let (h, t) = (health.get(&name).cloned(), limit(cfg, &name));
        set.spawn(async move {
            // A scan is not harmless (it waits for a vehicle): the UVSS camera is only watched.
            let watch_only = kind == CaptureKind::UvssScan;
            let r = match watch_only {
                true => until_ok(h, t).await.map(|()| "connected, heartbeats arriving".to_string()),
                false => capture(&handle, t).await.map(|c| match c {
                    Captured::Image(i) => format!("snapshot {}", describe_image(&i)),
                    Captured::Seals(seals) => seals_line(&seals),
                    Captured::Scan(_) => "scan".to_string(),
                }),
            };
            (name, r)
        });
    }
    if let Some((name, _handle)) = empty_box.filter(|(n, _)| wanted(n)) {
        let (h, t) = (health.get(&name).cloned(), limit(cfg, &name));
        set.spawn(
            async move { (name, until_ok(h, t).await.map(|()| "connected, status answered".to_string())) },
        );
    }
    let mut results: HashMap<String, Result<String, DeviceError>> = HashMap::new();
    while let Some(Ok((name, r))) = set.join_next().await {
        results.insert(name, r);
    }
    // In the lane file's order, so the report reads like the file.
    let reports: Vec<DeviceReport> =
        cfg.devices.iter().filter_map(|d| results.remove(&d.name).map(|r| report(d, r))).collect();
    render(cfg, reports)
}

pub fn seals_line(seals: &[drivers::SealRead]) -> String {
    let list: Vec<String> = seals
        .iter()
        .map(|s| format!("{} {}", s.id, crate::words::en_of("seal", &crate::words::wire_word(&s.status))))
        .collect();
    match seals.len() {
        0 => "no seal in range".into(),
        n => format!("{} in range: {}", crate::words::plural(n as u64, "seal", "seals"), list.join(", ")),
    }
}

fn render(cfg: &LaneConfig, reports: Vec<DeviceReport>) -> Outcome {
    let bad = reports.iter().filter(|r| !r.ok).count();
    let mut human = format!(
        "lane {}/{}: {}, {}\n",
        cfg.site,
        cfg.lane,
        crate::words::plural(reports.len() as u64, "device", "devices"),
        if bad == 0 { "all ok".to_string() } else { format!("{bad} not ok") }
    );
    let width = reports.iter().map(|r| r.device.chars().count()).max().unwrap_or(0);
    for r in &reports {
        let state = match (r.ok, r.reachable) {
            (true, _) => "ok",
            (false, true) => "FAULT",
            (false, false) => "DOWN",
        };
        let what = r.reading.clone().or(r.last_error.clone()).unwrap_or_default();
        human.push_str(&format!(
            "  {state:<5}  {:<width$}  {:<20}  {}  [{}]\n",
            r.device,
            crate::words::vocab_en("kind", r.kind),
            what,
            r.transport
        ));
        if let Some(h) = &r.hint {
            human.push_str(&format!("         hint: {h}\n"));
        }
    }
    let json = LaneReport { site: &cfg.site, lane: &cfg.lane, ok: bad == 0, devices: &reports };
    Outcome::new(bad == 0, human, json)
}
