//! What the desk's handlers share, held in the service's `AppState`. Apart from
//! `desk/mod.rs` (which routes to the handlers, which take `AppState`) so the
//! state can be built from leaves only and no handler file sits in a circle
//! with `http`.

use super::audit;
use super::hub::Hub;
use crate::commands::CommandSender;
use crate::config::{CentralConfig, DeskConfig};
use crate::db::sql::{self, PgPool};
use crate::mqtt::Publisher;

/// What the desk's handlers share (in [`crate::state::AppState`]).
pub struct Desk {
    pub cfg: DeskConfig,
    /// The sites central receives, in configuration order.
    pub sites: Vec<String>,
    pub audit: audit::AuditLog,
    /// `None` without a `[commands]` key: the desk then shows but cannot decide.
    pub sender: Option<CommandSender>,
    pub hub: Hub,
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
        Ok(Desk { cfg: cfg.desk.clone(), sites: cfg.sites.clone(), audit, sender, hub: Hub::default() })
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
