//! The `[mqtt]` section checked: broker, topics prefix, client id, sizes and
//! TLS files. Apart from `validate.rs` because it is the largest section and
//! has nothing to do with devices; it takes only the raw and typed config and
//! the value checkers, never `validate.rs` itself, so imports run one way.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::raw::*;
use super::types::*;
use super::values::duration_or;
use tomlcheck::Reporter;

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

pub(super) fn mqtt(
    raw: Option<&Spanned<RawMqtt>>,
    site: &str,
    lane: &str,
    base: &Path,
    r: &mut Reporter,
) -> MqttConfig {
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
