//! Live updates: PostgreSQL notifications to the browsers as server-sent events.
//!
//! The database triggers (migration 0101) notify `lanectl_desk` on every change
//! the desk shows, whichever instance made it; each instance listens once and
//! fans out to its browsers through a broadcast channel. A browser gets only
//! its user's sites. When the listener lost its connection, or a slow browser
//! fell behind, it is told to `resync` (fetch again) rather than silently miss
//! something. A stream ends when its session does.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use serde_json::Value;
use sqlx_postgres::PgListener;
use tokio::sync::{broadcast, watch};

use super::auth::Caller;
use crate::db::sql::{self, PgPool};
use crate::http::AppState;

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

/// `GET /api/desk/events`: the caller's share of the changes.
pub async fn stream(
    State(s): State<AppState>,
    caller: Caller,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = s.desk.hub.subscribe();
    let hello = serde_json::json!({"type": "hello", "now": chrono::Utc::now()}).to_string();
    let state = Feed {
        rx,
        caller,
        pool: s.pool.clone(),
        hello: Some(hello),
        check: tokio::time::interval(Duration::from_secs(30)),
    };
    let stream = futures::stream::unfold(state, |mut f| async move {
        let data = f.next().await?;
        Some((Ok(SseEvent::default().data(data)), f))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

struct Feed {
    rx: broadcast::Receiver<Arc<Change>>,
    caller: Caller,
    pool: PgPool,
    hello: Option<String>,
    check: tokio::time::Interval,
}

impl Feed {
    /// The next message for this browser; `None` ends the stream.
    async fn next(&mut self) -> Option<String> {
        if let Some(h) = self.hello.take() {
            self.check.tick().await;
            return Some(h);
        }
        loop {
            tokio::select! {
                m = self.rx.recv() => match m {
                    Ok(c) if c.site.as_deref().is_none_or(|site| self.caller.sees(site)) => return Some(c.json.clone()),
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => return Some(r#"{"type":"resync"}"#.into()),
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = self.check.tick() => {
                    if !self.alive().await {
                        return None;
                    }
                }
            }
        }
    }

    /// A stream of a session that ended (logout, expiry, disabled user) stops.
    async fn alive(&self) -> bool {
        let Some(session) = &self.caller.0.session else { return true };
        sql::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM desk_sessions s JOIN desk_users u ON u.name = s.user_name \
             WHERE s.token_sha256 = $1 AND s.expires_at > now() AND u.disabled_at IS NULL)",
        )
        .bind(session)
        .fetch_one(&self.pool)
        .await
        .unwrap_or(true)
    }
}
