//! The per-device actions: cycle the barrier, read the seals, save a camera
//! snapshot or an under-vehicle scan.
//!
//! The barrier cycle keeps both safety lines the agent has: diag itself reads
//! the sensor under the arm and sends no command while it is occupied (nor when
//! it cannot be read), and the driver's own interlock, fed by the same sensor
//! for the whole cycle, refuses the close if a vehicle arrives meanwhile.

use std::path::Path;
use std::time::Duration;

use drivers::DeviceError;
use serde::Serialize;
use tokio::time::{timeout, Instant};

use super::probe::{self, capture, describe_image, limit, presence_reading, seals_line, until_ok};
use super::Outcome;
use crate::config::{DeviceKind, LaneConfig, Transport};
use crate::flow::Zone;
use crate::lane::Captured;
use crate::lane::Devices;

#[derive(Serialize)]
struct Action<'a, T: Serialize> {
    device: &'a str,
    action: &'static str,
    ok: bool,
    error: Option<String>,
    hint: Option<String>,
    #[serde(flatten)]
    detail: T,
}

fn outcome<T: Serialize>(
    device: &str,
    action: &'static str,
    result: Result<(String, T), String>,
    empty: T,
) -> Outcome {
    let (ok, human, error, detail) = match result {
        Ok((line, detail)) => (true, format!("{device}: {line}\n"), None, detail),
        Err(e) => (false, format!("{device}: {e}\n"), Some(e), empty),
    };
    let hint = error.as_deref().and_then(probe::hint);
    let human = match &hint {
        Some(h) => format!("{human}  hint: {h}\n"),
        None => human,
    };
    Outcome::new(ok, human, Action { device, action, ok, error, hint, detail })
}

#[derive(Serialize, Default)]
struct Cycle {
    opened_ms: Option<u64>,
    closed_ms: Option<u64>,
}

pub async fn cycle_barrier(cfg: &LaneConfig, devices: Devices) -> Outcome {
    let name = devices.barrier.0.clone();
    let result = cycle(cfg, devices).await;
    outcome(&name, "cycle", result, Cycle::default())
}

async fn cycle(cfg: &LaneConfig, mut devices: Devices) -> Result<(String, Cycle), String> {
    let i = devices
        .presence
        .iter()
        .position(|(_, z, _)| *z == Zone::UnderArm)
        .ok_or("the lane has no sensor under the arm")?;
    let (sensor_name, _, mut sensor) = devices.presence.swap_remove(i);
    let health = devices.health.iter().find(|(n, _)| *n == sensor_name).map(|(_, h)| h.clone());
    // Nothing moves unless the zone under the arm is known to be clear.
    match presence_reading(&mut sensor, health, limit(cfg, &sensor_name)).await {
        Ok(false) => {}
        Ok(true) => {
            return Err(format!(
                "refused: the zone under the arm is occupied ({sensor_name}); nothing was moved"
            ))
        }
        Err(e) => {
            return Err(format!("refused: cannot read {sensor_name} under the arm ({e}); nothing was moved"))
        }
    }
    // From here the sensor keeps the driver's interlock current, as in the lane.
    let (occupied_tx, mut occupied) = tokio::sync::watch::channel(false);
    let follower = tokio::spawn(async move {
        while let Ok(o) = sensor.changed().await {
            occupied_tx.send_replace(o);
        }
        occupied_tx.send_replace(true);
    });
    let move_limit = cfg.timeouts.barrier;
    let mut barrier = devices.barrier.1.lock().await;
    let step = |r: Result<Result<(), DeviceError>, _>| r.unwrap_or(Err(DeviceError::Timeout(move_limit)));
    let started = Instant::now();
    let opened = step(timeout(move_limit, barrier.open()).await);
    let opened_ms = started.elapsed().as_millis() as u64;
    opened.map_err(|e| format!("open failed: {e}"))?;
    if *occupied.borrow_and_update() {
        follower.abort();
        return Err(format!("opened in {opened_ms} ms, but not closed: the zone under the arm became occupied; the arm stays up"));
    }
    let started = Instant::now();
    let closed = step(timeout(move_limit, barrier.close()).await);
    follower.abort();
    let closed_ms = started.elapsed().as_millis() as u64;
    match closed {
        Ok(()) => Ok((
            format!("opened in {opened_ms} ms, closed in {closed_ms} ms"),
            Cycle { opened_ms: Some(opened_ms), closed_ms: Some(closed_ms) },
        )),
        Err(e @ DeviceError::Refused(_)) => Err(format!("opened in {opened_ms} ms, close {e}")),
        Err(e) => Err(format!("opened in {opened_ms} ms, close failed: {e}")),
    }
}

pub async fn read_seals(cfg: &LaneConfig, devices: Devices) -> Result<Outcome, String> {
    let name = cfg
        .devices_of(DeviceKind::SealReader)
        .next()
        .map(|d| d.name.clone())
        .ok_or("the lane has no seal reader")?;
    let t = limit(cfg, &name);
    let handle =
        devices.capturers.get(&name).map(|(_, h)| h.clone()).ok_or("the seal reader was not built")?;
    let read = match capture(&handle, t).await {
        Ok(Captured::Seals(seals)) => Ok(seals),
        Ok(_) => Err(DeviceError::Fault("not a seal reader".into())),
        Err(e) => Err(e),
    };
    #[derive(Serialize, Default)]
    struct Seals {
        seals: Vec<drivers::SealRead>,
    }
    let result = read.map(|seals| (seals_line(&seals), Seals { seals })).map_err(|e| e.to_string());
    Ok(outcome(&name, "read", result, Seals::default()))
}

#[derive(Serialize, Default)]
struct Saved {
    file: Option<String>,
    format: Option<drivers::ImageFormat>,
    width: u32,
    height: u32,
    bytes: usize,
}

fn save(image: &drivers::Image, out: &Path) -> Result<Saved, String> {
    std::fs::write(out, &image.bytes).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(Saved {
        file: Some(out.display().to_string()),
        format: Some(image.format),
        width: image.width,
        height: image.height,
        bytes: image.bytes.len(),
    })
}

pub async fn snapshot(cfg: &LaneConfig, devices: Devices, name: &str, out: &Path) -> Result<Outcome, String> {
    let device = probe::camera(cfg, name)?;
    let t = limit(cfg, &device.name);
    let handle = devices.capturers.get(name).map(|(_, h)| h.clone()).ok_or("the camera was not built")?;
    let image = match capture(&handle, t).await {
        Ok(Captured::Image(i)) => i,
        Ok(_) => return Err(format!("{name} is not an area camera")),
        Err(e) => return Ok(outcome(name, "snapshot", Err(e.to_string()), Saved::default())),
    };
    let saved = save(&image, out)?;
    Ok(outcome(
        name,
        "snapshot",
        Ok((format!("{} saved to {}", describe_image(&image), out.display()), saved)),
        Saved::default(),
    ))
}

pub async fn capture_uvss(
    cfg: &LaneConfig,
    devices: Devices,
    out: &Path,
    wait: Duration,
) -> Result<Outcome, String> {
    let name = cfg
        .devices_of(DeviceKind::UnderVehicleCamera)
        .next()
        .map(|d| d.name.clone())
        .ok_or("the lane has no under-vehicle camera")?;
    // The simulation diag builds has no traffic (see `on_lane`): no vehicle will ever drive
    // over, so say so now rather than promise a wait that cannot end well.
    if cfg.devices.iter().any(|d| d.name == name && d.transport == Transport::Sim) {
        return Ok(outcome(
            &name,
            "capture",
            Err("simulated, and diag runs the simulation without traffic: no vehicle will drive over. \
                 Run the lane (`edge-agent run`) and take scans from its passages (technician page, `edge-agent tail`)"
                .to_string()),
            Saved::default(),
        ));
    }
    let handle =
        devices.capturers.get(&name).map(|(_, h)| h.clone()).ok_or("the UVSS camera was not built")?;
    // An unplugged camera fails now, not after the whole wait.
    let health = devices.health.iter().find(|(n, _)| *n == name).map(|(_, h)| h.clone());
    if let Err(e) = until_ok(health, limit(cfg, &name)).await {
        return Ok(outcome(&name, "capture", Err(e.to_string()), Saved::default()));
    }
    eprintln!("{name}: waiting up to {} for a vehicle to drive over…", crate::words::format_duration(wait));
    let deadline = Instant::now() + wait;
    let scan = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let r = match capture(&handle, left).await {
            Ok(Captured::Scan(scan)) => Ok(scan),
            Ok(_) => return Err(format!("{name} is not an under-vehicle camera")),
            Err(e) => Err(e),
        };
        // The driver gives up on one scan after its own wait; keep waiting until ours is over.
        match r {
            Err(DeviceError::Timeout(_)) if Instant::now() < deadline => continue,
            Err(DeviceError::Timeout(_)) => {
                break Err(format!("no vehicle drove over within {}", crate::words::format_duration(wait)))
            }
            other => break other.map_err(|e| e.to_string()),
        }
    };
    let scan = match scan {
        Ok(s) => s,
        Err(e) => return Ok(outcome(&name, "capture", Err(e), Saved::default())),
    };
    let saved = save(&scan.image, out)?;
    let line = format!(
        "{} at {:.1} km/h ({:.0} rows/m) saved to {}",
        describe_image(&scan.image),
        scan.speed_kmh,
        scan.rows_per_metre,
        out.display()
    );
    Ok(outcome(&name, "capture", Ok((line, saved)), Saved::default()))
}
