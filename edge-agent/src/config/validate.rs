//! Step two: check every value of the raw file, fill in defaults and report all
//! problems at once, each with its position and a fix.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::raw::*;
use super::types::*;
use super::values::{duration_or, ident};
use crate::words::{self, Lang};
use tomlcheck::Reporter;

pub fn validate(raw: RawConfig, base_dir: &Path, r: &mut Reporter) -> Option<LaneConfig> {
    let (site, lane, name) = match &raw.lane {
        Some(l) => (
            ident(l.get_ref().site.as_ref(), "lane.site", l.span(), r),
            ident(l.get_ref().id.as_ref(), "lane.id", l.span(), r),
            l.get_ref().name.clone(),
        ),
        None => {
            r.missing(
                0..0,
                "lane",
                "add a [lane] table with the site and lane ids: site = \"…\", id = \"…\"",
            );
            (String::new(), String::new(), None)
        }
    };
    let devices = devices(&raw, r);
    let all_sim = !devices.is_empty() && devices.iter().all(|d| d.transport == Transport::Sim);
    let mqtt = mqtt(raw.mqtt.as_ref(), &site, &lane, base_dir, r);
    let recognition = recognition(raw.recognition.as_ref(), all_sim, base_dir, r);
    let sim = sim(raw.sim.as_ref(), &devices, r);
    let timeouts = timeouts(&raw.timeouts, r);
    let data_dir = raw
        .storage
        .data_dir
        .as_ref()
        .map_or_else(|| PathBuf::from("/var/lib/edge-agent"), |d| base_dir.join(d.get_ref()));
    let outbox_quota = raw.storage.outbox_quota_mb.as_ref().map_or(2048, |q| {
        if *q.get_ref() < 16 {
            r.error(
                q.span(),
                "`storage.outbox_quota_mb` is below 16",
                "a day offline needs room for results and images; give at least 16 (default 2048)",
            );
        }
        *q.get_ref()
    }) << 20;
    let storage = storage_limits(&raw.storage);
    let decision = DecisionConfig {
        auto_release: raw.decision.auto_release.unwrap_or(true),
        require_declaration: raw.decision.require_declaration.unwrap_or(true),
        hold_when_device_down: raw.decision.hold_when_device_down.unwrap_or(true),
    };
    let commands = CommandsConfig {
        keys: raw
            .commands
            .keys
            .iter()
            .filter_map(|(id, k)| match contract::signing::public_key(k.get_ref()) {
                Ok(key) => Some((id.clone(), key)),
                Err(_) => {
                    r.error(
                        k.span(),
                        format!("command key {id:?} is not an Ed25519 public key"),
                        "give the 32-byte public key in base64, as `edge-agent command keygen` prints it",
                    );
                    None
                }
            })
            .collect(),
        max_validity: duration_or(
            &raw.commands.max_validity,
            "commands.max_validity",
            Duration::from_secs(600),
            r,
        ),
    };
    let signing = SigningConfig {
        key: raw
            .signing
            .key
            .as_ref()
            .map_or_else(|| data_dir.join("signing.key"), |k| base_dir.join(k.get_ref())),
        key_id: raw.signing.key_id.as_ref().map_or_else(|| format!("{site}-{lane}"), |k| k.get_ref().clone()),
    };
    let v = &raw.vision;
    let d = VisionPolicy::default();
    let vision = VisionConfig {
        uvss_compare: v.uvss_compare.unwrap_or(true),
        uvss_reference_dir: v
            .uvss_reference_dir
            .as_ref()
            .map_or_else(|| data_dir.join("uvss-references"), |p| data_dir.join(p)),
        uvss_reference_cap: v.uvss_reference_cap_mb.as_ref().map_or(4096, |c| {
            if *c.get_ref() < 16 {
                r.error(
                    c.span(),
                    "`vision.uvss_reference_cap_mb` is below 16",
                    "one reference scan takes a few MB; give at least 16 (default 4096)",
                );
            }
            *c.get_ref()
        }) << 20,
        policy: VisionPolicy {
            hold_uvss_no_reference: v.hold_uvss_no_reference.unwrap_or(d.hold_uvss_no_reference),
            hold_uvss_inconclusive: v.hold_uvss_inconclusive.unwrap_or(d.hold_uvss_inconclusive),
            hold_uvss_unavailable: v.hold_uvss_unavailable.unwrap_or(d.hold_uvss_unavailable),
            hold_empty_image_inconclusive: v
                .hold_empty_image_inconclusive
                .unwrap_or(d.hold_empty_image_inconclusive),
            hold_empty_image_unavailable: v
                .hold_empty_image_unavailable
                .unwrap_or(d.hold_empty_image_unavailable),
        },
        empty_image_check: v.empty_image_check.unwrap_or(true),
    };
    Some(LaneConfig {
        vision,
        site,
        lane,
        name,
        mqtt,
        data_dir,
        outbox_quota,
        storage,
        timeouts,
        recognition,
        decision,
        devices,
        sim,
        commands,
        signing,
        web: web(raw.web.as_ref(), r),
        operators: operators(&raw.operators, r),
    })
}

fn operators(
    raw: &std::collections::BTreeMap<Spanned<String>, Spanned<RawOperator>>,
    r: &mut Reporter,
) -> Vec<(String, crate::operator::Credential)> {
    raw.iter()
        .filter_map(|(name, op)| {
            let (span, name) = (name.span(), name.get_ref());
            if name.is_empty()
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            {
                r.error(
                    span,
                    format!("operator name {name:?} is not usable"),
                    "use letters, digits, '.', '-' and '_' (it is written into records as local:<name>)",
                );
                return None;
            }
            let hash_help =
                "run `edge-agent operator hash` and paste what it prints; never the password itself";
            let Some(credential) = &op.get_ref().credential else {
                r.missing(op.span(), &format!("operators.{name}.credential"), hash_help);
                return None;
            };
            match credential.get_ref().parse() {
                Ok(c) => Some((name.clone(), c)),
                Err(e) => {
                    r.error(credential.span(), format!("`operators.{name}.credential`: {e}"), hash_help);
                    None
                }
            }
        })
        .collect()
}

fn web(raw: Option<&Spanned<RawWeb>>, r: &mut Reporter) -> WebConfig {
    let empty = RawWeb::default();
    let w = raw.map_or(&empty, |w| w.get_ref());
    let password = w.password.as_ref().map(|p| {
        if p.get_ref().len() < 8 {
            r.error(
                p.span(),
                "`web.password` is shorter than 8 characters",
                "the page can move the barrier: choose a longer password",
            );
        }
        p.get_ref().clone()
    });
    let language = w.language.as_ref().and_then(|l| match l.get_ref().as_str() {
        "auto" => None,
        "zh" => Some(Lang::Zh),
        "en" => Some(Lang::En),
        other => {
            let lower = other.to_lowercase();
            let close = if ["cn", "chinese", "中文", "简体中文", "zh-hans"].contains(&lower.as_str()) {
                Some("zh")
            } else if lower == "english" {
                Some("en")
            } else {
                words::suggest(other, ["zh", "en", "auto"])
            };
            let close = close.map(|s| format!("did you mean \"{s}\"? ")).unwrap_or_default();
            r.error(
                l.span(),
                format!("`web.language` = {other:?} is not a language of the page"),
                format!("{close}use \"zh\" (简体中文), \"en\" (English) or \"auto\" (the browser's choice)"),
            );
            None
        }
    });
    if w.enabled == Some(false) {
        return WebConfig { listen: None, password, language };
    }
    let listen = match &w.listen {
        None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        Some(l) => match l.get_ref().parse::<SocketAddr>() {
            Ok(addr) => {
                if !addr.ip().is_loopback() && password.is_none() {
                    r.error(l.span(), format!("`web.listen` = {:?} is reachable from other machines but `web.password` is not set", l.get_ref()), "set `web.password`, or listen on 127.0.0.1 and reach the page through an SSH tunnel");
                }
                addr
            }
            Err(_) => {
                r.error(
                    l.span(),
                    format!("`web.listen` = {:?} is not an address", l.get_ref()),
                    "write IP:PORT, e.g. \"127.0.0.1:8080\"",
                );
                SocketAddr::from(([127, 0, 0, 1], 8080))
            }
        },
    };
    WebConfig { listen: Some(listen), password, language }
}

fn timeouts(raw: &RawTimeouts, r: &mut Reporter) -> Timeouts {
    let d = Timeouts::default();
    Timeouts {
        capture: duration_or(&raw.capture, "timeouts.capture", d.capture, r),
        recognition: duration_or(&raw.recognition, "timeouts.recognition", d.recognition, r),
        empty_check: duration_or(&raw.empty_check, "timeouts.empty_check", d.empty_check, r),
        decision: duration_or(&raw.decision, "timeouts.decision", d.decision, r),
        barrier: duration_or(&raw.barrier, "timeouts.barrier", d.barrier, r),
        exit: duration_or(&raw.exit, "timeouts.exit", d.exit, r),
        review: duration_or(&raw.review, "timeouts.review", d.review, r),
    }
}

fn tls(raw: &Spanned<RawTls>, base: &Path, r: &mut Reporter) -> Option<TlsConfig> {
    let t = raw.get_ref();
    let Some(ca) = &t.ca else {
        r.missing(raw.span(), "mqtt.tls.ca", "give the PEM file of the CA that signed the broker's certificate: ca = \"/etc/edge-agent/ca.pem\"");
        return None;
    };
    let mut file = |v: &Spanned<String>, what: &str| -> PathBuf {
        let path = base.join(v.get_ref());
        if !path.is_file() {
            r.error(
                v.span(),
                format!("{what} file {} does not exist", path.display()),
                "give the path of a PEM file (relative paths are relative to this config file)",
            );
        }
        path
    };
    let ca = file(ca, "CA certificate");
    let client = match (&t.cert, &t.key) {
        (Some(c), Some(k)) => Some((file(c, "client certificate"), file(k, "client key"))),
        (None, None) => None,
        _ => {
            r.error(
                raw.span(),
                "`cert` and `key` go together",
                "give both the lane's certificate and its key for mutual TLS, or neither",
            );
            None
        }
    };
    Some(TlsConfig { ca, client })
}

fn mqtt(raw: Option<&Spanned<RawMqtt>>, site: &str, lane: &str, base: &Path, r: &mut Reporter) -> MqttConfig {
    let empty = RawMqtt::default();
    let m = raw.map_or(&empty, |m| m.get_ref());
    let port = m.port.as_ref().map(|p| {
        if *p.get_ref() == 0 {
            r.error(
                p.span(),
                "`mqtt.port` must not be 0",
                "MQTT brokers listen on 1883 (plain) or 8883 (TLS)",
            );
        }
        *p.get_ref()
    });
    let broker = match &m.host {
        Some(host) if host.get_ref().trim().is_empty() => {
            r.error(
                host.span(),
                "`mqtt.host` is empty",
                "name the broker's host or IP, or remove the key to use the embedded broker",
            );
            Broker::Remote { host: String::new(), port: 1883 }
        }
        Some(host) => {
            if let Some(l) = &m.embedded_listen {
                r.error(
                    l.span(),
                    "`mqtt.embedded_listen` has no effect when `mqtt.host` is set",
                    "remove one of the two keys",
                );
            }
            let default_port = if m.tls.is_some() { 8883 } else { 1883 };
            Broker::Remote { host: host.get_ref().clone(), port: port.unwrap_or(default_port) }
        }
        None => {
            if let Some(t) = &m.tls {
                r.error(
                    t.span(),
                    "TLS needs a broker",
                    "set `mqtt.host`; the embedded broker listens on loopback without TLS",
                );
            }
            let listen =
                m.embedded_listen.as_ref().map_or("127.0.0.1:1883".to_string(), |l| l.get_ref().clone());
            match listen.parse::<SocketAddr>() {
                Ok(addr) => Broker::Embedded { listen: addr.ip().to_string(), port: addr.port() },
                Err(_) => {
                    let span = m.embedded_listen.as_ref().map(|l| l.span()).unwrap_or(0..0);
                    r.error(
                        span,
                        format!("`mqtt.embedded_listen` = {listen:?} is not an address"),
                        "write IP:PORT, e.g. \"127.0.0.1:1883\"",
                    );
                    Broker::Embedded { listen: "127.0.0.1".into(), port: 1883 }
                }
            }
        }
    };
    let topic_prefix = m.topic_prefix.as_ref().map_or("lanectl".to_string(), |p| {
        let v = p.get_ref();
        if v.is_empty() || v.contains(['+', '#']) || v.starts_with('/') || v.ends_with('/') {
            r.error(
                p.span(),
                format!("`mqtt.topic_prefix` = {v:?} cannot be used as a topic prefix"),
                "use plain topic levels without wildcards or leading/trailing '/', e.g. \"lanectl\"",
            );
        }
        v.clone()
    });
    let keepalive = duration_or(&m.keepalive, "mqtt.keepalive", Duration::from_secs(30), r);
    if keepalive < Duration::from_secs(5) {
        if let Some(k) = &m.keepalive {
            r.error(
                k.span(),
                "`mqtt.keepalive` must be at least 5s",
                "brokers drop clients that ping too often; use 15s to 60s",
            );
        }
    }
    let max_packet_size = m.max_packet_size.as_ref().map_or(1 << 20, |s| {
        if *s.get_ref() < 64 * 1024 {
            r.error(
                s.span(),
                "`mqtt.max_packet_size` is below 65536 bytes",
                "passage records with previews need room; use at least 65536 (default 1048576)",
            );
        }
        *s.get_ref()
    });
    let max_command_size = m.max_command_size.as_ref().map_or(1 << 20, |s| {
        if *s.get_ref() < 4096 {
            r.error(
                s.span(),
                "`mqtt.max_command_size` is below 4096 bytes",
                "a signed command with a few declarations needs room; use at least 4096 (default 1048576)",
            );
        }
        *s.get_ref()
    });
    let chunk_size = m.chunk_size.as_ref().map_or(256 * 1024, |c| {
        let v = *c.get_ref();
        if v < 1024 || v > max_packet_size.saturating_sub(1024) {
            r.error(
                c.span(),
                format!("`mqtt.chunk_size` = {v} does not fit"),
                "use at least 1024 bytes and at least 1 KiB less than `max_packet_size` (default 262144)",
            );
        }
        v
    });
    let client_id = m.client_id.as_ref().map_or(format!("edge-agent-{site}-{lane}"), |c| c.get_ref().clone());
    MqttConfig {
        broker,
        client_id,
        topic_prefix,
        keepalive,
        max_packet_size,
        max_command_size,
        chunk_size,
        username: m.username.clone(),
        password: m.password.clone(),
        tls: m.tls.as_ref().and_then(|t| tls(t, base, r)),
    }
}

/// The data disk's floor and the results' reserve, in MB in the file.
fn storage_limits(raw: &RawStorage) -> crate::storage::Limits {
    let mb = |v: &Option<Spanned<u64>>, default: u64| v.as_ref().map_or(default, |v| *v.get_ref()) << 20;
    crate::storage::Limits { floor: mb(&raw.min_free_mb, 512), reserve: mb(&raw.reserve_mb, 128) }
}

fn recognition(
    raw: Option<&Spanned<RawRecognition>>,
    all_sim: bool,
    base: &Path,
    r: &mut Reporter,
) -> RecognitionConfig {
    let empty = RawRecognition::default();
    let rc = raw.map_or(&empty, |x| x.get_ref());
    let engine = match &rc.engine {
        None => Engine::PpOcr,
        Some(e) => match e.get_ref().as_str() {
            "ppocr" => Engine::PpOcr,
            "sim-truth" => {
                if !all_sim {
                    r.error(
                        e.span(),
                        "engine \"sim-truth\" only works on a fully simulated lane",
                        "use engine = \"ppocr\" with real devices",
                    );
                }
                Engine::SimTruth
            }
            other => {
                r.error(
                    e.span(),
                    format!("unknown recognition engine {other:?}"),
                    format!(
                        "{}use \"ppocr\" (PP-OCR on ONNX Runtime) or \"sim-truth\" (simulated lane only)",
                        words::suggest(other, ["ppocr", "sim-truth"])
                            .map(|s| format!("did you mean \"{s}\"? "))
                            .unwrap_or_default()
                    ),
                );
                Engine::PpOcr
            }
        },
    };
    let mut confidence = |v: &Option<Spanned<f64>>, key: &str| -> f32 {
        match v {
            None => 0.8,
            Some(c) => {
                if !(*c.get_ref() > 0.0 && *c.get_ref() <= 1.0) {
                    r.error(
                        c.span(),
                        format!("`recognition.{key}` = {} is not a confidence", c.get_ref()),
                        "confidences are fractions above 0 and at most 1, e.g. 0.85",
                    );
                }
                *c.get_ref() as f32
            }
        }
    };
    let plate_min_confidence = confidence(&rc.plate_min_confidence, "plate_min_confidence");
    let container_min_confidence = confidence(&rc.container_min_confidence, "container_min_confidence");
    let workers = rc.workers.as_ref().map_or(1, |w| {
        if !(1..=8).contains(w.get_ref()) {
            r.error(
                w.span(),
                "`recognition.workers` must be between 1 and 8",
                "one worker per spare core; 1 on a 2-core lane PC",
            );
        }
        *w.get_ref()
    });
    RecognitionConfig {
        engine,
        models_dir: rc
            .models_dir
            .as_ref()
            .map_or_else(|| PathBuf::from("/usr/lib/edge-agent/models"), |d| base.join(d.get_ref())),
        runtime_library: rc.runtime_library.as_ref().map(|d| base.join(d.get_ref())),
        plate_min_confidence,
        container_min_confidence,
        workers,
    }
}

fn sim(raw: Option<&Spanned<RawSim>>, devices: &[DeviceConfig], r: &mut Reporter) -> Option<SimConfig> {
    let raw = raw?;
    if !devices.iter().any(|d| d.transport == Transport::Sim) {
        r.error(
            raw.span(),
            "a [sim] section needs at least one device with a `sim` transport",
            "remove [sim] on a lane with real devices",
        );
    }
    let s = raw.get_ref();
    let fast = drivers::sim::SimTiming::fast();
    let timing = drivers::sim::SimTiming {
        arrival_gap: duration_or(&s.arrival_gap, "sim.arrival_gap", fast.arrival_gap, r),
        barrier_move: duration_or(&s.barrier_move, "sim.barrier_move", fast.barrier_move, r),
        drive_in: duration_or(&s.drive_in, "sim.drive_in", fast.drive_in, r),
        drive_clear: duration_or(&s.drive_clear, "sim.drive_clear", fast.drive_clear, r),
        patience: duration_or(&s.patience, "sim.patience", fast.patience, r),
    };
    let plan = drivers::sim::SimPlan {
        vehicles: s.vehicles.unwrap_or(0),
        seed: s.seed.unwrap_or(1),
        low_confidence_every: s.low_confidence_every.unwrap_or(0),
        tampered_seal_every: s.tampered_seal_every.unwrap_or(0),
        uvss_anomaly_every: s.uvss_anomaly_every.unwrap_or(0),
        declared_empty_every: s.declared_empty_every.unwrap_or(0),
        tailgate_every: s.tailgate_every.unwrap_or(0),
        targeted_every: s.targeted_every.unwrap_or(0),
        undeclared_every: s.undeclared_every.unwrap_or(0),
    };
    Some(SimConfig { plan, timing })
}

fn devices(raw: &RawConfig, r: &mut Reporter) -> Vec<DeviceConfig> {
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
