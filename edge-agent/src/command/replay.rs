//! Which command ids have been received. An id is recorded — durably — before
//! its command runs, so a command runs at most once even across a crash; it is
//! forgotten only after its expiry, when verification refuses it anyway.

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use contract::command::Rejection;

pub struct Replay {
    conn: Connection,
}

impl Replay {
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL)",
        )?;
        Ok(Replay { conn })
    }

    /// Records the id; refuses one seen before.
    pub fn first_time(
        &mut self,
        id: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), Rejection> {
        let _ =
            self.conn.execute("DELETE FROM seen WHERE expires_ms < ?1", [now.timestamp_millis() - 60_000]);
        match self.conn.execute(
            "INSERT INTO seen (id, expires_ms) VALUES (?1, ?2)",
            params![id, expires_at.timestamp_millis()],
        ) {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(Rejection::Replayed(id.into()))
            }
            Err(e) => Err(Rejection::Malformed(format!("cannot record the command: {e}"))),
        }
    }
}
