//! Real `edge-agent` processes on the simulated lane, for central's
//! acceptance runs: each with its own data directory, its own technician page
//! port, central's command key trusted (so it answers `resend`), and a finite
//! plan of vehicles per start. The test reads what the lane archived
//! (`<data>/records/*.json`, the signed records exactly as published) to
//! compare with what central stored.
//!
//! The agent binary is `edge-agent` built beside `lane-central` (cargo builds
//! every workspace binary for `cargo test --workspace`), or `EDGE_AGENT_BIN`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The agent binary: `EDGE_AGENT_BIN`, else `edge-agent` next to `lane-central`.
pub fn agent_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("EDGE_AGENT_BIN") {
        return PathBuf::from(bin);
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_lane-central")).with_file_name("edge-agent");
    assert!(
        bin.exists(),
        "{} is missing: build it first (`cargo build -p edge-agent`; `cargo test --workspace` does) \
         or set EDGE_AGENT_BIN",
        bin.display()
    );
    bin
}

/// One record as the lane archived it.
pub struct Archived {
    pub seq: u64,
    pub exit: String,
    /// The signed record byte for byte as published.
    pub payload: Vec<u8>,
}

pub struct Agent {
    pub site: String,
    pub lane: String,
    pub data: PathBuf,
    config: PathBuf,
    log: PathBuf,
    pub vehicles: u64,
    child: Option<Child>,
    /// Ids archived before the current run started.
    before_run: BTreeSet<String>,
    pub starts: u32,
}

impl Agent {
    /// Writes the lane's config under `dir/<lane>`: the demo lane at test
    /// speed, `vehicles` vehicles per start, publishing to the broker on `port`.
    pub fn new(dir: &Path, site: &str, lane: &str, port: u16, central_key_b64: &str, vehicles: u64) -> Self {
        let home = dir.join(lane);
        std::fs::create_dir_all(&home).unwrap();
        let data = home.join("data");
        let base = hil_tests::demo_lane(
            &format!("host = \"127.0.0.1\"\nport = {port}"),
            &data.display().to_string(),
        );
        let base = base
            .replace("site = \"DEMO\"", &format!("site = {site:?}"))
            .replace("id = \"G01\"", &format!("id = {lane:?}"))
            .replace("review = \"20s\"", "review = \"10s\"");
        assert!(base.contains(&format!("id = {lane:?}")), "config/demo.toml changed: update common::agent");
        let seed = lane.bytes().map(u64::from).sum::<u64>();
        let text = format!(
            "{base}\n[web]\nlisten = \"127.0.0.1:{web}\"\n\n[commands]\nkeys = {{ central-1 = {central_key_b64:?} }}\n\n\
             [sim]\nvehicles = {vehicles}\nseed = {seed}\narrival_gap = \"20ms\"\nbarrier_move = \"5ms\"\ndrive_in = \"2ms\"\n\
             drive_clear = \"5ms\"\npatience = \"1s\"\nlow_confidence_every = 7\ntampered_seal_every = 9\n\
             declared_empty_every = 4\ntargeted_every = 11\nundeclared_every = 13\n",
            web = hil_tests::free_port(),
        );
        let config = home.join("lane.toml");
        std::fs::write(&config, text).unwrap();
        Agent {
            site: site.into(),
            lane: lane.into(),
            data,
            config,
            log: home.join("agent.log"),
            vehicles,
            child: None,
            before_run: BTreeSet::new(),
            starts: 0,
        }
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.lane);
        self.before_run = self.archived().into_keys().collect();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(agent_binary())
            .args(["run", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.starts += 1;
    }

    /// SIGKILL: no goodbye, whatever was in flight stays in the lane's outbox.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The agent exited by itself (a crash): its log's tail, for the failure message.
    pub fn crashed(&mut self) -> Option<String> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        Some(format!("{} exited ({status}): {}", self.lane, tail.join("\n")))
    }

    /// Every record the lane archived, by passage id.
    pub fn archived(&self) -> BTreeMap<String, Archived> {
        let Ok(dir) = std::fs::read_dir(self.data.join("records")) else { return BTreeMap::new() };
        dir.flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| {
                let payload = std::fs::read(e.path()).ok()?;
                let v: Value = serde_json::from_slice(&payload).ok()?;
                let a = Archived {
                    seq: v["seq"].as_u64()?,
                    exit: v["exit"].as_str().unwrap_or("-").to_string(),
                    payload,
                };
                Some((v["id"].as_str()?.to_string(), a))
            })
            .collect()
    }

    /// Records of the current run (not the ones it closed as interrupted on start).
    pub fn done_this_run(&self) -> u64 {
        self.archived()
            .iter()
            .filter(|(id, a)| !self.before_run.contains(*id) && a.exit != "interrupted")
            .count() as u64
    }

    /// The current run's plan has gone through: every vehicle has its record.
    pub fn finished(&self) -> bool {
        self.done_this_run() >= self.vehicles
    }

    /// The lane's public key, read from its own key file (not from central).
    pub fn public_key(&self) -> ed25519_dalek::VerifyingKey {
        let text = std::fs::read_to_string(self.data.join("signing.key")).expect("the lane made its key");
        contract::signing::secret_key(&text).expect("a key file").verifying_key()
    }

    pub fn key_id(&self) -> String {
        format!("{}-{}", self.site, self.lane)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill9();
    }
}
