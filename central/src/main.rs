//! `lane-central`: thin entry point; everything lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lane-central",
    version,
    about = "Central service: every lane of a port, verified and complete"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

const DEFAULT_CONFIG: &str = "/etc/lane-central/central.toml";

#[derive(Subcommand)]
enum Cmd {
    /// Run the service: ingest, completeness, retention, the API.
    Run {
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Validate a configuration file without touching the network, database or store.
    CheckConfig { file: PathBuf },
    /// Bring the database schema up to date and exit.
    Migrate {
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Accounts of the reviewers' desk (passwords on stdin).
    User {
        #[arg(short, long, default_value = DEFAULT_CONFIG, global = true)]
        config: PathBuf,
        #[command(subcommand)]
        cmd: central::desk::cli::UserCmd,
    },
    /// Central's audit log of reviewer actions: verify it, show entries.
    Audit {
        #[arg(short, long, default_value = DEFAULT_CONFIG, global = true)]
        config: PathBuf,
        #[command(subcommand)]
        cmd: central::desk::cli::AuditCmd,
    },
    /// Reviewed passages as images + labels.tsv, the folder `edge-agent ocr-eval` reads.
    Export {
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// RFC 3339; default: seven days before --to.
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// RFC 3339; default: now.
        #[arg(long)]
        to: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long)]
        site: Option<String>,
    },
    /// The lane registry: list lanes and keys, approve or revoke a lane's key.
    Lanes {
        #[arg(short, long, default_value = DEFAULT_CONFIG, global = true)]
        config: PathBuf,
        #[command(subcommand)]
        cmd: LanesCmd,
    },
}

#[derive(Subcommand)]
enum LanesCmd {
    /// Every lane with its state and keys.
    List,
    /// Approve a lane's pending key (SITE/LANE); records it signed become verified.
    Approve {
        lane: String,
        /// The public key (base64) when the lane has more than one pending.
        #[arg(long)]
        key: Option<String>,
        #[arg(long, default_value = "admin")]
        by: String,
    },
    /// Revoke a lane's approved key: its records are quarantined from now on.
    Revoke {
        lane: String,
        #[arg(long)]
        key: Option<String>,
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
    if let Cmd::CheckConfig { file } = &cli.command {
        return match central::config::load(file) {
            Ok(cfg) => {
                println!("{}: ok ({} sites, store {:?})", file.display(), cfg.sites.len(), cfg.store);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        };
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lane-central: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration and a pool on its database (schema brought up to date).
async fn open(
    path: &std::path::Path,
) -> anyhow::Result<(central::config::CentralConfig, central::db::sql::PgPool)> {
    let cfg = load(path)?;
    let pool = central::db::connect(&cfg.database, Duration::from_secs(5)).await.context("database")?;
    Ok((cfg, pool))
}

fn load(path: &std::path::Path) -> anyhow::Result<central::config::CentralConfig> {
    central::config::load(path).map_err(|e| anyhow::anyhow!("{e}"))
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
        Cmd::User { config, cmd } => {
            let (cfg, pool) = open(&config).await?;
            central::desk::cli::user(&pool, &cfg, cmd).await
        }
        Cmd::Audit { config, cmd } => {
            let (cfg, pool) = open(&config).await?;
            match cmd {
                central::desk::cli::AuditCmd::Verify => central::desk::cli::verify(&pool, &cfg).await,
                central::desk::cli::AuditCmd::Show { passage, last } => {
                    central::desk::cli::show(&pool, passage.as_deref(), last).await
                }
            }
        }
        Cmd::Export { config, out, from, to, site } => {
            let (cfg, pool) = open(&config).await?;
            let store = central::store::Store::open(&cfg.store).context("object store")?;
            let range = central::desk::export::Range { site, from, to };
            let n = central::desk::export::to_folder(&pool, &store, &range, &out).await?;
            println!("{n} labelled images and labels.tsv in {}", out.display());
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
