//! Validation of one `[devices.NAME]` table: its kind, role and transport.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::diagnostic::Reporter;
use super::raw::*;
use super::types::*;
use super::validate::duration;

fn kinds_list() -> String {
    DeviceKind::ALL.iter().map(|(n, _)| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
}

/// Transports each device class can be driven over.
fn allowed(kind: DeviceKind) -> &'static [&'static str] {
    match kind {
        DeviceKind::Barrier => &["sim", "gpio", "modbus"],
        DeviceKind::Presence => &["sim", "gpio", "modbus"],
        DeviceKind::AreaCamera => &["sim", "http"],
        DeviceKind::UnderVehicleCamera => &["sim", "tcp"],
        DeviceKind::SealReader => &["sim", "serial"],
        DeviceKind::EmptyBoxDetector => &["sim", "serial", "tcp"],
    }
}

fn roles(kind: DeviceKind) -> &'static [(&'static str, Role)] {
    match kind {
        DeviceKind::Presence => {
            &[("arrival", Role::Arrival), ("under_arm", Role::UnderArm), ("exit", Role::Exit)]
        }
        DeviceKind::AreaCamera => &[("plate", Role::Plate), ("container", Role::Container)],
        _ => &[],
    }
}

pub fn device(name: &Spanned<String>, dev: &Spanned<RawDevice>, r: &mut Reporter) -> Option<DeviceConfig> {
    let n = name.get_ref();
    if n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        r.error(
            name.span(),
            format!("device name {n:?} is not a valid identifier"),
            "use letters, digits, '-' and '_' only",
        );
    }
    let d = dev.get_ref();
    let Some(kind) = DeviceKind::ALL.iter().find(|(k, _)| k == d.kind.get_ref()).map(|(_, k)| *k) else {
        r.error(
            d.kind.span(),
            format!("unknown device kind {:?}", d.kind.get_ref()),
            format!("use one of {}", kinds_list()),
        );
        return None;
    };
    let role = role(kind, d, dev.span(), r)?;
    let transport = transport(kind, d, dev.span(), r)?;
    let timeout = match &d.timeout {
        Some(t) => duration(t, &format!("devices.{n}.timeout"), r)?,
        None => Duration::from_secs(3),
    };
    Some(DeviceConfig {
        name: n.clone(),
        kind,
        role,
        timeout,
        required: d.required.unwrap_or(true),
        transport,
    })
}

fn role(kind: DeviceKind, d: &RawDevice, span: Range<usize>, r: &mut Reporter) -> Option<Role> {
    let options = roles(kind);
    match (&d.role, options.is_empty()) {
        (None, true) => Some(Role::Main),
        (Some(role), true) => {
            r.error(role.span(), format!("a {} has no role", kind.name()), "remove the `role` key");
            None
        }
        (None, false) => {
            let list: Vec<_> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
            r.error(
                span,
                format!("this {} has no `role`", kind.name()),
                format!("add `role = ` one of {}", list.join(", ")),
            );
            None
        }
        (Some(role), false) => match options.iter().find(|(n, _)| n == role.get_ref()) {
            Some((_, role)) => Some(*role),
            None => {
                let list: Vec<_> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
                r.error(
                    role.span(),
                    format!("{:?} is not a role of a {}", role.get_ref(), kind.name()),
                    format!("use one of {}", list.join(", ")),
                );
                None
            }
        },
    }
}

fn transport(kind: DeviceKind, d: &RawDevice, span: Range<usize>, r: &mut Reporter) -> Option<Transport> {
    let given: Vec<(&str, Range<usize>)> = [
        d.sim.as_ref().map(|t| ("sim", t.span())),
        d.gpio.as_ref().map(|t| ("gpio", t.span())),
        d.serial.as_ref().map(|t| ("serial", t.span())),
        d.modbus.as_ref().map(|t| ("modbus", t.span())),
        d.tcp.as_ref().map(|t| ("tcp", t.span())),
        d.http.as_ref().map(|t| ("http", t.span())),
    ]
    .into_iter()
    .flatten()
    .collect();
    let ok = allowed(kind);
    let list = ok.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ");
    match given.as_slice() {
        [] => {
            r.error(span, format!("this {} has no transport", kind.name()), format!("add one of {list}"));
            return None;
        }
        [_, (_, second), ..] => {
            r.error(
                second.clone(),
                "a device has exactly one transport; this is a second one",
                "keep the transport the device is wired to and remove the others",
            );
            return None;
        }
        [(name, span)] if !ok.contains(name) => {
            r.error(
                span.clone(),
                format!("a {} cannot be driven over `{name}`", kind.name()),
                format!("use one of {list}"),
            );
            return None;
        }
        _ => {}
    }
    if d.sim.is_some() {
        return Some(Transport::Sim);
    }
    if let Some(g) = &d.gpio {
        return gpio(kind, g, r).map(Transport::Gpio);
    }
    if let Some(s) = &d.serial {
        let s = s.get_ref();
        return Some(Transport::Serial {
            port: s.port.get_ref().clone(),
            baud: baud(s.baud.as_ref(), r),
            address: s.address.as_ref().map(|a| *a.get_ref()),
        });
    }
    if let Some(m) = &d.modbus {
        return modbus(kind, m, r).map(Transport::Modbus);
    }
    if let Some(t) = &d.tcp {
        let addr = t.get_ref().address.get_ref();
        let valid = addr
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0));
        if !valid {
            r.error(
                t.get_ref().address.span(),
                format!("{addr:?} is not HOST:PORT"),
                "write the device's address and TCP port, e.g. \"10.20.1.31:7000\"",
            );
            return None;
        }
        return Some(Transport::Tcp { address: addr.clone() });
    }
    if let Some(h) = &d.http {
        return http(h.get_ref(), r);
    }
    None
}

fn baud(b: Option<&Spanned<u32>>, r: &mut Reporter) -> u32 {
    match b {
        None => 9600,
        Some(b) => {
            const RATES: [u32; 8] = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200];
            if !RATES.contains(b.get_ref()) {
                r.error(
                    b.span(),
                    format!("{} is not a standard baud rate", b.get_ref()),
                    "use the rate set on the device: 1200 … 115200 (9600 is the usual default)",
                );
            }
            *b.get_ref()
        }
    }
}

fn gpio(kind: DeviceKind, g: &Spanned<RawGpio>, r: &mut Reporter) -> Option<GpioConfig> {
    let raw = g.get_ref();
    let debounce = match &raw.debounce {
        Some(d) => duration(d, "gpio.debounce", r)?,
        None => Duration::from_millis(50),
    };
    let cfg = GpioConfig {
        chip: raw.chip.get_ref().clone(),
        line: raw.line.as_ref().map(|l| *l.get_ref()),
        active_low: raw.active_low.unwrap_or(false),
        debounce,
        open: raw.open.as_ref().map(|l| *l.get_ref()),
        close: raw.close.as_ref().map(|l| *l.get_ref()),
        stop: raw.stop.as_ref().map(|l| *l.get_ref()),
        opened: raw.opened.as_ref().map(|l| *l.get_ref()),
        closed: raw.closed.as_ref().map(|l| *l.get_ref()),
    };
    match kind {
        DeviceKind::Barrier => {
            let missing: Vec<&str> =
                [("open", cfg.open), ("close", cfg.close), ("opened", cfg.opened), ("closed", cfg.closed)]
                    .into_iter()
                    .filter(|(_, v)| v.is_none())
                    .map(|(n, _)| n)
                    .collect();
            if !missing.is_empty() {
                r.error(g.span(), format!("barrier GPIO lines missing: {}", missing.join(", ")), "a dry-contact barrier needs `open` and `close` outputs and `opened` and `closed` limit inputs (`stop` is optional)");
                return None;
            }
        }
        _ if cfg.line.is_none() => {
            r.error(
                g.span(),
                "GPIO presence sensor without `line`",
                "add `line = N`, the line offset on the gpiochip",
            );
            return None;
        }
        _ => {}
    }
    Some(cfg)
}

fn modbus(kind: DeviceKind, m: &Spanned<RawModbus>, r: &mut Reporter) -> Option<ModbusConfig> {
    let raw = m.get_ref();
    let get = |v: &Option<Spanned<u16>>| v.as_ref().map(|x| *x.get_ref());
    let cfg = ModbusConfig {
        port: raw.port.get_ref().clone(),
        baud: baud(raw.baud.as_ref(), r),
        unit: *raw.unit.get_ref(),
        open_coil: get(&raw.open_coil),
        close_coil: get(&raw.close_coil),
        stop_coil: get(&raw.stop_coil),
        opened_input: get(&raw.opened_input),
        closed_input: get(&raw.closed_input),
        presence_input: get(&raw.presence_input),
        echo: raw.echo.as_ref().is_some_and(|e| *e.get_ref()),
    };
    if !(1..=247).contains(&cfg.unit) {
        r.error(
            raw.unit.span(),
            format!("Modbus unit id {} is out of range", cfg.unit),
            "unit ids run from 1 to 247",
        );
        return None;
    }
    let complete = match kind {
        DeviceKind::Barrier => {
            cfg.open_coil.is_some()
                && cfg.close_coil.is_some()
                && cfg.opened_input.is_some()
                && cfg.closed_input.is_some()
        }
        _ => cfg.presence_input.is_some(),
    };
    if !complete {
        let help = if kind == DeviceKind::Barrier {
            "a Modbus barrier needs `open_coil`, `close_coil`, `opened_input` and `closed_input`"
        } else {
            "a Modbus presence sensor needs `presence_input`"
        };
        r.error(m.span(), "incomplete Modbus register map", help);
        return None;
    }
    Some(cfg)
}

fn http(h: &RawHttp, r: &mut Reporter) -> Option<Transport> {
    let url = h.url.get_ref();
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
        r.error(
            h.url.span(),
            format!("{url:?} is not an http:// or https:// URL"),
            "give the camera's snapshot URL, e.g. \"http://10.20.1.21/ISAPI/Streaming/channels/1/picture\"",
        );
        return None;
    }
    let auth = match h.auth.as_ref().map(|a| a.get_ref().as_str()) {
        None | Some("none") => HttpAuth::None,
        Some("basic") => HttpAuth::Basic,
        Some("digest") => HttpAuth::Digest,
        Some(other) => {
            r.error(
                h.auth.as_ref().unwrap().span(),
                format!("unknown HTTP auth {other:?}"),
                "use \"none\", \"basic\" or \"digest\"",
            );
            return None;
        }
    };
    if auth != HttpAuth::None && h.username.is_none() {
        r.error(
            h.url.span(),
            "HTTP auth is set but `username` is missing",
            "add `username` and `password` for the camera",
        );
        return None;
    }
    Some(Transport::Http {
        url: url.clone(),
        auth,
        username: h.username.clone(),
        password: h.password.clone(),
    })
}

/// The serial port a device opens, and whether it is a Modbus bus (which
/// several devices may share).
pub fn serial_port(dev: &Spanned<RawDevice>) -> Option<(String, bool, Range<usize>)> {
    let d = dev.get_ref();
    if let Some(s) = &d.serial {
        return Some((s.get_ref().port.get_ref().clone(), false, s.get_ref().port.span()));
    }
    d.modbus.as_ref().map(|m| (m.get_ref().port.get_ref().clone(), true, m.get_ref().port.span()))
}

/// A Modbus register a device uses: (space, address, key, span). Coils and
/// discrete inputs are separate address spaces on the wire.
pub type Register = (&'static str, u16, &'static str, Range<usize>);

/// The registers of a Modbus device, for the overlap check between devices
/// sharing one unit (a barrier controller that also reads the loops).
pub fn modbus_registers(m: &RawModbus) -> Vec<Register> {
    [
        ("coil", &m.open_coil, "open_coil"),
        ("coil", &m.close_coil, "close_coil"),
        ("coil", &m.stop_coil, "stop_coil"),
        ("discrete input", &m.opened_input, "opened_input"),
        ("discrete input", &m.closed_input, "closed_input"),
        ("discrete input", &m.presence_input, "presence_input"),
    ]
    .into_iter()
    .filter_map(|(space, v, key)| v.as_ref().map(|v| (space, *v.get_ref(), key, v.span())))
    .collect()
}

/// GPIO lines a device claims.
pub fn gpio_lines(dev: &Spanned<RawDevice>) -> Vec<(String, u32, Range<usize>)> {
    let Some(g) = &dev.get_ref().gpio else { return vec![] };
    let g = g.get_ref();
    [&g.line, &g.open, &g.close, &g.stop, &g.opened, &g.closed]
        .into_iter()
        .flatten()
        .map(|l| (g.chip.get_ref().clone(), *l.get_ref(), l.span()))
        .collect()
}
