//! Central's audit log of reviewer actions on a real PostgreSQL: intact, it
//! verifies; an entry modified (in its columns, or in body and hash together),
//! deleted, reordered, cut off the end or signed by another key does not —
//! through the library and through `lane-central audit verify`'s exit code.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use central::config::DatabaseConfig;
use central::db::sql::PgPool;
use central::desk::audit::{self, AuditLog, Entry};
use ed25519_dalek::SigningKey;
use hil_tests::postgres::Postgres;
use serde_json::json;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// A database with seven entries of the kinds the desk writes.
async fn log(pg: &Postgres, name: &str) -> (PgPool, Vec<(String, ed25519_dalek::VerifyingKey)>) {
    let cfg = DatabaseConfig { url: pg.database(name), max_connections: 4 };
    let pool = central::db::connect(&cfg, Duration::from_secs(10)).await.unwrap();
    let log = AuditLog::new("central-1".into(), Some(key(7)));
    let p = Some("DEMO-G01-0007");
    for (actor, action, detail, passage) in [
        ("li", "login", json!({"from": "10.0.0.5"}), None),
        ("li", "claim", json!({}), p),
        ("li", "correction", json!({"kind": "plate", "original": "沪A1234S", "corrected": "沪A12345"}), p),
        (
            "li",
            "decision",
            json!({"command": "c-1", "outcome": "release", "reason": "images_clear", "comment": "ok"}),
            p,
        ),
        ("wang", "takeover", json!({"from": "chen"}), Some("DEMO-G02-0003")),
        ("cli:root", "user_add", json!({"user": "zhao", "role": "viewer", "sites": []}), None),
        ("wang", "declaration_import", json!({"rows": 12, "lanes": ["DEMO/G01"]}), None),
    ] {
        let mut e = Entry::new(actor, action, detail);
        if let Some(p) = passage {
            e = e.on("DEMO", "G01", Some(p));
        }
        log.record(&pool, e).await.unwrap();
    }
    (pool, vec![("central-1".into(), key(7).verifying_key())])
}

fn problems(v: &audit::Verification) -> String {
    v.problems.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intact_log_verifies_and_every_tampering_is_found() {
    let pg = Postgres::start();

    let (pool, keys) = log(&pg, "intact").await;
    let v = audit::verify(&pool, &keys).await.unwrap();
    assert!(v.intact(), "{}", problems(&v));
    assert_eq!((v.entries, v.last_seq, v.unsigned), (7, 7, 0));
    // Another key does not verify it: the signatures are checked, not just present.
    let other = vec![("central-1".to_string(), key(8).verifying_key())];
    let v = audit::verify(&pool, &other).await.unwrap();
    assert_eq!(v.problems.len(), 8, "seven entries and the head: {}", problems(&v));

    let (pool, keys) = log(&pg, "modified").await;
    pg.psql(
        "modified",
        "UPDATE desk_audit SET detail = '{\"command\": \"c-1\", \"outcome\": \"inspection\"}' WHERE seq = 4",
    );
    let v = audit::verify(&pool, &keys).await.unwrap();
    assert_eq!(problems(&v), "entry 4: modified (its columns differ from its signed content)");

    // Body and hash rewritten together: the chain and the signature give it away.
    let (pool, keys) = log(&pg, "rehashed").await;
    let body =
        pg.psql("rehashed", "SELECT body FROM desk_audit WHERE seq = 3").replace("沪A12345", "沪A99999");
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
    pg.psql(
        "rehashed",
        &format!(
            "UPDATE desk_audit SET body = '{}', hash = '{sha}', detail = jsonb_set(detail, '{{corrected}}', '\"沪A99999\"') WHERE seq = 3",
            body.replace('\'', "''")
        ),
    );
    let v = audit::verify(&pool, &keys).await.unwrap();
    let p = problems(&v);
    assert!(p.contains("entry 3: signature does not verify"), "{p}");
    assert!(p.contains("entry 4: does not follow the entry before it"), "{p}");

    let (pool, keys) = log(&pg, "deleted").await;
    pg.psql("deleted", "DELETE FROM desk_audit WHERE seq = 5");
    let v = audit::verify(&pool, &keys).await.unwrap();
    let p = problems(&v);
    assert!(p.contains("entry 5 missing: the log jumps from 4 to 6 (deleted)"), "{p}");
    assert!(p.contains("entry 6: does not follow"), "{p}");

    let (pool, keys) = log(&pg, "reordered").await;
    pg.psql(
        "reordered",
        "UPDATE desk_audit SET seq = -2 WHERE seq = 2; UPDATE desk_audit SET seq = 2 WHERE seq = 3; \
         UPDATE desk_audit SET seq = 3 WHERE seq = -2",
    );
    let v = audit::verify(&pool, &keys).await.unwrap();
    let p = problems(&v);
    assert!(p.contains("entry 2: out of order (its signed body is entry 3)"), "{p}");
    assert!(p.contains("entry 3: out of order (its signed body is entry 2)"), "{p}");

    let (pool, keys) = log(&pg, "truncated").await;
    pg.psql("truncated", "DELETE FROM desk_audit WHERE seq >= 6");
    let v = audit::verify(&pool, &keys).await.unwrap();
    assert_eq!(
        problems(&v),
        "the signed head names entry 7, the log ends at 5: entries were cut off the end"
    );
}

fn config(dir: &Path, db: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("central.key"), contract::signing::encode_key(&key(7).to_bytes()) + "\n")
        .unwrap();
    let text = format!(
        "sites = [\"DEMO\"]\n[mqtt]\nhost = \"127.0.0.1\"\n[database]\nurl = \"{db}\"\n[store]\nurl = \"file://{}\"\n\
         [commands]\nkey = \"central.key\"\nkey_id = \"central-1\"\n",
        dir.join("images").display()
    );
    let path = dir.join("central.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `lane-central audit verify` on the database `db` names: (exit code, output).
fn verify_cli(dir: &Path, url: &str) -> (Option<i32>, String) {
    let cfg = config(dir, url);
    let out = Command::new(env!("CARGO_BIN_EXE_lane-central"))
        .args(["audit", "verify", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lane_central_audit_verify_exits_1_on_a_modified_deleted_or_reordered_entry() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let (_pool, _) = log(&pg, "cli").await;
    let (code, text) = verify_cli(dir.path(), &pg.url("cli"));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("intact: 7 entries"), "{text}");

    for (db, tampering, found) in [
        (
            "modified",
            "UPDATE desk_audit SET actor = 'someone-else' WHERE seq = 2",
            "TAMPERED  entry 2: modified",
        ),
        ("deleted", "DELETE FROM desk_audit WHERE seq = 5", "entry 5 missing"),
        (
            "reordered",
            "UPDATE desk_audit SET seq = -2 WHERE seq = 2; UPDATE desk_audit SET seq = 2 WHERE seq = 3; \
             UPDATE desk_audit SET seq = 3 WHERE seq = -2",
            "entry 2: out of order",
        ),
    ] {
        let (_pool, _) = log(&pg, db).await;
        pg.psql(db, tampering);
        let (code, text) = verify_cli(dir.path(), &pg.url(db));
        assert_eq!(code, Some(1), "{db}: {text}");
        assert!(text.contains(found), "{db}: {text}");
    }
}
