//! The validated configuration: every value checked, every default applied.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct CentralConfig {
    /// This instance's name: its MQTT client id, its mark on what it ingested.
    pub instance: String,
    pub mqtt: MqttConfig,
    pub database: DatabaseConfig,
    pub store: StoreConfig,
    /// The sites whose lanes this central receives.
    pub sites: Vec<String>,
    pub commands: Option<CommandsConfig>,
    pub completeness: CompletenessConfig,
    pub images: ImagesConfig,
    pub retention: RetentionConfig,
    pub http: HttpConfig,
    /// The reviewers' desk.
    pub desk: super::desk::DeskConfig,
}

#[derive(Debug, Clone)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    pub topic_prefix: String,
    /// `$share/<group>/...`: every instance of one central uses the same group.
    pub share_group: String,
    pub client_id: String,
    pub keepalive: Duration,
    pub max_packet_size: u32,
    /// Messages in flight from the broker to this instance, unacknowledged.
    pub inflight: u16,
    pub tls: Option<TlsConfig>,
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub ca: PathBuf,
    pub client: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StoreConfig {
    /// `file:///var/lib/lane-central/images`
    File { root: PathBuf },
    /// `s3://bucket[/prefix]`
    S3 {
        bucket: String,
        prefix: String,
        endpoint: Option<String>,
        region: String,
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
        allow_http: bool,
    },
}

#[derive(Debug, Clone)]
pub struct CommandsConfig {
    pub key: PathBuf,
    pub key_id: String,
    pub validity: Duration,
}

#[derive(Debug, Clone)]
pub struct CompletenessConfig {
    pub check_every: Duration,
    /// How long a missing passage or image may be merely late before it is asked for.
    pub grace: Duration,
    pub first_retry: Duration,
    pub max_retry: Duration,
    pub give_up_after: u32,
}

#[derive(Debug, Clone)]
pub struct ImagesConfig {
    /// Bytes of images being assembled, over all instances, before new ones are refused.
    pub incomplete_cap: u64,
    /// An image not complete this long after its first piece is dropped (and asked for again).
    pub incomplete_expiry: Duration,
    pub max_image: u64,
}

#[derive(Debug, Clone)]
pub struct RetentionConfig {
    pub records: Duration,
    pub images: Duration,
    pub sweep_every: Duration,
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub listen: SocketAddr,
}

impl CentralConfig {
    /// Subscription filters: the stream (records, images, alarms, acks,
    /// checkpoints) shared between this central's instances, each message to
    /// one of them; the retained state (status, health, stats) to every
    /// instance, because brokers send retained messages to no shared
    /// subscription (MQTT 5, 4.8.2) and a restarted instance needs them.
    pub fn filters(&self) -> Vec<String> {
        let m = &self.mqtt;
        let mut out = Vec::new();
        for site in &self.sites {
            let base = format!("{}/{site}/+", m.topic_prefix);
            for leaf in SHARED_LEAVES {
                out.push(format!("$share/{}/{base}/{leaf}", m.share_group));
            }
            for leaf in RETAINED_LEAVES {
                out.push(format!("{base}/{leaf}"));
            }
        }
        out
    }
}

const SHARED_LEAVES: &[&str] = &["passage", "decision", "alarm", "ack", "image/#", "audit/#"];
const RETAINED_LEAVES: &[&str] = &["status", "health/+", "stats"];

impl CentralConfig {}
