//! The desk's command line: `lane-central user ...` (accounts; the password on
//! stdin, never in arguments or shell history), `lane-central audit
//! verify|show` and `lane-central export`. Every account change is written to
//! the audit log under `cli:<unix user>`.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{bail, Context};
use serde_json::json;

use super::audit::{self, AuditLog, Entry};
use super::auth::{password, sessions, users};
use crate::config::CentralConfig;
use crate::db::sql::PgPool;

#[derive(clap::Subcommand)]
pub enum UserCmd {
    /// Add a user; the password is read from stdin (first line).
    #[command(
        after_help = "Example:\n  echo 'a long passphrase' | lane-central user add wang --role reviewer --sites CNSHA-YS\n\n\
The password never goes in an argument (it would stay in the shell's history)."
    )]
    Add {
        /// The login name (letters, digits, '.', '-', '_').
        name: String,
        /// viewer (sees), reviewer (decides held vehicles) or supervisor (also takes over, uploads declarations).
        #[arg(long)]
        role: String,
        /// Sites this user sees, comma-separated (default: all).
        #[arg(long)]
        sites: Option<String>,
        /// Page language: zh-CN or en.
        #[arg(long, default_value = "zh-CN")]
        language: String,
    },
    /// Every user with role, language, sites and state.
    #[command(after_help = "Example:\n  lane-central user list --config /etc/lane-central/central.toml")]
    List,
    /// Change a user's role, sites, language; disable, enable or unlock.
    #[command(after_help = "Examples:\n  lane-central user set wang --role supervisor\n  \
lane-central user set wang --unlock\n  lane-central user set wang --sites all")]
    Set {
        /// The login name.
        name: String,
        /// The new role: viewer, reviewer or supervisor.
        #[arg(long)]
        role: Option<String>,
        /// Sites this user sees, comma-separated, or `all`.
        #[arg(long)]
        sites: Option<String>,
        /// The new page language: zh-CN or en.
        #[arg(long)]
        language: Option<String>,
        /// No more logins; the user's sessions end.
        #[arg(long)]
        disable: bool,
        /// Allow logins again.
        #[arg(long)]
        enable: bool,
        /// Clear a lockout after failed logins.
        #[arg(long)]
        unlock: bool,
    },
    /// Set a new password (stdin); the user's sessions end.
    #[command(after_help = "Example:\n  echo 'a new long passphrase' | lane-central user passwd wang")]
    Passwd {
        /// The login name.
        name: String,
    },
    /// An API token for another system acting as this user (printed once).
    #[command(after_help = "Example:\n  lane-central user token wang --label port-tos\n\n\
The token goes to stdout, once; send it as `Authorization: Bearer <token>`.")]
    Token {
        /// The login name the token acts as.
        name: String,
        /// What the token is for (shown in the audit log).
        #[arg(long, default_value = "api")]
        label: String,
    },
}

#[derive(clap::Subcommand)]
pub enum AuditCmd {
    /// Check the whole log: chain, hashes, signatures, head. Exit 1 when tampered.
    #[command(after_help = "Example:\n  lane-central audit verify --config /etc/lane-central/central.toml")]
    Verify,
    /// The newest entries, or one passage's (SITE/LANE/ID).
    #[command(after_help = "Examples:\n  lane-central audit show --last 20\n  \
lane-central audit show --passage CNSHA-YS/G07/G07-20261123-0042")]
    Show {
        /// Only this passage's entries, as SITE/LANE/ID.
        #[arg(long)]
        passage: Option<String>,
        /// How many of the newest entries (without --passage).
        #[arg(long, default_value_t = 50)]
        last: i64,
    },
}

fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("SUDO_USER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "root".into())
    )
}

fn log(cfg: &CentralConfig) -> anyhow::Result<AuditLog> {
    Ok(match &cfg.commands {
        Some(c) => AuditLog::new(c.key_id.clone(), Some(crate::commands::load_key(&c.key)?)),
        None => AuditLog::new(String::new(), None),
    })
}

/// The first line of stdin: the password.
fn read_password() -> anyhow::Result<String> {
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("password (at least {} characters), then Enter: ", password::MIN_LENGTH);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the password from stdin")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn role(word: &str) -> anyhow::Result<users::Role> {
    const ROLES: [&str; 3] = ["viewer", "reviewer", "supervisor"];
    users::Role::parse(word).with_context(|| {
        format!("there is no role {word:?}: {}", tomlcheck::words::did_you_mean(word, &ROLES, "use"))
    })
}

fn language(word: &str) -> anyhow::Result<String> {
    if users::LANGUAGES.contains(&word) {
        Ok(word.to_string())
    } else {
        bail!(
            "there is no page language {word:?}: {}",
            tomlcheck::words::did_you_mean(word, &users::LANGUAGES, "use")
        )
    }
}

fn sites(list: &str, cfg: &CentralConfig) -> anyhow::Result<Vec<String>> {
    if list == "all" {
        return Ok(vec![]);
    }
    let sites: Vec<String> =
        list.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    for s in &sites {
        if !cfg.sites.contains(s) {
            let sites: Vec<&str> = cfg.sites.iter().map(String::as_str).collect();
            bail!(
                "central receives no site {s:?}: {}",
                tomlcheck::words::did_you_mean(s, &sites, "the sites in its configuration are")
            );
        }
    }
    Ok(sites)
}

/// The arguments checked against the configuration before the database is opened: a
/// mistyped role, language or site is told at once, not after a connection (or its failure).
pub fn check(cmd: &UserCmd, cfg: &CentralConfig) -> anyhow::Result<()> {
    let (r, s, l) = match cmd {
        UserCmd::Add { role, sites, language, .. } => (Some(role), sites, Some(language)),
        UserCmd::Set { role, sites, language, disable, enable, .. } => {
            if *disable && *enable {
                bail!("give --disable or --enable, not both");
            }
            (role.as_ref(), sites, language.as_ref())
        }
        UserCmd::List | UserCmd::Passwd { .. } | UserCmd::Token { .. } => return Ok(()),
    };
    r.map(|r| role(r)).transpose()?;
    l.map(|l| language(l)).transpose()?;
    s.as_deref().map(|s| sites(s, cfg)).transpose()?;
    Ok(())
}

pub async fn user(pool: &PgPool, cfg: &CentralConfig, cmd: UserCmd) -> anyhow::Result<ExitCode> {
    let log = log(cfg)?;
    match cmd {
        UserCmd::List => {
            for u in users::list(pool).await? {
                let sites = if u.sites.is_empty() { "all sites".to_string() } else { u.sites.join(",") };
                let state = match (u.disabled, u.locked_until.filter(|t| *t > chrono::Utc::now())) {
                    (true, _) => "disabled".to_string(),
                    (false, Some(t)) => format!("locked until {}", t.format("%F %T UTC")),
                    _ => "active".to_string(),
                };
                println!("{:<20} {:<10} {:<6} {:<24} {state}", u.name, u.role.word(), u.language, sites);
            }
        }
        UserCmd::Add { name, role: r, sites: s, language: l } => {
            let (role, language) = (role(&r)?, language(&l)?);
            let sites = sites(s.as_deref().unwrap_or("all"), cfg)?;
            let hash = password::hash(&read_password()?)?;
            let mut tx = pool.begin().await?;
            users::add(
                &mut *tx,
                users::NewUser {
                    name: &name,
                    role,
                    sites: &sites,
                    language: &language,
                    password_hash: &hash,
                },
            )
            .await?;
            let detail = json!({"user": name, "role": role.word(), "sites": sites, "language": language});
            log.append(&mut tx, Entry::new(&actor(), "user_add", detail)).await?;
            tx.commit().await?;
            println!("user {name} added ({})", role.word());
        }
        UserCmd::Set { name, role: r, sites: s, language: l, disable, enable, unlock } => {
            if disable && enable {
                bail!("give --disable or --enable, not both");
            }
            let change = users::Change {
                role: r.as_deref().map(role).transpose()?,
                sites: s.as_deref().map(|s| sites(s, cfg)).transpose()?,
                language: l.as_deref().map(language).transpose()?,
                disabled: (disable || enable).then_some(disable),
                password_hash: None,
                unlock,
            };
            let detail = json!({"user": name, "role": change.role.map(|r| r.word()), "sites": change.sites,
                                "language": change.language, "disabled": change.disabled, "unlock": unlock});
            let mut tx = pool.begin().await?;
            users::change(&mut tx, &name, &change).await.with_context(|| format!("user {name}"))?;
            log.append(&mut tx, Entry::new(&actor(), "user_change", detail)).await?;
            tx.commit().await?;
            println!("user {name} changed");
        }
        UserCmd::Passwd { name } => {
            let hash = password::hash(&read_password()?)?;
            let change = users::Change { password_hash: Some(hash), ..Default::default() };
            let mut tx = pool.begin().await?;
            users::change(&mut tx, &name, &change).await.with_context(|| format!("user {name}"))?;
            log.append(&mut tx, Entry::new(&actor(), "user_password", json!({"user": name}))).await?;
            tx.commit().await?;
            println!("password of {name} changed; their sessions are ended");
        }
        UserCmd::Token { name, label } => {
            if users::get(pool, &name).await?.is_none() {
                bail!("there is no user {name} (`lane-central user list` shows them)");
            }
            let mut tx = pool.begin().await?;
            let token = sessions::add_token(&mut *tx, &name, &label).await?;
            log.append(&mut tx, Entry::new(&actor(), "token_add", json!({"user": name, "label": label})))
                .await?;
            tx.commit().await?;
            eprintln!("API token for {name} ({label}); send it as `Authorization: Bearer <token>`. It is shown once:");
            println!("{token}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `lane-central audit verify`: exit 0 when intact, 1 with every problem listed.
pub async fn verify(pool: &PgPool, cfg: &CentralConfig) -> anyhow::Result<ExitCode> {
    let keys = match &cfg.commands {
        Some(c) => vec![(c.key_id.clone(), crate::commands::load_key(&c.key)?.verifying_key())],
        None => vec![],
    };
    let v = audit::verify(pool, &keys).await?;
    for p in &v.problems {
        println!("TAMPERED  {p}");
    }
    if v.unsigned > 0 {
        println!("warning   {} entries carry no signature (central had no [commands] key)", v.unsigned);
    }
    if v.intact() {
        println!("desk audit log intact: {} entries, last {} hash {}", v.entries, v.last_seq, v.last_hash);
        Ok(ExitCode::SUCCESS)
    } else {
        println!("desk audit log NOT intact: {} problems in {} entries", v.problems.len(), v.entries);
        Ok(ExitCode::from(1))
    }
}

/// `lane-central audit show`: the newest entries, or one passage's.
pub async fn show(pool: &PgPool, passage: Option<&str>, last: i64) -> anyhow::Result<ExitCode> {
    type Shown = (i64, chrono::DateTime<chrono::Utc>, String, String, Option<String>, serde_json::Value);
    let rows: Vec<Shown> = match passage {
        Some(p) => {
            let parts: Vec<&str> = p.splitn(3, '/').collect();
            let [site, lane, id] = parts[..] else {
                bail!("--passage {p:?} is not SITE/LANE/ID, e.g. CNSHA-YS/G07/G07-20261123-0042")
            };
            crate::db::sql::query_as(
                "SELECT seq, at, actor, action, passage_id, detail FROM desk_audit WHERE site = $1 AND lane = $2 AND passage_id = $3 ORDER BY seq",
            )
            .bind(site)
            .bind(lane)
            .bind(id)
            .fetch_all(pool)
            .await?
        }
        None => crate::db::sql::query_as(
            "SELECT * FROM (SELECT seq, at, actor, action, passage_id, detail FROM desk_audit ORDER BY seq DESC LIMIT $1) x ORDER BY seq",
        )
        .bind(last)
        .fetch_all(pool)
        .await?,
    };
    for (seq, at, actor, action, passage, detail) in rows {
        println!(
            "{seq:>6} {} {actor:<16} {action:<18} {} {detail}",
            at.format("%F %T"),
            passage.unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
