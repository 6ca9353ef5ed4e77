//! A message central's handler failed on (a bug) is kept in quarantine with one alarm and tried
//! again until it is handled, on a real PostgreSQL and store. The handler that fails is a
//! stand-in (central has no known message that panics it); keeping and retrying are the real ones.

mod image_wire;

use std::time::Duration;

use central::db::sql;
use central::ingest::{Ingest, IngestError, Outcome, Retried, HANDLER_FAILED};
use hil_tests::postgres::Postgres;
use sha2::{Digest, Sha256};

async fn start() -> (Postgres, tempfile::TempDir, sql::PgPool, Ingest) {
    let pg = Postgres::start();
    let store = tempfile::tempdir().unwrap();
    let toml = format!(
        "sites = [\"S\"]\n[mqtt]\nhost = \"127.0.0.1\"\n[database]\nurl = \"{}\"\n[store]\nurl = \"file://{}\"\n",
        pg.database("failed"),
        store.path().display()
    );
    let cfg = central::config::from_str(std::path::Path::new("central.toml"), &toml).unwrap();
    let pool = central::db::connect(&cfg.database, Duration::from_secs(10)).await.unwrap();
    let ingest = Ingest::new(pool.clone(), &cfg).unwrap();
    (pg, store, pool, ingest)
}

/// An image manifest: a message the real handler stores without a lane key.
fn manifest() -> (String, String, Vec<u8>) {
    let (sha, mut messages) = image_wire::image_messages(&[7u8; 2048], "p1", 1024);
    let (topic, payload) = messages.remove(0);
    (topic, sha, payload)
}

/// (attempts, seconds until the next try, released) of the kept message.
async fn kept(pool: &sql::PgPool) -> Vec<(i32, f64, bool)> {
    sql::query_as(
        "SELECT attempts, EXTRACT(EPOCH FROM next_attempt_at - now())::float8, released_at IS NOT NULL \
         FROM quarantine WHERE kind = $1",
    )
    .bind(HANDLER_FAILED)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn count(pool: &sql::PgPool, query: &str, sha: &str) -> i64 {
    sql::query_scalar(query).bind(sha).fetch_one(pool).await.unwrap()
}

#[tokio::test]
async fn a_message_the_handler_failed_on_is_kept_and_handled_later() {
    let (_pg, _store, pool, ingest) = start().await;
    let (topic, sha, payload) = manifest();
    let assembling = "SELECT count(*) FROM incoming_images WHERE sha256 = $1";
    let alarms = "SELECT count(*) FROM alarms WHERE kind = 'handler_failed' AND site = 'S' AND lane = 'G01' \
                  AND message LIKE '%(image_manifest on %' AND dedup_key = 'handler_failed:' || $1";

    // Kept once, with one alarm, however often the broker delivers it.
    ingest.keep_failed(&topic, &payload).await.unwrap();
    ingest.keep_failed(&topic, &payload).await.unwrap();
    let rows = kept(&pool).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, 1);
    assert!((50.0..=60.0).contains(&rows[0].1), "first retry in a minute: {rows:?}");
    assert_eq!(count(&pool, alarms, &hex::encode(Sha256::digest(&payload))).await, 1);
    assert_eq!(count(&pool, assembling, &sha).await, 0, "not handled yet");

    // Not due yet: a round leaves it.
    assert_eq!(ingest.retry_failed(false).await.unwrap(), Retried::default());

    // Failing again, it waits twice as long.
    let failing = |_: String, _: Vec<u8>| async { panic!("still the bug") };
    let round = ingest.retry_failed_with(true, failing).await.unwrap();
    assert_eq!(round, Retried { done: 0, failed_again: 1 });
    let rows = kept(&pool).await;
    assert_eq!(rows[0].0, 2);
    assert!((110.0..=120.0).contains(&rows[0].1), "second retry in two minutes: {rows:?}");
    assert!(!rows[0].2);

    // The database refusing ends the round and changes nothing.
    let refused = |_: String, _: Vec<u8>| async { Err::<Outcome, _>(IngestError::Transient("down".into())) };
    assert!(ingest.retry_failed_with(true, refused).await.is_err());
    assert_eq!(kept(&pool).await[0].0, 2);

    // Fixed (a start tries everything): handled and released, not tried again.
    assert_eq!(ingest.retry_failed(true).await.unwrap(), Retried { done: 1, failed_again: 0 });
    assert_eq!(count(&pool, assembling, &sha).await, 1, "the manifest was handled");
    assert!(kept(&pool).await[0].2, "released");
    assert_eq!(ingest.retry_failed(true).await.unwrap(), Retried::default());
}

#[tokio::test]
async fn a_message_on_a_topic_central_cannot_parse_is_kept_too() {
    let (_pg, _store, pool, ingest) = start().await;
    ingest.keep_failed("elsewhere/x", b"\xff\x00").await.unwrap();
    let (site, leaf, payload): (String, String, Vec<u8>) =
        sql::query_as("SELECT site, leaf, payload FROM quarantine WHERE kind = $1")
            .bind(HANDLER_FAILED)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((site.as_str(), leaf.as_str(), payload.as_slice()), ("", "unknown", &b"\xff\x00"[..]));
    // The real handler refuses it: taken up (refused), released.
    assert_eq!(ingest.retry_failed(true).await.unwrap(), Retried { done: 1, failed_again: 0 });
}
