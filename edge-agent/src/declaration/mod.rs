//! Pre-declarations (提前申报): what central told the lane to expect.
//!
//! The lane looks a vehicle up by plate or container once recognition has read
//! them. Where declarations come from (signed commands from central, a file, the
//! simulated lane) is behind [`Declarations`].

mod store;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use store::{DeclarationStore, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Declaration {
    pub plate: String,
    #[serde(default)]
    pub containers: Vec<String>,
    #[serde(default)]
    pub seals: Vec<String>,
    #[serde(default)]
    pub declared_empty: bool,
    /// Targeted for inspection (布控): never released by the machine.
    #[serde(default)]
    pub targeted: bool,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
}

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

impl Declaration {
    /// Whether `now` lies inside its validity window.
    pub fn valid_at(&self, now: DateTime<Utc>) -> bool {
        self.valid_from.is_none_or(|t| t <= now) && self.valid_until.is_none_or(|t| now < t)
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
