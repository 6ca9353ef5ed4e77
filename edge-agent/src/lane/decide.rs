//! The decision as the lane takes it: the pure policy ([`crate::policy`]) fed
//! with the passage so far, the vehicle's pre-declaration, the devices'
//! health and whether the data disk can keep evidence. Computed on the spot when the machine asks; the declaration is also
//! what tells whether a vehicle declared empty needs the empty-box detector.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use contract::decision::DecisionRecord;
use contract::passage::PassageRecord;
use drivers::sim::SimLane;

use super::health::HealthBook;
use crate::config::LaneConfig;
use crate::declaration::{DeclarationStore, Declarations, Layered, SimDeclarations};
use crate::flow::EmptyCheckNeed;
use crate::policy::{Policy, PolicyInput};
use crate::storage::DiskGuard;

pub(super) struct Decider {
    policy: Policy,
    declarations: Box<dyn Declarations>,
    /// Below its floor the lane cannot keep a release's evidence: every vehicle is held.
    storage: DiskGuard,
}

impl Decider {
    /// Stored declarations first, then (on a simulated lane) each simulated
    /// vehicle's own truth.
    pub(super) fn new(
        cfg: &LaneConfig,
        store: Arc<DeclarationStore>,
        sim: Option<&SimLane>,
        storage: DiskGuard,
    ) -> Self {
        let declarations = Box::new(Layered { store, sim: sim.map(|l| SimDeclarations(l.clone())) });
        Decider {
            policy: Policy::new(cfg.decision, &cfg.recognition).with_vision(cfg.vision.policy),
            declarations,
            storage,
        }
    }

    /// The data disk's guard, whose floor the decision heeds.
    pub(super) fn storage(&self) -> &DiskGuard {
        &self.storage
    }

    pub(super) fn decide(
        &self,
        record: &PassageRecord,
        health: &HealthBook,
        now: DateTime<Utc>,
    ) -> DecisionRecord {
        let declaration = self.declarations.lookup(record.plate(), &record.container_codes());
        let health = health.for_policy();
        let input = PolicyInput {
            record,
            declaration: declaration.as_ref(),
            health: &health,
            storage_full: self.storage.is_full(),
            now,
        };
        self.policy.decide(&input)
    }

    /// A vehicle declared empty goes past the empty-box detector.
    pub(super) fn empty_check_need(&self, result: &Result<models::Reads, String>) -> EmptyCheckNeed {
        let Ok(reads) = result else { return EmptyCheckNeed::No };
        let plate = reads.plates.first().map(|p| p.text.as_str());
        let containers: Vec<String> = reads.containers.iter().map(|c| c.code.clone()).collect();
        match self.declarations.lookup(plate, &containers) {
            Some(d) if d.declared_empty => EmptyCheckNeed::Yes {
                container: containers.first().cloned().or(d.containers.first().cloned()),
            },
            _ => EmptyCheckNeed::No,
        }
    }
}
