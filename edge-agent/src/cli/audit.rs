//! `edge-agent audit verify|show`.

use std::path::PathBuf;

use crate::audit::{verify_file, Entry};

#[derive(Debug, clap::Subcommand)]
pub enum AuditCmd {
    /// Check the whole chain and every checkpoint signature; exit 1 at the
    /// first modified, deleted or reordered entry.
    Verify(Source),
    /// One vehicle's whole story, with times.
    Show {
        #[command(flatten)]
        source: Source,
        #[arg(long)]
        passage: String,
        /// Raw JSON lines instead of sentences.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct Source {
    /// The lane's configuration: the log and the lane's key come from it.
    #[arg(short, long, default_value = "/etc/edge-agent/lane.toml")]
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
                        "{}: ok, {} entries, {} checkpoints ({signed}), last hash {}",
                        log.display(),
                        v.entries,
                        v.checkpoints,
                        v.last_hash
                    );
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
            let text =
                std::fs::read_to_string(&log).map_err(|e| format!("cannot read {}: {e}", log.display()))?;
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
    let cfg = crate::config::load(&s.config).map_err(|e| e.to_string())?;
    let keys = match &s.key {
        Some(k) => parse_key(k)?,
        None => {
            let signer = crate::signing::load_or_create(&cfg.signing.key, &cfg.signing.key_id)
                .map_err(|e| e.to_string())?;
            parse_key(&format!("{}={}", signer.key_id, signer.public_b64()))?
        }
    };
    Ok((cfg.data_dir.join("audit.log"), keys))
}
