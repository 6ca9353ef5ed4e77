//! The configuration file as written: serde structs that mirror the TOML exactly.
//!
//! Nothing here is checked beyond what serde does (key names, types). Values that
//! later checks must point at are wrapped in `Spanned` so a mistake can be reported
//! with its line and column. Every table denies unknown keys: a typo must not be
//! silently ignored on a gate controller. Required keys are `Option`s too: validation
//! reports them missing, so one absent key does not stop the rest being checked.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub lane: Option<Spanned<RawLane>>,
    #[serde(default)]
    pub mqtt: Option<Spanned<RawMqtt>>,
    #[serde(default)]
    pub storage: RawStorage,
    #[serde(default)]
    pub timeouts: RawTimeouts,
    #[serde(default)]
    pub recognition: Option<Spanned<RawRecognition>>,
    #[serde(default)]
    pub decision: RawDecision,
    #[serde(default)]
    pub devices: Option<Spanned<BTreeMap<Spanned<String>, Spanned<RawDevice>>>>,
    #[serde(default)]
    pub sim: Option<Spanned<RawSim>>,
    #[serde(default)]
    pub commands: RawCommands,
    #[serde(default)]
    pub signing: RawSigning,
    #[serde(default)]
    pub web: Option<Spanned<RawWeb>>,
    /// Local operators by name: who may release a held vehicle at the lane.
    #[serde(default)]
    pub operators: BTreeMap<Spanned<String>, Spanned<RawOperator>>,
    #[serde(default)]
    pub vision: RawVision,
}

/// The under-vehicle comparison and the image-based empty check (`[vision]`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVision {
    pub uvss_compare: Option<bool>,
    pub uvss_reference_dir: Option<String>,
    pub uvss_reference_cap_mb: Option<Spanned<u64>>,
    pub hold_uvss_no_reference: Option<bool>,
    pub hold_uvss_inconclusive: Option<bool>,
    pub hold_uvss_unavailable: Option<bool>,
    pub empty_image_check: Option<bool>,
    pub hold_empty_image_inconclusive: Option<bool>,
    pub hold_empty_image_unavailable: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOperator {
    /// `edge-agent operator hash` output; never the password itself.
    pub credential: Option<Spanned<String>>,
}

/// The technician page (and `/metrics`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeb {
    pub enabled: Option<bool>,
    pub listen: Option<Spanned<String>>,
    pub password: Option<Spanned<String>>,
    /// The page's language: "zh", "en", or "auto" (the browser's).
    pub language: Option<Spanned<String>>,
}

/// The lane's own key for signing results.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSigning {
    pub key: Option<Spanned<String>>,
    pub key_id: Option<Spanned<String>>,
}

/// Central's Ed25519 public keys (base64 of 32 bytes) by key id.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommands {
    #[serde(default)]
    pub keys: BTreeMap<String, Spanned<String>>,
    pub max_validity: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLane {
    pub site: Option<Spanned<String>>,
    pub id: Option<Spanned<String>>,
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMqtt {
    pub host: Option<Spanned<String>>,
    pub port: Option<Spanned<u16>>,
    pub embedded_listen: Option<Spanned<String>>,
    pub client_id: Option<Spanned<String>>,
    pub topic_prefix: Option<Spanned<String>>,
    pub keepalive: Option<Spanned<String>>,
    pub max_packet_size: Option<Spanned<u32>>,
    pub max_command_size: Option<Spanned<u32>>,
    pub chunk_size: Option<Spanned<u32>>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls: Option<Spanned<RawTls>>,
}

/// TLS to the broker: the CA that signed the broker's certificate, and the
/// lane's own certificate and key for mutual TLS. PEM files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub ca: Option<Spanned<String>>,
    pub cert: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    pub data_dir: Option<Spanned<String>>,
    pub outbox_quota_mb: Option<Spanned<u64>>,
    pub min_free_mb: Option<Spanned<u64>>,
    pub reserve_mb: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    pub capture: Option<Spanned<String>>,
    pub recognition: Option<Spanned<String>>,
    pub empty_check: Option<Spanned<String>>,
    pub decision: Option<Spanned<String>>,
    pub barrier: Option<Spanned<String>>,
    pub exit: Option<Spanned<String>>,
    pub review: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecognition {
    pub engine: Option<Spanned<String>>,
    pub models_dir: Option<Spanned<String>>,
    pub runtime_library: Option<Spanned<String>>,
    pub plate_min_confidence: Option<Spanned<f64>>,
    pub plate_confirmed_min_confidence: Option<Spanned<f64>>,
    pub container_min_confidence: Option<Spanned<f64>>,
    pub workers: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDecision {
    pub auto_release: Option<bool>,
    pub require_declaration: Option<bool>,
    pub hold_when_device_down: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevice {
    pub kind: Option<Spanned<String>>,
    pub role: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    /// A device whose checks the policy needs; when it is down the vehicle is held.
    pub required: Option<bool>,
    pub sim: Option<Spanned<RawSimDevice>>,
    pub gpio: Option<Spanned<RawGpio>>,
    pub serial: Option<Spanned<RawSerial>>,
    pub modbus: Option<Spanned<RawModbus>>,
    pub tcp: Option<Spanned<RawTcp>>,
    pub http: Option<Spanned<RawHttp>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSimDevice {}

/// GPIO lines. A presence sensor uses `line`; a barrier uses the five named lines.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGpio {
    pub chip: Option<Spanned<String>>,
    pub line: Option<Spanned<u32>>,
    pub active_low: Option<bool>,
    pub debounce: Option<Spanned<String>>,
    pub open: Option<Spanned<u32>>,
    pub close: Option<Spanned<u32>>,
    pub stop: Option<Spanned<u32>>,
    pub opened: Option<Spanned<u32>>,
    pub closed: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSerial {
    pub port: Option<Spanned<String>>,
    pub baud: Option<Spanned<u32>>,
    pub address: Option<Spanned<u8>>,
}

/// Modbus RTU over RS-485: the register map is configuration, not code.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModbus {
    pub port: Option<Spanned<String>>,
    pub baud: Option<Spanned<u32>>,
    pub unit: Option<Spanned<u8>>,
    pub open_coil: Option<Spanned<u16>>,
    pub close_coil: Option<Spanned<u16>>,
    pub stop_coil: Option<Spanned<u16>>,
    pub opened_input: Option<Spanned<u16>>,
    pub closed_input: Option<Spanned<u16>>,
    pub presence_input: Option<Spanned<u16>>,
    /// The RS-485 adapter echoes what the PC sends (two-wire adapters without
    /// echo suppression); its own frames are then skipped.
    pub echo: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTcp {
    pub address: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub url: Option<Spanned<String>>,
    pub auth: Option<Spanned<String>>,
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSim {
    pub vehicles: Option<u64>,
    pub seed: Option<u64>,
    pub arrival_gap: Option<Spanned<String>>,
    pub barrier_move: Option<Spanned<String>>,
    pub drive_in: Option<Spanned<String>>,
    pub drive_clear: Option<Spanned<String>>,
    pub patience: Option<Spanned<String>>,
    pub low_confidence_every: Option<u64>,
    pub tampered_seal_every: Option<u64>,
    pub uvss_anomaly_every: Option<u64>,
    pub declared_empty_every: Option<u64>,
    pub targeted_every: Option<u64>,
    pub undeclared_every: Option<u64>,
    pub tailgate_every: Option<u64>,
    pub returning_every: Option<u64>,
}
