//! `edge-agent outbox [status] [--watch]`: what waits for the uplink, and how fast it goes.
//!
//! A technician who has just brought a lane's link back wants to know when the backlog will be
//! gone. `--watch` samples the outbox (read-only next to the running agent: SQLite in WAL mode)
//! and prints progress against the depth it first saw, the drain rate over the last samples and
//! an estimate of the time left; it ends by itself when the outbox is empty.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use crate::outbox::{Depth, Outbox};

#[derive(Args)]
#[command(after_help = EXAMPLES)]
pub struct OutboxArgs {
    #[command(subcommand)]
    cmd: Option<OutboxCmd>,
    #[command(flatten)]
    status: StatusArgs,
}

#[derive(Subcommand)]
enum OutboxCmd {
    /// Depth of the outbox (the default); with --watch, follow a backlog as it drains.
    #[command(after_help = EXAMPLES)]
    Status(StatusArgs),
}

const EXAMPLES: &str = "Examples:\n  edge-agent outbox --config /etc/edge-agent/lane.toml\n  \
edge-agent outbox status --watch --interval 5s --config /etc/edge-agent/lane.toml\n\n\
Read-only beside the running agent. Exit 2 when there is no outbox (the agent has not run with this config).";

#[derive(Args, Clone)]
pub struct StatusArgs {
    /// The lane's configuration: the outbox is in its data directory.
    #[arg(short, long, default_value = super::lane::DEFAULT_CONFIG)]
    config: PathBuf,
    /// One JSON object (per sample with --watch) instead of sentences.
    #[arg(long)]
    json: bool,
    /// Keep sampling and show progress until the outbox is empty.
    #[arg(long)]
    watch: bool,
    /// Time between samples with --watch.
    #[arg(long, default_value = "1s", value_parser = super::duration)]
    interval: Duration,
}

/// Exit: `Ok(true)` shown (or drained), `Err` when the outbox cannot be read.
pub fn run(args: OutboxArgs) -> Result<bool, String> {
    let args = match args.cmd {
        Some(OutboxCmd::Status(a)) => a,
        None => args.status,
    };
    let cfg = super::lane::load(&args.config)?;
    let path = cfg.data_dir.join("outbox.db");
    if !path.exists() {
        return Err(format!("{}: no outbox here (has the agent run with this config?)", path.display()));
    }
    let outbox = Outbox::open(&path, cfg.outbox_quota).map_err(|e| format!("{}: {e}", path.display()))?;
    let sample = || outbox.depth().map_err(|e| format!("{}: {e}", path.display()));
    let now_ms = || chrono::Utc::now().timestamp_millis();
    if !args.watch {
        let d = sample()?;
        println!("{}", if args.json { json(&d, None, now_ms()) } else { sentence(&d, now_ms()) });
        return Ok(true);
    }
    let tty = std::io::stdout().is_terminal() && !args.json;
    let mut progress = Progress::new(sample()?, Instant::now());
    loop {
        let line = if args.json { json(&progress.last, Some(&progress), now_ms()) } else { progress.line() };
        let mut out = std::io::stdout().lock();
        // On a terminal one line is redrawn in place; in a pipe or a log, a line per sample.
        let _ = if tty { write!(out, "\r\x1b[2K{line}") } else { writeln!(out, "{line}") };
        let _ = out.flush();
        if progress.last.messages == 0 {
            if tty {
                println!();
            }
            if !args.json {
                println!("outbox empty: everything delivered");
            }
            return Ok(true);
        }
        std::thread::sleep(args.interval);
        progress.update(sample()?, Instant::now());
    }
}

/// Progress of a drain: the depth first seen, the latest, and a window of recent samples for the
/// rate (a backlog drains in bursts, so one interval alone would make the estimate jump).
pub struct Progress {
    start: Depth,
    pub last: Depth,
    window: VecDeque<(Instant, u64, u64)>,
}

const WINDOW: usize = 10;

impl Progress {
    pub fn new(first: Depth, at: Instant) -> Progress {
        let mut window = VecDeque::new();
        window.push_back((at, first.messages, waiting_bytes(&first)));
        Progress { start: first, last: first, window }
    }

    pub fn update(&mut self, d: Depth, at: Instant) {
        // New messages arrive while old ones drain: the bar is against the most ever waiting.
        if d.messages > self.start.messages {
            self.start = d;
        }
        self.last = d;
        self.window.push_back((at, d.messages, waiting_bytes(&d)));
        while self.window.len() > WINDOW {
            self.window.pop_front();
        }
    }

    /// Share of the largest backlog seen that has gone, 0.0–1.0.
    pub fn done(&self) -> f64 {
        match self.start.messages {
            0 => 1.0,
            n => 1.0 - self.last.messages as f64 / n as f64,
        }
    }

    /// (messages/s, bytes/s) drained over the window; `None` until there are two samples.
    pub fn rate(&self) -> Option<(f64, f64)> {
        let (t0, m0, b0) = *self.window.front()?;
        let (t1, m1, b1) = *self.window.back()?;
        let secs = t1.duration_since(t0).as_secs_f64();
        (secs > 0.0).then(|| (m0.saturating_sub(m1) as f64 / secs, b0.saturating_sub(b1) as f64 / secs))
    }

    /// Time left at the current rate; `None` while nothing drains.
    pub fn eta(&self) -> Option<Duration> {
        let (msgs_per_s, _) = self.rate()?;
        (msgs_per_s > 0.0).then(|| Duration::from_secs_f64(self.last.messages as f64 / msgs_per_s))
    }

    pub fn line(&self) -> String {
        const WIDTH: usize = 24;
        let filled = (self.done() * WIDTH as f64).round() as usize;
        let bar: String = "#".repeat(filled) + &".".repeat(WIDTH - filled.min(WIDTH));
        let rate = match self.rate() {
            Some((m, b)) => format!("{m:.0} msg/s, {}/s", human_bytes(b as u64)),
            None => "rate not known yet".into(),
        };
        let eta = match (self.eta(), self.last.messages) {
            (_, 0) => "done".into(),
            (Some(t), _) => {
                format!(
                    "about {} left",
                    crate::words::format_duration(Duration::from_secs(t.as_secs().max(1)))
                )
            }
            (None, _) => "not draining (is the uplink connected?)".into(),
        };
        use crate::words::plural;
        format!(
            "[{bar}] {:3.0}%  {}, {} waiting ({}, {})  {rate}  {eta}",
            self.done() * 100.0,
            plural(self.last.messages, "message", "messages"),
            human_bytes(waiting_bytes(&self.last)),
            plural(self.last.results, "result", "results"),
            plural(self.last.images, "image", "images"),
        )
    }
}

fn waiting_bytes(d: &Depth) -> u64 {
    d.bytes + d.file_bytes
}

fn sentence(d: &Depth, now_ms: i64) -> String {
    use crate::words::{format_duration, plural};
    let age = d.oldest_ms.map(|t| std::time::Duration::from_secs(((now_ms - t).max(0) / 1000) as u64));
    if d.messages == 0 {
        return "outbox: empty, nothing waiting for the uplink".into();
    }
    format!(
        "outbox: {}, {} waiting ({}, {}, {} of telemetry); the oldest from {} ago",
        plural(d.messages, "message", "messages"),
        human_bytes(waiting_bytes(d)),
        plural(d.results, "result", "results"),
        plural(d.images, "image", "images"),
        d.telemetry,
        age.map_or("-".into(), format_duration)
    )
}

fn json(d: &Depth, progress: Option<&Progress>, now_ms: i64) -> String {
    let mut v = serde_json::json!({
        "messages": d.messages, "bytes": d.bytes, "file_bytes": d.file_bytes,
        "results": d.results, "images": d.images, "telemetry": d.telemetry,
        "oldest_ms": d.oldest_ms, "oldest_age_s": d.oldest_ms.map(|t| (now_ms - t) / 1000),
    });
    if let Some(p) = progress {
        let (mps, bps) = p.rate().unzip();
        v["done"] = serde_json::json!(p.done());
        v["messages_per_s"] = serde_json::json!(mps);
        v["bytes_per_s"] = serde_json::json!(bps);
        v["eta_s"] = serde_json::json!(p.eta().map(|t| t.as_secs_f64()));
    }
    v.to_string()
}

pub(crate) use crate::words::format_bytes as human_bytes;

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(messages: u64, bytes: u64) -> Depth {
        Depth { messages, bytes, results: messages, ..Depth::default() }
    }

    #[test]
    fn rate_and_time_left_follow_the_window() {
        let t0 = Instant::now();
        let mut p = Progress::new(depth(1000, 1_000_000), t0);
        assert_eq!(p.rate(), None, "one sample has no rate");
        assert_eq!(p.eta(), None);
        p.update(depth(800, 800_000), t0 + Duration::from_secs(1));
        p.update(depth(600, 600_000), t0 + Duration::from_secs(2));
        let (mps, bps) = p.rate().unwrap();
        assert!((mps - 200.0).abs() < 1e-9, "{mps}");
        assert!((bps - 200_000.0).abs() < 1e-6, "{bps}");
        assert_eq!(p.eta(), Some(Duration::from_secs(3)));
        assert!((p.done() - 0.4).abs() < 1e-9);
        assert!(p.line().contains("40%"), "{}", p.line());
        assert!(p.line().contains("600 messages"), "{}", p.line());
    }

    #[test]
    fn a_stalled_uplink_says_so_instead_of_an_estimate() {
        let t0 = Instant::now();
        let mut p = Progress::new(depth(50, 5000), t0);
        p.update(depth(50, 5000), t0 + Duration::from_secs(1));
        assert_eq!(p.eta(), None);
        assert!(p.line().contains("not draining"), "{}", p.line());
    }

    #[test]
    fn growth_during_the_drain_moves_the_baseline() {
        let t0 = Instant::now();
        let mut p = Progress::new(depth(100, 100), t0);
        p.update(depth(150, 150), t0 + Duration::from_secs(1));
        p.update(depth(75, 75), t0 + Duration::from_secs(2));
        assert!((p.done() - 0.5).abs() < 1e-9, "against the 150 most ever waiting: {}", p.done());
        p.update(depth(0, 0), t0 + Duration::from_secs(3));
        assert_eq!(p.done(), 1.0);
        assert!(p.line().contains("done"), "{}", p.line());
    }

    #[test]
    fn the_window_forgets_old_samples() {
        let t0 = Instant::now();
        let mut p = Progress::new(depth(10_000, 0), t0);
        // A fast start, then a slow tail: the rate must be the recent one.
        p.update(depth(5_000, 0), t0 + Duration::from_secs(1));
        for k in 2..=(WINDOW as u64 + 2) {
            p.update(depth(5_000 - 10 * (k - 1), 0), t0 + Duration::from_secs(k));
        }
        let (mps, _) = p.rate().unwrap();
        assert!((mps - 10.0).abs() < 1e-9, "{mps}");
    }
}
