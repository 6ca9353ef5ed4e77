//! The acceptance scenario, shared by the default suite's short run and the
//! long run under `scripts/soak`: real `edge-agent` processes on simulated
//! lanes → a real Mosquitto → two `lane-central` instances on one PostgreSQL
//! and one object store (SeaweedFS over S3, or a folder). During traffic,
//! rounds of faults: kill -9 of an agent (then started again), kill -9 of a
//! central instance, a broker restart (then the instance started again); and
//! a passage lost by the database, which central must ask its lane for again.
//! Then a forged and a tampered record. Every wait is on something observable
//! (files the lanes archived, rows in PostgreSQL), never a sleep.
//!
//! The checks are made from the lanes' side: every record a lane archived is
//! in PostgreSQL exactly once, byte for byte, and verifies with the key in the
//! lane's own key file; every image those records name comes back whole from
//! the store through the API, its bytes hashing to its name; no gap is
//! outstanding; forged and tampered records are quarantined, never passages.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use hil_tests::postgres::Postgres;
use hil_tests::seaweed::Seaweed;
use hil_tests::Mosquitto;
use serde_json::Value;

use super::agent::Agent;
use super::lane::sha;
use super::{command_key, config, Central};

pub struct Plan {
    pub lanes: usize,
    /// Vehicles per start of an agent (a restarted agent runs its plan again).
    pub vehicles: u64,
    /// Rounds of faults (agent kill -9, central kill -9, broker restart).
    pub fault_rounds: u32,
    /// Images in SeaweedFS over S3 rather than a folder.
    pub s3: bool,
    /// How long the whole run may take before it is a failure.
    pub limit: Duration,
}

/// What the run did, for the test's report.
#[derive(Debug)]
pub struct Report {
    pub passages: usize,
    pub images: usize,
    pub agent_kills: u32,
    pub central_kills: u32,
    pub broker_restarts: u32,
    pub healed_gaps: i64,
    pub resends_accepted: i64,
    pub elapsed: Duration,
}

const SITE: &str = "S1";

struct World {
    pg: Postgres,
    broker: Mosquitto,
    _weed: Option<Seaweed>,
    centrals: [Option<Central>; 2],
    configs: [std::path::PathBuf; 2],
    agents: Vec<Agent>,
    deadline: Instant,
}

impl World {
    fn sql(&self, q: &str) -> String {
        self.pg.psql("central", q)
    }

    fn count(&self, q: &str) -> i64 {
        self.sql(q).parse().unwrap_or_else(|_| panic!("a number from {q}"))
    }

    fn passages(&self) -> i64 {
        self.count("SELECT count(*) FROM passages")
    }

    /// A running central instance, for the API.
    fn api(&self) -> &Central {
        self.centrals.iter().flatten().next().expect("one instance runs")
    }

    /// Polls `check` until it holds; on the deadline, fails with `what` and a diagnosis.
    fn wait(&mut self, what: &str, mut check: impl FnMut(&mut World) -> bool) {
        loop {
            if check(self) {
                return;
            }
            for a in &mut self.agents {
                if let Some(crash) = a.crashed() {
                    panic!("{crash}");
                }
            }
            if Instant::now() > self.deadline {
                self.diagnose();
                panic!("timed out waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until central stored `more` passages beyond now, or every lane is done.
    fn progress(&mut self, more: i64, what: &str) {
        let target = self.passages() + more;
        self.wait(what, |w| w.passages() >= target || w.agents.iter().all(Agent::finished));
    }

    fn diagnose(&self) {
        for a in &self.agents {
            let archived = a.archived();
            let stored = self.sql(&format!("SELECT count(*) FROM passages WHERE lane = '{}'", a.lane));
            eprintln!(
                "{}: archived {} (this run {}, finished {}), stored {stored}",
                a.lane,
                archived.len(),
                a.done_this_run(),
                a.finished()
            );
            // Which records are missing, and where the lane's copy of them stands.
            let at_central =
                self.sql(&format!("SELECT string_agg(id, ' ') FROM passages WHERE lane = '{}'", a.lane));
            for (id, rec) in
                archived.iter().filter(|(id, _)| !at_central.split(' ').any(|c| c == id.as_str()))
            {
                let seqs = self.sql(&format!(
                    "SELECT string_agg(id, ' ') FROM passages WHERE lane = '{}' AND seq = {}",
                    a.lane, rec.seq
                ));
                eprintln!(
                    "  missing at central: {id} seq {} exit {}; central's passages with that seq: [{seqs}]",
                    rec.seq, rec.exit
                );
            }
            let outbox = a.data.join("outbox.db");
            if let Ok(o) = std::process::Command::new("sqlite3")
                .arg(&outbox)
                .arg("SELECT group_concat(topic, ' ') FROM outbox WHERE topic NOT LIKE '%/image%'")
                .output()
            {
                eprintln!("  outbox: {}", String::from_utf8_lossy(&o.stdout).replace('\n', " "));
            }
        }
        eprintln!("gaps: {}", self.sql("SELECT string_agg(lane || ':' || kind || ':' || key || ':' || state || ':' || attempts, ' ') FROM gaps WHERE state <> 'healed'"));
        eprintln!("incoming images: {}", self.sql("SELECT count(*) FROM incoming_images"));
        eprintln!("quarantine: {}", self.sql("SELECT string_agg(lane || ':' || kind || ':' || leaf || ':' || (released_at IS NOT NULL), ' ') FROM quarantine"));
        eprintln!("commands: {}", self.sql("SELECT string_agg(action_type || ':' || state || ':' || coalesce(outcome, '-'), ' ') FROM commands"));
        for c in self.centrals.iter().flatten() {
            let log = std::fs::read_to_string(&c.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(25).collect();
            eprintln!("log of {}:\n{}", c.config.display(), tail.join("\n"));
        }
    }
}

pub fn run(plan: Plan) -> Report {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start();
    let db = pg.database("central");
    let broker = Mosquitto::start_for_central();
    let (store, weed) = if plan.s3 {
        let weed = Seaweed::start();
        weed.create_bucket("lanes");
        let store = format!(
            "url = \"s3://lanes/port\"\nendpoint = \"{}\"\naccess_key_id = \"any\"\nsecret_access_key = \"any\"\nallow_http = true",
            weed.endpoint()
        );
        (store, Some(weed))
    } else {
        (format!("url = \"file://{}\"", dir.path().join("images").display()), None)
    };
    let (key, public) = command_key(dir.path());
    let central_key = contract::signing::encode_key(&public.to_bytes());
    let configs = ["a", "b"].map(|n| config(dir.path(), n, &db, broker.port, &store, &key, &[SITE]));
    let centrals = [Some(Central::start(&configs[0])), Some(Central::start(&configs[1]))];
    let agents = (1..=plan.lanes)
        .map(|i| Agent::new(dir.path(), SITE, &format!("G{i:02}"), broker.port, &central_key, plan.vehicles))
        .collect();
    let mut w = World { pg, broker, _weed: weed, centrals, configs, agents, deadline: started + plan.limit };
    for a in &mut w.agents {
        a.start();
    }

    // Each lane's key arrives pending with its retained status; an administrator
    // approves it, and what the lane sent meanwhile (quarantined) becomes verified.
    let lanes = plan.lanes as i64;
    w.wait("every lane's key pending", |w| w.count("SELECT count(*) FROM lane_keys") == lanes);
    for a in &w.agents {
        w.api().cli(&["lanes", "approve", &format!("{SITE}/{}", a.lane)]);
    }

    let mut report = Report {
        passages: 0,
        images: 0,
        agent_kills: 0,
        central_kills: 0,
        broker_restarts: 0,
        healed_gaps: 0,
        resends_accepted: 0,
        elapsed: Duration::ZERO,
    };
    // Faults spread over the traffic: three waits for progress per round.
    let total = plan.lanes as i64 * plan.vehicles as i64;
    let step = (total / (3 * plan.fault_rounds as i64 + 1)).max(3);
    for round in 0..plan.fault_rounds {
        // An agent killed mid-traffic (a passage is usually in progress), started again.
        let victim = round as usize % w.agents.len();
        let third = plan.vehicles / 3;
        w.wait("the victim lane a third through its run", |w| w.agents[victim].done_this_run() >= third);
        w.agents[victim].kill9();
        w.agents[victim].start();
        report.agent_kills += 1;

        // A central instance killed with what it holds unacknowledged.
        w.progress(step, "progress before killing an instance");
        let which = round as usize % 2;
        w.centrals[which].take().expect("both run between rounds").kill9();
        report.central_kills += 1;

        // The broker restarted while one instance carries the load alone.
        w.progress(step, "progress on one instance");
        w.broker.restart();
        report.broker_restarts += 1;
        w.centrals[which] = Some(Central::start(&w.configs[which]));
        w.progress(step, "progress after the broker came back");
    }

    // A passage lost by the database (restored from an older backup, say):
    // completeness finds the hole in the lane's numbering and asks the real
    // agent with a signed resend_seq; the lane answers from its archive.
    let lost_seq = {
        let first = &w.agents[0];
        let lane = first.lane.clone();
        w.wait("a few passages of the first lane", |w| {
            w.count(&format!("SELECT count(*) FROM passages WHERE lane = '{lane}'")) >= 3
        });
        // The second lowest: a hole between the first and the last seq central saw.
        let seq =
            w.count(&format!("SELECT seq FROM passages WHERE lane = '{lane}' ORDER BY seq OFFSET 1 LIMIT 1"));
        // Had it arrived late once, its gap is already healed: the case completeness once missed.
        let before = w.sql(&format!(
            "SELECT state FROM gaps WHERE lane = '{lane}' AND kind = 'passage' AND seq = {seq}"
        ));
        eprintln!("losing {lane} seq {seq}; its gap before: [{before}]");
        w.sql(&format!("DELETE FROM passages WHERE lane = '{lane}' AND seq = {seq}"));
        seq
    };

    // Every lane through its plan, and central holding all of it.
    w.wait("every lane through its plan", |w| w.agents.iter().all(Agent::finished));
    let forged_ids = forge_and_tamper(&w);
    w.wait("everything archived stored, whole, no gap outstanding", |w| {
        let stored_all = w.agents.iter().all(|a| {
            let n = a.archived().len() as i64;
            w.count(&format!("SELECT count(*) FROM passages WHERE lane = '{}'", a.lane)) == n
        });
        stored_all
            && w.count("SELECT count(*) FROM gaps WHERE state = 'outstanding'") == 0
            && w.count("SELECT count(*) FROM incoming_images") == 0
            && w.count("SELECT count(*) FROM passage_images pi WHERE NOT EXISTS (SELECT 1 FROM images i WHERE i.sha256 = pi.sha256)") == 0
            && w.count("SELECT count(*) FROM quarantine WHERE kind = 'bad_signature' AND released_at IS NULL") >= 2
    });

    assert_eq!(
        w.count("SELECT count(*) FROM quarantine WHERE kind IN ('pending_key', 'unknown_key') AND released_at IS NULL"),
        0,
        "every record that waited for its lane's key was taken up on approval"
    );
    report.passages = check_passages(&w);
    report.images = check_images(&w);
    check_quarantine(&w, &forged_ids);
    let gap = w.sql(&format!(
        "SELECT state || ':' || (attempts > 0) FROM gaps WHERE lane = '{}' AND kind = 'passage' AND seq = {lost_seq}",
        w.agents[0].lane
    ));
    assert_eq!(gap, "healed:true", "the passage lost by the database was asked for and came back");
    report.resends_accepted =
        w.count("SELECT count(*) FROM commands WHERE action_type = 'resend_seq' AND outcome = 'resent'");
    assert!(report.resends_accepted >= 1, "a real agent answered a resend_seq");
    report.healed_gaps = w.count("SELECT count(*) FROM gaps WHERE state = 'healed'");
    assert_eq!(w.count("SELECT count(*) FROM gaps WHERE state = 'given_up'"), 0, "nothing given up");
    report.elapsed = started.elapsed();
    eprintln!("{report:?}");
    report
}

/// Every archived record in PostgreSQL exactly once, byte for byte, verifying
/// with the lane's own key; nothing stored that no lane archived.
fn check_passages(w: &World) -> usize {
    let mut total = 0;
    for a in &w.agents {
        let archived = a.archived();
        let keys = [(a.key_id(), a.public_key())];
        let rows = w.sql(&format!(
            "SELECT id || ' ' || seq || ' ' || encode(payload, 'hex') FROM passages WHERE site = '{SITE}' AND lane = '{}' ORDER BY seq",
            a.lane
        ));
        let mut stored = BTreeMap::new();
        let mut seqs = BTreeSet::new();
        for line in rows.lines() {
            let mut parts = line.split(' ');
            let (id, seq, hex) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
            assert!(seqs.insert(seq.parse::<u64>().unwrap()), "{}: seq {seq} stored twice", a.lane);
            assert!(stored.insert(id.to_string(), hex::decode(hex).unwrap()).is_none(), "{id} twice");
        }
        assert_eq!(
            stored.keys().collect::<Vec<_>>(),
            archived.keys().collect::<Vec<_>>(),
            "{}: central holds exactly what the lane archived",
            a.lane
        );
        for (id, kept) in &archived {
            let payload = &stored[id];
            assert_eq!(payload, &kept.payload, "{id}: stored byte for byte as the lane archived it");
            let v: contract::signing::Verified<contract::passage::PassageRecord> =
                contract::signing::verify_payload(payload, &keys).expect("verifies with the lane's key");
            assert_eq!(v.value.seq, kept.seq);
        }
        assert!(archived.len() as u64 >= a.vehicles, "{}: at least a full plan archived", a.lane);
        total += archived.len();
    }
    total
}

/// Every image an archived record names, whole from the store through the API.
fn check_images(w: &World) -> usize {
    let mut names = BTreeSet::new();
    for a in &w.agents {
        for kept in a.archived().values() {
            let r: Value = serde_json::from_slice(&kept.payload).unwrap();
            let captures = r["captures"].as_array().into_iter().flatten().map(|c| &c["image"]);
            let others = [&r["uvss"]["overlay"], &r["empty_check"]["image"]];
            for image in captures.chain(others) {
                if let Some(name) = image["sha256"].as_str() {
                    names.insert(name.to_string());
                }
            }
        }
    }
    assert!(!names.is_empty(), "the lanes' records name images");
    for name in &names {
        let (status, body) = w.api().get(&format!("/api/images/{name}"));
        assert_eq!(status, 200, "image {name} served");
        assert_eq!(&sha(&body), name, "image {name} whole, its bytes hashing to its name");
    }
    names.len()
}

/// A forged record (another key under the lane's key id) and a tampered one
/// (the lane's own signed record, altered): both on the lane's topic.
fn forge_and_tamper(w: &World) -> Vec<String> {
    let a = &w.agents[0];
    let (_, kept) = a.archived().into_iter().next().expect("an archived record");
    let mut v: Value = serde_json::from_slice(&kept.payload).unwrap();
    let original_id = v["id"].as_str().unwrap().to_string();
    let forged_id = format!("{original_id}-forged");
    v["id"] = forged_id.clone().into();
    v["decision"]["outcome"] = "release".into();
    v.as_object_mut().unwrap().remove("signature");
    let forger = contract::signing::ResultSigner::new(
        &a.key_id(),
        ed25519_dalek::SigningKey::from_bytes(&rand::random()),
    );
    let forged = forger.sign_json(&v).unwrap();
    let text = String::from_utf8(kept.payload.clone()).unwrap();
    // The lane's signature left as it was, the id altered (a second record of the same passage).
    let tampered_id = format!("{original_id}-tampered");
    let tampered = text.replace(&original_id, &tampered_id).into_bytes();
    assert_ne!(tampered, kept.payload);
    let topic = contract::Topics::new("lanectl", SITE, &a.lane).passage();
    publish(w.broker.port, &topic, &[forged, tampered]);
    vec![forged_id, tampered_id]
}

fn check_quarantine(w: &World, ids: &[String]) {
    for id in ids {
        assert_eq!(
            w.count(&format!("SELECT count(*) FROM passages WHERE id = '{id}'")),
            0,
            "{id} never a passage"
        );
        assert_eq!(
            w.count(&format!(
                "SELECT count(*) FROM quarantine WHERE kind = 'bad_signature' AND convert_from(payload, 'UTF8') LIKE '%{id}%'"
            )),
            1,
            "{id} quarantined as bad_signature"
        );
    }
    let (status, body) = w.api().get("/api/quarantine");
    assert_eq!(status, 200);
    let listed = String::from_utf8_lossy(&body);
    assert!(listed.contains("bad_signature"), "the API lists the quarantine: {listed}");
}

/// Publishes QoS 1 and returns once the broker acknowledged every message.
fn publish(port: u16, topic: &str, payloads: &[Vec<u8>]) {
    use rumqttc::{Client, Event, MqttOptions, Outgoing, Packet, QoS};
    let mut o = MqttOptions::new(format!("forger-{}", hil_tests::free_port()), "127.0.0.1", port);
    o.set_max_packet_size(4 << 20, 4 << 20);
    let (client, mut connection) = Client::new(o, 16);
    for p in payloads {
        client.publish(topic, QoS::AtLeastOnce, false, p.clone()).unwrap();
    }
    let mut acked = 0;
    for event in connection.iter() {
        match event {
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                acked += 1;
                if acked == payloads.len() {
                    let _ = client.disconnect();
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
            Ok(_) => {}
            Err(e) => panic!("publishing the forged records: {e}"),
        }
    }
}
