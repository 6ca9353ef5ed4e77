//! CPU and memory of the processes under test, from /proc: CPU seconds
//! (user + system) of a process or of a group of them (PostgreSQL's
//! backends), resident memory sampled for its peak, and the machine's load.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn ticks_per_second() -> f64 {
    100.0 // USER_HZ on Linux
}

/// (utime + stime) in seconds, and the parent pid.
fn stat(pid: u32) -> Option<(f64, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: split after it.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ppid = f.get(1)?.parse().ok()?;
    let cpu = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some((cpu / ticks_per_second(), ppid))
}

pub fn cpu_seconds(pid: u32) -> f64 {
    stat(pid).map_or(0.0, |s| s.0)
}

/// CPU seconds of `pid` and all its children (a postmaster and its backends;
/// backends that ended meanwhile are not counted, so this is a floor).
pub fn tree_cpu_seconds(pid: u32) -> f64 {
    let mut total = cpu_seconds(pid);
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(child) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if let Some((cpu, ppid)) = stat(child) {
                if ppid == pid {
                    total += cpu;
                }
            }
        }
    }
    total
}

/// The pid of the process whose command line contains every one of `needles`.
pub fn find(needles: &[&str]) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        needles.iter().all(|n| cmd.contains(n)).then_some(pid)
    })
}

pub fn rss_bytes(pid: u32) -> u64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return 0 };
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The 1-minute load average.
pub fn load() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Samples the resident memory of some pids every 200 ms and keeps the peak of their sum.
pub struct RssPeak {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl RssPeak {
    pub fn start(pids: Vec<u32>) -> RssPeak {
        let (peak, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let now: u64 = pids.iter().map(|&pid| rss_bytes(pid)).sum();
                p.fetch_max(now, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        RssPeak { peak, stop }
    }

    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.peak.load(Ordering::Relaxed)
    }
}
