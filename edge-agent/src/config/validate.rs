//! Step two: check every value of the raw file, fill in defaults and report all
//! problems at once, each with its position and a fix.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::lane_devices::devices;
use super::mqtt_checks::mqtt;
use super::raw::*;
use super::types::*;
use super::values::{duration_or, ident};
use crate::words::{self, Lang};
use tomlcheck::Reporter;

/// The default floor for a plate read that is exactly its valid declaration's plate, whose
/// containers were all read. A wrong read that lands exactly on a plate declared for the same
/// hours, with that declaration's boxes on the truck, is rare, so the declaration is evidence of
/// its own; the floor still keeps the reads the recognisers doubt most. On the developer set's
/// plates (`ocr-eval --folds`), reads at 0.70-0.80 were right 10 times and wrong 5 (each one
/// character off: 湘E for 湘F, 皖 for 桂, G for 6); below 0.70, 10 right and 5 wrong, among them
/// wrong province characters at 0.16-0.45 (docs/design/recognition.md, "A read its declaration
/// confirms").
const PLATE_CONFIRMED_DEFAULT: f32 = 0.7;
/// The lowest floor a lane may set: under it the developer set's plate reads were wrong 5 times for
/// 7 right.
const PLATE_CONFIRMED_LOWEST: f32 = 0.5;

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
    let plate_confirmed_min_confidence = match &rc.plate_confirmed_min_confidence {
        None => PLATE_CONFIRMED_DEFAULT.min(plate_min_confidence),
        Some(c) => {
            let floor = confidence(&rc.plate_confirmed_min_confidence, "plate_confirmed_min_confidence");
            let threshold_valid = plate_min_confidence > 0.0 && plate_min_confidence <= 1.0;
            if floor > 0.0 && floor < PLATE_CONFIRMED_LOWEST {
                r.error(
                    c.span(),
                    format!(
                        "`recognition.plate_confirmed_min_confidence` = {} is below {PLATE_CONFIRMED_LOWEST}",
                        c.get_ref()
                    ),
                    "under 0.5 the recognisers' reads are wrong about as often as right, declaration or not",
                );
            } else if threshold_valid && floor > plate_min_confidence {
                r.error(
                    c.span(),
                    format!(
                        "`recognition.plate_confirmed_min_confidence` = {} is above `plate_min_confidence` ({})",
                        c.get_ref(),
                        plate_min_confidence
                    ),
                    "it is the lower floor for a read its declaration confirms: at most plate_min_confidence",
                );
            }
            floor
        }
    };
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
        plate_confirmed_min_confidence,
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
        returning_every: s.returning_every.unwrap_or(0),
    };
    Some(SimConfig { plan, timing })
}
