//! `lane-sim`: every lane device at wire level, for the demo, for HIL tests and
//! for trying an agent config without hardware. Prints one JSON line with the
//! endpoints once everything listens, then runs until Ctrl-C or SIGTERM.
//!
//!     lane-sim --scenario garbage --camera-port 8080
//!
//! Logs go to stderr (`RUST_LOG` filters them); stdout carries only the JSON.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use hil_tests::sim::camera::{CameraSimConfig, SimAuth};
use hil_tests::sim::lane::{start, LaneSimOptions};
use hil_tests::sim::Scenario;

#[derive(Debug, Parser)]
#[command(name = "lane-sim", about = "Wire-level simulator of an inspection lane's devices")]
struct Args {
    /// What the devices do wrong.
    #[arg(long, value_enum, default_value = "normal")]
    scenario: Scenario,
    /// Address the TCP and HTTP simulators listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Symlink to the seal reader's PTY (default: a fresh temp dir).
    #[arg(long)]
    seal_link: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    seal_address: u8,
    /// Symlink to the Modbus RTU barrier controller's PTY (default: the temp dir).
    #[arg(long)]
    modbus_link: Option<PathBuf>,
    /// 0 picks a free port.
    #[arg(long, default_value_t = 0)]
    emptybox_port: u16,
    #[arg(long, default_value_t = 0)]
    uvss_port: u16,
    #[arg(long, default_value_t = 0)]
    camera_port: u16,
    /// Area cameras to serve, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "plate,front,rear,left,right,top")]
    cameras: Vec<String>,
    #[arg(long, value_enum, default_value = "digest")]
    camera_auth: AuthArg,
    #[arg(long, default_value = "admin")]
    camera_user: String,
    #[arg(long, default_value = "lane-sim")]
    camera_password: String,
    /// A vehicle over the UVSS camera this often, e.g. `10s`; `0s` for never.
    #[arg(long, default_value = "10s", value_parser = humantime_like)]
    vehicle_every: Duration,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum AuthArg {
    None,
    Basic,
    Digest,
}

fn humantime_like(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.trim().split_at(s.trim().find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a duration like 500ms or 10s"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("`{s}`: use ms, s or m")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let temp = tempfile::Builder::new().prefix("lane-sim-").tempdir();
    let link = |given: &Option<PathBuf>, name: &str| match (given, &temp) {
        (Some(p), _) => Ok(p.clone()),
        (None, Ok(d)) => Ok(d.path().join(name)),
        (None, Err(e)) => Err(format!(
            "lane-sim: cannot create a temp dir for the PTY links: {e}; pass --seal-link and --modbus-link"
        )),
    };
    let (seal_link, modbus_link) = match (link(&args.seal_link, "seal"), link(&args.modbus_link, "modbus")) {
        (Ok(s), Ok(m)) => (s, m),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let camera = CameraSimConfig {
        auth: match args.camera_auth {
            AuthArg::None => SimAuth::None,
            AuthArg::Basic => SimAuth::Basic,
            AuthArg::Digest => SimAuth::Digest,
        },
        user: args.camera_user.clone(),
        password: args.camera_password.clone(),
        ..Default::default()
    };
    let opts = LaneSimOptions {
        scenario: args.scenario,
        bind: args.bind.clone(),
        seal_link: seal_link.clone(),
        modbus_link: modbus_link.clone(),
        seal_address: args.seal_address,
        emptybox_port: args.emptybox_port,
        uvss_port: args.uvss_port,
        camera_port: args.camera_port,
        cameras: args.cameras.clone(),
        camera,
        vehicle_every: args.vehicle_every,
        comeback: Duration::from_secs(1),
        only: None,
    };
    let sim = match start(opts).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lane-sim: cannot start the simulators: {e}");
            return ExitCode::from(1);
        }
    };
    println!("{}", serde_json::to_string(&sim.endpoints).expect("endpoints serialise"));
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    let _ = std::fs::remove_file(&seal_link);
    let _ = std::fs::remove_file(&modbus_link);
    ExitCode::SUCCESS
}
