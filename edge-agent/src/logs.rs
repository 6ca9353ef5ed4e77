//! Logging: to journald with structured fields when systemd runs the agent,
//! else JSON or plain text on stderr; the level filter changeable while
//! running (technician page, or SIGHUP re-reading a file).
//!
//! journald is chosen only when `JOURNAL_STREAM` names the very stream stderr
//! is (as systemd.exec(5) says to check): a variable merely inherited by a
//! shell started from a service must not divert the logs.
//!
//! Plain text is coloured only when stderr is a terminal (and `NO_COLOR` is unset): a log
//! file or a pipe gets no escape codes. Values are logged as words (`outcome=release`,
//! `state=degraded`), the way they appear on the wire, never as Rust's `Some(Release)`.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Where the logs went, for the start-up line and the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Journald,
    Stderr(Format),
}

struct Control {
    handle: reload::Handle<EnvFilter, Registry>,
    current: std::sync::Mutex<String>,
}

static CONTROL: OnceLock<Control> = OnceLock::new();

/// The file SIGHUP re-reads the filter from (`RUST_LOG` syntax, one line).
pub fn filter_file() -> std::path::PathBuf {
    std::env::var_os("EDGE_AGENT_LOG_FILTER_FILE")
        .map_or_else(|| "/etc/edge-agent/log-filter".into(), Into::into)
}

pub fn init(format: Format) -> Sink {
    let text = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| EnvFilter::try_new(s).is_ok())
        .unwrap_or_else(|| "info".into());
    let (filter, handle) = reload::Layer::new(EnvFilter::new(&text));
    let journald = stderr_is_journal().then(|| tracing_journald::layer().ok()).flatten();
    let sink = match (&journald, format) {
        (Some(_), _) => Sink::Journald,
        (None, f) => Sink::Stderr(f),
    };
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let plain = (sink == Sink::Stderr(Format::Text))
        .then(|| tracing_subscriber::fmt::layer().with_ansi(colour).with_writer(std::io::stderr));
    let json = (sink == Sink::Stderr(Format::Json))
        .then(|| tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr));
    let _ = tracing_subscriber::registry().with(filter).with(journald).with(plain).with(json).try_init();
    let _ = CONTROL.set(Control { handle, current: std::sync::Mutex::new(text) });
    sink
}

/// The filter in force, e.g. `info` or `info,edge_agent::lane=debug`.
pub fn filter() -> String {
    CONTROL.get().map_or_else(String::new, |c| c.current.lock().unwrap_or_else(|e| e.into_inner()).clone())
}

/// Replaces the filter; a bad one is refused and the old one stays.
pub fn set_filter(text: &str) -> Result<(), String> {
    let text = text.trim();
    let filter = EnvFilter::try_new(text).map_err(|e| format!("{text:?} is not a log filter: {e}"))?;
    let control = CONTROL.get().ok_or("logging is not initialised")?;
    control.handle.reload(filter).map_err(|e| e.to_string())?;
    *control.current.lock().unwrap_or_else(|e| e.into_inner()) = text.to_string();
    tracing::info!(filter = text, "log filter changed");
    Ok(())
}

/// On SIGHUP, reads [`filter_file`] and applies it. systemd's `reload` sends it.
pub fn reload_on_sighup() -> std::io::Result<()> {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let file = filter_file();
            match std::fs::read_to_string(&file) {
                Ok(text) => {
                    if let Err(e) = set_filter(&text) {
                        tracing::warn!(file = %file.display(), cause = %e, "SIGHUP: log filter not changed");
                    }
                }
                Err(e) => {
                    tracing::warn!(file = %file.display(), cause = %e, "SIGHUP: cannot read the log filter")
                }
            }
        }
    });
    Ok(())
}

fn stderr_is_journal() -> bool {
    let Some(var) = std::env::var_os("JOURNAL_STREAM") else { return false };
    let Some((dev, ino)) = var.to_str().and_then(|v| v.split_once(':')) else { return false };
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into the struct we own; fd 2 may be closed, then it fails.
    if unsafe { libc::fstat(2, &mut st) } != 0 {
        return false;
    }
    dev.parse::<u64>().is_ok_and(|d| d == st.st_dev) && ino.parse::<u64>().is_ok_and(|i| i == st.st_ino)
}
