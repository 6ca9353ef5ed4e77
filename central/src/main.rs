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
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

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

/// The commands by what a person is doing, as `lane-central --help` lists them.
const GROUPS: &tomlcheck::help::Groups = &[
    ("Run central", &["run", "migrate"]),
    ("Check central", &["check-config", "audit"]),
    ("Reviewers and lanes", &["user", "lanes"]),
    ("Evaluate recognition", &["export"]),
];

const AFTER: &str = "\
Exit codes: 0 done and all well; 1 done, and something checked was wrong (the desk's audit
log was tampered with); 2 it could not be done (bad arguments, an unreadable or invalid
config, no database). Results go to stdout, errors to stderr.

Examples:
  lane-central check-config /etc/lane-central/central.toml
  lane-central migrate --config /etc/lane-central/central.toml
  lane-central lanes list

`lane-central help COMMAND` (or `lane-central COMMAND --help`) describes one command.";

#[derive(Subcommand)]
enum Cmd {
    /// Run the service: ingest, completeness, retention, the API and the desk.
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
    /// Accounts of the reviewers' desk: add, list, change, passwords, API tokens.
    User {
        /// Central's configuration file: the database comes from it.
        #[arg(short, long, default_value = DEFAULT_CONFIG, global = true)]
        config: PathBuf,
        #[command(subcommand)]
        cmd: central::desk::cli::UserCmd,
    },
    /// The desk's audit log of reviewer actions: verify it, show entries.
    Audit {
        /// Central's configuration file: the database and the signing key come from it.
        #[arg(short, long, default_value = DEFAULT_CONFIG, global = true)]
        config: PathBuf,
        #[command(subcommand)]
        cmd: central::desk::cli::AuditCmd,
    },
    /// Reviewed passages as images + labels.tsv, the folder `edge-agent ocr-eval` reads.
    #[command(
        after_help = "Example:\n  lane-central export --out /srv/labels --from 2026-11-01T00:00:00Z --site CNSHA-YS\n\n\
Every container and plate a reviewer confirmed or corrected becomes an image and a line of labels.tsv."
    )]
    Export {
        /// Central's configuration file: the database and the image store come from it.
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The folder to write (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// From this day (2026-11-01, midnight UTC) or time (2026-11-01T08:00:00Z); default: seven days before --to.
        #[arg(long, value_parser = time)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// Up to this day or time, as --from; default: now.
        #[arg(long, value_parser = time)]
        to: Option<chrono::DateTime<chrono::Utc>>,
        /// Only this site (default: every site).
        #[arg(long)]
        site: Option<String>,
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

/// A day (midnight UTC) or an RFC 3339 time, as a person types it.
fn time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
        .map_err(|_| "not a day or a time: use e.g. 2026-11-01 or 2026-11-01T08:00:00Z".to_string())
}

/// The clap command with the grouped help (the layout `edge-agent --help` has too).
fn command() -> clap::Command {
    tomlcheck::help::grouped(Cli::command(), GROUPS, AFTER)
}

fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal: a log file or a pipe gets plain text (as the lane's).
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none(),
        )
        .init();
    let name = command_name(&cli.command);
    if let Cmd::CheckConfig { file } = &cli.command {
        return match load(file) {
            Ok(cfg) => {
                println!("{}: ok", file.display());
                print!("{}", summary(&cfg));
                ExitCode::SUCCESS
            }
            Err(e) => fail(&name, &e),
        };
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => fail(&name, &e),
    }
}

/// The command as typed, for messages: `check-config`, `user add`, `lanes approve`.
fn command_name(cmd: &Cmd) -> String {
    use central::desk::cli::{AuditCmd, UserCmd};
    let (top, sub) = match cmd {
        Cmd::Run { .. } => ("run", None),
        Cmd::CheckConfig { .. } => ("check-config", None),
        Cmd::Migrate { .. } => ("migrate", None),
        Cmd::Export { .. } => ("export", None),
        Cmd::User { cmd, .. } => (
            "user",
            Some(match cmd {
                UserCmd::Add { .. } => "add",
                UserCmd::List => "list",
                UserCmd::Set { .. } => "set",
                UserCmd::Passwd { .. } => "passwd",
                UserCmd::Token { .. } => "token",
            }),
        ),
        Cmd::Audit { cmd, .. } => (
            "audit",
            Some(match cmd {
                AuditCmd::Verify => "verify",
                AuditCmd::Show { .. } => "show",
            }),
        ),
        Cmd::Lanes { cmd, .. } => (
            "lanes",
            Some(match cmd {
                LanesCmd::List => "list",
                LanesCmd::Approve { .. } => "approve",
                LanesCmd::Revoke { .. } => "revoke",
            }),
        ),
    };
    sub.map_or_else(|| top.to_string(), |sub| format!("{top} {sub}"))
}

/// The documented exit 2, with the reason on stderr in words.
fn fail(command: &str, e: &anyhow::Error) -> ExitCode {
    // The chain in one line, without a cause its error already ends with
    // (sqlx's "…: Connection refused" over the I/O error "Connection refused").
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if !parts.last().is_some_and(|p| p.ends_with(&part)) {
            parts.push(part);
        }
    }
    let text = parts.join(": ");
    if !text.is_empty() {
        eprintln!("lane-central {command}: {}", tomlcheck::words::without_os_codes(&text));
    }
    ExitCode::from(2)
}

/// The configuration and a pool on its database (schema brought up to date).
async fn open(
    path: &std::path::Path,
) -> anyhow::Result<(central::config::CentralConfig, central::db::sql::PgPool)> {
    let cfg = load(path)?;
    let pool = connect(&cfg).await?;
    Ok((cfg, pool))
}

/// A pool on the configured database (schema brought up to date).
async fn connect(cfg: &central::config::CentralConfig) -> anyhow::Result<central::db::sql::PgPool> {
    connect_for(cfg, Duration::from_secs(5)).await
}

/// Connects, waiting up to `patience`; a failure names the database (never its password).
async fn connect_for(
    cfg: &central::config::CentralConfig,
    patience: Duration,
) -> anyhow::Result<central::db::sql::PgPool> {
    let at = match cfg.database.url.parse::<central::db::sql::PgConnectOptions>() {
        Ok(o) => format!(" {} at {}:{}", o.get_database().unwrap_or("(default)"), o.get_host(), o.get_port()),
        Err(_) => String::new(),
    };
    central::db::connect(&cfg.database, patience)
        .await
        .with_context(|| format!("cannot use the database{at} (from [database] url)"))
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
records kept {}, images no record refers to {}\n  API and the reviewers' desk on http://{}/\n  a waiting vehicle turns amber after {} and red after {}; a claim lapses after {}\n",
        cfg.instance,
        cfg.sites.join(", "),
        cfg.mqtt.host,
        cfg.mqtt.port,
        d(cfg.retention.records),
        d(cfg.retention.images),
        cfg.http.listen,
        d(cfg.desk.amber),
        d(cfg.desk.red),
        d(cfg.desk.lease),
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
            connect_for(&cfg, Duration::from_secs(30)).await?;
            println!("schema up to date");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::User { config, cmd } => {
            let cfg = load(&config)?;
            central::desk::cli::check(&cmd, &cfg)?;
            let pool = connect(&cfg).await?;
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
            let pool = connect(&cfg).await?;
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

#[cfg(test)]
mod tests {
    use tomlcheck::help::{misgrouped, undescribed, without_example};

    #[test]
    fn every_command_is_in_exactly_one_group() {
        assert_eq!(misgrouped(&super::command(), super::GROUPS), Vec::<String>::new());
    }

    #[test]
    fn every_argument_of_every_command_is_described() {
        assert_eq!(undescribed(&super::command()), Vec::<String>::new());
    }

    #[test]
    fn every_command_shows_an_example() {
        assert_eq!(without_example(&super::command(), "lane-central"), Vec::<String>::new());
    }

    #[test]
    fn export_takes_a_day_or_a_time() {
        assert_eq!(super::time("2026-11-01").unwrap().to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(
            super::time("2026-11-01T08:00:00+08:00").unwrap().to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
        assert!(super::time("1 Nov").unwrap_err().contains("2026-11-01"));
    }

    #[test]
    fn the_help_lists_the_commands_by_group() {
        let help = super::command().render_help().to_string();
        let run = help.find("Run central:\n  run").expect(&help);
        let desk = help.find("Reviewers and lanes:\n  user").expect(&help);
        assert!(run < desk && help.contains("Exit codes: 0"), "{help}");
    }
}
