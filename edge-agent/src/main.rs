//! `edge-agent`: thin entry point; everything lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use contract::Topics;
use edge_agent::cli::follow::{follow, FollowOptions};
use edge_agent::config::{self, Broker};

#[derive(Parser)]
#[command(name = "edge-agent", version, about = "Inspection-lane edge controller")]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Under-vehicle scan comparison against the vehicle's reference scan.
    Uvss {
        #[command(subcommand)]
        cmd: edge_agent::cli::vision::UvssCmd,
    },
    /// Is the container in this interior image empty? (image check beside the detector)
    EmptyCheck(edge_agent::cli::vision::EmptyCheckArgs),
    /// Run the lane described by a configuration file.
    Run {
        #[arg(short, long, default_value = "/etc/edge-agent/lane.toml")]
        config: PathBuf,
    },
    /// Check the lane's devices: all at a glance, or one (`barrier --cycle`,
    /// `seal --read`, `camera NAME --snapshot F`, `uvss --capture F`, `ports`).
    Diag(edge_agent::cli::diag::DiagArgs),
    /// Validate a configuration file without touching the network or devices.
    CheckConfig { file: PathBuf },
    /// Print a lane's results live, in plain words.
    Follow {
        /// The lane's configuration: broker, prefix, site and lane come from it.
        #[arg(short, long)]
        config: Option<PathBuf>,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 1883)]
        port: u16,
        /// Topic filter when no config is given.
        #[arg(long, default_value = "lanectl/#")]
        topic: String,
        /// Raw JSON payloads instead of sentences.
        #[arg(long)]
        json: bool,
        /// Exit after this many passages.
        #[arg(long, default_value_t = 0)]
        count: u64,
    },
    /// Write the passages and images lanes publish into a folder (hashes checked).
    Tail {
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 1883)]
        port: u16,
        #[arg(long, default_value = "lanectl/#")]
        topic: String,
        #[arg(long)]
        out: PathBuf,
        /// Keep a session on the broker under this id, so nothing is missed while away.
        #[arg(long)]
        client_id: Option<String>,
        /// Exit after this many passages.
        #[arg(long, default_value_t = 0)]
        count: u64,
    },
    /// What is waiting in the outbox for the uplink; `outbox status --watch` follows a drain.
    Outbox(edge_agent::cli::outbox::OutboxArgs),
    /// Central's side of signed commands: make a key, sign a command.
    #[command(subcommand)]
    Command(edge_agent::cli::command::CommandCmd),
    /// Load pre-declarations from a JSON file (a list) into the lane's store, or
    /// list the valid ones. The running agent sees them at once.
    Declare {
        #[arg(short, long, default_value = "/etc/edge-agent/lane.toml")]
        config: PathBuf,
        /// A JSON file with a list of declarations (see docs/mqtt.md, `declare`).
        file: Option<PathBuf>,
        #[arg(long)]
        list: bool,
    },
    /// Clearance statistics from the lane's archived passages (offline).
    Stats {
        #[arg(short, long, default_value = "/etc/edge-agent/lane.toml")]
        config: PathBuf,
        /// Hours back from the newest passage.
        #[arg(long, default_value_t = 24)]
        hours: i64,
        #[arg(long)]
        json: bool,
    },
    /// The tamper-evident audit trail: verify it, or show one vehicle's story.
    #[command(subcommand)]
    Audit(edge_agent::cli::audit::AuditCmd),
    /// Check the lane signatures of saved passage records or decisions.
    Verify {
        /// A lane's key as ID=PUBLIC_KEY (repeat for several lanes).
        #[arg(long = "key", required = true)]
        keys: Vec<String>,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Recognition from the terminal: `ocr IMAGE... [--json]`, `ocr-eval DIR...`.
    #[command(flatten)]
    Ocr(edge_agent::cli::ocr::OcrCmd),
    /// Local operators: `operator hash` makes a credential for the lane config.
    #[command(subcommand)]
    Operator(edge_agent::cli::operator::OperatorCmd),
    /// A local operator releases a held vehicle while the uplink is down
    /// (through the running agent's technician page; password on stdin).
    Release(edge_agent::cli::operator::ReleaseArgs),
    /// Write the JSON Schemas of every published message.
    Schema {
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// journald when systemd runs us, else the chosen format on stderr; see `edge_agent::logs`.
fn init_logs(format: LogFormat) {
    edge_agent::logs::init(match format {
        LogFormat::Text => edge_agent::logs::Format::Text,
        LogFormat::Json => edge_agent::logs::Format::Json,
    });
}

fn main() -> ExitCode {
    // First, while the process has one thread: takes NOTIFY_SOCKET out of the environment.
    edge_agent::notify::init();
    let cli = Cli::parse();
    init_logs(cli.log_format);
    // A panic anywhere is a bug; exit so systemd restarts a clean process
    // rather than limping on with a dead task.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::exit(101);
    }));
    match cli.command {
        Cmd::Uvss { cmd } => edge_agent::cli::vision::uvss(cmd),
        Cmd::EmptyCheck(args) => edge_agent::cli::vision::empty_check(args),
        Cmd::CheckConfig { file } => match config::load(&file) {
            Ok(cfg) => {
                println!(
                    "{}: ok (site {}, lane {}, {} devices)",
                    file.display(),
                    cfg.site,
                    cfg.lane,
                    cfg.devices.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Cmd::Tail { host, port, topic, out, client_id, count } => {
            let opts =
                edge_agent::cli::tail::TailOptions { host, port, filter: topic, out, client_id, count };
            let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
            let mut stdout = std::io::stdout();
            match rt.block_on(edge_agent::cli::tail::tail(opts, &mut stdout)) {
                Ok(stats) => {
                    eprintln!(
                        "{} passages ({} duplicates ignored), {} images, {} bad images",
                        stats.passages, stats.duplicates, stats.images, stats.bad_images
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("edge-agent tail: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Outbox(args) => exit(edge_agent::cli::outbox::run(args)),
        Cmd::Diag(args) => exit(edge_agent::cli::diag::run(args)),
        Cmd::Command(cmd) => exit(edge_agent::cli::command::run(cmd).map(|()| true)),
        Cmd::Declare { config, file, list } => {
            exit(edge_agent::cli::declare::run(&config, file.as_deref(), list).map(|()| true))
        }
        Cmd::Stats { config, hours, json } => {
            let cfg = match config::load(&config) {
                Ok(cfg) => cfg,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            match edge_agent::stats::from_archive(
                &cfg.data_dir.join("records"),
                &cfg.site,
                &cfg.lane,
                chrono::Duration::hours(hours),
            ) {
                Ok(report) if json => {
                    println!("{}", serde_json::to_string_pretty(&report).expect("reports serialise"));
                    ExitCode::SUCCESS
                }
                Ok(report) => {
                    print!("{}", edge_agent::stats::render(&report));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: cannot read {}: {e}", cfg.data_dir.join("records").display());
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Audit(cmd) => exit(edge_agent::cli::audit::run(cmd)),
        Cmd::Verify { keys, files } => {
            exit(edge_agent::signing::verify_files(&keys, &files).map_err(|e| e.to_string()))
        }
        Cmd::Ocr(cmd) => edge_agent::cli::ocr::run(cmd),
        Cmd::Operator(cmd) => {
            exit(edge_agent::cli::operator::hash(cmd).map(|()| true).map_err(|e| e.to_string()))
        }
        Cmd::Release(args) => {
            exit(edge_agent::cli::operator::release(args).map(|()| true).map_err(|e| e.to_string()))
        }
        Cmd::Schema { out } => {
            for (name, schema) in contract::schema::all() {
                match &out {
                    Some(dir) => {
                        if let Err(e) =
                            std::fs::create_dir_all(dir).and_then(|_| std::fs::write(dir.join(name), schema))
                        {
                            eprintln!("cannot write {}: {e}", dir.join(name).display());
                            return ExitCode::FAILURE;
                        }
                    }
                    None => println!("{schema}"),
                }
            }
            ExitCode::SUCCESS
        }
        Cmd::Run { config } => {
            let cfg = match config::load(&config) {
                Ok(cfg) => cfg,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
            match rt.block_on(edge_agent::agent::run(cfg)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("edge-agent: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Follow { config, host, port, topic, json, count } => {
            let opts = match config {
                Some(file) => match config::load(&file) {
                    Ok(cfg) => {
                        let (host, port) = match cfg.mqtt.broker {
                            Broker::Remote { host, port } => (host, port),
                            Broker::Embedded { listen, port } => (listen, port),
                        };
                        let filter = Topics::new(&cfg.mqtt.topic_prefix, &cfg.site, &cfg.lane).all();
                        FollowOptions { host, port, filter, json, count }
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        return ExitCode::from(2);
                    }
                },
                None => FollowOptions { host, port, filter: topic, json, count },
            };
            let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
            let mut stdout = std::io::stdout();
            match rt.block_on(follow(opts, &mut stdout)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("edge-agent follow: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// 0: done and all well; 1: done, and something checked was wrong; 2: could not do it.
fn exit(result: Result<bool, String>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
