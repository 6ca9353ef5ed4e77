//! `edge-agent declare`: a file of pre-declarations into the lane's store, or the valid ones
//! listed. It lives with the other commands, not in `declaration`, so the declaration types
//! never depend on the config loader (config → command → declaration stays one way).

use chrono::Utc;

use crate::declaration::{Declaration, DeclarationStore};

/// `edge-agent declare`: a file of declarations into the store, or the list.
pub fn run(config: &std::path::Path, file: Option<&std::path::Path>, list: bool) -> Result<(), String> {
    let cfg = crate::config::load(config).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&cfg.data_dir).map_err(|e| format!("{}: {e}", cfg.data_dir.display()))?;
    let store = DeclarationStore::open(&cfg.data_dir.join("declarations.db")).map_err(|e| e.to_string())?;
    if let Some(file) = file {
        let text =
            std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let declarations: Vec<Declaration> =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        let stored = store
            .put(&declarations, Utc::now())
            .map_err(|e| format!("{}: {e}; nothing stored", file.display()))?;
        println!(
            "{} declarations loaded; {stored} valid on lane {}/{}",
            declarations.len(),
            cfg.site,
            cfg.lane
        );
    }
    if list || file.is_none() {
        for d in store.valid(Utc::now()).map_err(|e| e.to_string())? {
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
    Ok(())
}
