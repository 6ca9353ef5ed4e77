//! Shared by the web and systemd tests: the agent binary started with a
//! notify socket (READY=1 says the page is listening), and a minimal HTTP/1.1
//! client over a real TCP connection.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Agent {
    pub child: Child,
    pub notify: UnixDatagram,
    pub web_port: u16,
    pub dir: tempfile::TempDir,
}

/// The demo lane against the test's broker, with `extra` TOML appended.
pub fn config(broker_port: u16, data: &std::path::Path, extra: &str) -> String {
    let lane = hil_tests::demo_lane(
        &format!("host = \"127.0.0.1\"\nport = {broker_port}"),
        &data.display().to_string(),
    );
    format!("{lane}\n{extra}\n")
}

impl Agent {
    /// Starts the agent and waits for READY=1. `extra` gets `{web_port}` replaced.
    pub fn start(broker_port: u16, extra: &str, watchdog: Option<Duration>) -> Agent {
        Self::launch(broker_port, None, "", extra, watchdog)
    }

    /// With its data directory at `data` (say, on a small disk of the test's own).
    pub fn start_in(broker_port: u16, data: &std::path::Path, extra: &str) -> Agent {
        Self::launch(broker_port, Some(data), "", extra, None)
    }

    /// With its data directory at `data` and the disk's floor and reserve given (MB).
    pub fn start_limited(
        broker_port: u16,
        data: &std::path::Path,
        extra: &str,
        floor_mb: u64,
        reserve_mb: u64,
    ) -> Agent {
        let storage = format!("min_free_mb = {floor_mb}\nreserve_mb = {reserve_mb}\n");
        Self::launch(broker_port, Some(data), &storage, extra, None)
    }

    fn launch(
        broker_port: u16,
        data: Option<&std::path::Path>,
        storage: &str,
        extra: &str,
        watchdog: Option<Duration>,
    ) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let web_port = hil_tests::free_port();
        let file = dir.path().join("lane.toml");
        let data = data.map_or_else(|| dir.path().join("data"), std::path::Path::to_path_buf);
        let text = config(broker_port, &data, &extra.replace("{web_port}", &web_port.to_string()));
        let data_line = format!("data_dir = {:?}", data.display().to_string());
        // The storage limits given replace the demo's own.
        let text: String = text
            .lines()
            .filter(|l| storage.is_empty() || !l.starts_with("reserve_mb") && !l.starts_with("min_free_mb"))
            .map(|l| if l == data_line { format!("{l}\n{storage}") } else { format!("{l}\n") })
            .collect();
        std::fs::write(&file, text).unwrap();
        let sock_path = dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&sock_path).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_edge-agent"));
        cmd.args(["run", "--config"])
            .arg(&file)
            .env("NOTIFY_SOCKET", &sock_path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(w) = watchdog {
            cmd.env("WATCHDOG_USEC", w.as_micros().to_string());
        }
        let child = cmd.spawn().unwrap();
        let mut agent = Agent { child, notify, web_port, dir };
        let started = Instant::now();
        if agent.wait_for(|m| m.contains("READY=1"), Duration::from_secs(60)).is_none() {
            let status = agent.child.try_wait();
            panic!("no READY=1 from the agent after {:?}; agent exited: {status:?}", started.elapsed());
        }
        agent
    }

    /// The next notify message that satisfies `want`, within `limit`.
    pub fn wait_for(&self, want: impl Fn(&str) -> bool, limit: Duration) -> Option<String> {
        let end = Instant::now() + limit;
        let mut buf = [0u8; 4096];
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            self.notify.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
            let n = match self.notify.recv(&mut buf) {
                Ok(n) => n,
                // With a receive timeout set, a signal ends the wait with EINTR even under
                // SA_RESTART (signal(7)); and a timeout is only one once the deadline (checked
                // above) has passed. Either way: wait on.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::Interrupted
                            | std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                // Anything else is the test's own fault, not the agent's silence: say which.
                Err(e) => panic!("reading the notify socket failed after {:?}: {e:?}", limit - left),
            };
            let m = String::from_utf8_lossy(&buf[..n]).to_string();
            if want(&m) {
                return Some(m);
            }
        }
    }

    pub fn get(&self, path: &str) -> Response {
        http(self.web_port, "GET", path, &[], b"")
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Response {
        http(self.web_port, "POST", path, &[("X-Edge-Agent", "1")], body)
    }

    pub fn terminate(&mut self) {
        // SAFETY: a plain kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One request on its own connection (`Connection: close`), read to the end.
pub fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    parse(&raw(port, &request))
}

/// Sends bytes as they are and returns everything the server answers.
pub fn raw(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

pub fn parse(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked =
        headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Response { status, headers, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&b[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[end + 2..end + 2 + size]);
        b = &b[end + 4 + size..];
    }
    out
}

pub fn repo() -> PathBuf {
    hil_tests::repo_root()
}

/// The value of one Prometheus series, by its exact name and labels.
pub fn series(metrics: &str, name_and_labels: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' ')?.parse().ok())
}

/// The sum over every series of a metric (all label sets).
pub fn total(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The lane's state as the page shows it, once `ok` holds (the page refreshes
/// it every beat); fails the test after 20 s with what it showed last.
pub fn until_status(port: u16, what: &str, ok: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let s = http(port, "GET", "/api/status", &[], b"").json();
        if ok(&s["state"]) {
            return s["state"].clone();
        }
        assert!(Instant::now() < end, "the page never showed {what}: {s}");
        std::thread::yield_now();
    }
}
