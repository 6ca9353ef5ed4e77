//! `edge-agent audit verify|show`: the tamper check of the lane's hash-chained audit
//! trail, and one vehicle's story from it. Verifying never writes: a lane without its
//! signing key yet is told so, not given a new key.

use std::path::PathBuf;

use crate::audit::{verify_file, Entry};

#[derive(Debug, clap::Subcommand)]
pub enum AuditCmd {
    /// Check the whole chain and every checkpoint signature; exit 1 at the
    /// first modified, deleted or reordered entry. Gaps and torn writes from
    /// crashes or a full disk are listed, not failed.
    #[command(after_help = "Examples:\n  edge-agent audit verify --config /etc/edge-agent/lane.toml\n  \
edge-agent audit verify --log copy-of-audit.log --key CNSHA-G07=qr2jSZXopMafhk2o79TCXau0IZiDPc64KhCcgiraXoA=")]
    Verify(Source),
    /// One vehicle's whole story, with times.
    #[command(
        after_help = "Example:\n  edge-agent audit show --config /etc/edge-agent/lane.toml --passage G07-20261204T101502123Z-0042"
    )]
    Show {
        #[command(flatten)]
        source: Source,
        /// The passage id (as `follow`, the technician page and the records show it).
        #[arg(long)]
        passage: String,
        /// The log's JSON lines as they are, instead of one sentence per entry.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct Source {
    /// The lane's configuration: the log and the lane's key come from it.
    #[arg(short, long, default_value = super::lane::DEFAULT_CONFIG)]
    config: PathBuf,
    /// Read this log file instead (e.g. a copy); checkpoints are then checked
    /// with --key.
    #[arg(long)]
    log: Option<PathBuf>,
    /// The lane's public key as ID=BASE64 (default: the configured lane's own).
    #[arg(long)]
    key: Option<String>,
}

pub fn run(cmd: AuditCmd) -> Result<bool, String> {
    match cmd {
        AuditCmd::Verify(source) => {
            let (log, keys) = resolve(&source)?;
            match verify_file(&log, &keys) {
                Ok(v) => {
                    let signed = if keys.is_empty() { "not checked (no key)" } else { "signatures valid" };
                    println!(
                        "{}: ok, {}, {} ({signed}), last hash {}",
                        log.display(),
                        crate::words::plural(v.entries, "entry", "entries"),
                        crate::words::plural(v.checkpoints, "checkpoint", "checkpoints"),
                        v.last_hash
                    );
                    for g in &v.gaps {
                        println!("  gap at entry {}: {} entries lost ({})", g.seq, g.lost_entries, g.why);
                    }
                    if v.recovered > 0 {
                        println!(
                            "  {} recovery entries: torn writes the lane repaired after a crash",
                            v.recovered
                        );
                    }
                    if !v.torn.is_empty() {
                        println!(
                            "  torn writes at lines {:?} (a crash or a full disk; the chain is whole across them)",
                            v.torn
                        );
                    }
                    Ok(true)
                }
                Err(e) => {
                    println!("{}: BROKEN: {e}", log.display());
                    Ok(false)
                }
            }
        }
        AuditCmd::Show { source, passage, json } => {
            let (log, _) = resolve(&source)?;
            let text = std::fs::read_to_string(&log).map_err(|e| super::io_error("read", &log, &e))?;
            let mut found = 0;
            for line in text.lines() {
                let Ok(e) = serde_json::from_str::<Entry>(line) else { continue };
                if e.passage.as_deref() != Some(passage.as_str()) {
                    continue;
                }
                found += 1;
                if json {
                    println!("{line}");
                } else {
                    println!(
                        "{}  #{:<6} {:<12} {}",
                        e.at.format("%Y-%m-%d %H:%M:%S%.3f"),
                        e.seq,
                        e.kind,
                        e.data
                    );
                }
            }
            if found == 0 {
                return Err(format!("no entries for passage {passage} in {}", log.display()));
            }
            Ok(true)
        }
    }
}

fn resolve(s: &Source) -> Result<(PathBuf, Vec<(String, ed25519_dalek::VerifyingKey)>), String> {
    let parse_key = |k: &str| crate::signing::key_arg(k).map(|key| vec![key]).map_err(|e| e.to_string());
    if let Some(log) = &s.log {
        let keys = s.key.as_deref().map(parse_key).transpose()?.unwrap_or_default();
        return Ok((log.clone(), keys));
    }
    let cfg = super::lane::load(&s.config)?;
    let keys = match &s.key {
        Some(k) => parse_key(k)?,
        None if !cfg.signing.key.exists() => {
            return Err(format!(
                "the lane has no signing key yet ({}; the agent makes it at its first start), so there is nothing signed to check",
                cfg.signing.key.display()
            ))
        }
        None => {
            let signer = crate::signing::load_or_create(&cfg.signing.key, &cfg.signing.key_id)
                .map_err(|e| e.to_string())?;
            parse_key(&format!("{}={}", signer.key_id, signer.public_b64()))?
        }
    };
    Ok((cfg.data_dir.join("audit.log"), keys))
}
