//! `diag ports`: the serial ports this machine has, read from sysfs
//! (`/sys/class/tty`), with the USB vendor and product ids of USB-serial
//! adapters, so a technician can tell which `/dev/ttyUSB*` is the seal reader
//! and which the RS-485 adapter. With a lane file, each port is matched to the
//! devices configured on it, and a configured port that is not there is a
//! failed check.
//!
//! sysfs rather than udev: nothing to install, and the same tree in a test is a
//! few directories and symlinks.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Outcome;
use crate::config::{LaneConfig, Transport};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Port {
    pub path: String,
    /// "usb" (an adapter), "uart" (a built-in port), "other".
    pub kind: &'static str,
    pub driver: Option<String>,
    pub vid: Option<String>,
    pub pid: Option<String>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    pub serial: Option<String>,
    /// Devices in the lane file on this port.
    pub used_by: Vec<String>,
}

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file)).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The serial ports under a `class/tty` directory (virtual terminals and
/// 8250 slots with no UART behind them left out).
pub fn list(class_tty: &Path) -> std::io::Result<Vec<Port>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(class_tty)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        let Ok(device) = std::fs::canonicalize(entry.path().join("device")) else { continue };
        // The kernel lists 4 to 32 ttyS slots whatever the hardware; type 0 is "no UART".
        if name.starts_with("ttyS") && read(&entry.path(), "type").is_none_or(|t| t == "0") {
            continue;
        }
        let driver = std::fs::read_link(device.join("driver"))
            .ok()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().to_string()));
        // The USB device (with idVendor) is a few levels above the tty's interface.
        let usb = device.ancestors().take(6).find(|d| d.join("idVendor").is_file()).map(Path::to_path_buf);
        let get = |f: &str| usb.as_deref().and_then(|u| read(u, f));
        out.push(Port {
            path: format!("/dev/{name}"),
            kind: if usb.is_some() {
                "usb"
            } else if name.starts_with("ttyS") || name.starts_with("ttyAMA") {
                "uart"
            } else {
                "other"
            },
            driver,
            vid: get("idVendor"),
            pid: get("idProduct"),
            manufacturer: get("manufacturer"),
            product: get("product"),
            serial: get("serial"),
            used_by: Vec::new(),
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Serial ports the lane file names, with the devices on each.
fn configured(cfg: &LaneConfig) -> Vec<(String, String)> {
    cfg.devices
        .iter()
        .filter_map(|d| match &d.transport {
            Transport::Serial { port, .. } => Some((port.clone(), d.name.clone())),
            Transport::Modbus(m) => Some((m.port.clone(), d.name.clone())),
            _ => None,
        })
        .collect()
}

/// `/dev/serial/by-id/...` and other links resolve to the `/dev/ttyX` they name.
fn resolve(port: &str) -> PathBuf {
    std::fs::canonicalize(port).unwrap_or_else(|_| PathBuf::from(port))
}

#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    ports: &'a [Port],
    /// Ports the lane file names that this machine does not have: (port, device).
    missing: &'a [(String, String)],
}

pub fn report(class_tty: &Path, cfg: Option<&LaneConfig>) -> Outcome {
    let mut ports = match list(class_tty) {
        Ok(p) => p,
        Err(e) => {
            let why = format!("cannot list serial ports in {}: {e}", class_tty.display());
            return Outcome::new(false, format!("{why}\n"), serde_json::json!({"ok": false, "error": why}));
        }
    };
    let mut missing = Vec::new();
    for (port, device) in cfg.map(configured).unwrap_or_default() {
        let real = resolve(&port);
        match ports.iter_mut().find(|p| Path::new(&p.path) == real) {
            Some(p) => p.used_by.push(device),
            None => missing.push((port, device)),
        }
    }
    let mut human = format!("{} serial port{}\n", ports.len(), if ports.len() == 1 { "" } else { "s" });
    for p in &ports {
        let ids = match (&p.vid, &p.pid) {
            (Some(v), Some(d)) => format!("USB {v}:{d}"),
            _ => p.kind.to_string(),
        };
        let what: Vec<&str> =
            [&p.manufacturer, &p.product, &p.driver].into_iter().flatten().map(String::as_str).collect();
        human.push_str(&format!("  {:<14} {:<14} {}", p.path, ids, what.join(" / ")));
        if let Some(s) = &p.serial {
            human.push_str(&format!(" (serial {s})"));
        }
        if !p.used_by.is_empty() {
            human.push_str(&format!("  <- {}", p.used_by.join(", ")));
        }
        human.push('\n');
    }
    for (port, device) in &missing {
        human.push_str(&format!("  MISSING {port}: configured for {device}, not on this machine\n"));
    }
    let ok = missing.is_empty();
    Outcome::new(ok, human, Report { ok, ports: &ports, missing: &missing })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn write(dir: &Path, file: &str, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(file), text).unwrap();
    }

    /// A sysfs tree as the kernel lays it out for an FTDI adapter, a 16550
    /// UART, an empty 8250 slot and a virtual console.
    fn tree(root: &Path) -> PathBuf {
        let usb = root.join("devices/pci0000:00/usb1/1-1");
        write(&usb, "idVendor", "0403\n");
        write(&usb, "idProduct", "6001\n");
        write(&usb, "manufacturer", "FTDI\n");
        write(&usb, "product", "FT232R USB UART\n");
        write(&usb, "serial", "A10K3XYZ\n");
        let port = usb.join("1-1:1.0/ttyUSB0");
        std::fs::create_dir_all(&port).unwrap();
        std::fs::create_dir_all(root.join("bus/usb-serial/drivers/ftdi_sio")).unwrap();
        symlink(root.join("bus/usb-serial/drivers/ftdi_sio"), port.join("driver")).unwrap();
        let uart = root.join("devices/pnp0/00:01");
        std::fs::create_dir_all(&uart).unwrap();
        let class = root.join("class/tty");
        for (name, device, typ) in [
            ("ttyUSB0", Some(&port), None),
            ("ttyS0", Some(&uart), Some("4")),
            ("ttyS1", Some(&uart), Some("0")),
            ("console", None, None),
        ] {
            let dir = class.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            if let Some(d) = device {
                symlink(d, dir.join("device")).unwrap();
            }
            if let Some(t) = typ {
                write(&dir, "type", t);
            }
        }
        class
    }

    #[test]
    fn usb_adapters_carry_their_ids_and_empty_slots_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let ports = list(&tree(dir.path())).unwrap();
        let paths: Vec<_> = ports.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["/dev/ttyS0", "/dev/ttyUSB0"]);
        let usb = &ports[1];
        assert_eq!((usb.kind, usb.vid.as_deref(), usb.pid.as_deref()), ("usb", Some("0403"), Some("6001")));
        assert_eq!(usb.product.as_deref(), Some("FT232R USB UART"));
        assert_eq!(usb.serial.as_deref(), Some("A10K3XYZ"));
        assert_eq!(usb.driver.as_deref(), Some("ftdi_sio"));
        assert_eq!((ports[0].kind, ports[0].vid.as_ref()), ("uart", None));
    }

    #[test]
    fn a_missing_sysfs_is_a_failed_check_with_the_reason() {
        let o = report(Path::new("/nonexistent/class/tty"), None);
        assert!(!o.ok);
        assert!(o.human.contains("cannot list serial ports in /nonexistent/class/tty"), "{}", o.human);
    }
}
