//! Every value of the raw configuration checked, all problems reported at once,
//! each at its spot with a sentence on how to fix it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::raw::*;
use super::types::*;
use tomlcheck::duration::DurationError;
use tomlcheck::Reporter;

pub(super) fn validate(raw: RawConfig, base: &Path, r: &mut Reporter) -> Option<CentralConfig> {
    let instance = match raw.central.instance {
        Some(i) => identifier(r, &i, "instance").unwrap_or_default(),
        None => hostname(),
    };
    let mqtt = mqtt(raw.mqtt, &instance, base, r);
    let database = database(raw.database, r);
    let store = store(raw.store, base, r);
    let sites = sites(raw.sites, r);
    let commands = raw.commands.map(|c| commands(c.into_inner(), base, r));
    let c = raw.completeness;
    let completeness = CompletenessConfig {
        check_every: duration(r, c.check_every.as_ref(), "5s"),
        grace: duration(r, c.grace.as_ref(), "30s"),
        first_retry: duration(r, c.first_retry.as_ref(), "30s"),
        max_retry: duration(r, c.max_retry.as_ref(), "10m"),
        give_up_after: c.give_up_after.map(|g| at_least(r, &g, 1, "give_up_after")).unwrap_or(8),
    };
    let i = raw.images;
    let images = ImagesConfig {
        incomplete_cap: i.incomplete_cap_mb.map(|m| at_least(r, &m, 16, "incomplete_cap_mb")).unwrap_or(2048)
            << 20,
        incomplete_expiry: duration(r, i.incomplete_expiry.as_ref(), "15m"),
        max_image: i.max_image_mb.map(|m| at_least(r, &m, 1, "max_image_mb")).unwrap_or(64) << 20,
    };
    let t = raw.retention;
    let retention = RetentionConfig {
        records: duration(r, t.records.as_ref(), "365d"),
        images: duration(r, t.images.as_ref(), "180d"),
        sweep_every: duration(r, t.sweep_every.as_ref(), "1h"),
    };
    let listen = raw.http.listen.as_ref().map_or("127.0.0.1:8090", |l| l.get_ref().as_str());
    let http = match listen.parse() {
        Ok(listen) => HttpConfig { listen },
        Err(_) => {
            let span = raw.http.listen.as_ref().map_or(0..0, |l| l.span());
            r.error(span, format!("{listen:?} is not an address"), "give IP:PORT, e.g. \"0.0.0.0:8090\"");
            HttpConfig { listen: "127.0.0.1:8090".parse().expect("a literal address") }
        }
    };
    let desk = super::desk::validate(raw.desk, &sites, r);
    Some(CentralConfig {
        instance,
        mqtt: mqtt?,
        database: database?,
        store: store?,
        sites,
        commands: commands.flatten(),
        completeness,
        images,
        retention,
        http,
        desk,
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "central".into())
}

/// Site, lane and instance names go into topics and client ids.
pub(super) fn identifier(r: &mut Reporter, v: &Spanned<String>, what: &str) -> Option<String> {
    let s = v.get_ref();
    let ok =
        !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
    if !ok {
        r.error(v.span(), format!("{what} {s:?} is not usable"), "use 1 to 64 letters, digits, '-' or '_'");
        return None;
    }
    Some(s.clone())
}

pub(super) fn duration(r: &mut Reporter, v: Option<&Spanned<String>>, default: &str) -> Duration {
    let parse = tomlcheck::duration::parse_duration;
    let Some(v) = v else { return parse(default).expect("defaults parse") };
    match parse(v.get_ref()) {
        Ok(d) if !d.is_zero() => d,
        result => {
            let why = match result {
                Ok(_) => ": it is zero".to_string(),
                Err(
                    e
                    @ (DurationError::Months | DurationError::NoUnit(_) | DurationError::UnknownUnit { .. }),
                ) => {
                    format!(": {e}")
                }
                Err(_) => String::new(),
            };
            r.error(
                v.span(),
                format!("{:?} is not a duration{why}", v.get_ref()),
                "write a number with a unit, e.g. \"30s\", \"10m\", \"180d\"",
            );
            parse(default).expect("defaults parse")
        }
    }
}

fn at_least<T: Copy + PartialOrd + std::fmt::Display>(
    r: &mut Reporter,
    v: &Spanned<T>,
    min: T,
    key: &str,
) -> T {
    if *v.get_ref() < min {
        r.error(v.span(), format!("{key} = {} is too small", v.get_ref()), format!("use at least {min}"));
        return min;
    }
    *v.get_ref()
}

fn path(base: &Path, p: &str) -> PathBuf {
    base.join(p)
}

fn mqtt(raw: Spanned<RawMqtt>, instance: &str, base: &Path, r: &mut Reporter) -> Option<MqttConfig> {
    let m = raw.into_inner();
    if m.host.get_ref().trim().is_empty() {
        r.error(m.host.span(), "the broker host is empty", "give the broker's name or address");
    }
    let prefix = m.topic_prefix.as_ref().map_or("lanectl".to_string(), |p| p.get_ref().clone());
    if let Some(p) = &m.topic_prefix {
        if p.get_ref().is_empty() || p.get_ref().contains(['#', '+']) || p.get_ref().starts_with('$') {
            r.error(
                p.span(),
                format!("topic_prefix {:?} cannot be used", p.get_ref()),
                "use the lanes' prefix, e.g. \"lanectl\" (no wildcards, no leading '$')",
            );
        }
    }
    let group = match &m.share_group {
        Some(g) => identifier(r, g, "share_group")?,
        None => "lane-central".into(),
    };
    let max_packet_size = match &m.max_packet_size {
        Some(v) if *v.get_ref() < 65536 || *v.get_ref() > 256 << 20 => {
            r.error(
                v.span(),
                format!("max_packet_size {} is out of range", v.get_ref()),
                "use 65536 up to 268435456 bytes; at least the lanes' chunk_size plus 1 KiB",
            );
            1 << 20
        }
        Some(v) => *v.get_ref() as u32,
        None => 1 << 20,
    };
    let inflight = match &m.inflight {
        Some(v) if *v.get_ref() == 0 || *v.get_ref() > 1000 => {
            r.error(
                v.span(),
                format!("inflight {} is out of range", v.get_ref()),
                "use 1 to 1000 (default 100)",
            );
            100
        }
        Some(v) => *v.get_ref() as u16,
        None => 100,
    };
    let tls = m.tls.map(|t| {
        let (span, t) = (t.span(), t.into_inner());
        let client = match (t.cert, t.key) {
            (Some(c), Some(k)) => Some((path(base, c.get_ref()), path(base, k.get_ref()))),
            (None, None) => None,
            _ => {
                r.error(
                    span,
                    "tls has only one of cert and key",
                    "give both (a client certificate and its key) or neither",
                );
                None
            }
        };
        TlsConfig { ca: path(base, t.ca.get_ref()), client }
    });
    let default_port = if tls.is_some() { 8883 } else { 1883 };
    Some(MqttConfig {
        host: m.host.into_inner(),
        port: m.port.map_or(default_port, |p| p.into_inner()),
        topic_prefix: prefix,
        share_group: group,
        client_id: m.client_id.map_or(format!("lane-central-{instance}"), |c| c.into_inner()),
        keepalive: duration(r, m.keepalive.as_ref(), "30s"),
        max_packet_size,
        inflight,
        tls,
        username: m.username,
        password: m.password,
    })
}

fn database(raw: Spanned<RawDatabase>, r: &mut Reporter) -> Option<DatabaseConfig> {
    let d = raw.into_inner();
    let url = d.url.get_ref();
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        r.error(
            d.url.span(),
            format!("{url:?} is not a PostgreSQL URL"),
            "write postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
        );
        return None;
    }
    let max_connections = d.max_connections.map(|m| at_least(r, &m, 2, "max_connections")).unwrap_or(16);
    Some(DatabaseConfig { url: url.clone(), max_connections })
}

fn store(raw: Spanned<RawStore>, base: &Path, r: &mut Reporter) -> Option<StoreConfig> {
    let s = raw.into_inner();
    let url = s.url.get_ref();
    if let Some(root) = url.strip_prefix("file://") {
        if root.is_empty() {
            r.error(s.url.span(), "the store's folder is empty", "write file:///var/lib/lane-central/images");
            return None;
        }
        return Some(StoreConfig::File { root: path(base, root) });
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            r.error(s.url.span(), "no bucket in the store URL", "write s3://BUCKET or s3://BUCKET/PREFIX");
            return None;
        }
        if let Some(e) = &s.endpoint {
            if !(e.get_ref().starts_with("http://") || e.get_ref().starts_with("https://")) {
                r.error(
                    e.span(),
                    format!("endpoint {:?} is not a URL", e.get_ref()),
                    "write http(s)://HOST:PORT of the S3 service",
                );
            }
        }
        return Some(StoreConfig::S3 {
            bucket: bucket.into(),
            prefix: prefix.trim_matches('/').into(),
            endpoint: s.endpoint.map(|e| e.into_inner()),
            region: s.region.unwrap_or_else(|| "us-east-1".into()),
            access_key_id: s.access_key_id,
            secret_access_key: s.secret_access_key,
            allow_http: s.allow_http.unwrap_or(false),
        });
    }
    r.error(
        s.url.span(),
        format!("{url:?} is not a store URL"),
        "write file:///PATH for a folder or s3://BUCKET for S3-compatible storage",
    );
    None
}

fn sites(raw: Spanned<Vec<Spanned<String>>>, r: &mut Reporter) -> Vec<String> {
    if raw.get_ref().is_empty() {
        r.error(
            raw.span(),
            "no sites",
            "list the sites whose lanes this central receives, e.g. [\"CNSHA-YS\"]",
        );
    }
    let mut out: Vec<String> = Vec::new();
    for s in raw.into_inner() {
        if let Some(site) = identifier(r, &s, "site") {
            if out.contains(&site) {
                r.error(s.span(), format!("site {site:?} is listed twice"), "list each site once");
            }
            out.push(site);
        }
    }
    out
}

fn commands(c: RawCommands, base: &Path, r: &mut Reporter) -> Option<CommandsConfig> {
    let key_id = identifier(r, &c.key_id, "key_id");
    let validity = duration(r, c.validity.as_ref(), "5m");
    if validity > Duration::from_secs(600) {
        let span = c.validity.as_ref().map_or(0..0, |v| v.span());
        r.error(
            span,
            "commands valid longer than 10 minutes are refused by the lanes",
            "use at most \"10m\" (the lanes' default [commands] max_validity)",
        );
    }
    Some(CommandsConfig { key: path(base, c.key.get_ref()), key_id: key_id?, validity })
}
