//! What every handler, the API's and the desk's, may use. In its own module,
//! depending only on type-holding modules (pool, store, metrics, ingest, the
//! desk's `Desk`), so `http` and the desk handlers both import it and neither
//! imports the other for it: the routes in `http` merge the desk's router, and
//! the imports run one way.

use std::sync::Arc;

use crate::db::sql::PgPool;
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::store::Store;

/// What every handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub store: Store,
    pub instance: Arc<str>,
    pub metrics: Arc<Metrics>,
    /// For re-verifying quarantined records after a key approval.
    pub ingest: Ingest,
    /// The reviewers' desk (its pages, and the login every route needs).
    pub desk: Arc<crate::desk::state::Desk>,
}
