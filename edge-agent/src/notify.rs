//! systemd's notify protocol (`sd_notify`), spoken directly: one datagram per
//! message to the unix socket named in `NOTIFY_SOCKET`.
//!
//! The settings are process-wide by nature (systemd sets them for the main
//! process), so they are read once, at start, into a global; [`init`] then
//! removes them from the environment, so that children (the embedded
//! Mosquitto, which speaks the protocol too) never talk to systemd as if they
//! were the agent. Without `NOTIFY_SOCKET` every call does nothing.
//!
//! The watchdog heartbeat is sent from the lane's own loop (see `lane::observe`):
//! a loop that hangs stops the heartbeats and systemd restarts the service.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::OnceLock;
use std::time::Duration;

struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
    watchdog: Option<Duration>,
}

static NOTIFIER: OnceLock<Option<Notifier>> = OnceLock::new();

/// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC` and clears them from the
/// environment. Call at the very start of `main`, before any thread exists.
pub fn init() {
    NOTIFIER.get_or_init(|| {
        let path = std::env::var_os("NOTIFY_SOCKET");
        let usec = std::env::var("WATCHDOG_USEC").ok().and_then(|v| v.parse::<u64>().ok());
        // WATCHDOG_PID names the process the watchdog is meant for; a child
        // that inherited the variable must not heartbeat for its parent.
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .is_none_or(|pid| pid == std::process::id());
        for var in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            // Safe here: called before the runtime starts any thread.
            std::env::remove_var(var);
        }
        let addr = address(path?.to_str()?)?;
        let socket = UnixDatagram::unbound().ok()?;
        let watchdog = usec.filter(|u| *u > 0 && for_us).map(Duration::from_micros);
        Some(Notifier { socket, addr, watchdog })
    });
}

/// `@name` is an abstract socket (Linux), anything else a path.
fn address(s: &str) -> Option<SocketAddr> {
    match s.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes()).ok()
        }
        None => SocketAddr::from_pathname(s).ok(),
    }
}

fn send(message: &str) {
    if let Some(Some(n)) = NOTIFIER.get() {
        if let Err(e) = n.socket.send_to_addr(message.as_bytes(), &n.addr) {
            tracing::warn!(cause = %e, "cannot notify systemd");
        }
    }
}

/// Devices, uplink and web page are up: systemd may count the service as started.
pub fn ready(status: &str) {
    send(&format!("READY=1\nSTATUS={status}\nMAINPID={}", std::process::id()));
}

/// The free-text status `systemctl status` shows.
pub fn status(status: &str) {
    send(&format!("STATUS={status}"));
}

pub fn stopping() {
    send("STOPPING=1\nSTATUS=stopping");
}

/// One heartbeat; sent only when systemd asked for a watchdog.
pub fn watchdog() {
    if watchdog_interval().is_some() {
        send("WATCHDOG=1");
    }
}

/// systemd's watchdog timeout, when one is set for this process.
pub fn watchdog_interval() -> Option<Duration> {
    NOTIFIER.get().and_then(|n| n.as_ref()).and_then(|n| n.watchdog)
}

/// How often the lane loop should beat: twice per watchdog period (as
/// systemd recommends), and at least every `default` for its other duties.
pub fn beat_interval(default: Duration) -> Duration {
    watchdog_interval().map_or(default, |w| (w / 2).min(default)).max(Duration::from_millis(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_by_path_and_abstract_name() {
        assert!(address("/run/systemd/notify").unwrap().as_pathname().is_some());
        let a = address("@edge-test").unwrap();
        assert!(a.as_pathname().is_none());
    }
}
