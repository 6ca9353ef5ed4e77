//! Shared by central's end-to-end tests: `lane-central` processes on a test's
//! PostgreSQL, broker and store, and small HTTP/JSON helpers.

#![allow(dead_code)]

pub mod agent;
pub mod lane;
pub mod scenario;
pub mod wire;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hil_tests::{free_port, wait_for_port};

pub struct Central {
    pub child: Child,
    pub http: u16,
    pub config: PathBuf,
    pub log: PathBuf,
    /// Every API call needs a login: these tests call as another system would,
    /// with an API token of a viewer.
    pub token: String,
}

/// Writes a config for instance `name` and returns its path.
pub fn config(
    dir: &Path,
    name: &str,
    db_url: &str,
    broker: u16,
    store: &str,
    key: &Path,
    sites: &[&str],
) -> PathBuf {
    let http = free_port();
    let sites: Vec<String> = sites.iter().map(|s| format!("{s:?}")).collect();
    let text = format!(
        "sites = [{}]\n\n[central]\ninstance = \"{name}\"\n\n[mqtt]\nhost = \"127.0.0.1\"\nport = {broker}\ninflight = 50\n\n\
         [database]\nurl = \"{db_url}\"\nmax_connections = 8\n\n[store]\n{store}\n\n\
         [commands]\nkey = \"{}\"\nkey_id = \"central-1\"\nvalidity = \"5m\"\n\n\
         [completeness]\ncheck_every = \"300ms\"\ngrace = \"2s\"\nfirst_retry = \"2s\"\nmax_retry = \"4s\"\ngive_up_after = 20\n\n\
         [images]\nincomplete_expiry = \"10m\"\n\n[http]\nlisten = \"127.0.0.1:{http}\"\n",
        sites.join(", "),
        key.display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

impl Central {
    pub fn start(config: &Path) -> Self {
        let text = std::fs::read_to_string(config).unwrap();
        let http: u16 =
            text.split("listen = \"127.0.0.1:").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
        let log = config.with_extension("log");
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let child = Command::new(central_binary())
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info,sqlx=warn")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        assert!(
            wait_for_port(http, Duration::from_secs(60)),
            "lane-central did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let token = api_token(config);
        Central { child, http, config: config.to_path_buf(), log, token }
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn get(&self, path: &str) -> (u16, Vec<u8>) {
        http_get(self.http, path, &self.token)
    }

    pub fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_lane-central"))
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .unwrap();
        assert!(out.status.success(), "lane-central {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into()
    }
}

/// `lane-central` as cargo built it for this target, or `LANE_CENTRAL_BIN`
/// (the benchmark runs a release build beside its own debug build).
pub fn central_binary() -> PathBuf {
    std::env::var_os("LANE_CENTRAL_BIN")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_lane-central")), PathBuf::from)
}

impl Drop for Central {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A viewer `api` (made once per database; instances share it) and a token of
/// its own for this instance.
fn api_token(config: &Path) -> String {
    use std::io::Write;
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lane-central"))
            .args(args)
            .arg("--config")
            .arg(config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let added = run(&["user", "add", "api", "--role", "viewer"], "api-password-for-tests\n");
    let stderr = String::from_utf8_lossy(&added.stderr);
    assert!(added.status.success() || stderr.contains("exists already"), "user add api: {stderr}");
    let out = run(&["user", "token", "api", "--label", "tests"], "");
    assert!(out.status.success(), "user token: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn http_get(port: u16, path: &str, token: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP answer");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else { return out };
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 2 + n + 2..];
    }
}

/// Polls `check` until it holds; the message says what was awaited.
pub fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Central's command key, written as `edge-agent command keygen` writes it.
pub fn command_key(dir: &Path) -> (PathBuf, ed25519_dalek::VerifyingKey) {
    let key = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let path = dir.join("central.key");
    std::fs::write(&path, contract::signing::encode_key(&key.to_bytes()) + "\n").unwrap();
    (path, key.verifying_key())
}
