//! The validated configuration: every value checked, defaults filled in, durations
//! parsed. Building devices from it is a separate step (`lane::build`).

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct LaneConfig {
    pub site: String,
    pub lane: String,
    pub name: Option<String>,
    pub mqtt: MqttConfig,
    pub data_dir: PathBuf,
    /// Bytes the outbox may hold; beyond it telemetry is dropped, evidence never.
    pub outbox_quota: u64,
    /// The data disk's floor and the reserve for results (see `crate::storage`).
    pub storage: crate::storage::Limits,
    pub timeouts: Timeouts,
    pub recognition: RecognitionConfig,
    pub decision: DecisionConfig,
    pub devices: Vec<DeviceConfig>,
    pub sim: Option<SimConfig>,
    pub commands: CommandsConfig,
    pub signing: SigningConfig,
    pub web: WebConfig,
    /// Local operators (name, credential hash) who may release held vehicles
    /// while the uplink is down.
    pub operators: Vec<(String, crate::operator::Credential)>,
    pub vision: VisionConfig,
}

impl LaneConfig {
    /// A device's `timeout` (3 s for a name the file does not have).
    pub fn device_timeout(&self, device: &str) -> std::time::Duration {
        self.devices
            .iter()
            .find(|d| d.name == device)
            .map_or(std::time::Duration::from_secs(3), |d| d.timeout)
    }
}

/// The under-vehicle comparison against the vehicle's reference scan, and the image-based empty
/// check beside the empty-box detector (`[vision]` in the lane file).
#[derive(Debug, Clone, PartialEq)]
pub struct VisionConfig {
    /// Compare each UVSS scan with the plate's reference (when a UVSS device is configured).
    pub uvss_compare: bool,
    /// Last clean scan per plate; default `<data_dir>/uvss-references`.
    pub uvss_reference_dir: PathBuf,
    pub uvss_reference_cap: u64,
    pub policy: VisionPolicy,
    /// Run the classical empty check on the detector's interior image.
    pub empty_image_check: bool,
}

/// Which vision outcomes hold a vehicle besides a found anomaly or a disagreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisionPolicy {
    pub hold_uvss_no_reference: bool,
    pub hold_uvss_inconclusive: bool,
    pub hold_uvss_unavailable: bool,
    pub hold_empty_image_inconclusive: bool,
    pub hold_empty_image_unavailable: bool,
}

impl Default for VisionPolicy {
    fn default() -> Self {
        VisionPolicy {
            hold_uvss_no_reference: false,
            hold_uvss_inconclusive: true,
            hold_uvss_unavailable: true,
            hold_empty_image_inconclusive: false,
            hold_empty_image_unavailable: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebConfig {
    /// Where the technician page listens; None when switched off.
    pub listen: Option<std::net::SocketAddr>,
    /// HTTP basic password (any user name); required off loopback.
    pub password: Option<String>,
    /// The page's language; `None`: the browser's (Chinese or English), else English.
    pub language: Option<crate::words::Lang>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SigningConfig {
    /// The lane's Ed25519 secret key; created on first start when missing.
    pub key: PathBuf,
    /// How verifiers know the key; default `<site>-<lane>`.
    pub key_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CommandsConfig {
    /// Central's public keys by key id; without any, every command is refused.
    pub keys: Vec<(String, ed25519_dalek::VerifyingKey)>,
    pub max_validity: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Broker {
    /// A broker run elsewhere (central, or a broker on the lane PC).
    Remote { host: String, port: u16 },
    /// No broker configured: the agent starts Mosquitto itself on this address.
    Embedded { listen: String, port: u16 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct MqttConfig {
    pub broker: Broker,
    pub client_id: String,
    pub topic_prefix: String,
    pub keepalive: Duration,
    pub max_packet_size: u32,
    /// Largest command accepted from central; bigger ones are rejected unread (`too_large`).
    pub max_command_size: u32,
    /// Images are sent in pieces of this many bytes.
    pub chunk_size: u32,
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls: Option<TlsConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TlsConfig {
    pub ca: PathBuf,
    /// Client certificate and key (mutual TLS).
    pub client: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    pub capture: Duration,
    pub recognition: Duration,
    pub empty_check: Duration,
    pub decision: Duration,
    pub barrier: Duration,
    pub exit: Duration,
    pub review: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            capture: Duration::from_secs(5),
            recognition: Duration::from_secs(5),
            empty_check: Duration::from_secs(30),
            decision: Duration::from_secs(2),
            barrier: Duration::from_secs(8),
            exit: Duration::from_secs(60),
            review: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// PP-OCR on ONNX Runtime.
    PpOcr,
    /// Reads the ground truth simulated cameras attach; only valid on a simulated lane.
    SimTruth,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecognitionConfig {
    pub engine: Engine,
    pub models_dir: PathBuf,
    pub runtime_library: Option<PathBuf>,
    pub plate_min_confidence: f32,
    /// The lower floor for a plate read that is exactly the plate of the vehicle's valid
    /// declaration (at most `plate_min_confidence`; see `policy`).
    pub plate_confirmed_min_confidence: f32,
    pub container_min_confidence: f32,
    pub workers: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionConfig {
    pub auto_release: bool,
    pub require_declaration: bool,
    pub hold_when_device_down: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceKind {
    Barrier,
    Presence,
    AreaCamera,
    UnderVehicleCamera,
    SealReader,
    EmptyBoxDetector,
}

impl DeviceKind {
    pub const ALL: [(&'static str, DeviceKind); 6] = [
        ("barrier", DeviceKind::Barrier),
        ("presence", DeviceKind::Presence),
        ("area_camera", DeviceKind::AreaCamera),
        ("under_vehicle_camera", DeviceKind::UnderVehicleCamera),
        ("seal_reader", DeviceKind::SealReader),
        ("empty_box_detector", DeviceKind::EmptyBoxDetector),
    ];

    /// The word in files and on the wire: `area_camera`.
    pub fn name(self) -> &'static str {
        DeviceKind::ALL.iter().find(|(_, k)| *k == self).map(|(n, _)| *n).unwrap_or("?")
    }

    /// The words for people: `area camera`.
    pub fn words(self) -> &'static str {
        crate::words::vocab_en("kind", self.name())
    }

    /// `an area camera`, `a barrier`.
    pub fn with_article(self) -> String {
        crate::words::with_article(self.words())
    }
}

/// What a device is for on this lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Presence: the capture zone in front of the barrier.
    Arrival,
    /// Presence: under the barrier arm. Closing is refused while it is occupied.
    UnderArm,
    /// Presence: beyond the barrier.
    Exit,
    /// Camera: licence plate.
    Plate,
    /// Camera: a container face (front, rear, side, top).
    Container,
    /// Devices with a single purpose.
    Main,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    Sim,
    Gpio(GpioConfig),
    Serial { port: String, baud: u32, address: Option<u8> },
    Modbus(ModbusConfig),
    Tcp { address: String },
    Http { url: String, auth: HttpAuth, username: Option<String>, password: Option<String> },
}

impl Transport {
    pub fn name(&self) -> &'static str {
        match self {
            Transport::Sim => "sim",
            Transport::Gpio(_) => "gpio",
            Transport::Serial { .. } => "serial",
            Transport::Modbus(_) => "modbus",
            Transport::Tcp { .. } => "tcp",
            Transport::Http { .. } => "http",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpAuth {
    None,
    Basic,
    Digest,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GpioConfig {
    pub chip: String,
    pub line: Option<u32>,
    pub active_low: bool,
    pub debounce: Duration,
    pub open: Option<u32>,
    pub close: Option<u32>,
    pub stop: Option<u32>,
    pub opened: Option<u32>,
    pub closed: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModbusConfig {
    pub port: String,
    pub baud: u32,
    pub unit: u8,
    pub open_coil: Option<u16>,
    pub close_coil: Option<u16>,
    pub stop_coil: Option<u16>,
    pub opened_input: Option<u16>,
    pub closed_input: Option<u16>,
    pub presence_input: Option<u16>,
    pub echo: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeviceConfig {
    pub name: String,
    pub kind: DeviceKind,
    pub role: Role,
    pub timeout: Duration,
    pub required: bool,
    pub transport: Transport,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub plan: drivers::sim::SimPlan,
    pub timing: drivers::sim::SimTiming,
}

impl LaneConfig {
    pub fn devices_of(&self, kind: DeviceKind) -> impl Iterator<Item = &DeviceConfig> {
        self.devices.iter().filter(move |d| d.kind == kind)
    }

    pub fn device(&self, kind: DeviceKind, role: Role) -> Option<&DeviceConfig> {
        self.devices.iter().find(|d| d.kind == kind && d.role == role)
    }
}
