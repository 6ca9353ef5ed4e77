//! The skeleton's real parts: migrations on a throwaway PostgreSQL, the lane
//! registry's approve/revoke rules, and the image store over S3 (SeaweedFS)
//! and the filesystem.

use std::time::Duration;

use bytes::Bytes;
use central::config::{DatabaseConfig, StoreConfig};
use central::store::Store;
use hil_tests::postgres::Postgres;
use hil_tests::seaweed::Seaweed;

fn db(pg: &Postgres, name: &str) -> DatabaseConfig {
    DatabaseConfig { url: pg.database(name), max_connections: 4 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_keys_need_approval() {
    let pg = Postgres::start();
    let cfg = db(&pg, "registry");
    let pool = central::db::connect(&cfg, Duration::from_secs(10)).await.unwrap();
    // A second instance starting on the same database finds nothing to do.
    central::db::connect(&cfg, Duration::from_secs(10)).await.unwrap();
    let applied = pg.psql("registry", "SELECT count(*) FROM _sqlx_migrations WHERE success");
    assert_eq!(applied.parse::<usize>().unwrap(), central::db::migrator().migrations.len());

    central::registry::touch(&pool, "S", "G01").await.unwrap();
    assert!(central::registry::announce_key(&pool, "S", "G01", "S-G01", "AAAA").await.unwrap());
    assert!(!central::registry::announce_key(&pool, "S", "G01", "S-G01", "AAAA").await.unwrap(), "once");
    let lane = central::registry::get(&pool, "S", "G01").await.unwrap().unwrap();
    assert_eq!(lane.keys[0].state, "pending");

    let err = central::registry::revoke(&pool, "S", "G01", None, "admin").await.unwrap_err();
    assert_eq!(err.status(), 409, "nothing approved to revoke: {err}");
    let k = central::registry::approve(&pool, "S", "G01", None, "admin").await.unwrap();
    assert_eq!((k.state.as_str(), k.decided_by.as_deref()), ("approved", Some("admin")));
    // A rotated key: approving it retires the old one under the same key id.
    central::registry::announce_key(&pool, "S", "G01", "S-G01", "BBBB").await.unwrap();
    central::registry::approve(&pool, "S", "G01", Some("BBBB"), "admin").await.unwrap();
    let states = pg.psql("registry", "SELECT public_key || '=' || state FROM lane_keys ORDER BY public_key");
    assert_eq!(states, "AAAA=revoked\nBBBB=approved");
    let err = central::registry::approve(&pool, "S", "G01", Some("AAAA"), "admin").await.unwrap_err();
    assert_eq!(err.status(), 409, "a revoked key stays revoked");
    assert_eq!(central::registry::approve(&pool, "S", "G09", None, "a").await.unwrap_err().status(), 404);
}

async fn round_trip(store: &Store) {
    store.probe().await.unwrap();
    let bytes = Bytes::from((0..300_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    let sha = "ab".to_string() + &"0".repeat(62);
    let key = store.put_image(&sha, bytes.clone()).await.unwrap();
    assert_eq!(store.image_bytes(&key).await.unwrap(), bytes);
    // Idempotent: the same image twice (two instances, a redelivery) is one object.
    store.put_image(&sha, bytes.clone()).await.unwrap();
    store.put_part(&sha, 0, Bytes::from_static(b"part")).await.unwrap();
    assert_eq!(store.get_part(&sha, 0).await.unwrap(), Bytes::from_static(b"part"));
    store.delete_parts(&sha, 3).await.unwrap();
    assert!(store.get_part(&sha, 0).await.is_err(), "parts are gone");
    store.delete_image(&key).await.unwrap();
    store.delete_image(&key).await.unwrap();
    assert!(store.image_bytes(&key).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_round_trip_over_s3_against_seaweedfs() {
    let weed = Seaweed::start();
    weed.create_bucket("lane-images");
    let cfg = StoreConfig::S3 {
        bucket: "lane-images".into(),
        prefix: "port-a".into(),
        endpoint: Some(weed.endpoint()),
        region: "us-east-1".into(),
        access_key_id: Some("any".into()),
        secret_access_key: Some("any".into()),
        allow_http: true,
    };
    round_trip(&Store::open(&cfg).unwrap()).await;
}

#[tokio::test]
async fn images_round_trip_on_the_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    round_trip(&Store::open(&StoreConfig::File { root: dir.path().join("images") }).unwrap()).await;
}
