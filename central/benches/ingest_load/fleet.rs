//! The load generator: N emulated lanes, each with its own MQTT connection
//! and signing key, publishing exactly the lane wire format — the signed
//! decision event, the signed passage record, then every image as a manifest
//! and raw chunks of the lane's default `chunk_size`, all QoS 1, in the
//! order the lane's outbox sends them (results before images).
//!
//! Images are incompressible bytes of realistic sizes (`Profile`), made
//! unique per passage by a header, so every image is a new sha256 and
//! central does the full work for each: assembly, hashing, storing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use contract::image::{ImageManifest, ImageRef};
use contract::signing::ResultSigner;
use contract::Topics;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use sha2::{Digest, Sha256};

use crate::common::wire::{self, Capture};

/// The lane's default `[mqtt] chunk_size`.
pub const CHUNK: usize = 262_144;

/// The images of one passage: (device, capture kind, bytes).
pub struct Profile(pub Vec<(&'static str, &'static str, usize)>);

impl Profile {
    /// A plate camera (300 KB), four container faces (500 KB each), a UVSS scan (4 MB).
    pub fn realistic() -> Self {
        Profile(vec![
            ("plate-front", "plate_image", 300_000),
            ("container-front", "container_image", 500_000),
            ("container-rear", "container_image", 500_000),
            ("container-left", "container_image", 500_000),
            ("container-right", "container_image", 500_000),
            ("uvss", "uvss_scan", 4_000_000),
        ])
    }

    pub fn image_bytes(&self) -> u64 {
        self.0.iter().map(|(_, _, n)| *n as u64).sum()
    }
}

/// One passage ready to publish.
pub struct Passage {
    pub lane: usize,
    pub id: String,
    pub messages: Vec<(String, Bytes)>,
    /// Bytes of all payloads (images, records, manifests).
    pub bytes: u64,
}

struct WireLane {
    name: String,
    topics: Topics,
    signer: ResultSigner,
    client: AsyncClient,
    seq: AtomicU64,
}

pub struct Fleet {
    pub site: String,
    lanes: Vec<WireLane>,
    pool: Bytes,
    profile: Profile,
    /// PubAcks received and messages handed to the clients, over all lanes.
    acked: Arc<AtomicU64>,
    sent: AtomicU64,
}

impl Fleet {
    /// Connects `n` lanes (`G001`...) to the broker on `port`.
    pub fn connect(port: u16, site: &str, n: usize, profile: Profile) -> Fleet {
        let acked = Arc::new(AtomicU64::new(0));
        let mut pool = vec![0u8; profile.0.iter().map(|p| p.2).max().unwrap_or(0)];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for b in pool.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let lanes = (1..=n)
            .map(|i| {
                let name = format!("G{i:03}");
                let mut o = MqttOptions::new(format!("bench-{site}-{name}"), "127.0.0.1", port);
                o.set_max_packet_size(2 << 20, 2 << 20);
                o.set_keep_alive(Duration::from_secs(30));
                o.set_inflight(100);
                let (client, mut eventloop) = AsyncClient::new(o, 64);
                let acked = acked.clone();
                tokio::spawn(async move {
                    loop {
                        match eventloop.poll().await {
                            Ok(Event::Incoming(Packet::PubAck(_))) => {
                                acked.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(_) => {}
                            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                        }
                    }
                });
                let key = ed25519_dalek::SigningKey::from_bytes(&Sha256::digest(name.as_bytes()).into());
                WireLane {
                    topics: Topics::new("lanectl", site, &name),
                    signer: ResultSigner::new(&format!("{site}-{name}"), key),
                    name,
                    client,
                    seq: AtomicU64::new(0),
                }
            })
            .collect();
        Fleet { site: site.into(), lanes, pool: Bytes::from(pool), profile, acked, sent: AtomicU64::new(0) }
    }

    pub fn lanes(&self) -> usize {
        self.lanes.len()
    }

    pub fn lane_name(&self, lane: usize) -> &str {
        &self.lanes[lane].name
    }

    /// Every lane's retained status with its public key (central registers it pending).
    pub async fn announce(&self) {
        for l in &self.lanes {
            let status = serde_json::json!({
                "state": "online", "site": self.site, "lane": l.name, "agent_version": "bench",
                "since": chrono::Utc::now(),
                "signing_key": {"key_id": l.signer.key_id, "public_key": l.signer.public_b64()}
            });
            self.publish(l, l.topics.status(), Bytes::from(serde_json::to_vec(&status).unwrap()), true).await;
        }
    }

    /// The next passage of `lane`: images made unique, hashed, chunked; records signed.
    pub fn build(&self, lane: usize) -> Passage {
        let l = &self.lanes[lane];
        let seq = l.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let id = wire::passage_id(&l.name, chrono::Utc::now(), seq);
        let mut captures = Vec::new();
        let mut image_messages = Vec::new();
        for (n, (device, kind, size)) in self.profile.0.iter().enumerate() {
            let mut bytes = self.pool[..*size].to_vec();
            let header = format!("{id}/{n}");
            bytes[..header.len()].copy_from_slice(header.as_bytes());
            let bytes = Bytes::from(bytes);
            let image = ImageRef {
                sha256: hex::encode(Sha256::digest(&bytes)),
                format: contract::device::ImageFormat::Jpeg,
                width: if *kind == "uvss_scan" { 2048 } else { 1920 },
                height: if *kind == "uvss_scan" { 12_000 } else { 1080 },
                bytes: bytes.len() as u64,
                // The lane inlines a small preview of every image in the record.
                preview_jpeg: Some(preview(&bytes)),
            };
            let manifest = ImageManifest::for_image(&image, device, &id, CHUNK as u32);
            image_messages
                .push((l.topics.image(&image.sha256), Bytes::from(serde_json::to_vec(&manifest).unwrap())));
            for c in 0..manifest.chunks {
                let (off, len) = manifest.chunk_span(c).expect("a chunk of the manifest");
                image_messages.push((
                    l.topics.image_chunk(&image.sha256, c),
                    bytes.slice(off as usize..(off + len) as usize),
                ));
            }
            captures.push(Capture { device: device.to_string(), kind, image });
        }
        // One vehicle in ten held (a `match`: the workspace's Rust 1.85 has no is_multiple_of).
        let outcome = match seq % 10 {
            0 => "hold",
            _ => "release",
        };
        let decision = wire::decision_event(&self.site, &l.name, &id, seq, outcome);
        let record = wire::passage_record(&self.site, &l.name, &id, seq, &captures, outcome);
        let mut messages = vec![
            (l.topics.decision(), Bytes::from(l.signer.sign_json(&decision).unwrap())),
            (l.topics.passage(), Bytes::from(l.signer.sign_json(&record).unwrap())),
        ];
        messages.extend(image_messages);
        let bytes = messages.iter().map(|(_, p)| p.len() as u64).sum();
        Passage { lane, id, messages, bytes }
    }

    /// Hands every message of the passage to its lane's connection, in order.
    pub async fn send(&self, p: &Passage) {
        let l = &self.lanes[p.lane];
        for (topic, payload) in &p.messages {
            self.publish(l, topic.clone(), payload.clone(), false).await;
        }
    }

    async fn publish(&self, l: &WireLane, topic: String, payload: Bytes, retain: bool) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        l.client.publish_bytes(topic, QoS::AtLeastOnce, retain, payload).await.expect("the client runs");
    }

    /// Waits until the broker acknowledged everything handed over so far.
    pub async fn wait_acked(&self, limit: Duration) -> bool {
        let start = Instant::now();
        while self.acked.load(Ordering::Relaxed) < self.sent.load(Ordering::Relaxed) {
            if start.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

/// A preview of about the size the lane inlines (a 160 px JPEG, ~3 KB), as base64.
fn preview(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(&bytes[bytes.len() - 3000..])
}
