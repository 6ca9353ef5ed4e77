//! Pre-declarations (提前申报): what central told the lane to expect.
//!
//! The lane looks a vehicle up by plate or container once recognition has read
//! them. Where declarations come from (signed commands from central, a file, the
//! simulated lane) is behind [`Declarations`]. The declaration itself is part of
//! the contract (central sends it in a `declare` command).

mod store;

use chrono::Utc;
pub use contract::declaration::Declaration;

pub use store::{DeclarationStore, StoreError};

pub trait Declarations: Send + Sync {
    fn lookup(&self, plate: Option<&str>, containers: &[String]) -> Option<Declaration>;
}

/// No declarations at all: every vehicle is undeclared.
pub struct NoDeclarations;

impl Declarations for NoDeclarations {
    fn lookup(&self, _: Option<&str>, _: &[String]) -> Option<Declaration> {
        None
    }
}

/// On the simulated lane, each simulated vehicle's own truth is its declaration.
pub struct SimDeclarations(pub drivers::sim::SimLane);

impl Declarations for SimDeclarations {
    fn lookup(&self, plate: Option<&str>, _: &[String]) -> Option<Declaration> {
        let v = self.0.recent_vehicle(plate?)?;
        v.declared.then(|| Declaration {
            plate: v.plate.clone(),
            containers: v.containers.clone(),
            seals: v.seals.iter().map(|s| s.id.clone()).collect(),
            declared_empty: v.empty.is_some(),
            targeted: v.targeted,
            valid_from: None,
            valid_until: None,
        })
    }
}

/// Stored declarations first, then the simulated lane's (when there is one).
pub struct Layered {
    pub store: std::sync::Arc<DeclarationStore>,
    pub sim: Option<SimDeclarations>,
}

impl Declarations for Layered {
    fn lookup(&self, plate: Option<&str>, containers: &[String]) -> Option<Declaration> {
        self.store
            .lookup(plate, containers, Utc::now())
            .or_else(|| self.sim.as_ref().and_then(|s| s.lookup(plate, containers)))
    }
}

/// `edge-agent declare`: a file of declarations into the store, or the list.
pub fn cli(config: &std::path::Path, file: Option<&std::path::Path>, list: bool) -> Result<(), String> {
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
