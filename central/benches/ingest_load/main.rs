//! Ingest under load (issue 13's benchmark; not a timed test):
//!
//! `cargo bench -p central --bench ingest_load`
//!
//! Emulated lanes (`fleet`) replay the lane wire format — signed
//! decision and passage records, images of realistic sizes (plate 300 KB,
//! four container faces 500 KB each, UVSS 4 MB) in the lane's 256 KiB chunks,
//! QoS 1 — into a real Mosquitto, with `lane-central` (release build) on a
//! real PostgreSQL with durable defaults and a filesystem store.
//!
//! 1. **Drain, against the raw limit**: the same DRAIN passages queued at the
//!    broker for two sessions while both consumers are away; first
//!    `mosquitto_sub -q 1` writes its copy to a file, then one central
//!    instance ingests its copy; the ratio of their throughputs is the figure
//!    to compare between machines (both ran on this machine in this run).
//! 2. **Paced steps**: N lanes at one vehicle per 30 s each (random phase per
//!    lane) for STEP seconds, for each N in LANES: offered and ingested
//!    passages/s and MB/s, p50/p95 publish → queryable through the API
//!    (`probe`), CPU of central, PostgreSQL, Mosquitto and the
//!    generator, central's peak RSS, database and store bytes per 1,000
//!    passages. A step keeps up when p95 < 2 s and nothing is left behind.
//! 3. The same steps with a second instance in the share group (SECOND).
//!
//! Env: LANE_CENTRAL_BIN (another `lane-central` build, e.g. a release binary
//! under a debug-built benchmark), BENCH_LANES (default "50,100,200,300,400"), BENCH_STEP_SECS (60),
//! BENCH_DRAIN (100 passages; 0 skips), BENCH_SECOND (lane counts for two
//! instances, default "200,400"; "" skips). The machine's load average is
//! printed with every step: on a shared machine the numbers are a floor.

#[path = "../../tests/common/mod.rs"]
mod common;
mod fleet;
mod probe;
mod procs;
mod step;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Central;
use fleet::{Fleet, Profile};
use hil_tests::postgres::Postgres;
use hil_tests::Mosquitto;
use probe::{quantile, Probe, Sent};
use rand::{Rng, SeedableRng};
use step::Step;

const SITE: &str = "P1";
const PERIOD: Duration = Duration::from_secs(30);
const MB: f64 = 1_000_000.0;

fn env_list(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Rig {
    dir: tempfile::TempDir,
    pg: Postgres,
    broker: Mosquitto,
    configs: Vec<PathBuf>,
    centrals: Vec<Central>,
    fleet: Arc<Fleet>,
    rt: tokio::runtime::Runtime,
}

impl Rig {
    fn count(&self, q: &str) -> i64 {
        self.pg.psql("central", q).parse().unwrap_or(-1)
    }

    fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// Passages stored with every image they name.
    fn whole_passages(&self) -> i64 {
        self.count(
            "SELECT count(*) FROM passages p WHERE NOT EXISTS (SELECT 1 FROM passage_images pi \
             WHERE pi.site = p.site AND pi.lane = p.lane AND pi.passage_id = p.id \
             AND NOT EXISTS (SELECT 1 FROM images i WHERE i.sha256 = pi.sha256))",
        )
    }

    fn db_bytes(&self) -> i64 {
        self.count("SELECT pg_database_size('central')")
    }

    fn postmaster(&self) -> u32 {
        procs::find(&["bin/postgres", &format!("-p {}", self.pg.port)]).expect("the postmaster runs")
    }

    /// Images out of the way between phases (the disk is shared); sizes were taken before.
    fn wipe_store(&self) {
        for sub in ["images", "parts"] {
            let _ = std::fs::remove_dir_all(self.store().join(sub));
        }
    }
}

/// A production-like configuration (the example's defaults), on the rig's parts.
fn config(dir: &Path, name: &str, db: &str, broker: u16, store: &Path, key: &Path) -> PathBuf {
    let http = hil_tests::free_port();
    let text = format!(
        "sites = [\"{SITE}\"]\n\n[central]\ninstance = \"{name}\"\n\n[mqtt]\nhost = \"127.0.0.1\"\nport = {broker}\n\n\
         [database]\nurl = \"{db}\"\n\n[store]\nurl = \"file://{}\"\n\n\
         [commands]\nkey = \"{}\"\nkey_id = \"central-1\"\n\n[http]\nlisten = \"127.0.0.1:{http}\"\n",
        store.display(),
        key.display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let steps = env_list("BENCH_LANES", "50,100,200,300,400");
    let second = env_list("BENCH_SECOND", "200,400");
    let step_secs = env_num("BENCH_STEP_SECS", 60);
    let drain = env_num("BENCH_DRAIN", 100) as usize;
    let lanes = steps.iter().chain(&second).copied().max().unwrap_or(200);

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::Builder::new().prefix("central-bench-").tempdir().unwrap();
    let pg = Postgres::start_durable();
    let db = pg.database("central");
    // In memory, no queue limit: the drain phase queues hundreds of MB per session.
    let broker = Mosquitto::with_config(false, hil_tests::free_port(), "max_queued_messages 0\n");
    let (key, _) = common::command_key(dir.path());
    let store = dir.path().join("store");
    let configs: Vec<PathBuf> =
        ["a", "b"].iter().map(|n| config(dir.path(), n, &db, broker.port, &store, &key)).collect();
    let centrals = vec![Central::start(&configs[0])];
    let fleet =
        Arc::new(rt.block_on(async { Fleet::connect(broker.port, SITE, lanes, Profile::realistic()) }));
    let rig = Rig { dir, pg, broker, configs, centrals, fleet, rt };

    println!(
        "ingest_load: {} lanes emulated, {:.1} MB of images per passage, one vehicle per {} s per lane; \
         load average {:.1} on {} cores",
        lanes,
        Profile::realistic().image_bytes() as f64 / MB,
        PERIOD.as_secs(),
        procs::load(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    rig.rt.block_on(rig.fleet.announce());
    wait(&rig, "every lane's key registered", Duration::from_secs(120), |r| {
        r.count("SELECT count(*) FROM lane_keys") == lanes as i64
    });
    rig.pg
        .psql("central", "UPDATE lane_keys SET state = 'approved', decided_at = now(), decided_by = 'bench'");

    let mut rig = rig;
    if drain > 0 {
        drain_against_raw(&mut rig, drain);
    }
    println!("\n{}", Step::header());
    for n in steps {
        let s = paced_step(&rig, n, step_secs);
        println!("{}", s.row(1));
    }
    if !second.is_empty() {
        let b = Central::start(&rig.configs[1]);
        rig.centrals.push(b);
        for n in second {
            let s = paced_step(&rig, n, step_secs);
            println!("{}", s.row(2));
        }
    }
}

fn wait(rig: &Rig, what: &str, limit: Duration, mut done: impl FnMut(&Rig) -> bool) -> bool {
    let start = Instant::now();
    while !done(rig) {
        if start.elapsed() > limit {
            eprintln!("gave up waiting for {what} after {limit:?}");
            return false;
        }
        // Each look is a count over the passages: not too often, it loads PostgreSQL too.
        std::thread::sleep(Duration::from_millis(250));
    }
    true
}

/// The filters central's shared subscription covers, for `mosquitto_sub`.
const STREAM: [&str; 3] = ["lanectl/+/+/passage", "lanectl/+/+/decision", "lanectl/+/+/image/#"];

fn raw_sub(port: u16, extra: &[&str]) -> Command {
    let mut c = Command::new("mosquitto_sub");
    c.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-c", "-i", "bench-raw"]);
    for t in STREAM {
        c.args(["-t", t]);
    }
    c.args(extra);
    c
}

fn sigterm(c: &mut Central) {
    let _ = Command::new("kill").args(["-TERM", &c.child.id().to_string()]).status();
    let _ = c.child.wait();
}

/// Phase 1: the same backlog drained by `mosquitto_sub -q 1` into a file, then by central.
fn drain_against_raw(rig: &mut Rig, passages: usize) {
    // Both sessions exist and are away: the broker queues the stream for each.
    let made = raw_sub(rig.broker.port, &["-E"]).status().expect("mosquitto_sub runs");
    assert!(made.success(), "mosquitto_sub could not subscribe");
    let mut a = rig.centrals.pop().expect("instance a");
    sigterm(&mut a);
    let fleet = rig.fleet.clone();
    let (messages, bytes) = rig.rt.block_on(async move {
        let mut built = Vec::new();
        for i in 0..passages {
            let f = fleet.clone();
            built.push(tokio::task::spawn_blocking(move || f.build(i % f.lanes())).await.unwrap());
        }
        let (messages, bytes) = built.iter().fold((0, 0), |(m, b), p| (m + p.messages.len(), b + p.bytes));
        // Lanes publish side by side, each its passages in order.
        let mut per_lane: Vec<Vec<_>> = (0..fleet.lanes()).map(|_| Vec::new()).collect();
        for p in built {
            per_lane[p.lane].push(p);
        }
        let mut tasks = Vec::new();
        for mine in per_lane.into_iter().filter(|l| !l.is_empty()) {
            let f = fleet.clone();
            tasks.push(tokio::spawn(async move {
                for p in &mine {
                    f.send(p).await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert!(fleet.wait_acked(Duration::from_secs(600)).await, "the broker took the backlog");
        (messages, bytes)
    });
    let dump = rig.dir.path().join("raw.dump");
    let started = Instant::now();
    let out = std::fs::File::create(&dump).unwrap();
    let status = raw_sub(rig.broker.port, &["-C", &messages.to_string()])
        .stdout(Stdio::from(out))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let raw_secs = started.elapsed().as_secs_f64();
    let dumped = std::fs::metadata(&dump).map_or(0, |m| m.len());
    assert!(status.success() && dumped >= bytes, "mosquitto_sub wrote {dumped} of {bytes} bytes");
    let _ = std::fs::remove_file(&dump);
    // End the raw session: left behind, the broker would queue every later step for it.
    // (A clean-session connect under the same client id discards it.)
    let cleared = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &rig.broker.port.to_string(),
            "-i",
            "bench-raw",
            "-E",
            "-t",
            STREAM[0],
        ])
        .status();
    assert!(cleared.is_ok_and(|s| s.success()), "the raw session could not be ended");

    let before = rig.whole_passages();
    let started = Instant::now();
    let a = Central::start(&rig.configs[0]);
    let rss = procs::RssPeak::start(vec![a.child.id()]);
    let pg0 = procs::tree_cpu_seconds(rig.postmaster());
    rig.centrals.push(a);
    let done = wait(rig, "central to drain the backlog", Duration::from_secs(1800), |r| {
        r.whole_passages() >= before + passages as i64
    });
    let central_secs = started.elapsed().as_secs_f64();
    let cpu = procs::cpu_seconds(rig.centrals[0].child.id());
    let pg_cpu = procs::tree_cpu_seconds(rig.postmaster()) - pg0;
    let peak = rss.stop();
    let (raw_mbs, central_mbs) = (bytes as f64 / MB / raw_secs, bytes as f64 / MB / central_secs);
    println!(
        "\ndrain of {passages} passages ({messages} messages, {:.0} MB), load average {:.1}:\n  \
         mosquitto_sub -q 1 > file   {raw_secs:6.1} s  {raw_mbs:6.1} MB/s  {:5.2} passages/s\n  \
         lane-central (1 instance)  {central_secs:6.1} s  {central_mbs:6.1} MB/s  {:5.2} passages/s{}\n  \
         ratio central/raw {:.2}; central CPU {:.1} s ({:.2} cores), PostgreSQL {:.1} s, peak RSS {:.0} MB",
        bytes as f64 / MB,
        procs::load(),
        passages as f64 / raw_secs,
        passages as f64 / central_secs,
        if done { "" } else { "  (NOT all stored)" },
        central_mbs / raw_mbs,
        cpu,
        cpu / central_secs,
        pg_cpu,
        peak as f64 / MB
    );
    rig.wipe_store();
}

/// The counters that explain a step falling behind, summed over the
/// instances: input refused (e.g. `incomplete_cap`), messages retried, resends
/// asked of the lanes (the emulated lanes never answer them), images expired.
fn trouble(rig: &Rig) -> BTreeMap<String, f64> {
    const KEEP: [&str; 4] = [
        "central_bad_input_total",
        "central_ingest_retries_total",
        "central_resend_requests_total",
        "central_images_expired_total",
    ];
    let mut sum = BTreeMap::new();
    for c in &rig.centrals {
        let (status, body) = c.get("/metrics");
        if status != 200 {
            continue;
        }
        for line in String::from_utf8_lossy(&body).lines().filter(|l| KEEP.iter().any(|k| l.starts_with(k))) {
            if let Some((name, v)) = line.rsplit_once(' ') {
                *sum.entry(name.trim_start_matches("central_").to_string()).or_default() +=
                    v.parse().unwrap_or(0.0);
            }
        }
    }
    sum
}

fn trouble_since(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> String {
    let grown =
        after.iter().map(|(k, v)| (k, v - before.get(k).copied().unwrap_or(0.0))).filter(|(_, d)| *d > 0.0);
    grown.map(|(k, d)| format!("{k} +{d}")).collect::<Vec<_>>().join(", ")
}

/// Phase 2/3: `lanes` lanes at one vehicle per 30 s each, for `secs` seconds.
fn paced_step(rig: &Rig, lanes: usize, secs: u64) -> Step {
    let central_pids: Vec<u32> = rig.centrals.iter().map(|c| c.child.id()).collect();
    let cpu = |pids: &[u32]| pids.iter().map(|&p| procs::cpu_seconds(p)).sum::<f64>();
    let (c0, pg0, m0, g0) = (
        cpu(&central_pids),
        procs::tree_cpu_seconds(rig.postmaster()),
        procs::cpu_seconds(rig.broker.pid()),
        procs::cpu_seconds(std::process::id()),
    );
    let (db0, whole0, trouble0) = (rig.db_bytes(), rig.whole_passages(), trouble(rig));
    let load0 = procs::load();
    let rss = procs::RssPeak::start(central_pids.clone());
    let probe = Probe::start(rig.centrals[0].http, &rig.centrals[0].token, SITE);
    let started = Instant::now();
    let (sent, bytes) =
        rig.rt.block_on(paced(rig.fleet.clone(), lanes, Duration::from_secs(secs), probe.sender()));
    rig.rt.block_on(rig.fleet.wait_acked(Duration::from_secs(300)));
    let lat = probe.finish(Duration::from_secs(120));
    // The last lane may publish before `secs` is up: never a shorter span than the one offered.
    let wall = started.elapsed().as_secs_f64().max(secs as f64);
    let whole = rig.whole_passages() - whole0;
    let store = hil_tests::dir_bytes(&rig.store().join("images"));
    let step = Step {
        lanes,
        secs: wall,
        passages: sent,
        // Random phases: the count published in `secs` varies around lanes * secs / 30.
        offered: sent as f64 / secs as f64,
        // Over the wall time, tail included: a central that falls behind
        // stretches it, so this is the sustained rate, not the offered one.
        ingested: whole as f64 / wall,
        mb_per_s: bytes as f64 / MB / wall * (whole as f64 / sent.max(1) as f64),
        record_p95: quantile(&lat.record, 0.95),
        p50: quantile(&lat.whole, 0.5),
        p95: quantile(&lat.whole, 0.95),
        max: quantile(&lat.whole, 1.0),
        unfinished: lat.unfinished,
        central_cores: (cpu(&central_pids) - c0) / wall,
        pg_cores: (procs::tree_cpu_seconds(rig.postmaster()) - pg0) / wall,
        broker_cores: (procs::cpu_seconds(rig.broker.pid()) - m0) / wall,
        generator_cores: (procs::cpu_seconds(std::process::id()) - g0) / wall,
        rss_mb: rss.stop() as f64 / MB,
        db_per_1000: (rig.db_bytes() - db0) as f64 / MB / whole.max(1) as f64 * 1000.0,
        store_per_1000: store as f64 / 1e9 / whole.max(1) as f64 * 1000.0,
        load: (load0 + procs::load()) / 2.0,
        trouble: trouble_since(&trouble0, &trouble(rig)),
        api_per_s: lat.requests as f64 / wall,
    };
    assert_eq!(step.passages, sent);
    rig.wipe_store();
    step
}

/// Every lane publishes one passage per PERIOD, starting at a random phase;
/// returns (passages, bytes) handed to the broker.
async fn paced(
    fleet: Arc<Fleet>,
    lanes: usize,
    duration: Duration,
    probe: std::sync::mpsc::Sender<Sent>,
) -> (usize, u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(lanes as u64);
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for lane in 0..lanes {
        let offset = PERIOD.mul_f64(rng.gen::<f64>());
        let (fleet, probe) = (fleet.clone(), probe.clone());
        tasks.push(tokio::spawn(async move {
            let (mut n, mut bytes) = (0, 0);
            let mut next = start + offset;
            while next < start + duration {
                tokio::time::sleep_until(next).await;
                let f = fleet.clone();
                let p = tokio::task::spawn_blocking(move || f.build(lane)).await.unwrap();
                let began = Instant::now();
                fleet.send(&p).await;
                let _ = probe.send(Sent {
                    lane: fleet.lane_name(lane).to_string(),
                    id: p.id.clone(),
                    started: began,
                });
                n += 1;
                bytes += p.bytes;
                next += PERIOD;
            }
            (n, bytes)
        }));
    }
    let mut total = (0, 0);
    for t in tasks {
        let (n, b) = t.await.unwrap();
        total = (total.0 + n, total.1 + b);
    }
    total
}
