//! A throwaway PostgreSQL cluster for one test binary: `initdb` into a temp
//! dir, `pg_ctl start` on a free loopback port, stopped (immediately) on drop.
//!
//! `initdb` refuses to run as root, so as root both run through
//! `runuser -u postgres` on a directory owned by `postgres` (Debian's package
//! creates that user). Each test takes its own database ([`Postgres::database`]),
//! so tests in one binary share the cluster's start-up cost but no rows.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{free_port, wait_for_port};

pub struct Postgres {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    root: bool,
    _dir: tempfile::TempDir,
}

/// Debian's server binaries (`/usr/lib/postgresql/<major>/bin`), the newest.
fn server_bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: run scripts/setup (it installs Debian's postgresql)")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop().expect("no initdb under /usr/lib/postgresql/*/bin: run scripts/setup")
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

impl Postgres {
    /// A new cluster with `fsync` off (tests measure behaviour, not durability
    /// of the test machine's disk).
    pub fn start() -> Self {
        Self::start_with(&["-c", "fsync=off", "-c", "synchronous_commit=off"])
    }

    /// A cluster with PostgreSQL's durable defaults, for benchmarks.
    pub fn start_durable() -> Self {
        Self::start_with(&[])
    }

    fn start_with(settings: &[&str]) -> Self {
        let dir = tempfile::Builder::new().prefix("pg-").tempdir().expect("temp dir");
        let root = is_root();
        let data = dir.path().join("data");
        if root {
            std::fs::create_dir_all(&data).unwrap();
            chown_postgres(dir.path());
            chown_postgres(&data);
        }
        let bin = server_bin();
        let init = run_as(root, &bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--locale=C", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .output()
            .expect("initdb runs");
        assert!(init.status.success(), "initdb failed: {}", String::from_utf8_lossy(&init.stderr));
        let port = free_port();
        let mut options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=200",
            dir.path().display()
        );
        for s in settings {
            options.push(' ');
            options.push_str(s);
        }
        let pg = Postgres { port, bin, data, root, _dir: dir };
        let started = run_as(root, &pg.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&pg.data)
            .args(["-o", &options, "-l"])
            .arg(pg.data.join("server.log"))
            .args(["-w", "-t", "60", "start"])
            .stdout(Stdio::null())
            .output()
            .expect("pg_ctl runs");
        assert!(
            started.status.success() && wait_for_port(port, Duration::from_secs(30)),
            "PostgreSQL did not start: {}\n{}",
            String::from_utf8_lossy(&started.stderr),
            std::fs::read_to_string(pg.data.join("server.log")).unwrap_or_default()
        );
        pg
    }

    /// The URL of database `name`, created empty the first time.
    pub fn database(&self, name: &str) -> String {
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "a plain database name");
        let (ok, _, err) = self.run_psql("postgres", &format!("CREATE DATABASE {name}"));
        assert!(ok || err.contains("already exists"), "CREATE DATABASE {name}: {err}");
        self.url(name)
    }

    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs SQL through psql and returns its unaligned output (for test assertions
    /// independent of the code under test).
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let (ok, out, err) = self.run_psql(database, sql);
        assert!(ok, "psql {sql}: {err}");
        out.trim().to_string()
    }

    fn run_psql(&self, database: &str, sql: &str) -> (bool, String, String) {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
                "-qAtc",
                sql,
            ])
            .output()
            .expect("psql runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    /// Bytes the cluster takes on disk.
    pub fn disk_bytes(&self) -> u64 {
        crate::dir_bytes(&self.data)
    }

    fn stop(&self, mode: &str) {
        let _ = run_as(self.root, &self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", mode, "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop("immediate");
    }
}

fn run_as(root: bool, program: &Path) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn chown_postgres(path: &Path) {
    let status = Command::new("chown").arg("postgres:postgres").arg(path).status().expect("chown runs");
    assert!(status.success(), "chown postgres {}", path.display());
}
