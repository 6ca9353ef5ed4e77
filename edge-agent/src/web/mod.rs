//! The technician page on the lane PC, its JSON API and `/metrics` (axum).
//!
//! Loopback by default; anywhere else only with a password (checked when the
//! configuration is validated). Served by its own accept loop (`serve`) with a
//! connection limit and header and idle timeouts: the page must never take the
//! descriptors the lane needs. Everything it shows comes from places that
//! never make the lane wait: the lane's published [`LaneView`], the outbox's
//! own connection, the passage archive and image store on disk. Actions go to
//! the lane loop as requests, which the loop may refuse.
//!
//! [`LaneView`]: crate::lane::LaneView

mod api;
pub(crate) mod auth;
mod serve;

pub use serve::{Refusals, HEADER_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;

use crate::lane::Technician;
use crate::metrics::Metrics;
use crate::outbox::OutboxHandle;

/// What the page reads from.
#[derive(Clone)]
pub struct Sources {
    pub site: String,
    pub lane: String,
    pub technician: Technician,
    pub outbox: OutboxHandle,
    pub uplink_connected: watch::Receiver<bool>,
    pub metrics: Arc<Metrics>,
    /// `<data_dir>`: `records/` and `images/` are read from it.
    pub data_dir: PathBuf,
    /// How long an action may take before the page gives up waiting.
    pub action_limit: Duration,
    /// Local operators who may release held vehicles while the uplink is down.
    pub operators: Arc<crate::operator::Operators>,
    /// The page's language from the lane file; `None`: the browser's.
    pub language: Option<crate::words::Lang>,
    /// The uplink's and the outbox's own counters, and the data disk's guard, for `/metrics`.
    pub link: Option<Arc<crate::mqtt::LinkCounters>>,
    pub outbox_counters: Option<Arc<crate::outbox::Counters>>,
    pub storage: Option<crate::storage::DiskGuard>,
}

pub struct WebServer {
    pub addr: SocketAddr,
    pub refusals: Arc<Refusals>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl WebServer {
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}

pub fn router(sources: Sources, password: Option<String>, loopback: bool) -> Router {
    let guard = auth::Guard { password: password.map(Arc::from), loopback };
    Router::new()
        .route("/", get(api::page))
        .route("/metrics", get(api::metrics))
        .route("/api/status", get(api::status))
        .route("/api/words", get(api::words))
        .route("/api/passages", get(api::passages))
        .route("/images/{file}", get(api::image))
        .route("/api/barrier/cycle", post(api::cycle_barrier))
        .route("/api/snapshot", post(api::snapshot))
        .route("/api/seals", post(api::read_seals))
        .route("/api/release", post(api::local_release))
        .route("/api/log-filter", get(api::log_filter).post(api::set_log_filter))
        .with_state(sources)
        .layer(axum::middleware::from_fn_with_state(guard, auth::check))
}

/// Binds and serves until [`WebServer::stop`].
pub async fn start(
    listen: SocketAddr,
    password: Option<String>,
    sources: Sources,
) -> std::io::Result<WebServer> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = router(sources, password, addr.ip().is_loopback());
    let (stop, stopped) = watch::channel(false);
    let refusals = Arc::new(Refusals::default());
    let task = tokio::spawn(serve::serve(listener, app, stopped, refusals.clone()));
    tracing::info!(%addr, "technician page listening");
    Ok(WebServer { addr, refusals, stop, task })
}

/// Everything the page needs from the agent but the lane's [`Technician`],
/// which exists only once the lane is built.
pub struct Setup {
    cfg: crate::config::WebConfig,
    site: String,
    lane: String,
    outbox: OutboxHandle,
    uplink_connected: watch::Receiver<bool>,
    link: Arc<crate::mqtt::LinkCounters>,
    storage: crate::storage::DiskGuard,
    data_dir: PathBuf,
    action_limit: Duration,
    operators: Arc<crate::operator::Operators>,
}

impl Setup {
    pub fn new(
        cfg: &crate::config::LaneConfig,
        uplink: &crate::mqtt::UplinkHandle,
        storage: crate::storage::DiskGuard,
    ) -> Self {
        let slowest_device = cfg.devices.iter().map(|d| d.timeout).max().unwrap_or_default();
        Setup {
            cfg: cfg.web.clone(),
            site: cfg.site.clone(),
            lane: cfg.lane.clone(),
            outbox: uplink.outbox().clone(),
            uplink_connected: uplink.connected(),
            link: uplink.counters.clone(),
            storage,
            data_dir: cfg.data_dir.clone(),
            // A barrier cycle is two moves; give the lane's own timeouts room to fire first.
            action_limit: (cfg.timeouts.barrier * 2).max(slowest_device) + Duration::from_secs(5),
            operators: Arc::new(crate::operator::Operators::new(&cfg.operators)),
        }
    }

    /// Starts the page unless it is switched off. A port already taken is
    /// logged, not fatal: the lane matters more than its page.
    pub async fn start(self, technician: Technician, metrics: Arc<Metrics>) -> Option<WebServer> {
        let listen = self.cfg.listen?;
        let sources = Sources {
            outbox_counters: Some(self.outbox.counters.clone()),
            link: Some(self.link),
            storage: Some(self.storage),
            site: self.site,
            lane: self.lane,
            technician,
            outbox: self.outbox,
            uplink_connected: self.uplink_connected,
            metrics,
            data_dir: self.data_dir,
            action_limit: self.action_limit,
            operators: self.operators,
            language: self.cfg.language,
        };
        match start(listen, self.cfg.password, sources).await {
            Ok(server) => Some(server),
            Err(e) => {
                tracing::error!(%listen, cause = %e, "cannot start the technician page; the lane runs without it");
                None
            }
        }
    }
}
