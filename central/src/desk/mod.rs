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
pub mod ids;
pub mod item;
pub mod pages;
pub mod queue;
pub mod search;
pub mod story;
pub mod svg;
pub mod wall;

use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;

use crate::commands::CommandSender;
use crate::config::{CentralConfig, DeskConfig};
use crate::db::sql::{self, PgPool};
use crate::http::AppState;
use crate::mqtt::Publisher;

/// What the desk's handlers share (in [`AppState`]).
pub struct Desk {
    pub cfg: DeskConfig,
    /// The sites central receives, in configuration order.
    pub sites: Vec<String>,
    pub audit: audit::AuditLog,
    /// `None` without a `[commands]` key: the desk then shows but cannot decide.
    pub sender: Option<CommandSender>,
    pub hub: events::Hub,
}

impl Desk {
    /// The desk of `cfg`, signing with central's command key when there is one.
    pub fn new(
        cfg: &CentralConfig,
        publisher: Option<Publisher>,
    ) -> Result<Self, crate::commands::KeyFileError> {
        let (audit, sender) = match &cfg.commands {
            Some(c) => {
                let key = crate::commands::load_key(&c.key)?;
                let sender = publisher.map(|p| {
                    CommandSender::new(
                        c.key_id.clone(),
                        key.clone(),
                        c.validity,
                        cfg.mqtt.topic_prefix.clone(),
                        p,
                    )
                });
                (audit::AuditLog::new(c.key_id.clone(), Some(key)), sender)
            }
            None => (audit::AuditLog::new(String::new(), None), None),
        };
        Ok(Desk {
            cfg: cfg.desk.clone(),
            sites: cfg.sites.clone(),
            audit,
            sender,
            hub: events::Hub::default(),
        })
    }

    /// Asks the database whether every configured time zone exists.
    pub async fn check_zones(&self, pool: &PgPool) -> Result<(), String> {
        let zones = self.cfg.timezones.values().chain(std::iter::once(&self.cfg.default_timezone));
        for zone in zones {
            let known: bool =
                sql::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
                    .bind(zone)
                    .fetch_one(pool)
                    .await
                    .map_err(|e| e.to_string())?;
            if !known {
                return Err(format!(
                    "[desk] time zone {zone:?} is unknown; use an IANA name such as \"Asia/Shanghai\""
                ));
            }
        }
        Ok(())
    }
}

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
