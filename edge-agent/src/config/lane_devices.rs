//! The devices checked as a set: each device by `device.rs`, then what only the
//! whole lane shows — one serial port per device, one speed and distinct
//! registers per RS-485 bus, one GPIO line per device, and the roles a lane
//! needs (one barrier, one arrival sensor, one under the arm). Apart from
//! `validate.rs`, which calls it; it never imports `validate.rs`.

use std::collections::HashMap;

use super::raw::*;
use super::types::*;
use tomlcheck::Reporter;

pub(super) fn devices(raw: &RawConfig, r: &mut Reporter) -> Vec<DeviceConfig> {
    let Some(all) = &raw.devices else {
        r.missing(0..0, "devices", "add one [devices.NAME] table per device: a barrier and presence sensors at least (config/lane.example.toml)");
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut ports: HashMap<String, (String, bool)> = HashMap::new();
    let mut buses = Buses::default();
    let mut lines: HashMap<(String, u32), String> = HashMap::new();
    // In file order, so a clash is reported at the second device, where it was made.
    let mut in_order: Vec<_> = all.get_ref().iter().collect();
    in_order.sort_by_key(|(name, _)| name.span().start);
    let mut all_valid = true;
    for (name, dev) in in_order {
        let device = super::device::device(name, dev, r);
        all_valid &= device.is_some();
        if let Some(d) = device {
            if let Some((port, modbus, span)) = super::device::serial_port(dev) {
                match ports.get(&port) {
                    Some((other, other_modbus)) if !(modbus && *other_modbus) => {
                        r.error(span, format!("device `{}` uses serial port {port} which device `{other}` already uses", name.get_ref()), "a serial port opens exclusively; give each device its own port (Modbus devices may share a bus, and a unit as long as their registers differ)");
                    }
                    _ => {
                        ports.entry(port).or_insert((name.get_ref().clone(), modbus));
                    }
                }
            }
            if let Some(m) = &dev.get_ref().modbus {
                buses.check(name.get_ref(), m.get_ref(), r);
            }
            for (chip, line, span) in super::device::gpio_lines(dev) {
                if let Some(other) = lines.insert((chip.clone(), line), name.get_ref().clone()) {
                    r.error(
                        span,
                        format!("GPIO line {line} on {chip} is already used by device `{other}`"),
                        "each GPIO line can be wired to one input or output; check the wiring plan",
                    );
                }
            }
            out.push(d);
        }
    }
    // A device that failed its own checks would only show up again here as missing.
    if all_valid {
        lane_roles(all.span(), &out, r);
    }
    out
}

/// What the devices on each RS-485 bus have claimed so far: one master drives
/// the bus (`lane::wire`), so its line settings are the bus's, and devices
/// sharing a unit (a barrier controller that also reads the loops) must not
/// share a register.
#[derive(Default)]
struct Buses {
    /// Port -> (first device, baud, echo).
    settings: HashMap<String, (String, u32, bool)>,
    /// (port, unit, space, address) -> (device, key).
    registers: HashMap<(String, u8, &'static str, u16), (String, &'static str)>,
}

impl Buses {
    fn check(&mut self, device: &str, m: &RawModbus, r: &mut Reporter) {
        // Both are there: the device's own checks passed.
        let (Some(port_key), Some(unit_key)) = (&m.port, &m.unit) else { return };
        let port = port_key.get_ref();
        let (baud, echo) =
            (m.baud.as_ref().map_or(9600, |b| *b.get_ref()), m.echo.as_ref().is_some_and(|e| *e.get_ref()));
        match self.settings.get(port) {
            Some((first, b, _)) if *b != baud => {
                let span = m.baud.as_ref().map_or(port_key.span(), |b| b.span());
                r.error(
                    span,
                    format!("device `{device}` sets {port} to {baud} baud but device `{first}` to {b}"),
                    "one RS-485 bus runs at one speed: give every device on it the same `baud`",
                );
            }
            Some((first, _, e)) if *e != echo => {
                let span = m.echo.as_ref().map_or(port_key.span(), |e| e.span());
                r.error(span, format!("device `{device}` and device `{first}` disagree on `echo` for {port}"), "echo is a property of the RS-485 adapter: set the same `echo` on every device of the bus");
            }
            Some(_) => {}
            None => {
                self.settings.insert(port.clone(), (device.to_string(), baud, echo));
            }
        }
        let unit = *unit_key.get_ref();
        for (space, addr, key, span) in super::device::modbus_registers(m) {
            let at = (port.clone(), unit, space, addr);
            if let Some((other, other_key)) = self.registers.get(&at) {
                let whose =
                    if other == device { "its own".to_string() } else { format!("device `{other}`'s") };
                r.error(span, format!("{space} {addr} of unit {unit} on {port} is already {whose} `{other_key}`"), "devices sharing a Modbus unit must use different registers: check the register map in the controller's manual");
            } else {
                self.registers.insert(at, (device.to_string(), key));
            }
        }
    }
}

/// The lane needs one barrier, one arrival sensor and one sensor under the arm.
fn lane_roles(span: std::ops::Range<usize>, devices: &[DeviceConfig], r: &mut Reporter) {
    let count = |kind: DeviceKind, role: Option<Role>| {
        devices.iter().filter(|d| d.kind == kind && (role.is_none() || Some(d.role) == role)).count()
    };
    let checks = [
        (DeviceKind::Barrier, None, "barrier", "add one `kind = \"barrier\"` device"),
        (DeviceKind::Presence, Some(Role::Arrival), "arrival presence sensor", "add a `kind = \"presence\"` device with `role = \"arrival\"`"),
        (DeviceKind::Presence, Some(Role::UnderArm), "presence sensor under the arm", "add a `kind = \"presence\"` device with `role = \"under_arm\"`: the barrier may only close when it is clear"),
    ];
    for (kind, role, what, help) in checks {
        match count(kind, role) {
            1 => {}
            0 => r.error(span.clone(), format!("the lane has no {what}"), help),
            n => r.error(
                span.clone(),
                format!("the lane has {n} devices as its {what}; exactly one is supported"),
                "remove the extra ones",
            ),
        }
    }
    if count(DeviceKind::Presence, Some(Role::Exit)) > 1 {
        r.error(
            span.clone(),
            "the lane has more than one exit presence sensor",
            "keep one `role = \"exit\"` sensor",
        );
    }
    for kind in [DeviceKind::UnderVehicleCamera, DeviceKind::SealReader, DeviceKind::EmptyBoxDetector] {
        if count(kind, None) > 1 {
            r.error(
                span.clone(),
                format!("the lane has more than one {}", kind.words()),
                "one per lane is supported",
            );
        }
    }
}
