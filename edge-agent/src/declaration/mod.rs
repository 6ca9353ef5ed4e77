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
