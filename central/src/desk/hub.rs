//! The fan-out of the desk's live updates: one PostgreSQL listener per instance
//! feeding a broadcast channel that every browser stream subscribes to. A leaf
//! of its own (no handler, no `AppState`) so the shared state can hold it
//! without importing the SSE handler in `events.rs`, which needs that state.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx_postgres::PgListener;
use tokio::sync::{broadcast, watch};

use crate::db::sql::{self, PgPool};

pub const CHANNEL: &str = "lanectl_desk";

/// One change, as the trigger described it.
#[derive(Debug, Clone)]
pub struct Change {
    pub site: Option<String>,
    pub json: String,
}

#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<Change>>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub { tx: broadcast::channel(1024).0 }
    }
}

impl Hub {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.tx.subscribe()
    }

    fn publish(&self, payload: &str) {
        let site = serde_json::from_str::<Value>(payload)
            .ok()
            .and_then(|v| v.get("site").and_then(|s| s.as_str()).map(str::to_string));
        let _ = self.tx.send(Arc::new(Change { site, json: payload.to_string() }));
    }

    /// Listens until `stop`; reconnects with a pause when the database goes away.
    pub async fn run(self, pool: PgPool, mut stop: watch::Receiver<bool>) {
        loop {
            let listener = async {
                let mut l = PgListener::connect_with(&pool).await?;
                l.listen(CHANNEL).await?;
                Ok::<_, sql::Error>(l)
            };
            let mut listener = tokio::select! {
                l = listener => l,
                _ = stop.wait_for(|s| *s) => return,
            };
            match &mut listener {
                Ok(l) => {
                    // Whatever happened while not listening is fetched again.
                    self.publish(r#"{"type":"resync"}"#);
                    loop {
                        let next = tokio::select! {
                            n = l.try_recv() => n,
                            _ = stop.wait_for(|s| *s) => return,
                        };
                        match next {
                            Ok(Some(n)) => self.publish(n.payload()),
                            Ok(None) => {
                                tracing::warn!("desk notifications: connection lost; listening again");
                                self.publish(r#"{"type":"resync"}"#);
                            }
                            Err(e) => {
                                tracing::warn!(cause = %e, "desk notifications failed; listening again");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(cause = %e, "cannot listen for desk notifications; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}
