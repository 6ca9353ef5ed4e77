//! For the desk's tests: `lane-central` on a test's PostgreSQL and broker,
//! its users made with the command line, and a small HTTP client that keeps
//! the session cookie and sends the CSRF token, as the page does.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hil_tests::{free_port, wait_for_port};

pub struct Central {
    pub child: Child,
    pub port: u16,
    pub config: PathBuf,
    pub key: ed25519_dalek::SigningKey,
    pub dir: tempfile::TempDir,
}

impl Central {
    /// `desk` is appended to the `[desk]` table.
    pub fn start(db: &str, broker: u16, desk: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        std::fs::write(dir.path().join("central.key"), contract::signing::encode_key(&key.to_bytes()) + "\n")
            .unwrap();
        let port = free_port();
        let text = format!(
            "sites = [\"A\", \"B\"]\n[central]\ninstance = \"t\"\n[mqtt]\nhost = \"127.0.0.1\"\nport = {broker}\n\
             [database]\nurl = \"{db}\"\nmax_connections = 8\n[store]\nurl = \"file://{}\"\n\
             [commands]\nkey = \"central.key\"\nkey_id = \"central-1\"\nvalidity = \"1m\"\n\
             [http]\nlisten = \"127.0.0.1:{port}\"\n[desk]\ntimezone = \"Asia/Shanghai\"\n{desk}\n",
            dir.path().join("images").display()
        );
        let config = dir.path().join("central.toml");
        std::fs::write(&config, text).unwrap();
        let log = std::fs::File::create(dir.path().join("central.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_lane-central"))
            .args(["run", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        assert!(wait_for_port(port, Duration::from_secs(60)), "lane-central did not start");
        Central { child, port, config, key, dir }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("central.log")).unwrap_or_default()
    }

    /// `lane-central ARGS --config ...`, with `stdin`; (success, stdout + stderr).
    pub fn cli(&self, args: &[&str], stdin: &str) -> (bool, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lane-central"))
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
        )
    }

    pub fn user(&self, name: &str, role: &str, sites: Option<&str>) {
        let mut args = vec!["user", "add", name, "--role", role];
        if let Some(s) = sites {
            args.extend(["--sites", s]);
        }
        let (ok, out) = self.cli(&args, &format!("{name}-password-1\n"));
        assert!(ok, "user add {name}: {out}");
    }

    pub fn login(&self, name: &str) -> Client {
        self.login_with(name, &format!("{name}-password-1")).expect("login")
    }

    pub fn login_with(&self, name: &str, password: &str) -> Result<Client, Reply> {
        let body = serde_json::json!({"name": name, "password": password}).to_string();
        let r = request(
            self.port,
            "POST",
            "/api/desk/session",
            &[("content-type", "application/json")],
            body.as_bytes(),
        );
        if r.status != 200 {
            return Err(r);
        }
        let cookie = r.header("set-cookie").expect("a session cookie");
        let cookie = cookie.split(';').next().unwrap().to_string();
        let csrf = r.json()["csrf"].as_str().unwrap().to_string();
        Ok(Client {
            port: self.port,
            cookie,
            csrf: Some(csrf),
            bearer: None,
            set_cookie: r.header("set-cookie").unwrap(),
        })
    }
}

impl Drop for Central {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

#[derive(Debug)]
pub struct Client {
    pub port: u16,
    pub cookie: String,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
    pub set_cookie: String,
}

impl Client {
    pub fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None, true)
    }

    /// A change with the CSRF token, as the page sends it.
    pub fn post(&self, path: &str, body: serde_json::Value) -> Reply {
        self.send("POST", path, Some(body), true)
    }

    pub fn send(&self, method: &str, path: &str, body: Option<serde_json::Value>, csrf: bool) -> Reply {
        let mut headers: Vec<(&str, &str)> = vec![("cookie", &self.cookie)];
        let auth = self.bearer.as_ref().map(|b| format!("Bearer {b}"));
        if let Some(a) = &auth {
            headers = vec![("authorization", a)];
        }
        if csrf {
            if let Some(c) = &self.csrf {
                headers.push(("x-csrf-token", c));
            }
        }
        let text = body.map(|b| b.to_string()).unwrap_or_default();
        if !text.is_empty() {
            headers.push(("content-type", "application/json"));
        }
        request(self.port, method, path, &headers, text.as_bytes())
    }
}

pub fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP answer");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Reply { status, head, body }
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

/// Polls until `check` holds; the message says what was awaited.
pub fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A lane as the registry knows it, and a vehicle it holds (the rows ingest
/// writes for a verified decision).
pub fn held(
    pg: &hil_tests::postgres::Postgres,
    db: &str,
    site: &str,
    lane: &str,
    passage: &str,
    plate: &str,
) {
    pg.psql(
        db,
        &format!(
            "INSERT INTO lanes (site, lane, state) VALUES ('{site}', '{lane}', 'online') ON CONFLICT DO NOTHING; \
             INSERT INTO decisions (site, lane, passage_id, outcome, reasons, decided_by, decided_at, plate, containers, key_id, record, payload) \
             VALUES ('{site}', '{lane}', '{passage}', 'hold', '{{low_confidence}}', 'policy', now(), '{plate}', '{{MSKU1234565}}', 'k', \
                     '{{\"passage\": \"{passage}\", \"decision\": {{\"outcome\": \"hold\", \"reasons\": [\"low_confidence\"], \"checks\": [], \"by\": \"policy\", \"at\": \"2026-01-01T00:00:00Z\"}}}}', '\\x00')"
        ),
    );
}

pub fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}
