//! The reviewers' desk: one web page for every held vehicle of the port,
//! served by `lane-central` beside its JSON API.
//!
//! Laid out by resource like the API (`queue`, `claims`, `item`, `decide`,
//! `wall`, `search`, `charts`, `declarations`, `export`), over what every
//! instance shares — PostgreSQL for users, sessions, claims, the queue and the
//! audit log; MQTT for the signed commands — so several instances serve one
//! desk and a reviewer may land on any of them. The page is plain HTML, CSS
//! and JavaScript embedded in the binary (`assets/`): it works on a closed
//! network, with nothing fetched from elsewhere. Live updates come from
//! database notifications as server-sent events (`events`).
//!
//! Everything passes one gate (`auth::gate`) that requires a login; roles and
//! sites are checked again in each handler against the [`auth::Caller`].

pub mod audit;
pub mod auth;
pub mod charts;
pub mod claims;
pub mod cli;
pub mod decide;
pub mod declarations;
pub mod events;
pub mod export;
pub mod hub;
pub mod ids;
pub mod item;
pub mod pages;
pub mod queue;
pub mod search;
pub mod state;
pub mod story;
pub mod svg;
pub mod wall;

use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;

use crate::config::CentralConfig;
use crate::state::AppState;

pub use state::Desk;

/// The desk's long-running parts: notifications to browsers, housekeeping.
pub fn spawn(
    state: &AppState,
    cfg: &CentralConfig,
    stop: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(state.desk.hub.clone().run(state.pool.clone(), stop.clone())),
        tokio::spawn(queue::housekeeping(state.pool.clone(), cfg.clone(), stop)),
    ]
}

/// The desk's pages and API, merged into [`crate::http::router`].
pub fn router() -> Router<AppState> {
    const ITEM: &str = "/api/desk/items/{site}/{lane}/{passage}";
    let pages = [
        "/",
        "/queue",
        "/passage/{site}/{lane}/{passage}",
        "/wall",
        "/search",
        "/stats",
        "/declarations",
        "/export",
    ];
    let mut r = Router::new();
    for p in pages {
        r = r.route(p, get(pages::index));
    }
    r.route("/login", get(pages::login))
        .route("/assets/{file}", get(pages::asset))
        .route("/api/desk/session", post(auth::login::login).delete(auth::login::logout))
        .route("/api/desk/me", get(auth::login::me).put(auth::login::set_preferences))
        .route("/api/desk/events", get(events::stream))
        .route("/api/desk/queue", get(queue::list))
        .route(ITEM, get(item::show))
        .route(&format!("{ITEM}/claim"), post(claims::claim).delete(claims::unclaim))
        .route(&format!("{ITEM}/decide"), post(decide::decide))
        .route(&format!("{ITEM}/corrections"), post(decide::correct))
        .route("/api/desk/images/{sha256}", get(item::image))
        .route("/api/desk/wall", get(wall::list))
        .route("/api/desk/alarms/{id}/ack", post(wall::ack))
        .route("/api/desk/search", get(search::search))
        .route("/api/desk/stats", get(charts::summary))
        .route("/api/desk/charts/{chart}", get(charts::svg))
        .route("/api/desk/declarations", get(declarations::list).post(declarations::upload))
        .route("/api/desk/export", get(export::download))
}
