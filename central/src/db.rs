//! The PostgreSQL pool and the embedded migrations (`central/migrations/`,
//! numbered; central's own are 0001-0099, the reviewers' desk's 0100 on).
//! Every instance runs the migrations at start; the migrator's advisory lock
//! makes concurrent starts of several instances safe.
//!
//! [`sql`] gathers what the rest of the crate uses from sqlx 0.8 (its core
//! and PostgreSQL crates; see the workspace Cargo.toml for why not the facade).

use std::borrow::Cow;
use std::time::Duration;

use sqlx_core::connection::{ConnectOptions, Connection};
use sqlx_core::migrate::{Migration, MigrationType, Migrator};

use crate::config::DatabaseConfig;
use sql::{PgConnectOptions, PgPool, PgPoolOptions};

pub mod sql {
    pub use sqlx_core::error::Error;
    pub use sqlx_core::executor::Executor;
    pub use sqlx_core::from_row::FromRow;
    pub use sqlx_core::query::query;
    pub use sqlx_core::query_as::query_as;
    pub use sqlx_core::query_scalar::query_scalar;
    pub use sqlx_core::row::Row;
    pub use sqlx_postgres::{PgConnectOptions, PgExecutor, PgPool, PgPoolOptions, PgRow, Postgres};
    pub type Transaction<'c> = sqlx_core::transaction::Transaction<'c, Postgres>;
}

/// (version, description, SQL) of every file in `migrations/`, in order.
const MIGRATIONS: &[(i64, &str, &str)] = include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

pub fn migrator() -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                Cow::Borrowed(*sql),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator { migrations: Cow::Owned(migrations), ..Migrator::DEFAULT }
}

/// Connects (retrying for `patience`: the database may come up after us) and
/// brings the schema up to date.
pub async fn connect(cfg: &DatabaseConfig, patience: Duration) -> Result<PgPool, sql::Error> {
    let options: PgConnectOptions = cfg.url.parse()?;
    let options = options.application_name("lane-central");
    let deadline = tokio::time::Instant::now() + patience;
    let mut last_cause = String::new();
    let pool = loop {
        // One plain connection first: it fails at once with the real cause
        // (connection refused, no such user), where the pool would wait out
        // its acquire timeout and say only that it timed out.
        let attempt = match options.connect().await {
            Ok(probe) => {
                let _ = probe.close().await;
                PgPoolOptions::new()
                    .max_connections(cfg.max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options.clone())
                    .await
            }
            Err(e) => Err(e),
        };
        match attempt {
            Ok(pool) => break pool,
            Err(e) if tokio::time::Instant::now() < deadline => {
                // Once per cause, not every second.
                let cause = e.to_string();
                if cause != last_cause {
                    tracing::warn!(%cause, "database not reachable yet; retrying");
                    last_cause = cause;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    };
    migrator().run(&pool).await.map_err(|e| sql::Error::Migrate(Box::new(e)))?;
    Ok(pool)
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_embedded_in_order_with_room_for_the_desk() {
        let versions: Vec<i64> = super::MIGRATIONS.iter().map(|m| m.0).collect();
        assert!(versions.len() >= 5);
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "strictly increasing: {versions:?}");
        assert!(versions.iter().filter(|v| **v < 100).all(|v| *v >= 1), "central's are 0001-0099");
    }
}
