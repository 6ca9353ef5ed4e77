//! `edge-agent declare`: a file of pre-declarations into the lane's store, or the valid ones
//! listed. It lives with the other commands, not in `declaration`, so the declaration types
//! never depend on the config loader (config → command → declaration stays one way).

use std::path::PathBuf;

use chrono::Utc;
use clap::Args;

use crate::declaration::{Declaration, DeclarationStore};

#[derive(Args)]
#[command(
    after_help = "Examples:\n  edge-agent declare --config /etc/edge-agent/lane.toml arrivals.json\n  \
edge-agent declare --config /etc/edge-agent/lane.toml --list\n\n\
The file is a JSON list: [{\"plate\": \"沪A12345\", \"containers\": [\"MSKU1234565\"], \"seals\": [], \
\"declared_empty\": false, \"targeted\": false, \"valid_from\": null, \"valid_until\": \"2026-12-05T00:00:00Z\"}] \
(docs/mqtt.md, `declare`). The running agent sees them at once."
)]
pub struct DeclareArgs {
    /// The lane's configuration: the store lives in its data directory.
    #[arg(short, long, default_value = super::lane::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// A JSON file with a list of declarations to load; without it, the valid ones are listed.
    pub file: Option<PathBuf>,
    /// List the valid declarations (after loading FILE, if one is given).
    #[arg(long)]
    pub list: bool,
}

/// `edge-agent declare`: a file of declarations into the store, or the list.
pub fn run(args: DeclareArgs) -> Result<bool, String> {
    let (file, list) = (args.file.as_deref(), args.list);
    let cfg = super::lane::load(&args.config)?;
    std::fs::create_dir_all(&cfg.data_dir).map_err(|e| super::io_error("create", &cfg.data_dir, &e))?;
    let store = DeclarationStore::open(&cfg.data_dir.join("declarations.db")).map_err(|e| e.to_string())?;
    if let Some(file) = file {
        let text = std::fs::read_to_string(file).map_err(|e| super::io_error("read", file, &e))?;
        let declarations: Vec<Declaration> = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}: not a list of declarations: {e} (the form is in `edge-agent declare --help`)",
                file.display()
            )
        })?;
        let stored = store
            .put(&declarations, Utc::now())
            .map_err(|e| format!("{}: {e}; nothing stored", file.display()))?;
        println!(
            "{} loaded; {stored} valid now on lane {}/{}",
            crate::words::plural(declarations.len() as u64, "declaration", "declarations"),
            cfg.site,
            cfg.lane
        );
    }
    if list || file.is_none() {
        let valid = store.valid(Utc::now()).map_err(|e| e.to_string())?;
        if valid.is_empty() {
            println!("no valid declarations on lane {}/{}", cfg.site, cfg.lane);
        }
        for d in valid {
            let until = d.valid_until.map_or("-".to_string(), |t| t.to_rfc3339());
            let flags = [(d.declared_empty, "empty"), (d.targeted, "TARGETED")]
                .iter()
                .filter(|f| f.0)
                .map(|f| f.1)
                .collect::<Vec<_>>()
                .join(",");
            println!(
                "{:<10} {:<28} seals {:<3} until {until} {flags}",
                d.plate,
                d.containers.join(","),
                d.seals.len()
            );
        }
    }
    Ok(true)
}
