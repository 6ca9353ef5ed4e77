//! Validation of one `[devices.NAME]` table: its kind, role and transport.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::raw::*;
use super::types::*;
use super::values::duration;
use crate::words;
use tomlcheck::Reporter;

fn kind_names() -> Vec<&'static str> {
    DeviceKind::ALL.iter().map(|(n, _)| *n).collect()
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
    let Some(kind_key) = &d.kind else {
        r.missing(
            dev.span(),
            &format!("devices.{n}.kind"),
            format!("say what the device is: kind = one of {}", words::quoted_list(&kind_names())),
        );
        return None;
    };
    let Some(kind) = DeviceKind::ALL.iter().find(|(k, _)| k == kind_key.get_ref()).map(|(_, k)| *k) else {
        r.error(
            kind_key.span(),
            format!("unknown device kind {:?}", kind_key.get_ref()),
            words::did_you_mean(kind_key.get_ref(), &kind_names(), "use"),
        );
        return None;
    };
    let role = role(kind, d, dev.span(), r)?;
    let transport = transport(n, kind, d, dev.span(), r)?;
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
            r.error(
                role.span(),
                format!("{} has no role", capital(&kind.with_article())),
                "remove the `role` key",
            );
            None
        }
        (None, false) => {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            r.error(
                span,
                format!("this {} has no `role`", kind.words()),
                format!("add `role = ` {}", words::quoted_list(&names)),
            );
            None
        }
        (Some(role), false) => match options.iter().find(|(n, _)| n == role.get_ref()) {
            Some((_, role)) => Some(*role),
            None => {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                r.error(
                    role.span(),
                    format!("{:?} is not a role of {}", role.get_ref(), kind.with_article()),
                    words::did_you_mean(role.get_ref(), &names, "use"),
                );
                None
            }
        },
    }
}

fn transport(
    n: &str,
    kind: DeviceKind,
    d: &RawDevice,
    span: Range<usize>,
    r: &mut Reporter,
) -> Option<Transport> {
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
    let list = match list.rsplit_once(", ") {
        Some((rest, last)) => format!("{rest} or {last}"),
        None => list,
    };
    match given.as_slice() {
        [] => {
            r.error(
                span,
                format!("this {} has no transport", kind.words()),
                format!("add how it is connected: {list} (e.g. `sim = {{}}` for a simulated one)"),
            );
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
                format!("{} cannot be driven over `{name}`", capital(&kind.with_article())),
                format!("use {list}"),
            );
            return None;
        }
        _ => {}
    }
    if d.sim.is_some() {
        return Some(Transport::Sim);
    }
    if let Some(g) = &d.gpio {
        return gpio(n, kind, g, r).map(Transport::Gpio);
    }
    if let Some(table) = &d.serial {
        let s = table.get_ref();
        let port = require(
            &s.port,
            table.span(),
            &format!("devices.{n}.serial.port"),
            "name the serial device: port = \"/dev/ttyUSB0\" (`edge-agent diag ports` lists them)",
            r,
        )?;
        return Some(Transport::Serial {
            port: port.get_ref().clone(),
            baud: baud(s.baud.as_ref(), r),
            address: s.address.as_ref().map(|a| *a.get_ref()),
        });
    }
    if let Some(m) = &d.modbus {
        return modbus(n, kind, m, r).map(Transport::Modbus);
    }
    if let Some(t) = &d.tcp {
        let address = require(
            &t.get_ref().address,
            t.span(),
            &format!("devices.{n}.tcp.address"),
            "give the device's IP and port: address = \"10.20.1.31:7000\"",
            r,
        )?;
        let addr = address.get_ref();
        let valid = addr
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0));
        if !valid {
            r.error(
                address.span(),
                format!("{addr:?} is not HOST:PORT"),
                "write the device's address and TCP port, e.g. \"10.20.1.31:7000\"",
            );
            return None;
        }
        return Some(Transport::Tcp { address: addr.clone() });
    }
    if let Some(h) = &d.http {
        return http(n, h, r);
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

fn gpio(n: &str, kind: DeviceKind, g: &Spanned<RawGpio>, r: &mut Reporter) -> Option<GpioConfig> {
    let raw = g.get_ref();
    let chip = require(
        &raw.chip,
        g.span(),
        &format!("devices.{n}.gpio.chip"),
        "name the GPIO chip: chip = \"/dev/gpiochip0\" (`ls /dev/gpiochip*`)",
        r,
    )?;
    let debounce = match &raw.debounce {
        Some(d) => duration(d, &format!("devices.{n}.gpio.debounce"), r)?,
        None => Duration::from_millis(50),
    };
    let cfg = GpioConfig {
        chip: chip.get_ref().clone(),
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

fn modbus(n: &str, kind: DeviceKind, m: &Spanned<RawModbus>, r: &mut Reporter) -> Option<ModbusConfig> {
    let raw = m.get_ref();
    let port = require(
        &raw.port,
        m.span(),
        &format!("devices.{n}.modbus.port"),
        "name the RS-485 adapter: port = \"/dev/ttyS1\" (`edge-agent diag ports` lists them)",
        r,
    );
    let unit = require(
        &raw.unit,
        m.span(),
        &format!("devices.{n}.modbus.unit"),
        "give the controller's unit id, 1 to 247: unit = 1",
        r,
    );
    let (port, unit) = (port?, unit?);
    let get = |v: &Option<Spanned<u16>>| v.as_ref().map(|x| *x.get_ref());
    let cfg = ModbusConfig {
        port: port.get_ref().clone(),
        baud: baud(raw.baud.as_ref(), r),
        unit: *unit.get_ref(),
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
            unit.span(),
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

fn http(n: &str, table: &Spanned<RawHttp>, r: &mut Reporter) -> Option<Transport> {
    let h = table.get_ref();
    let url_key = require(
        &h.url,
        table.span(),
        &format!("devices.{n}.http.url"),
        "give the camera's snapshot URL: url = \"http://10.20.1.21/ISAPI/Streaming/channels/1/picture\"",
        r,
    )?;
    let url = url_key.get_ref();
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
        r.error(
            url_key.span(),
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
                words::did_you_mean(other, &["none", "basic", "digest"], "use"),
            );
            return None;
        }
    };
    if auth != HttpAuth::None && h.username.is_none() {
        r.error(
            url_key.span(),
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
    if let Some(p) = d.serial.as_ref().and_then(|s| s.get_ref().port.as_ref()) {
        return Some((p.get_ref().clone(), false, p.span()));
    }
    let p = d.modbus.as_ref()?.get_ref().port.as_ref()?;
    Some((p.get_ref().clone(), true, p.span()))
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
    let Some(chip) = &g.chip else { return vec![] };
    [&g.line, &g.open, &g.close, &g.stop, &g.opened, &g.closed]
        .into_iter()
        .flatten()
        .map(|l| (chip.get_ref().clone(), *l.get_ref(), l.span()))
        .collect()
}

/// A required key of a transport table, reported missing (with the device's path) when absent.
fn require<'a, T>(
    value: &'a Option<Spanned<T>>,
    table: Range<usize>,
    key: &str,
    help: &str,
    r: &mut Reporter,
) -> Option<&'a Spanned<T>> {
    if value.is_none() {
        r.missing(table, key, help);
    }
    value.as_ref()
}

/// `An area camera` at the start of a sentence.
fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| f.to_uppercase().collect::<String>() + c.as_str())
}
