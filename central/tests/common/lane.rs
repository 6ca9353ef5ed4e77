//! A synthetic lane for central's tests: publishes exactly what an
//! `edge-agent` publishes (contract types, signed with a lane key, images as a
//! manifest and raw chunks, QoS 1) and answers `resend_seq` like the lane does,
//! so tests can drop, duplicate, reorder and forge on purpose.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use contract::command::{Action, Envelope};
use contract::image::{ImageManifest, ImageRef};
use contract::signing::ResultSigner;
use contract::Topics;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::wire::Capture;

/// Published passages by seq: (signed payload, images), for resends.
pub type Archive = Mutex<BTreeMap<u64, (Vec<u8>, Vec<Vec<u8>>)>>;

pub struct FakeLane {
    pub site: String,
    pub lane: String,
    pub topics: Topics,
    pub signer: ResultSigner,
    client: Client,
    /// Published passages by seq: (payload, images), for resends.
    pub archive: Arc<Archive>,
    pub chunk: u32,
}

pub fn image_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl FakeLane {
    pub fn start(port: u16, site: &str, lane: &str) -> Self {
        let signer = ResultSigner::new(
            &format!("{site}-{lane}"),
            ed25519_dalek::SigningKey::from_bytes(&rand::random()),
        );
        let mut o =
            MqttOptions::new(format!("fake-{site}-{lane}-{}", rand::random::<u32>()), "127.0.0.1", port);
        o.set_max_packet_size(4 << 20, 4 << 20);
        o.set_keep_alive(Duration::from_secs(30));
        let (client, mut connection) = Client::new(o, 1000);
        let topics = Topics::new("lanectl", site, lane);
        let archive: Arc<Archive> = Arc::default();
        let (cmd_topic, publisher, store) = (topics.cmd(), client.clone(), archive.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let lane_topics = topics.clone();
        std::thread::spawn(move || {
            for event in connection.iter() {
                match event {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = publisher.try_subscribe(cmd_topic.clone(), QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = ready_tx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        // Not on this thread: publishing waits for the event loop it would block.
                        let (publisher, topics, store) =
                            (publisher.clone(), lane_topics.clone(), store.clone());
                        std::thread::spawn(move || answer(&publisher, &topics, &store, &p.payload));
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("the fake lane subscribed to its commands");
        FakeLane { site: site.into(), lane: lane.into(), topics, signer, client, archive, chunk: 64 * 1024 }
    }

    pub fn publish(&self, topic: String, payload: Vec<u8>, retain: bool) {
        self.client.publish(topic, QoS::AtLeastOnce, retain, payload).unwrap();
    }

    pub fn status(&self) {
        let status = json!({
            "state": "online", "site": self.site, "lane": self.lane, "agent_version": "test",
            "since": Utc::now(), "signing_key": {"key_id": self.signer.key_id, "public_key": self.signer.public_b64()}
        });
        self.publish(self.topics.status(), serde_json::to_vec(&status).unwrap(), true);
    }

    /// The signed record of passage `seq` with these images (not published).
    pub fn record(&self, seq: u64, images: &[Vec<u8>], outcome: &str) -> (String, Vec<u8>) {
        let id = super::wire::passage_id(&self.lane, Utc::now(), seq);
        let captures: Vec<Capture> = images
            .iter()
            .enumerate()
            .map(|(i, bytes)| Capture {
                device: format!("cam-{i}"),
                kind: if i == 0 { "plate_image" } else { "container_image" },
                image: ImageRef {
                    sha256: sha(bytes),
                    format: contract::device::ImageFormat::Jpeg,
                    width: 640,
                    height: 480,
                    bytes: bytes.len() as u64,
                    preview_jpeg: None,
                },
            })
            .collect();
        let record = super::wire::passage_record(&self.site, &self.lane, &id, seq, &captures, outcome);
        (id, self.signer.sign_json(&record).unwrap())
    }

    /// Images (manifest, then chunks), then the record: as the lane's outbox does.
    pub fn passage(&self, seq: u64, images: Vec<Vec<u8>>, outcome: &str) -> String {
        let (id, payload) = self.record(seq, &images, outcome);
        self.send_images(&id, &images);
        self.publish(self.topics.passage(), payload.clone(), false);
        self.archive.lock().unwrap().insert(seq, (payload, images));
        id
    }

    /// Keeps a passage as if published, without publishing it (a lost message).
    pub fn lose(&self, seq: u64, images: Vec<Vec<u8>>) -> String {
        let (id, payload) = self.record(seq, &images, "release");
        self.archive.lock().unwrap().insert(seq, (payload, images));
        id
    }

    pub fn send_images(&self, passage: &str, images: &[Vec<u8>]) {
        send_images(&self.client, &self.topics, passage, images, self.chunk);
    }
}

fn send_images(client: &Client, topics: &Topics, passage: &str, images: &[Vec<u8>], chunk: u32) {
    for (i, bytes) in images.iter().enumerate() {
        let r = ImageRef {
            sha256: sha(bytes),
            format: contract::device::ImageFormat::Jpeg,
            width: 640,
            height: 480,
            bytes: bytes.len() as u64,
            preview_jpeg: None,
        };
        let m = ImageManifest::for_image(&r, &format!("cam-{i}"), passage, chunk);
        client
            .publish(topics.image(&r.sha256), QoS::AtLeastOnce, false, serde_json::to_vec(&m).unwrap())
            .unwrap();
        for c in 0..m.chunks {
            let (off, len) = m.chunk_span(c).unwrap();
            let part = bytes[off as usize..(off + len) as usize].to_vec();
            client.publish(topics.image_chunk(&r.sha256, c), QoS::AtLeastOnce, false, part).unwrap();
        }
    }
}

/// A `resend_seq` from central: the record byte for byte, then its images.
fn answer(client: &Client, topics: &Topics, archive: &Archive, payload: &[u8]) {
    use base64::Engine;
    let Ok(env) = serde_json::from_slice::<Envelope>(payload) else { return };
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(env.payload) else { return };
    let Ok(cmd) = serde_json::from_slice::<contract::command::Command>(&bytes) else { return };
    let found = match &cmd.action {
        Action::ResendSeq { seq } => archive.lock().unwrap().get(seq).cloned(),
        Action::Resend { passage } => archive
            .lock()
            .unwrap()
            .values()
            .find(|(p, _)| String::from_utf8_lossy(p).contains(passage.as_str()))
            .cloned(),
        _ => None,
    };
    let ack = json!({"id": cmd.id, "accepted": true, "reason": null, "detail": "test lane", "outcome": if found.is_some() { "resent" } else { "not_applicable" }, "at": Utc::now()});
    if let Some((record, images)) = found {
        let v: serde_json::Value = serde_json::from_slice(&record).unwrap();
        send_images(client, topics, v["id"].as_str().unwrap(), &images, 64 * 1024);
        client.publish(topics.passage(), QoS::AtLeastOnce, false, record).unwrap();
    }
    client.publish(topics.ack(), QoS::AtLeastOnce, false, serde_json::to_vec(&ack).unwrap()).unwrap();
}
