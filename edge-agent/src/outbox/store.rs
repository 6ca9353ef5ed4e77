//! The durable outbox: every message the lane publishes is written here first,
//! and removed only when the broker's PUBACK for it has arrived.
//!
//! SQLite in WAL mode with `synchronous = FULL`: a row that `push` returned for
//! survives kill -9 and power loss. Order is by class (results before images
//! before telemetry), then by insertion, so live results never queue behind a
//! backlog of images. See docs/design/outbox.md for why SQLite.

use std::collections::HashSet;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

/// Delivery class; lower goes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Passage records, decisions, alarms, command acks: evidence.
    Result = 0,
    /// Image manifests and chunks: evidence too, but bulky.
    Image = 1,
    /// Status, health, statistics: the first to go when the disk is full.
    Telemetry = 2,
}

impl Class {
    fn from_i64(v: i64) -> Class {
        match v {
            0 => Class::Result,
            1 => Class::Image,
            _ => Class::Telemetry,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub id: i64,
    pub class: Class,
    pub topic: String,
    pub payload: Vec<u8>,
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

pub struct Outbox {
    conn: Connection,
    quota: u64,
}

impl Outbox {
    pub fn open(path: &Path, quota: u64) -> Result<Self, OutboxError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
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
            CREATE INDEX IF NOT EXISTS outbox_order ON outbox (class, id);",
        )?;
        Ok(Outbox { conn, quota })
    }

    /// Stores a message durably and returns its id. Telemetry is dropped (oldest
    /// first) to make room; evidence never is.
    pub fn push(
        &mut self,
        class: Class,
        topic: &str,
        payload: &[u8],
        retain: bool,
        now_ms: i64,
    ) -> Result<i64, OutboxError> {
        let depth = self.depth()?;
        let needed = depth.bytes + payload.len() as u64;
        if needed > self.quota {
            self.drop_telemetry(needed - self.quota)?;
            let bytes = self.depth()?.bytes + payload.len() as u64;
            if bytes > self.quota {
                if class == Class::Telemetry {
                    return Ok(0); // telemetry that does not fit is not worth an alarm
                }
                return Err(OutboxError::Full { bytes, quota: self.quota });
            }
        }
        self.conn.execute(
            "INSERT INTO outbox (class, topic, payload, retain, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![class as i64, topic, payload, retain as i64, now_ms],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Stores a message whose payload is `len` bytes of `file` from `offset`,
    /// read when it is sent.
    pub fn push_file(
        &mut self,
        class: Class,
        topic: &str,
        file: &Path,
        offset: u64,
        len: u64,
        now_ms: i64,
    ) -> Result<i64, OutboxError> {
        self.conn.execute(
            "INSERT INTO outbox (class, topic, payload, retain, created_ms, file, file_offset, file_len) VALUES (?1, ?2, x'', 0, ?3, ?4, ?5, ?6)",
            params![class as i64, topic, now_ms, file.to_string_lossy(), offset as i64, len as i64],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn drop_telemetry(&mut self, mut bytes: u64) -> Result<(), OutboxError> {
        let mut stmt =
            self.conn.prepare("SELECT id, length(payload) FROM outbox WHERE class = 2 ORDER BY id")?;
        let rows: Vec<(i64, i64)> =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        drop(stmt);
        for (id, len) in rows {
            if bytes == 0 {
                break;
            }
            self.conn.execute("DELETE FROM outbox WHERE id = ?1", [id])?;
            bytes = bytes.saturating_sub(len as u64);
        }
        Ok(())
    }

    /// Up to `limit` messages to send next, skipping those already in flight.
    pub fn next(&mut self, in_flight: &HashSet<i64>, limit: usize) -> Result<Vec<Stored>, OutboxError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, class, topic, payload, retain, file, file_offset, file_len FROM outbox ORDER BY class, id LIMIT ?1",
        )?;
        let take = (limit + in_flight.len()) as i64;
        let rows = stmt.query_map([take], |r| {
            let stored = Stored {
                id: r.get(0)?,
                class: Class::from_i64(r.get(1)?),
                topic: r.get(2)?,
                payload: r.get(3)?,
                retain: r.get::<_, i64>(4)? != 0,
            };
            let file: Option<(String, i64, i64)> = match r.get::<_, Option<String>>(5)? {
                Some(f) => Some((f, r.get(6)?, r.get(7)?)),
                None => None,
            };
            Ok((stored, file))
        })?;
        let mut out = Vec::new();
        let mut missing = Vec::new();
        for row in rows {
            let (mut row, file) = row?;
            if in_flight.contains(&row.id) {
                continue;
            }
            if let Some((path, offset, len)) = file {
                match read_part(Path::new(&path), offset as u64, len as u64) {
                    Ok(bytes) => row.payload = bytes,
                    Err(e) => {
                        tracing::error!(cause = %e, path, "image chunk unreadable; dropped");
                        missing.push(row.id);
                        continue;
                    }
                }
            }
            out.push(row);
            if out.len() == limit {
                break;
            }
        }
        drop(stmt);
        for id in missing {
            self.conn.execute("DELETE FROM outbox WHERE id = ?1", [id])?;
        }
        Ok(out)
    }

    /// The broker has the message: forget it.
    pub fn ack(&mut self, id: i64) -> Result<(), OutboxError> {
        self.conn.execute("DELETE FROM outbox WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Many acks in one transaction: one fsync instead of one per message.
    pub fn ack_all(&mut self, ids: &[i64]) -> Result<(), OutboxError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")?;
            for id in ids {
                stmt.execute([id])?;
            }
        }
        tx.commit()?;
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

fn read_part(path: &Path, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0; len as usize];
    f.read_exact(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(quota: u64) -> (tempfile::TempDir, Outbox) {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&dir.path().join("outbox.db"), quota).unwrap();
        (dir, outbox)
    }

    #[test]
    fn results_go_before_images_before_telemetry() {
        let (_d, mut o) = open(1 << 20);
        let t = o.push(Class::Telemetry, "t", b"1", false, 1).unwrap();
        let i = o.push(Class::Image, "i", b"2", false, 2).unwrap();
        let r = o.push(Class::Result, "r", b"3", false, 3).unwrap();
        let ids: Vec<i64> = o.next(&HashSet::new(), 10).unwrap().iter().map(|s| s.id).collect();
        assert_eq!(ids, [r, i, t]);
        let ids: Vec<i64> = o.next(&HashSet::from([r]), 1).unwrap().iter().map(|s| s.id).collect();
        assert_eq!(ids, [i], "in-flight messages are skipped");
    }

    #[test]
    fn only_an_ack_removes_and_everything_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.db");
        let mut o = Outbox::open(&path, 1 << 20).unwrap();
        let a = o.push(Class::Result, "a", b"x", false, 1).unwrap();
        let b = o.push(Class::Result, "b", b"y", true, 2).unwrap();
        o.ack(a).unwrap();
        drop(o);
        let mut o = Outbox::open(&path, 1 << 20).unwrap();
        let left = o.next(&HashSet::new(), 10).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!((left[0].id, left[0].retain, left[0].payload.as_slice()), (b, true, &b"y"[..]));
    }

    #[test]
    fn file_rows_are_read_when_sent_and_missing_files_are_dropped() {
        let (dir, mut o) = open(1 << 20);
        let file = dir.path().join("img.jpg");
        std::fs::write(&file, b"0123456789").unwrap();
        let a = o.push_file(Class::Image, "c/0", &file, 0, 4, 1).unwrap();
        let b = o.push_file(Class::Image, "c/1", &file, 4, 6, 1).unwrap();
        let gone = o.push_file(Class::Image, "c/x", &dir.path().join("nope"), 0, 1, 1).unwrap();
        let rows = o.next(&HashSet::new(), 10).unwrap();
        let got: Vec<(i64, &[u8])> = rows.iter().map(|r| (r.id, r.payload.as_slice())).collect();
        assert_eq!(got, [(a, &b"0123"[..]), (b, &b"456789"[..])]);
        assert!(!o.contains(gone).unwrap());
    }

    #[test]
    fn full_disk_drops_telemetry_never_evidence() {
        let (_d, mut o) = open(100);
        o.push(Class::Telemetry, "t", &[0; 40], false, 1).unwrap();
        o.push(Class::Result, "r", &[0; 40], false, 2).unwrap();
        o.push(Class::Image, "i", &[0; 40], false, 3).unwrap();
        let d = o.depth().unwrap();
        assert_eq!((d.telemetry, d.results, d.images), (0, 1, 1), "telemetry made room");
        let err = o.push(Class::Result, "r2", &[0; 40], false, 4).unwrap_err();
        assert!(matches!(err, OutboxError::Full { .. }), "{err}");
        assert_eq!(o.depth().unwrap().messages, 2, "nothing was deleted for it");
        assert_eq!(o.push(Class::Telemetry, "t2", &[0; 40], false, 5).unwrap(), 0);
    }
}
