//! Declarations kept on the lane PC (SQLite), so a restart or an uplink outage
//! does not forget what central announced. One entry per plate: a newer
//! declaration for the same plate replaces the older one. Expired entries are
//! purged whenever declarations are added.

use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use super::Declaration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("declaration store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("declaration for {plate:?}: {why}")]
    Invalid { plate: String, why: String },
}

pub struct DeclarationStore {
    conn: Mutex<Connection>,
}

impl DeclarationStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS declarations (
                plate TEXT PRIMARY KEY,
                body TEXT NOT NULL,
                valid_until_ms INTEGER
            )",
        )?;
        Ok(DeclarationStore { conn: Mutex::new(conn) })
    }

    /// Adds or replaces declarations in one transaction; returns how many are
    /// stored now. Nothing is stored when any of them is unusable.
    pub fn put(&self, declarations: &[Declaration], now: DateTime<Utc>) -> Result<usize, StoreError> {
        for d in declarations {
            check(d)?;
        }
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM declarations WHERE valid_until_ms <= ?1", [now.timestamp_millis()])?;
        for d in declarations {
            let body = serde_json::to_string(d).expect("declarations serialise");
            tx.execute(
                "INSERT OR REPLACE INTO declarations (plate, body, valid_until_ms) VALUES (?1, ?2, ?3)",
                params![d.plate, body, d.valid_until.map(|t| t.timestamp_millis())],
            )?;
        }
        let count: i64 = tx.query_row("SELECT count(*) FROM declarations", [], |r| r.get(0))?;
        tx.commit()?;
        Ok(count as usize)
    }

    /// The declaration valid now for this plate, or else for one of these
    /// containers. A store that cannot be read answers "nothing declared",
    /// which holds the vehicle for review rather than releasing it.
    pub fn lookup(
        &self,
        plate: Option<&str>,
        containers: &[String],
        now: DateTime<Utc>,
    ) -> Option<Declaration> {
        let all = match self.valid(now) {
            Ok(all) => all,
            Err(e) => {
                tracing::warn!(cause = %e, "cannot read declarations");
                return None;
            }
        };
        let by_plate = plate.and_then(|p| all.iter().find(|d| d.plate == p));
        by_plate.or_else(|| all.iter().find(|d| d.containers.iter().any(|c| containers.contains(c)))).cloned()
    }

    pub fn valid(&self, now: DateTime<Utc>) -> Result<Vec<Declaration>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut stmt = conn.prepare("SELECT body FROM declarations")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for body in rows {
            // A row that no longer parses (written by a future version) is skipped, not fatal.
            if let Ok(d) = serde_json::from_str::<Declaration>(&body?) {
                if d.valid_at(now) {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }
}

fn check(d: &Declaration) -> Result<(), StoreError> {
    let invalid = |why: &str| Err(StoreError::Invalid { plate: d.plate.clone(), why: why.into() });
    if d.plate.trim().is_empty() {
        return invalid("the plate is empty");
    }
    if let (Some(from), Some(until)) = (d.valid_from, d.valid_until) {
        if until <= from {
            return invalid("valid_until is not after valid_from");
        }
    }
    if let Some(bad) = d.containers.iter().find(|c| !models::read::iso6346::is_valid(c)) {
        return Err(StoreError::Invalid {
            plate: d.plate.clone(),
            why: format!("container {bad:?} is not a valid ISO 6346 number"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
    }

    fn decl(plate: &str, container: &str, until: Option<DateTime<Utc>>) -> Declaration {
        Declaration {
            plate: plate.into(),
            containers: vec![container.into()],
            seals: vec![],
            declared_empty: false,
            targeted: false,
            valid_from: None,
            valid_until: until,
        }
    }

    #[test]
    fn survives_reopening_and_finds_by_plate_or_container() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let store = DeclarationStore::open(&path).unwrap();
        assert_eq!(store.put(&[decl("沪A12345", "MSCU1234566", None)], now()).unwrap(), 1);
        drop(store);
        let store = DeclarationStore::open(&path).unwrap();
        assert_eq!(store.lookup(Some("沪A12345"), &[], now()).unwrap().containers, vec!["MSCU1234566"]);
        assert_eq!(store.lookup(None, &["MSCU1234566".into()], now()).unwrap().plate, "沪A12345");
        assert!(store.lookup(Some("沪B99999"), &["CSQU3054383".into()], now()).is_none());
    }

    #[test]
    fn newer_replaces_older_and_expired_are_purged() {
        let dir = tempfile::tempdir().unwrap();
        let store = DeclarationStore::open(&dir.path().join("d.db")).unwrap();
        store.put(&[decl("A", "MSCU1234566", Some(now() + Duration::minutes(5)))], now()).unwrap();
        store.put(&[decl("A", "CSQU3054383", None)], now()).unwrap();
        assert_eq!(store.lookup(Some("A"), &[], now()).unwrap().containers, vec!["CSQU3054383"]);
        store.put(&[decl("B", "MSCU1234566", Some(now() + Duration::minutes(1)))], now()).unwrap();
        assert!(store.lookup(Some("B"), &[], now() + Duration::minutes(2)).is_none(), "expired is not valid");
        assert_eq!(store.put(&[], now() + Duration::minutes(2)).unwrap(), 1, "expired B purged, A kept");
    }

    #[test]
    fn a_bad_declaration_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = DeclarationStore::open(&dir.path().join("d.db")).unwrap();
        let err =
            store.put(&[decl("A", "MSCU1234566", None), decl("B", "MSCU1234561", None)], now()).unwrap_err();
        assert!(err.to_string().contains("MSCU1234561"), "{err}");
        assert!(store.lookup(Some("A"), &[], now()).is_none(), "all or nothing");
    }
}
