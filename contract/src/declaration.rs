//! Pre-declarations (提前申报) as central sends them in a `declare` command:
//! what a vehicle on its way carries and whether it is targeted (布控).
//!
//! Only the wire form and its validity rule live here; where the lane keeps
//! them and how it looks them up is the lane's business.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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

impl Declaration {
    /// Whether `now` lies inside its validity window.
    pub fn valid_at(&self, now: DateTime<Utc>) -> bool {
        self.valid_from.is_none_or(|t| t <= now) && self.valid_until.is_none_or(|t| now < t)
    }
}
