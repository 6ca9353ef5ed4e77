//! What a valid lane file means, in words: the summary `check-config` prints under "ok".
//!
//! A file can be valid and still not say what its author meant (`review = "10 minutes"`:
//! ten minutes of what, and then?). So every duration is printed back as read, with what
//! happens when it runs out, next to the broker, the devices and the decision switches.

use std::fmt::Write;

use super::types::*;
use crate::words::{format_duration as d, plural};

/// Several lines, each starting with two spaces.
pub fn summary(cfg: &LaneConfig) -> String {
    let mut s = String::new();
    let simulated = cfg.devices.iter().filter(|x| x.transport == Transport::Sim).count();
    let sim_note = match simulated {
        0 => String::new(),
        n if n == cfg.devices.len() => ", all simulated".into(),
        n => format!(", {n} simulated"),
    };
    let name = cfg.name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
    let _ = writeln!(
        s,
        "  lane {}/{}{name}: {}{sim_note}",
        cfg.site,
        cfg.lane,
        plural(cfg.devices.len() as u64, "device", "devices")
    );
    for dev in &cfg.devices {
        let role = match dev.role {
            Role::Main => String::new(),
            Role::Arrival => " at arrival".into(),
            Role::UnderArm => " under the arm".into(),
            Role::Exit => " at the exit".into(),
            Role::Plate => " for plates".into(),
            Role::Container => " for containers".into(),
        };
        let optional = if dev.required { "" } else { ", not required" };
        let _ = writeln!(
            s,
            "    {:<16} {}{role} over {}, timeout {}{optional}",
            dev.name,
            dev.kind.words(),
            dev.transport.name(),
            d(dev.timeout)
        );
    }
    let broker = match &cfg.mqtt.broker {
        Broker::Remote { host, port } => {
            let tls = if cfg.mqtt.tls.is_some() { " with TLS" } else { "" };
            format!("central broker {host}:{port}{tls}")
        }
        Broker::Embedded { listen, port } => {
            format!("its own Mosquitto on {listen}:{port} (no `mqtt.host` given)")
        }
    };
    let _ =
        writeln!(s, "  reports to {broker}, topics {}/{}/{}/…", cfg.mqtt.topic_prefix, cfg.site, cfg.lane);
    let t = &cfg.timeouts;
    let _ = writeln!(
        s,
        "  a vehicle is held for review when capture takes over {}, recognition {}, the empty check {} or the decision {}",
        d(t.capture),
        d(t.recognition),
        d(t.empty_check),
        d(t.decision)
    );
    let _ = writeln!(s, "  a barrier move over {} raises a barrier-fault alarm", d(t.barrier));
    let _ = writeln!(
        s,
        "  a released vehicle still in the lane after {} raises an alarm (the barrier stays open)",
        d(t.exit)
    );
    let _ = writeln!(
        s,
        "  a held vehicle still waiting for a reviewer after {} raises an alarm (it stays held, the barrier down)",
        d(t.review)
    );
    let dc = &cfg.decision;
    let release = if dc.auto_release {
        "releases vehicles that pass every check"
    } else {
        "releases nothing by itself: every vehicle waits for a person"
    };
    let decl = if dc.require_declaration {
        "holds vehicles without a pre-declaration"
    } else {
        "does not need pre-declarations"
    };
    let down = if dc.hold_when_device_down {
        "holds while a required device is down"
    } else {
        "decides even with a required device down"
    };
    let _ = writeln!(s, "  the lane {release}; {decl}; {down}");
    let keys = cfg.commands.keys.len() as u64;
    let commands = if keys == 0 {
        "no central keys: every command from central is refused".to_string()
    } else {
        format!("{} trusted for commands", plural(keys, "central key", "central keys"))
    };
    let _ = writeln!(s, "  {commands}");
    match cfg.web.listen {
        Some(addr) => {
            let lang = match cfg.web.language {
                Some(crate::words::Lang::Zh) => "Chinese",
                Some(crate::words::Lang::En) => "English",
                None => "the browser's language",
            };
            let _ = writeln!(s, "  technician page on http://{addr}/ ({lang})");
        }
        None => {
            let _ = writeln!(s, "  no technician page");
        }
    }
    let _ = writeln!(s, "  data in {}", cfg.data_dir.display());
    s
}
