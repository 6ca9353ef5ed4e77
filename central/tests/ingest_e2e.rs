//! Two `lane-central` instances on one PostgreSQL, one store and a real
//! Mosquitto, fed by synthetic lanes that publish the lane wire format: every
//! passage ends up stored exactly once, every image whole with its sha256,
//! lost passages are asked for with a signed `resend_seq` and healed, records
//! wait in quarantine until the lane's key is approved, and forged, tampered
//! and misaddressed records stay quarantined. One instance is killed with
//! SIGKILL in the middle and the broker restarted; nothing is lost or doubled.

mod common;

use std::time::Duration;

use common::lane::{image_bytes, sha, FakeLane};
use common::{command_key, config, wait_until, Central};
use hil_tests::postgres::Postgres;
use hil_tests::seaweed::Seaweed;
use hil_tests::Mosquitto;

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn two_instances_store_every_passage_once_and_heal_gaps_through_faults() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start();
    let db = pg.database("central");
    let mut broker = Mosquitto::start_for_central();
    let store = format!("url = \"file://{}\"", dir.path().join("images").display());
    let (key, _public) = command_key(dir.path());
    let cfg_a = config(dir.path(), "a", &db, broker.port, &store, &key, &["S1"]);
    let cfg_b = config(dir.path(), "b", &db, broker.port, &store, &key, &["S1"]);
    let a = Central::start(&cfg_a);
    let mut b = Central::start(&cfg_b);

    let lanes = [FakeLane::start(broker.port, "S1", "G01"), FakeLane::start(broker.port, "S1", "G02")];
    for lane in &lanes {
        lane.status();
    }
    let sql = |q: &str| pg.psql("central", q);
    wait_until("both lanes' keys pending", LIMIT, || {
        sql("SELECT count(*) FROM lane_keys WHERE state = 'pending'") == "2"
    });

    // G01 sends a passage before its key is approved: quarantined, then verified on approval.
    let early = lanes[0].passage(1, vec![image_bytes(1, 100_000)], "release");
    wait_until("the early passage quarantined", LIMIT, || {
        sql("SELECT count(*) FROM quarantine WHERE kind = 'pending_key'") == "1"
    });
    assert_eq!(sql("SELECT count(*) FROM passages"), "0", "nothing unverified is stored as a passage");
    let out = a.cli(&["lanes", "approve", "S1/G01"]);
    assert!(out.contains("1 records held while the key was pending are now verified"), "{out}");
    a.cli(&["lanes", "approve", "S1/G02"]);
    assert_eq!(sql(&format!("SELECT count(*) FROM passages WHERE id = '{early}'")), "1");

    // Traffic: 2 lanes x 30 passages, each a plate image and two container faces in
    // several chunks; seq 7 of G02 is lost on the way; every 5th passage is sent twice.
    let mut expected_images = vec![image_bytes(1, 100_000)];
    for seq in 2..=31u64 {
        for (l, lane) in lanes.iter().enumerate() {
            let seq = if l == 0 { seq } else { seq - 1 };
            let images: Vec<Vec<u8>> = (0..3)
                .map(|i| image_bytes(seq * 10 + i + 1000 * l as u64, 150_000 + 7_001 * i as usize))
                .collect();
            expected_images.extend(images.iter().cloned());
            if l == 1 && seq == 7 {
                lane.lose(seq, images);
                continue;
            }
            let outcome = if seq % 4 == 0 { "hold" } else { "release" };
            let id = lane.passage(seq, images.clone(), outcome);
            if seq % 5 == 0 {
                // At-least-once delivery: the same record and images again.
                let payload = lane.archive.lock().unwrap()[&seq].0.clone();
                lane.send_images(&id, &images);
                lane.publish(lane.topics.passage(), payload, false);
            }
        }
        let faults = std::env::var("E2E_FAULTS").map_or(true, |v| v != "0");
        if seq == 12 && faults {
            b.kill9(); // mid-stream: what b held unacknowledged goes to its session
        }
        if seq == 20 && faults {
            broker.restart();
            b = Central::start(&cfg_b);
        }
    }

    // Forged (another key under G01's key id), tampered (signed, then altered),
    // and one lane publishing as another (G02's signed record on G01's topic).
    let forger = contract::signing::ResultSigner::new(
        &lanes[0].signer.key_id,
        ed25519_dalek::SigningKey::from_bytes(&rand::random()),
    );
    let (_, genuine) = lanes[0].record(900, &[], "release");
    let mut forged: serde_json::Value = serde_json::from_slice(&genuine).unwrap();
    forged.as_object_mut().unwrap().remove("signature");
    let forged = forger.sign_json(&forged).unwrap();
    lanes[0].publish(lanes[0].topics.passage(), forged, false);
    let (_, genuine) = lanes[0].record(901, &[], "hold");
    let tampered = String::from_utf8(genuine).unwrap().replace("\"hold\"", "\"release\"").into_bytes();
    lanes[0].publish(lanes[0].topics.passage(), tampered, false);
    let (_, other) = lanes[1].record(902, &[], "release");
    lanes[0].publish(lanes[0].topics.passage(), other, false);
    // Garbage: malformed JSON, a chunk for an image nobody announced, a junk topic.
    lanes[0].publish(lanes[0].topics.passage(), b"{not json".to_vec(), false);
    lanes[0].publish("lanectl/S1/G01/image/not-a-hash".into(), b"x".to_vec(), false);

    // 31 passages of G01 + 30 of G02, G02's seq 7 healed by a resend.
    let diagnose = || {
        eprintln!("passages per lane: {}", sql("SELECT string_agg(lane || '=' || n, ' ') FROM (SELECT lane, count(*) n FROM passages GROUP BY lane) x"));
        eprintln!("gaps: {}", sql("SELECT string_agg(lane || ':' || kind || ':' || key || ':' || state || ':' || attempts, ' ') FROM gaps"));
        eprintln!("commands: {}", sql("SELECT string_agg(action_type || ':' || state || ':' || coalesce(outcome, '-'), ' ') FROM commands"));
        eprintln!("quarantine: {}", sql("SELECT string_agg(kind || ':' || leaf, ' ') FROM quarantine"));
        for c in [&a, &b] {
            eprintln!("metrics:\n{}", String::from_utf8_lossy(&c.get("/metrics").1));
        }
        eprintln!("incoming: {}", sql("SELECT string_agg(left(sha256, 8) || ':' || coalesce(chunks, -1) || ':' || received || ':' || (manifest IS NOT NULL), ' ') FROM incoming_images"));
        let _ = std::fs::copy(&a.log, "/tmp/central-e2e-a.log");
        let _ = std::fs::copy(&b.log, "/tmp/central-e2e-b.log");
        eprintln!(
            "log a:\n{}",
            std::fs::read_to_string(&a.log)
                .unwrap_or_default()
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        );
        eprintln!(
            "log b:\n{}",
            std::fs::read_to_string(&b.log)
                .unwrap_or_default()
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        );
    };
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until("every passage stored", LIMIT, || sql("SELECT count(*) FROM passages") == "61")
    }))
    .is_err()
    {
        diagnose();
        panic!("not every passage was stored");
    }
    wait_until("every image stored", LIMIT, || {
        sql("SELECT count(*) FROM passage_images pi WHERE NOT EXISTS (SELECT 1 FROM images i WHERE i.sha256 = pi.sha256)") == "0"
    });
    wait_until("no gap outstanding", LIMIT, || {
        sql("SELECT count(*) FROM gaps WHERE state = 'outstanding'") == "0"
    });

    assert_eq!(sql("SELECT count(*) FROM (SELECT site, lane, seq FROM passages GROUP BY 1, 2, 3 HAVING count(*) > 1) d"), "0", "exactly once");
    assert_eq!(
        sql("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM passages WHERE lane = 'G02'"),
        (1..=30).map(|s| s.to_string()).collect::<Vec<_>>().join(",")
    );
    assert_eq!(sql("SELECT state || ':' || attempts::int::bool FROM gaps WHERE lane = 'G02' AND kind = 'passage' AND seq = 7"), "healed:true", "the lost passage was asked for and came");
    assert!(
        sql("SELECT count(*) FROM commands WHERE action_type = 'resend_seq' AND state = 'accepted'")
            .parse::<u32>()
            .unwrap()
            >= 1
    );

    // Every image whole in the store, its bytes hashing to its name.
    for bytes in &expected_images {
        let (status, body) = a.get(&format!("/api/images/{}", sha(bytes)));
        assert_eq!(status, 200);
        assert_eq!(sha(&body), sha(bytes), "image served whole");
    }
    assert_eq!(sql("SELECT count(*) FROM images").parse::<usize>().unwrap(), expected_images.len());
    assert_eq!(sql("SELECT count(*) FROM incoming_images"), "0", "nothing left half assembled");

    // Every stored record still verifies with the lane's key, byte for byte as received.
    let keys: Vec<_> = lanes.iter().map(|l| l.signer.key_entry()).collect();
    let api = a.json("/api/passages?limit=1000");
    assert_eq!(api.as_array().unwrap().len(), 61);
    for p in api.as_array().unwrap() {
        let detail = a.json(&format!(
            "/api/passages/S1/{}/{}",
            p["lane"].as_str().unwrap(),
            p["id"].as_str().unwrap()
        ));
        contract::signing::verify(&detail["record"], &keys).expect("a stored record verifies");
        assert!(detail["images"].as_array().unwrap().iter().all(|i| i["stored"] == true));
    }

    let kinds =
        || sql("SELECT string_agg(kind, ',' ORDER BY kind) FROM quarantine WHERE released_at IS NULL");
    // The malformed "passage" is kept too: nothing that claims to be a record is dropped.
    let want = "bad_signature,bad_signature,malformed_json,topic_mismatch";
    wait_until(
        &format!("forged, tampered and misaddressed quarantined ({want})"),
        Duration::from_secs(30),
        || {
            let got = kinds();
            if got != want {
                eprintln!("quarantined so far: {got}");
            }
            got == want
        },
    );
    assert_eq!(
        sql("SELECT count(*) FROM passages WHERE seq >= 900"),
        "0",
        "no forged record shown as verified"
    );
    let metrics =
        String::from_utf8(a.get("/metrics").1).unwrap() + &String::from_utf8(b.get("/metrics").1).unwrap();
    assert!(metrics.contains("central_bad_input_total{kind=\"bad_signature\"}"), "{metrics}");
    wait_until("garbage counted", LIMIT, || {
        let m = String::from_utf8(a.get("/metrics").1).unwrap()
            + &String::from_utf8(b.get("/metrics").1).unwrap();
        m.contains("kind=\"malformed_json\"") && m.contains("kind=\"bad_topic\"")
    });

    // The API: completeness, stats, alarms.
    let c = a.json("/api/completeness");
    let g02 = c.as_array().unwrap().iter().find(|l| l["lane"] == "G02").unwrap();
    assert_eq!((g02["passages_received"].as_i64(), g02["outstanding"].as_i64()), (Some(30), Some(0)));
    assert!(g02["healed"].as_i64().unwrap() >= 1, "the lost passage counts as healed: {g02}");
    let stats = a.json("/api/stats?site=S1");
    let days = stats["direct_release_by_lane_day"].as_array().unwrap();
    let total: i64 = days.iter().map(|d| d["passages"].as_i64().unwrap()).sum();
    assert_eq!(total, 61);
    assert!(stats["hold_reasons"].to_string().contains("low_confidence"));
    let alarms = a.json("/api/alarms");
    assert!(alarms.to_string().contains("quarantined"));
    drop(a);
}

/// The same path with images in S3 (SeaweedFS): stored under their sha256 in
/// the bucket, served whole through the API.
#[test]
fn images_go_to_s3_and_come_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start();
    let db = pg.database("central_s3");
    let broker = Mosquitto::start_for_central();
    let weed = Seaweed::start();
    weed.create_bucket("lanes");
    let store = format!(
        "url = \"s3://lanes/port-a\"\nendpoint = \"{}\"\naccess_key_id = \"any\"\nsecret_access_key = \"any\"\nallow_http = true",
        weed.endpoint()
    );
    let (key, _) = command_key(dir.path());
    let central = Central::start(&config(dir.path(), "s3", &db, broker.port, &store, &key, &["S1"]));
    let lane = FakeLane::start(broker.port, "S1", "G05");
    lane.status();
    let sql = |q: &str| pg.psql("central_s3", q);
    wait_until("the lane's key pending", LIMIT, || sql("SELECT count(*) FROM lane_keys") == "1");
    central.cli(&["lanes", "approve", "S1/G05"]);
    let images: Vec<Vec<u8>> = (0..4).map(|i| image_bytes(500 + i, 90_000 + 40_000 * i as usize)).collect();
    for seq in 1..=2u64 {
        lane.passage(seq, images[(seq as usize - 1) * 2..seq as usize * 2].to_vec(), "release");
    }
    wait_until("both passages and their images", LIMIT, || {
        sql("SELECT count(*) FROM passages") == "2" && sql("SELECT count(*) FROM images") == "4"
    });
    assert!(
        sql("SELECT min(object_key) FROM images").starts_with("port-a/images/"),
        "under the configured prefix"
    );
    for bytes in &images {
        let (status, body) = central.get(&format!("/api/images/{}", sha(bytes)));
        assert_eq!((status, sha(&body)), (200, sha(bytes)));
    }
}
