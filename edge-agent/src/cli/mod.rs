//! The command-line tools, kept apart from the lane runtime.
//!
//! Everything here is argument handling, wording and exit codes for a person at a terminal
//! (installer, field technician, central operator); the work itself lives in the runtime
//! modules (`config`, `lane`, `outbox`, `audit`, `command`, …) and in the `models` crate.
//! Keeping the tools here means the runtime never imports a CLI module, and a CLI module
//! may import anything: that is what keeps `config → command → declaration` free of a
//! circle back into `config::load`.
//!
//! Every command follows the same rules (README, "Exit codes"): results on stdout, errors
//! and progress on stderr as `edge-agent COMMAND: what went wrong`; exit 0 when done and all
//! was well, 1 when done and something checked was wrong, 2 when it could not be done.

pub mod audit;
pub mod command;
pub mod declare;
pub mod diag;
pub mod empty;
pub mod follow;
mod help;
pub mod lane;
pub mod ocr;
pub mod operator;
pub mod outbox;
pub mod stats;
pub mod tail;
pub mod tools;
pub mod vision;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

pub use help::GROUPS;

#[derive(Parser)]
#[command(name = "edge-agent", version, about = "Inspection-lane edge controller: one per lane PC")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

/// Every command, in the order of the groups in `help::GROUPS`.
#[derive(Subcommand)]
pub enum Cmd {
    /// Run the lane described by a configuration file (what the service does).
    Run(lane::RunArgs),
    /// Load pre-declarations from a JSON file into the lane's store, or list the valid ones.
    Declare(declare::DeclareArgs),
    /// A local operator releases a held vehicle while the uplink is down (password on stdin).
    Release(operator::ReleaseArgs),
    /// Local operators: `operator hash` makes a credential for the lane config.
    #[command(subcommand)]
    Operator(operator::OperatorCmd),
    /// Validate a configuration file without touching the network or devices.
    CheckConfig(lane::CheckConfigArgs),
    /// What waits in the outbox for the uplink; `--watch` follows a backlog as it drains.
    Outbox(outbox::OutboxArgs),
    /// Clearance statistics from the lane's archived passages (offline).
    Stats(stats::StatsArgs),
    /// The tamper-evident audit trail: verify it, or show one vehicle's story.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Check the lane's devices: all at a glance, or one (barrier, seal, camera, uvss, ports).
    Diag(diag::DiagArgs),
    /// Print a lane's results live, one line per vehicle.
    Follow(follow::FollowArgs),
    /// Read container codes and plates in images.
    Ocr(ocr::OcrArgs),
    /// Recognition accuracy and speed over labelled folders (`labels.tsv`).
    OcrEval(ocr::OcrEvalArgs),
    /// Compare under-vehicle scans with the vehicle's reference scan.
    Uvss {
        #[command(subcommand)]
        cmd: vision::UvssCmd,
    },
    /// Is the container in this interior image empty? (the image check beside the detector)
    EmptyCheck(empty::EmptyCheckArgs),
    /// Central's side of signed commands: make a key, sign a command.
    #[command(subcommand)]
    Command(command::CommandCmd),
    /// Write the passages and images lanes publish into a folder (hashes checked).
    Tail(tail::TailArgs),
    /// Check the lane signatures of saved passage records or decisions.
    Verify(tools::VerifyArgs),
    /// Write the JSON Schemas of every message a lane publishes.
    Schema(tools::SchemaArgs),
}

/// The clap command with the grouped help.
pub fn command() -> clap::Command {
    help::grouped(Cli::command())
}

/// Parses the process's arguments (printing help or a usage error and exiting as clap does).
pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Runs one command and turns its result into the documented exit code.
pub fn run(cmd: Cmd) -> ExitCode {
    let name = name_of(&cmd);
    let result = match cmd {
        Cmd::Run(a) => lane::run(a),
        Cmd::Declare(a) => declare::run(a),
        Cmd::Release(a) => operator::release(a),
        Cmd::Operator(c) => operator::hash(c),
        Cmd::CheckConfig(a) => lane::check(a),
        Cmd::Outbox(a) => outbox::run(a),
        Cmd::Stats(a) => stats::run(a),
        Cmd::Audit(c) => audit::run(c),
        Cmd::Diag(a) => diag::run(a),
        Cmd::Follow(a) => follow::run(a),
        Cmd::Ocr(a) => ocr::run(a),
        Cmd::OcrEval(a) => ocr::eval(a),
        Cmd::Uvss { cmd } => return vision::uvss(cmd),
        Cmd::EmptyCheck(a) => empty::run(a),
        Cmd::Command(c) => command::run(c),
        Cmd::Tail(a) => tail::run(a),
        Cmd::Verify(a) => tools::verify(a),
        Cmd::Schema(a) => tools::schema(a),
    };
    exit(&name, result)
}

fn name_of(cmd: &Cmd) -> String {
    match cmd {
        Cmd::Run(_) => "run",
        Cmd::Declare(_) => "declare",
        Cmd::Release(_) => "release",
        Cmd::Operator(_) => "operator",
        Cmd::CheckConfig(_) => "check-config",
        Cmd::Outbox(_) => "outbox",
        Cmd::Stats(_) => "stats",
        Cmd::Audit(_) => "audit",
        Cmd::Diag(_) => "diag",
        Cmd::Follow(_) => "follow",
        Cmd::Ocr(_) => "ocr",
        Cmd::OcrEval(_) => "ocr-eval",
        Cmd::Uvss { .. } => "uvss",
        Cmd::EmptyCheck(_) => "empty-check",
        Cmd::Command(_) => "command",
        Cmd::Tail(_) => "tail",
        Cmd::Verify(_) => "verify",
        Cmd::Schema(_) => "schema",
    }
    .to_string()
}

/// 0: done and all well; 1: done, and something checked was wrong; 2: could not do it.
pub fn exit(command: &str, result: Result<bool, String>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            // A reader that went away (`| head`) is not an error worth a word.
            if !e.is_empty() {
                eprintln!("edge-agent {command}: {}", crate::words::without_os_codes(&e));
            }
            ExitCode::from(2)
        }
    }
}

/// One line on stdout; a closed pipe (`| head`) ends the line quietly instead of a panic.
pub fn print_line(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// Text on stdout as it is (lines already ended).
pub fn print_text(text: &str) {
    let _ = write!(std::io::stdout(), "{text}");
}

/// `cannot read FILE: it does not exist` — I/O errors in words, never `(os error 2)`.
pub fn io_error(what: &str, path: &std::path::Path, e: &std::io::Error) -> String {
    format!("cannot {what} {}: {}", path.display(), crate::config::io_words(e))
}

/// A tokio runtime for a command that needs one.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// `--port`: a port number in words when it is not one.
pub fn port(text: &str) -> Result<u16, String> {
    match text.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{text:?} is not a port number (1 to 65535)")),
    }
}

/// `--interval`, `--wait`: durations as in the lane file (`500ms`, `5s`, `1m`).
pub fn duration(text: &str) -> Result<std::time::Duration, String> {
    match crate::words::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be longer than zero".into()),
        Err(e) => Err(format!("{e}; write a number with a unit, e.g. 500ms, 5s or 1m")),
    }
}

/// Where a consumer (`follow`, `tail`) finds the broker and what it subscribes to.
#[derive(clap::Args)]
pub struct BrokerArgs {
    /// The broker's host (with `follow --config`, the lane file's broker instead).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The broker's port.
    #[arg(long, default_value_t = 1883, value_parser = port)]
    pub port: u16,
    /// Topic filter: which lanes (`lanectl/#` for all of them, `lanectl/CNSHA/#` for one site).
    #[arg(long, default_value = "lanectl/#")]
    pub topic: String,
}

/// A consumer's patience with a broker that is away: "waiting…" once at first (a broker
/// that is still starting is no error), "not reachable" once when it stays away.
#[derive(Default)]
pub struct BrokerWait {
    since: Option<(std::time::Instant, bool)>,
}

impl BrokerWait {
    /// How long a broker may stay away before it is called unreachable.
    pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

    pub fn connected(&mut self) {
        self.since = None;
    }

    /// What to say about a failed connection now, if anything.
    pub fn failed(&mut self, broker: &str, e: &rumqttc::ConnectionError) -> Option<String> {
        let now = std::time::Instant::now();
        match self.since {
            None => {
                self.since = Some((now, false));
                Some(format!("waiting for the broker at {broker}…"))
            }
            Some((since, false)) if now - since >= Self::PATIENCE => {
                self.since = Some((since, true));
                Some(format!(
                    "the broker at {broker} is not reachable ({}) after {}; is the agent or the broker running? still trying",
                    connection_words(e),
                    crate::words::format_duration(Self::PATIENCE)
                ))
            }
            Some(_) => None,
        }
    }
}

/// rumqttc's connection errors in words.
fn connection_words(e: &rumqttc::ConnectionError) -> String {
    let text = e.to_string();
    if text.contains("Connection refused") {
        "connection refused".into()
    } else if text.contains("timed out") || text.contains("Timeout") {
        "no answer".into()
    } else {
        text.trim_start_matches("I/O: ").split(" (os error").next().unwrap_or(&text).to_string()
    }
}
