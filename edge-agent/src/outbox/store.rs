//! The durable outbox: every message the lane publishes is written here first,
//! and removed only when the broker's PUBACK for it has arrived.
//!
//! SQLite in WAL mode with `synchronous = FULL`: a row whose transaction committed
//! survives kill -9 and power loss. Order is by class (results before images
//! before telemetry), then by insertion, so live results never queue behind a
//! backlog of images. See docs/design/outbox.md for why SQLite.
//!
//! This file is the table and nothing else: no threads, no retries, no policy
//! about full disks. Transactions are the caller's ([`Outbox::begin`] /
//! [`Outbox::commit`]), so the outbox thread can commit many inserts and deletes
//! with one fsync (group commit).

use std::collections::HashSet;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::message::{Body, Class, FilePart, Message};

/// A message as stored, its body not yet read (image chunks point into the image store).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub id: i64,
    pub class: Class,
    pub topic: String,
    pub body: Body,
    pub retain: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Depth {
    pub messages: u64,
    pub bytes: u64,
    pub results: u64,
    pub images: u64,
    pub telemetry: u64,
    /// Image-chunk bytes still to be read from the image store and sent (not in the database,
    /// so not in `bytes` nor in the quota).
    pub file_bytes: u64,
    /// Insertion time (unix ms) of the oldest message waiting.
    pub oldest_ms: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Undelivered evidence is never dropped; the lane raises an alarm instead.
    #[error("outbox is full ({bytes} bytes of undelivered evidence, quota {quota})")]
    Full { bytes: u64, quota: u64 },
}

impl OutboxError {
    /// The disk (not the quota) has no room: worth retrying once space is freed.
    pub fn is_no_space(&self) -> bool {
        matches!(self, OutboxError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::DiskFull)
    }
}

/// What deleting an acknowledged row removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Removed {
    pub class: Class,
    pub file: Option<String>,
}

pub struct Outbox {
    conn: Connection,
    quota: u64,
    /// Payload bytes in the table, kept in step with every insert and delete so the quota check
    /// does not scan the table for each message.
    bytes: u64,
    /// `synchronous = FULL` (else NORMAL), see [`Outbox::set_durable`].
    durable: bool,
}

impl Outbox {
    pub fn open(path: &Path, quota: u64) -> Result<Self, OutboxError> {
        let conn = Connection::open(path)?;
        // Only takes effect for a new database: lets a disk under pressure get freed pages back.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // After a checkpoint the WAL is cut back to this, not left at its largest.
        conn.pragma_update(None, "journal_size_limit", 4 * 1024 * 1024)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                class INTEGER NOT NULL,
                topic TEXT NOT NULL,
                payload BLOB NOT NULL,
                retain INTEGER NOT NULL,
                created_ms INTEGER NOT NULL,
                -- Image chunks are not copied in: the row points into the image
                -- store, where each image is kept once under its hash.
                file TEXT,
                file_offset INTEGER,
                file_len INTEGER
            );
            CREATE INDEX IF NOT EXISTS outbox_order ON outbox (class, id);
            CREATE INDEX IF NOT EXISTS outbox_file ON outbox (file) WHERE file IS NOT NULL;",
        )?;
        let bytes: i64 =
            conn.query_row("SELECT coalesce(sum(length(payload)), 0) FROM outbox", [], |r| r.get(0))?;
        Ok(Outbox { conn, quota, bytes: bytes as u64, durable: true })
    }

    pub fn begin(&mut self) -> Result<(), OutboxError> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    /// Whether the next commits are fsynced. New messages must be (a stored result survives a
    /// power cut); a transaction that only deletes acknowledged messages need not be: lost on a
    /// power cut, it means those messages are sent once more, which at-least-once allows. The
    /// next fsynced commit makes the earlier ones durable too (the WAL is written in order).
    pub fn set_durable(&mut self, durable: bool) -> Result<(), OutboxError> {
        if self.durable != durable {
            self.conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
            self.durable = durable;
        }
        Ok(())
    }

    pub fn commit(&mut self) -> Result<(), OutboxError> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    /// Undoes an open transaction; the byte count is read again, as it counted the undone rows.
    pub fn rollback(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        if let Ok(bytes) =
            self.conn
                .query_row("SELECT coalesce(sum(length(payload)), 0) FROM outbox", [], |r| r.get::<_, i64>(0))
        {
            self.bytes = bytes as u64;
        }
    }

    /// Stores a message and returns its id; `None` for telemetry that does not fit. Telemetry is
    /// dropped (oldest first) to make room within the quota; evidence never is.
    pub fn push(&mut self, m: &Message, now_ms: i64) -> Result<Option<i64>, OutboxError> {
        let needed = self.bytes + m.stored_len();
        if needed > self.quota {
            self.drop_telemetry(needed - self.quota)?;
            let bytes = self.bytes + m.stored_len();
            if bytes > self.quota {
                if m.class == Class::Telemetry {
                    return Ok(None); // telemetry that does not fit is not worth an alarm
                }
                return Err(OutboxError::Full { bytes, quota: self.quota });
            }
        }
        self.insert(m, now_ms).map(Some)
    }

    fn insert(&mut self, m: &Message, now_ms: i64) -> Result<i64, OutboxError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO outbox (class, topic, payload, retain, created_ms, file, file_offset, file_len)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let empty: &[u8] = &[];
        match &m.body {
            Body::Bytes(b) => {
                stmt.execute(params![
                    m.class as i64,
                    m.topic,
                    b,
                    m.retain as i64,
                    now_ms,
                    None::<String>,
                    None::<i64>,
                    None::<i64>
                ])?;
            }
            Body::File(p) => {
                let file = p.path.to_string_lossy();
                stmt.execute(params![
                    m.class as i64,
                    m.topic,
                    empty,
                    m.retain as i64,
                    now_ms,
                    file,
                    p.offset as i64,
                    p.len as i64
                ])?;
            }
        }
        self.bytes += m.stored_len();
        Ok(self.conn.last_insert_rowid())
    }

    /// Drops telemetry, oldest first, until `bytes` are freed (all of it for `u64::MAX`).
    /// Returns how many messages went.
    pub fn drop_telemetry(&mut self, mut bytes: u64) -> Result<u64, OutboxError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, length(payload) FROM outbox WHERE class = ?1 ORDER BY id")?;
        let rows: Vec<(i64, i64)> = stmt
            .query_map([Class::Telemetry as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        drop(stmt);
        let mut dropped = 0;
        for (id, len) in rows {
            if bytes == 0 {
                break;
            }
            if self.remove(id)?.is_some() {
                dropped += 1;
            }
            bytes = bytes.saturating_sub((len as u64).max(1));
        }
        Ok(dropped)
    }

    /// Up to `limit` messages to send next, in order, skipping those `skip` names.
    pub fn next(&mut self, skip: &HashSet<i64>, limit: usize) -> Result<Vec<Stored>, OutboxError> {
        // Ids first, from the index alone: the rows in flight are skipped without reading their
        // payloads (a record with previews is tens of KB).
        let ids: Vec<i64> = {
            let mut stmt = self.conn.prepare_cached("SELECT id FROM outbox ORDER BY class, id LIMIT ?1")?;
            let take = (limit + skip.len()) as i64;
            let rows = stmt.query_map([take], |r| r.get::<_, i64>(0))?;
            let mut ids = Vec::with_capacity(limit);
            for id in rows {
                let id = id?;
                if !skip.contains(&id) {
                    ids.push(id);
                    if ids.len() == limit {
                        break;
                    }
                }
            }
            ids
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, class, topic, payload, retain, file, file_offset, file_len FROM outbox WHERE id = ?1",
        )?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let row = stmt.query_row([id], |r| {
                let body = match r.get::<_, Option<String>>(5)? {
                    Some(f) => Body::File(FilePart {
                        path: f.into(),
                        offset: r.get::<_, i64>(6)? as u64,
                        len: r.get::<_, i64>(7)? as u64,
                    }),
                    None => Body::Bytes(r.get(3)?),
                };
                Ok(Stored {
                    id: r.get(0)?,
                    class: Class::from_i64(r.get(1)?),
                    topic: r.get(2)?,
                    body,
                    retain: r.get::<_, i64>(4)? != 0,
                })
            })?;
            out.push(row);
        }
        Ok(out)
    }

    /// The broker has the message: forget it. `None` if it was not there (acknowledged before).
    pub fn remove(&mut self, id: i64) -> Result<Option<Removed>, OutboxError> {
        let mut stmt = self
            .conn
            .prepare_cached("DELETE FROM outbox WHERE id = ?1 RETURNING class, length(payload), file")?;
        let removed = stmt
            .query_row([id], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, Option<String>>(2)?))
            })
            .optional()?;
        Ok(removed.map(|(class, len, file)| {
            self.bytes = self.bytes.saturating_sub(len as u64);
            Removed { class: Class::from_i64(class), file }
        }))
    }

    /// Many acknowledgements in one transaction: one fsync for all of them.
    pub fn ack_all(&mut self, ids: &[i64]) -> Result<(), OutboxError> {
        self.begin()?;
        for &id in ids {
            if let Err(e) = self.remove(id) {
                self.rollback();
                return Err(e);
            }
        }
        self.commit()
    }

    /// Whether any waiting row still reads from `file`.
    pub fn references(&self, file: &str) -> Result<bool, OutboxError> {
        let mut stmt = self.conn.prepare_cached("SELECT 1 FROM outbox WHERE file = ?1 LIMIT 1")?;
        Ok(stmt.query_row([file], |_| Ok(())).optional()?.is_some())
    }

    /// Gives freed pages and WAL space back to the filesystem (a disk under pressure).
    pub fn shrink(&mut self) -> Result<(), OutboxError> {
        self.conn.execute_batch("PRAGMA incremental_vacuum;")?;
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    pub fn depth(&self) -> Result<Depth, OutboxError> {
        let mut d = Depth::default();
        let mut stmt = self.conn.prepare_cached(
            "SELECT class, count(*), coalesce(sum(length(payload)), 0), min(created_ms), coalesce(sum(file_len), 0) FROM outbox GROUP BY class",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        for row in rows {
            let (class, count, bytes, oldest, file_bytes) = row?;
            d.messages += count as u64;
            d.bytes += bytes as u64;
            d.file_bytes += file_bytes as u64;
            match Class::from_i64(class) {
                Class::Result => d.results += count as u64,
                Class::Image => d.images += count as u64,
                Class::Telemetry => d.telemetry += count as u64,
            }
            d.oldest_ms = match (d.oldest_ms, oldest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(d)
    }

    /// Make every write fail, as a full or failing disk does (tests of the error paths).
    #[cfg(test)]
    pub(super) fn refuse_writes(&self, on: bool) {
        self.conn.pragma_update(None, "query_only", on).unwrap();
    }

    pub fn contains(&self, id: i64) -> Result<bool, OutboxError> {
        Ok(self.conn.query_row("SELECT 1 FROM outbox WHERE id = ?1", [id], |_| Ok(())).optional()?.is_some())
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
