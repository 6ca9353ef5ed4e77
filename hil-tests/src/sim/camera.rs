//! Plays the lane's IP area cameras as one HTTP/1.1 server: `GET
//! /snapshot/{name}.jpg` returns a generated JPEG, behind Digest (RFC 7616,
//! MD5, qop=auth, as IP cameras do), Basic, or no authentication.
//!
//! Scenarios at the HTTP level: `garbage` answers with bytes that are not HTTP,
//! `truncated` promises a length and closes half-way, `bad-crc` serves a
//! corrupted JPEG, `silent` accepts and never answers, `disconnect` closes every
//! connection at once. Responses alternate between `Content-Length` and chunked
//! transfer coding, as different camera firmwares do.

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drivers::http_camera::auth::{self, Algorithm, Credentials, DigestChallenge};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info};

use super::{faults, jpeg, Scenario, ScenarioCtl};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SimAuth {
    None,
    Basic,
    Digest,
}

#[derive(Debug, Clone)]
pub struct CameraSimConfig {
    pub auth: SimAuth,
    pub user: String,
    pub password: String,
    pub width: u32,
    pub height: u32,
}

impl Default for CameraSimConfig {
    fn default() -> Self {
        CameraSimConfig {
            auth: SimAuth::Digest,
            user: "admin".into(),
            password: "lane-sim".into(),
            width: 640,
            height: 480,
        }
    }
}

pub const REALM: &str = "lane-sim";

struct Shared {
    cfg: CameraSimConfig,
    ctl: ScenarioCtl,
    nonces: Mutex<HashSet<String>>,
    served: AtomicU64,
}

pub struct CameraSim {
    pub addr: SocketAddr,
}

impl CameraSim {
    pub async fn start(bind: &str, ctl: ScenarioCtl, cfg: CameraSimConfig) -> io::Result<Self> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let shared =
            Arc::new(Shared { cfg, ctl, nonces: Mutex::new(HashSet::new()), served: AtomicU64::new(0) });
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else { continue };
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(sock, &shared).await {
                        debug!(device = "camera", error = %e, "connection ended");
                    }
                });
            }
        });
        info!(device = "camera", %addr, "area cameras listening");
        Ok(CameraSim { addr })
    }
}

/// The snapshot path of camera `name`.
pub fn snapshot_path(name: &str) -> String {
    format!("/snapshot/{name}.jpg")
}

async fn serve(mut sock: TcpStream, sh: &Shared) -> io::Result<()> {
    let mut rng = SmallRng::from_entropy();
    let scenario = sh.ctl.get();
    if scenario == Scenario::Disconnect {
        return Ok(());
    }
    let mut buf = Vec::with_capacity(2048);
    let head = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break String::from_utf8_lossy(&buf[..i]).into_owned();
        }
        let mut chunk = [0u8; 1024];
        let n = sock.read(&mut chunk).await?;
        if n == 0 || buf.len() > 16 * 1024 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    match scenario {
        Scenario::Silent => {
            let mut changes = sh.ctl.subscribe();
            let _ = tokio::time::timeout(Duration::from_secs(30), changes.changed()).await;
            return Ok(());
        }
        Scenario::Garbage => {
            let mut g = faults::garbage(b"H", &mut rng);
            g.extend_from_slice(b"\r\n\r\n");
            return sock.write_all(&g).await;
        }
        _ => {}
    }
    let mut lines = head.split("\r\n");
    let path = lines.next().and_then(|l| l.split(' ').nth(1)).unwrap_or("/").to_string();
    let authz = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim().to_string());
    if !authorised(sh, authz.as_deref(), &path) {
        let nonce = format!("{:032x}", rng.gen::<u128>());
        sh.nonces.lock().unwrap().insert(nonce.clone());
        let challenge = match sh.cfg.auth {
            SimAuth::Digest => format!(
                "Digest realm=\"{REALM}\", qop=\"auth\", algorithm=MD5, nonce=\"{nonce}\", opaque=\"{:016x}\"",
                rng.gen::<u64>()
            ),
            _ => format!("Basic realm=\"{REALM}\""),
        };
        let resp = format!("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return sock.write_all(resp.as_bytes()).await;
    }
    let Some(name) = path.strip_prefix("/snapshot/").and_then(|p| p.strip_suffix(".jpg")) else {
        return sock
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
    };
    let n = sh.served.fetch_add(1, Ordering::SeqCst);
    let seed = name.bytes().map(u32::from).sum::<u32>().wrapping_add(n as u32);
    let mut body = jpeg::jpeg(sh.cfg.width, sh.cfg.height, seed);
    match scenario {
        Scenario::BadCrc => {
            body[0] = 0x00;
            let mid = body.len() / 2;
            body[mid..].iter_mut().for_each(|b| *b ^= 0x55);
        }
        Scenario::Truncated => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            sock.write_all(head.as_bytes()).await?;
            return sock.write_all(&body[..body.len() / 2]).await;
        }
        _ => {}
    }
    if n & 1 == 0 {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        sock.write_all(head.as_bytes()).await?;
        sock.write_all(&body).await
    } else {
        sock.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        )
        .await?;
        for c in body.chunks(8000) {
            sock.write_all(format!("{:x}\r\n", c.len()).as_bytes()).await?;
            sock.write_all(c).await?;
            sock.write_all(b"\r\n").await?;
        }
        sock.write_all(b"0\r\n\r\n").await
    }
}

fn authorised(sh: &Shared, authz: Option<&str>, path: &str) -> bool {
    let creds = Credentials { user: sh.cfg.user.clone(), password: sh.cfg.password.clone() };
    match (sh.cfg.auth, authz) {
        (SimAuth::None, _) => true,
        (_, None) => false,
        (SimAuth::Basic, Some(a)) => a == auth::basic(&creds),
        (SimAuth::Digest, Some(a)) => {
            let Some(rest) = a.strip_prefix("Digest ") else { return false };
            let p = auth::parse_params(rest);
            let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("");
            let nonce = get("nonce");
            if get("username") != creds.user
                || get("uri") != path
                || !sh.nonces.lock().unwrap().contains(nonce)
            {
                return false;
            }
            let c = DigestChallenge {
                realm: REALM.into(),
                nonce: nonce.into(),
                opaque: None,
                qop_auth: get("qop") == "auth",
                algorithm: Algorithm::Md5,
                stale: false,
            };
            get("response") == auth::digest_response(&creds, &c, "GET", path, get("nc"), get("cnonce"))
        }
    }
}
