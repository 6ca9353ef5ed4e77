//! Area camera (plate, container faces) as an IP camera: a JPEG snapshot over
//! HTTP `GET`, with Basic or Digest authentication and a hard timeout.
//!
//! Every snapshot opens a fresh connection through the [`Connector`] (cameras
//! close after each response anyway), so there is no long-lived link to
//! supervise: a camera that was down simply answers the next snapshot again,
//! and health follows the last attempt — `down` on no connection or no answer
//! in time, `degraded` when it answers with something that is not a usable
//! JPEG, `ok` on a good image. Rejected credentials are a configuration fault
//! ([`DeviceError::Fault`]) with a sentence saying so.

pub mod auth;
pub mod http;

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::watch;
use tokio::time::timeout;
use tracing::debug;

use crate::transport::{Connector, HealthReporter, TcpConnector};
use crate::{AreaCamera, DeviceError, Health, Image, ImageFormat};
use auth::{Challenge, Credentials, DigestState};
use http::HttpError;

#[derive(Debug, Clone)]
pub struct HttpCameraConfig {
    /// Value of the `Host` header, usually the camera's address.
    pub host: String,
    /// e.g. `/ISAPI/Streaming/channels/101/picture` or `/cgi-bin/snapshot.cgi`.
    pub path: String,
    pub credentials: Option<Credentials>,
    /// For the whole snapshot, authentication round trip included.
    pub timeout: Duration,
    pub max_bytes: usize,
}

impl HttpCameraConfig {
    pub fn new(host: impl Into<String>, path: impl Into<String>) -> Self {
        HttpCameraConfig {
            host: host.into(),
            path: path.into(),
            credentials: None,
            timeout: Duration::from_secs(3),
            max_bytes: 16 << 20,
        }
    }
}

enum AuthState {
    None,
    Basic,
    Digest(DigestState),
}

pub struct HttpCamera<C = TcpConnector> {
    connector: C,
    cfg: HttpCameraConfig,
    auth: AuthState,
    health: HealthReporter,
    cnonce: u64,
}

impl HttpCamera<TcpConnector> {
    /// A camera at `addr` (`host:port`).
    pub fn new(name: &str, addr: &str, cfg: HttpCameraConfig) -> Self {
        Self::with_connector(name, TcpConnector::new(addr), cfg)
    }
}

impl<C: Connector> HttpCamera<C> {
    pub fn with_connector(name: &str, connector: C, cfg: HttpCameraConfig) -> Self {
        let cnonce = u64::from(rand::random::<u32>());
        HttpCamera { connector, cfg, auth: AuthState::None, health: HealthReporter::new(name), cnonce }
    }

    pub fn health(&self) -> watch::Receiver<Health> {
        self.health.subscribe()
    }

    fn authorization(&mut self) -> Option<String> {
        let creds = self.cfg.credentials.as_ref()?;
        match &mut self.auth {
            AuthState::None => None,
            AuthState::Basic => Some(auth::basic(creds)),
            AuthState::Digest(d) => {
                self.cnonce = self.cnonce.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                Some(d.authorization(creds, "GET", &self.cfg.path, &format!("{:016x}", self.cnonce)))
            }
        }
    }

    async fn request(&mut self) -> Result<http::Response, DeviceError> {
        let stream = self.connector.connect().await.map_err(|e| {
            DeviceError::Disconnected(format!("cannot connect to {}: {e}", self.connector.peer()))
        })?;
        let authz = self.authorization();
        http::get(stream, &self.cfg.host, &self.cfg.path, authz.as_deref(), self.cfg.max_bytes).await.map_err(
            |e| match e {
                HttpError::Io(e) => DeviceError::Disconnected(format!("{}: {e}", self.connector.peer())),
                e => DeviceError::Protocol(e.to_string()),
            },
        )
    }

    async fn fetch(&mut self) -> Result<Image, DeviceError> {
        let mut resp = self.request().await?;
        if resp.status == 401 {
            // No login yet, an expired nonce, or a wrong password: answer the fresh
            // challenge once; a second 401 means the credentials are wrong.
            if self.cfg.credentials.is_none() {
                return Err(DeviceError::Fault(
                    "camera requires a login: set user and password in the config".into(),
                ));
            }
            let challenges: Vec<Challenge> =
                resp.headers_named("www-authenticate").filter_map(auth::parse_challenge).collect();
            let digest = challenges.iter().find_map(|c| match c {
                Challenge::Digest(d) => Some(d.clone()),
                Challenge::Basic => None,
            });
            self.auth = match (digest, challenges.contains(&Challenge::Basic)) {
                (Some(d), _) => AuthState::Digest(DigestState::new(d)),
                (None, true) => AuthState::Basic,
                (None, false) => {
                    return Err(DeviceError::Protocol(
                        "camera asks for an authentication scheme we do not speak".into(),
                    ))
                }
            };
            debug!(device = self.health.device(), "answering the camera's authentication challenge");
            resp = self.request().await?;
            if resp.status == 401 {
                self.auth = AuthState::None;
                return Err(DeviceError::Fault(
                    "camera rejected the user name or password in the config".into(),
                ));
            }
        }
        if resp.status != 200 {
            return Err(DeviceError::Protocol(format!("camera answered HTTP {}", resp.status)));
        }
        if !resp.body.starts_with(&[0xFF, 0xD8]) {
            return Err(DeviceError::Protocol("snapshot is not a JPEG".into()));
        }
        let (width, height) =
            image::ImageReader::with_format(std::io::Cursor::new(&resp.body[..]), image::ImageFormat::Jpeg)
                .into_dimensions()
                .map_err(|e| DeviceError::Protocol(format!("snapshot JPEG is corrupt: {e}")))?;
        Ok(Image {
            bytes: resp.body,
            format: ImageFormat::Jpeg,
            width,
            height,
            captured_at: Utc::now(),
            sim_truth: None,
        })
    }
}

#[async_trait]
impl<C: Connector> AreaCamera for HttpCamera<C> {
    async fn snapshot(&mut self) -> Result<Image, DeviceError> {
        let r = match timeout(self.cfg.timeout, self.fetch()).await {
            Ok(r) => r,
            Err(_) => Err(DeviceError::Timeout(self.cfg.timeout)),
        };
        match &r {
            Ok(_) => self.health.ok(),
            Err(DeviceError::Timeout(t)) => self.health.down(format!("no snapshot within {t:?}")),
            Err(DeviceError::Disconnected(why) | DeviceError::Fault(why)) => self.health.down(why.clone()),
            Err(e) => self.health.degraded(e.to_string()),
        }
        r
    }
}
