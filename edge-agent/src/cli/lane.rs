//! `edge-agent run` and `edge-agent check-config`: the lane file read, checked and (for
//! `run`) brought to life. Both print a bad file's mistakes the same way, all of them,
//! then one line with the count, so the service log says why the lane did not start.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::config::{self, ConfigError, LaneConfig};
use crate::words::plural;

/// Where `run` and every command that reads a lane looks by default.
pub const DEFAULT_CONFIG: &str = "/etc/edge-agent/lane.toml";

#[derive(Args)]
#[command(after_help = "Example:\n  edge-agent run --config /etc/edge-agent/lane.toml\n\n\
Under systemd the log goes to the journal; otherwise to stderr, plain text (colour only on a terminal).")]
pub struct RunArgs {
    /// The lane's configuration file.
    #[arg(short, long, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Log format on stderr when not under systemd: `text` for people, `json` for log shippers.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Args)]
#[command(after_help = "Examples:\n  edge-agent check-config /etc/edge-agent/lane.toml\n  \
edge-agent check-config lane.toml --json | jq '.problems[].message'\n\n\
Exit 0 when the file is valid (with a summary of what it means), 2 with every mistake listed.")]
pub struct CheckConfigArgs {
    /// The lane's configuration file (TOML; see config/lane.example.toml).
    pub file: PathBuf,
    /// One JSON object instead of text: file, ok, problems [{line, column, message, help}],
    /// and for a valid file site, lane and devices.
    #[arg(long)]
    pub json: bool,
}

/// Loads a lane file for a command; its mistakes are printed here, the error says how many.
pub fn load(file: &Path) -> Result<LaneConfig, String> {
    config::load(file).map_err(|e| {
        eprintln!("{e}");
        count(file, &e)
    })
}

/// `6 mistakes in lane.toml` (empty when the file could not be read: that line says it all).
fn count(file: &Path, e: &ConfigError) -> String {
    if e.diagnostics.iter().all(|d| d.position.is_none()) {
        return String::new();
    }
    format!("{} in {}", plural(e.diagnostics.len() as u64, "mistake", "mistakes"), file.display())
}

pub fn run(args: RunArgs) -> Result<bool, String> {
    let cfg = load(&args.config).map_err(|e| {
        if e.is_empty() {
            e
        } else {
            format!("{e}; the lane was not started")
        }
    })?;
    let rt = super::runtime()?;
    rt.block_on(crate::agent::run(cfg)).map_err(|e| e.to_string())?;
    Ok(true)
}

#[derive(Serialize)]
struct Checked {
    file: String,
    ok: bool,
    problems: Vec<Problem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    site: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lane: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    devices: Option<usize>,
}

#[derive(Serialize)]
struct Problem {
    line: Option<usize>,
    column: Option<usize>,
    message: String,
    help: String,
}

pub fn check(args: CheckConfigArgs) -> Result<bool, String> {
    if args.json {
        let checked = match config::load(&args.file) {
            Ok(cfg) => Checked {
                file: args.file.display().to_string(),
                ok: true,
                problems: vec![],
                site: Some(cfg.site.clone()),
                lane: Some(cfg.lane.clone()),
                devices: Some(cfg.devices.len()),
            },
            Err(e) => Checked {
                file: args.file.display().to_string(),
                ok: false,
                problems: e
                    .diagnostics
                    .iter()
                    .map(|d| Problem {
                        line: d.position.map(|p| p.0),
                        column: d.position.map(|p| p.1),
                        message: d.message.clone(),
                        help: d.help.clone(),
                    })
                    .collect(),
                site: None,
                lane: None,
                devices: None,
            },
        };
        super::print_line(&serde_json::to_string_pretty(&checked).expect("reports serialise"));
        return if checked.ok { Ok(true) } else { Err(String::new()) };
    }
    let cfg = load(&args.file)?;
    super::print_line(&format!("{}: ok", args.file.display()));
    super::print_text(&config::summary(&cfg));
    Ok(true)
}
