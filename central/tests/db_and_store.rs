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
    // The alarms asking for the approval (raised as ingest raises them), and one of another lane.
    for (lane, key) in
        [("G01", "key_pending:S/G01:AAAA"), ("G01", "pending_key:S/G01"), ("G02", "pending_key:S/G02")]
    {
        central::alarms::raise(&pool, "S", lane, "key_pending", None, "awaiting approval", key)
            .await
            .unwrap();
    }
    let k = central::registry::approve(&pool, "S", "G01", None, "admin").await.unwrap();
    assert_eq!((k.state.as_str(), k.decided_by.as_deref()), ("approved", Some("admin")));
    let open =
        pg.psql("registry", "SELECT string_agg(dedup_key, ',') FROM alarms WHERE acknowledged_at IS NULL");
    assert_eq!(open, "pending_key:S/G02", "the approval answers its lane's alarms only");
    let by =
        pg.psql("registry", "SELECT DISTINCT acknowledged_by FROM alarms WHERE acknowledged_at IS NOT NULL");
    assert_eq!(by, "admin (approved key S-G01)");
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

/// A passage that arrived late heals its gap; if it is later lost again (a database restored from
/// an older backup), the same seq must be found missing anew and asked for, not left as healed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_that_opens_again_after_healing_is_asked_for_again() {
    let pg = Postgres::start();
    let pool = central::db::connect(&db(&pg, "gaps"), Duration::from_secs(10)).await.unwrap();
    let cfg = central::config::CompletenessConfig {
        check_every: Duration::from_secs(1),
        grace: Duration::ZERO,
        first_retry: Duration::from_secs(1),
        max_retry: Duration::from_secs(1),
        give_up_after: 3,
    };
    central::registry::touch(&pool, "S", "G01").await.unwrap();
    let passage = |seq: u32| {
        format!(
            "INSERT INTO passages (site, lane, id, seq, arrived_at, direct_release, key_id, record, payload, received_by) \
             VALUES ('S', 'G01', 'p{seq}', {seq}, now(), true, 'S-G01', '{{}}', '\\x00', 'test'); \
             UPDATE lanes SET first_seq = LEAST(COALESCE(first_seq, {seq}), {seq}), \
             last_seq = GREATEST(COALESCE(last_seq, {seq}), {seq}) WHERE lane = 'G01'"
        )
    };
    let gap =
        || pg.psql("gaps", "SELECT string_agg(key || ':' || state, ' ') FROM gaps WHERE kind = 'passage'");
    pg.psql("gaps", &passage(1));
    pg.psql("gaps", &passage(3));
    central::completeness::scan(&pool, &cfg).await.unwrap();
    assert_eq!(gap(), "2:outstanding");
    pg.psql("gaps", &passage(2));
    central::completeness::scan(&pool, &cfg).await.unwrap();
    assert_eq!(gap(), "2:healed", "the late passage came");

    pg.psql("gaps", "DELETE FROM passages WHERE seq = 2");
    let (found, _) = central::completeness::scan(&pool, &cfg).await.unwrap();
    assert_eq!((found, gap()), (1, "2:outstanding".to_string()), "lost again: missing again");
    let attempts =
        pg.psql("gaps", "SELECT attempts || ':' || (resolved_at IS NULL) FROM gaps WHERE key = '2'");
    assert_eq!(attempts, "0:true", "asked for from the start, as a new gap");
}
