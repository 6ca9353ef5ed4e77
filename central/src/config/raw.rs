//! The configuration file as written: serde structs mirroring the TOML. Values
//! that later checks point at are `Spanned`; every table denies unknown keys,
//! because a typo silently ignored in a port's central service is a week of
//! missing data.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub central: RawCentral,
    pub mqtt: Spanned<RawMqtt>,
    pub database: Spanned<RawDatabase>,
    pub store: Spanned<RawStore>,
    pub sites: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub commands: Option<Spanned<RawCommands>>,
    #[serde(default)]
    pub completeness: RawCompleteness,
    #[serde(default)]
    pub images: RawImages,
    #[serde(default)]
    pub retention: RawRetention,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub desk: super::desk::RawDesk,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCentral {
    pub instance: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMqtt {
    pub host: Spanned<String>,
    pub port: Option<Spanned<u16>>,
    pub topic_prefix: Option<Spanned<String>>,
    pub share_group: Option<Spanned<String>>,
    pub client_id: Option<Spanned<String>>,
    pub keepalive: Option<Spanned<String>>,
    pub max_packet_size: Option<Spanned<u64>>,
    pub inflight: Option<Spanned<u64>>,
    pub tls: Option<Spanned<RawTls>>,
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub ca: Spanned<String>,
    pub cert: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    pub url: Spanned<String>,
    pub max_connections: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub url: Spanned<String>,
    pub endpoint: Option<Spanned<String>>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub allow_http: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommands {
    pub key: Spanned<String>,
    pub key_id: Spanned<String>,
    pub validity: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCompleteness {
    pub check_every: Option<Spanned<String>>,
    pub grace: Option<Spanned<String>>,
    pub first_retry: Option<Spanned<String>>,
    pub max_retry: Option<Spanned<String>>,
    pub give_up_after: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImages {
    pub incomplete_cap_mb: Option<Spanned<u64>>,
    pub incomplete_expiry: Option<Spanned<String>>,
    pub max_image_mb: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    pub records: Option<Spanned<String>>,
    pub images: Option<Spanned<String>>,
    pub sweep_every: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub listen: Option<Spanned<String>>,
}
