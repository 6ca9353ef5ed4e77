//! `lane-central`: thin entry point; everything lives in the library.
//!
//! As on the lane (`edge-agent`, docs/cli.md): results on stdout, errors on stderr as
//! `lane-central COMMAND: what went wrong`, exit 0 when done and all well, 1 when done and
//! something checked was wrong, 2 when it could not be done (bad arguments, an invalid
//! configuration, no database).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lane-central",
    version,
    about = "Central service: every lane of a port, verified and complete",
    after_help = "Exit codes: 0 done and all well; 1 done, and something checked was wrong; 2 it could not be done \
(bad arguments, an invalid configuration, no database). Results go to stdout, errors to stderr.\n\n\
Examples:\n  lane-central check-config /etc/lane-central/central.toml\n  \
lane-central migrate --config /etc/lane-central/central.toml\n  lane-central lanes list"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

const DEFAULT_CONFIG: &str = "/etc/lane-central/central.toml";

#[derive(Subcommand)]
enum Cmd {
    /// Run the service: ingest, completeness, retention, the API.
    #[command(after_help = "Example:\n  lane-central run --config /etc/lane-central/central.toml")]
    Run {
        /// Central's configuration file.
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Validate a configuration file without touching the network, database or store.
    #[command(after_help = "Example:\n  lane-central check-config /etc/lane-central/central.toml\n\n\
Exit 0 when valid (with a summary), 2 with every mistake listed at file:line:col.")]
    CheckConfig {
        /// The configuration file (TOML; see config/central.example.toml).
        file: PathBuf,
    },
    /// Bring the database schema up to date and exit.
    #[command(after_help = "Example:\n  lane-central migrate --config /etc/lane-central/central.toml")]
    Migrate {
        /// Central's configuration file: the database comes from it.
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// The lane registry: list lanes and keys, approve or revoke a lane's key.
    Lanes {
        /// Central's configuration file: the database comes from it.
        #[arg(short, long, default_value = DEFAULT_CONFIG, global = true)]
        config: PathBuf,
        #[command(subcommand)]
        cmd: LanesCmd,
    },
}

#[derive(Subcommand)]
enum LanesCmd {
    /// Every lane with its state and keys.
    #[command(after_help = "Example:\n  lane-central lanes list --config /etc/lane-central/central.toml")]
    List,
    /// Approve a lane's pending key (SITE/LANE); records it signed become verified.
    #[command(after_help = "Example:\n  lane-central lanes approve CNSHA-YS/G07 --by admin:wang")]
    Approve {
        /// The lane as SITE/LANE, e.g. CNSHA-YS/G07.
        lane: String,
        /// The public key (base64) when the lane has more than one pending.
        #[arg(long)]
        key: Option<String>,
        /// Who approves it (kept in the registry's history).
        #[arg(long, default_value = "admin")]
        by: String,
    },
    /// Revoke a lane's approved key: its records are quarantined from now on.
    #[command(after_help = "Example:\n  lane-central lanes revoke CNSHA-YS/G07 --by admin:wang")]
    Revoke {
        /// The lane as SITE/LANE, e.g. CNSHA-YS/G07.
        lane: String,
        /// The public key (base64) when the lane has more than one approved.
        #[arg(long)]
        key: Option<String>,
        /// Who revokes it (kept in the registry's history).
        #[arg(long, default_value = "admin")]
        by: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let name = match &cli.command {
        Cmd::Run { .. } => "run",
        Cmd::CheckConfig { .. } => "check-config",
        Cmd::Migrate { .. } => "migrate",
        Cmd::Lanes { .. } => "lanes",
    };
    if let Cmd::CheckConfig { file } = &cli.command {
        return match load(file) {
            Ok(cfg) => {
                println!("{}: ok", file.display());
                print!("{}", summary(&cfg));
                ExitCode::SUCCESS
            }
            Err(e) => fail(name, &e),
        };
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => fail(name, &e),
    }
}

/// The documented exit 2, with the reason on stderr in words.
fn fail(command: &str, e: &anyhow::Error) -> ExitCode {
    let text = format!("{e:#}");
    if !text.is_empty() {
        eprintln!("lane-central {command}: {}", tomlcheck::words::without_os_codes(&text));
    }
    ExitCode::from(2)
}

/// Loads the configuration; its mistakes are printed here (all of them, at file:line:col),
/// the error says how many.
fn load(path: &std::path::Path) -> anyhow::Result<central::config::CentralConfig> {
    central::config::load(path).map_err(|e| {
        eprintln!("{e}");
        if e.diagnostics.iter().all(|d| d.position.is_none()) {
            return anyhow::anyhow!("");
        }
        let n = e.diagnostics.len() as u64;
        anyhow::anyhow!("{} in {}", tomlcheck::words::plural(n, "mistake", "mistakes"), path.display())
    })
}

/// What a valid configuration means, in a few lines.
fn summary(cfg: &central::config::CentralConfig) -> String {
    use central::config::StoreConfig;
    use tomlcheck::duration::format_duration as d;
    let store = match &cfg.store {
        StoreConfig::File { root } => format!("the folder {}", root.display()),
        StoreConfig::S3 { bucket, prefix, endpoint, .. } => {
            let at = endpoint.as_deref().map(|e| format!(" at {e}")).unwrap_or_default();
            format!(
                "S3 bucket {bucket}{}{at}",
                if prefix.is_empty() { String::new() } else { format!("/{prefix}") }
            )
        }
    };
    let tls = if cfg.mqtt.tls.is_some() { " with TLS" } else { "" };
    format!(
        "  instance {} receives the lanes of {} from {}:{}{tls}\n  images in {store}\n  \
records kept {}, images no record refers to {}\n  API on http://{}/\n",
        cfg.instance,
        cfg.sites.join(", "),
        cfg.mqtt.host,
        cfg.mqtt.port,
        d(cfg.retention.records),
        d(cfg.retention.images),
        cfg.http.listen
    )
}

async fn run(cmd: Cmd) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::CheckConfig { .. } => unreachable!("handled before the runtime starts"),
        Cmd::Run { config } => {
            let cfg = load(&config)?;
            central::service::run(cfg).await?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Migrate { config } => {
            let cfg = load(&config)?;
            central::db::connect(&cfg.database, Duration::from_secs(30)).await.context("database")?;
            println!("schema up to date");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Lanes { config, cmd } => {
            let cfg = load(&config)?;
            let pool =
                central::db::connect(&cfg.database, Duration::from_secs(5)).await.context("database")?;
            let ingest = central::ingest::Ingest::new(pool.clone(), &cfg).context("object store")?;
            central::lanes_cli::run(&pool, &ingest, cmd.into()).await
        }
    }
}

impl From<LanesCmd> for central::lanes_cli::LanesCmd {
    fn from(c: LanesCmd) -> Self {
        use central::lanes_cli::LanesCmd as L;
        match c {
            LanesCmd::List => L::List,
            LanesCmd::Approve { lane, key, by } => L::Approve { lane, key, by },
            LanesCmd::Revoke { lane, key, by } => L::Revoke { lane, key, by },
        }
    }
}
