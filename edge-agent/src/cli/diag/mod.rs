//! `edge-agent diag`: the lane's devices checked from the terminal, for the
//! technician standing at the gate.
//!
//! It builds the devices from the lane file exactly as the agent does
//! ([`crate::lane::build_devices`]), so a device that works here works in the
//! agent, and a wrong port, address or register map fails here with the same
//! message. It is a separate process: while the agent runs it holds the serial
//! ports exclusively, and diag says so (see [`probe::hint`]) rather than
//! fighting over the RS-485 bus; on a running lane the technician page does
//! the same checks through the lane loop.
//!
//! Exit codes as for the other checking commands: 0 all well, 1 a device failed
//! its check (or an action was refused), 2 diag could not run at all.

mod actions;
mod ports;
mod probe;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::cli::print_text;
use crate::config::{self, LaneConfig};
use crate::lane::{build_devices, Devices};

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  edge-agent diag --config /etc/edge-agent/lane.toml\n  \
edge-agent diag barrier --cycle\n  edge-agent diag camera plate-front --snapshot front.jpg\n  \
edge-agent diag uvss --capture scan.png --wait 2m\n  edge-agent diag ports\n\n\
Exit 0 when every device checked is ok, 1 when one failed its check or an action was refused, \
2 when diag could not run. Stop the agent first for serial devices (it holds their ports).")]
pub struct DiagArgs {
    /// The lane's configuration; its devices are built as the agent builds them.
    #[arg(short, long, global = true, default_value = crate::cli::lane::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// JSON on stdout instead of sentences.
    #[arg(long, global = true)]
    pub json: bool,
    /// Without a subcommand: every device at a glance.
    #[command(subcommand)]
    pub cmd: Option<DiagCmd>,
}

#[derive(Debug, Subcommand)]
pub enum DiagCmd {
    /// The barrier's state; `--cycle` opens and closes it once (refused while
    /// the zone under the arm is occupied).
    #[command(after_help = "Example:\n  edge-agent diag barrier --cycle --config /etc/edge-agent/lane.toml")]
    Barrier {
        /// Open the barrier and close it again, timing both moves.
        #[arg(long)]
        cycle: bool,
    },
    /// The seal reader; `--read` lists every seal in range.
    #[command(after_help = "Example:\n  edge-agent diag seal --read")]
    Seal {
        /// Read every seal in range (id, status, battery).
        #[arg(long)]
        read: bool,
    },
    /// One area camera; `--snapshot FILE` saves a picture (JPEG as the camera sends it).
    #[command(after_help = "Example:\n  edge-agent diag camera plate-front --snapshot front.jpg")]
    Camera {
        /// The camera's device name, as `[devices.NAME]` in the lane file.
        name: String,
        /// Save one picture to this file.
        #[arg(long)]
        snapshot: Option<PathBuf>,
    },
    /// The under-vehicle camera; `--capture FILE` waits for the next vehicle and saves its scan (PNG).
    #[command(after_help = "Example:\n  edge-agent diag uvss --capture scan.png --wait 2m")]
    Uvss {
        /// Wait for the next vehicle to drive over and save its scan to this file.
        #[arg(long)]
        capture: Option<PathBuf>,
        /// How long to wait for a vehicle to drive over (e.g. 60s, 5m).
        #[arg(long, default_value = "60s", value_parser = crate::cli::duration)]
        wait: Duration,
    },
    /// Serial ports on this machine, with USB vendor and product ids.
    #[command(
        after_help = "Example:\n  edge-agent diag ports --config /etc/edge-agent/lane.toml   # matched to the lane's devices"
    )]
    Ports,
}

/// What one check or action found: sentences for people, JSON for scripts.
pub struct Outcome {
    pub ok: bool,
    pub human: String,
    pub json: serde_json::Value,
}

impl Outcome {
    fn new(ok: bool, human: String, json: impl Serialize) -> Self {
        Outcome { ok, human, json: serde_json::to_value(json).expect("diag reports serialise") }
    }
}

/// Runs one diag command; `Ok(false)` when a check failed, `Err` when it could not run.
pub fn run(args: DiagArgs) -> Result<bool, String> {
    let outcome = match &args.cmd {
        Some(DiagCmd::Ports) => {
            // The lane file is optional here: with it, ports are matched to devices.
            let cfg = config::load(&args.config).ok();
            ports::report(std::path::Path::new("/sys/class/tty"), cfg.as_ref())
        }
        _ => {
            let cfg = crate::cli::lane::load(&args.config)?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the runtime: {e}"))?;
            rt.block_on(on_lane(&cfg, args.cmd.as_ref()))?
        }
    };
    if args.json {
        print_text(&(serde_json::to_string_pretty(&outcome.json).expect("JSON values print") + "\n"));
    } else {
        print_text(&outcome.human);
    }
    Ok(outcome.ok)
}

async fn on_lane(cfg: &LaneConfig, cmd: Option<&DiagCmd>) -> Result<Outcome, String> {
    // A simulated lane is built on an idle in-process simulation (no traffic),
    // so `diag` on the demo config shows what the agent would see.
    let sim = crate::lane::sim_lane(cfg);
    let devices: Devices = build_devices(cfg, sim.as_ref()).map_err(|e| e.to_string())?;
    match cmd {
        None => Ok(probe::glance(cfg, devices, None).await),
        Some(DiagCmd::Barrier { cycle: true }) => Ok(actions::cycle_barrier(cfg, devices).await),
        Some(DiagCmd::Seal { read: true }) => actions::read_seals(cfg, devices).await,
        Some(DiagCmd::Camera { name, snapshot: Some(out) }) => {
            actions::snapshot(cfg, devices, name, out).await
        }
        Some(DiagCmd::Uvss { capture: Some(out), wait }) => {
            actions::capture_uvss(cfg, devices, out, *wait).await
        }
        Some(cmd) => {
            let name = probe::device_for(cfg, cmd)?;
            Ok(probe::glance(cfg, devices, Some(&name)).await)
        }
    }
}
