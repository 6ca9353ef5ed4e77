//! Image assembly under at-least-once delivery: the same manifest and chunks
//! handled at once by several tasks (a lane's resend after a reconnect, the
//! broker's redelivery to another worker, the same picture from two lanes) on
//! a real PostgreSQL and store.

mod image_wire;

use std::sync::Arc;
use std::time::Duration;

use central::db::sql;
use central::ingest::{Ingest, IngestError, Outcome};
use hil_tests::postgres::Postgres;

/// Chunks of this many bytes, so each image is a manifest and three chunks.
const CHUNK: u32 = 1024;
const IMAGES: usize = 40;
/// How many times every message is delivered, all at once.
const COPIES: usize = 3;

fn config(pg: &Postgres, store: &std::path::Path) -> central::config::CentralConfig {
    let toml = format!(
        "sites = [\"S\"]\n[mqtt]\nhost = \"127.0.0.1\"\n[database]\nurl = \"{}\"\nmax_connections = 8\n\
         [store]\nurl = \"file://{}\"\n",
        pg.database("assembly"),
        store.display()
    );
    central::config::from_str(std::path::Path::new("central.toml"), &toml).expect("a valid configuration")
}

/// A throwaway database and store, and an ingest on them.
async fn start() -> (Postgres, tempfile::TempDir, sql::PgPool, Ingest) {
    let pg = Postgres::start();
    let store = tempfile::tempdir().unwrap();
    let cfg = config(&pg, store.path());
    let pool = central::db::connect(&cfg.database, Duration::from_secs(10)).await.unwrap();
    let ingest = Ingest::new(pool.clone(), &cfg).unwrap();
    (pg, store, pool, ingest)
}

/// Every message of image `n`: its manifest and its chunks, as (topic, payload).
fn messages(n: usize) -> Vec<(String, Vec<u8>)> {
    let bytes: Vec<u8> = (0..3 * CHUNK as usize).map(|i| (i * 31 + n * 7) as u8).collect();
    image_wire::image_messages(&bytes, &format!("p{n}"), CHUNK).1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_pieces_handled_at_once_make_each_image_once() {
    let (pg, _store, _pool, ingest) = start().await;
    let ingest = Arc::new(ingest);
    let start = Arc::new(tokio::sync::Barrier::new(IMAGES * 4 * COPIES));
    let mut tasks = Vec::new();
    for n in 0..IMAGES {
        for (topic, payload) in messages(n) {
            for _ in 0..COPIES {
                let (ingest, start, topic, payload) =
                    (ingest.clone(), start.clone(), topic.clone(), payload.clone());
                tasks.push(tokio::spawn(async move {
                    start.wait().await;
                    // As the consumer does: a transient failure is tried again.
                    for _ in 0..50 {
                        if ingest.handle(&topic, &payload).await.is_ok() {
                            return true;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    false
                }));
            }
        }
    }
    for task in tasks {
        assert!(task.await.expect("no handler panics"), "every message was handled in the end");
    }
    let count = |sql: &str| pg.psql("assembly", sql);
    assert_eq!(count("SELECT count(*) FROM images"), IMAGES.to_string(), "every image stored");
    // `images` has one row per sha256 whatever happens; assembling twice would count twice.
    assert_eq!(ingest.metrics.counter("images_stored_total"), IMAGES as u64, "each assembled once");
    assert_eq!(count("SELECT count(*) FROM image_parts"), "0", "no part left behind");
    assert_eq!(count("SELECT count(*) FROM incoming_images"), "0", "nothing left in assembly");
}

/// How many sessions of the database wait for a lock.
async fn waiting(pool: &sql::PgPool) -> i64 {
    sql::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Waits until `n` sessions of the database wait for a lock (an explicit signal
/// that a statement has reached the point the test stages).
async fn lock_waiters(pool: &sql::PgPool, n: i64, what: &str) {
    for _ in 0..2000 {
        if waiting(pool).await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let activity: Vec<(Option<String>, Option<String>, Option<String>)> = sql::query_as(
        "SELECT state, wait_event, left(query, 60) FROM pg_stat_activity WHERE datname = current_database()",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    panic!("never {n} sessions waiting for a lock ({what}): {activity:?}");
}

/// Rounds of the staged race below, at most: which of its orderings a round takes is up to
/// the scheduler, and the one that panicked before came up in about two rounds of five. The
/// test goes on until that ordering has come up `WANTED` times.
const ROUNDS: usize = 40;
const WANTED: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_assembly_row_completed_while_it_was_being_made_is_tried_again() {
    // The demo's central panicked here ("the row was just made"): a chunk's insert waited
    // for another transaction's new row and did nothing, and before its select could lock
    // the row a third transaction locked it, completed the image and deleted the row.
    let (_pg, _store, pool, ingest) = start().await;
    let upsert = "INSERT INTO incoming_images (sha256, site, lane) VALUES ($1, 'S', 'G01') \
                  ON CONFLICT (sha256) DO UPDATE SET last_seen_at = now()";
    let mut tried_again = 0;
    let mut rounds = 0;
    while tried_again < WANTED && rounds < ROUNDS {
        let round = rounds;
        rounds += 1;
        let (topic, chunk) = messages(round).remove(1);
        let sha = topic.split('/').nth(4).unwrap().to_string();
        // X: another worker has made the row and not committed yet.
        let mut x = pool.begin().await.unwrap();
        sql::query(upsert).bind(&sha).execute(&mut *x).await.unwrap();
        // B: the chunk; its insert waits for X.
        let b = tokio::spawn({
            let (ingest, topic, chunk) = (ingest.clone(), topic.clone(), chunk.clone());
            async move { ingest.handle(&topic, &chunk).await }
        });
        lock_waiters(&pool, 1, "B's insert behind X").await;
        // Y: the worker that completes the image, waiting for X's row as well.
        let y = tokio::spawn({
            let (pool, sha) = (pool.clone(), sha.clone());
            async move {
                let mut y = pool.begin().await.unwrap();
                sql::query(upsert).bind(&sha).execute(&mut *y).await.unwrap();
                y
            }
        });
        lock_waiters(&pool, 2, "Y behind X").await;
        x.commit().await.unwrap();
        let mut y = y.await.unwrap();
        // Y holds the row (unless B locked it first and is done). B's select, or its insert
        // if it came after Y's update, waits for Y, which completes the image: the row goes.
        for polls in 0.. {
            if b.is_finished() || waiting(&pool).await == 1 {
                break;
            }
            assert!(polls < 2000, "B neither finished nor waited for Y");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        sql::query("DELETE FROM incoming_images WHERE sha256 = $1")
            .bind(&sha)
            .execute(&mut *y)
            .await
            .unwrap();
        y.commit().await.unwrap();

        match b.await.expect("the handler does not panic") {
            Ok(outcome) => assert_eq!(outcome, Outcome::Stored, "B came first or made the row anew"),
            Err(IngestError::Transient(why)) => {
                tried_again += 1;
                assert!(why.contains("assembly row"), "{why}");
                let again = ingest.handle(&topic, &chunk).await.expect("tried again, it is handled");
                assert_eq!(again, Outcome::Stored, "the chunk starts the image's assembly anew");
            }
        }
    }
    eprintln!("{tried_again} of {rounds} rounds found the row gone and were tried again");
    assert!(
        tried_again >= 1,
        "in {rounds} rounds the row was never gone when B looked: the race was not staged"
    );
}
