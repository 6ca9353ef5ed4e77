//! What a consumer at central received from a lane, as tests judge a lane by it: each passage
//! record (the first copy; delivery is at least once), the images records refer to, reassembled
//! from their chunks and checked against their hash, and the alarms.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use contract::reassembly::Assembler;
use serde_json::Value;

use crate::Subscriber;

#[derive(Default)]
pub struct Received {
    /// Passage records in the order they first arrived.
    pub records: Vec<Value>,
    pub ids: HashSet<String>,
    /// Images the records refer to (captures and empty checks).
    pub referenced: HashSet<String>,
    /// Images that arrived whole, their hash right.
    pub images: HashSet<String>,
    pub alarms: Vec<Value>,
    /// Ids that arrived again with other content: two different records of one passage.
    pub twins: Vec<String>,
    /// Numbers (`seq`) that arrived on records of two different passages.
    pub reused_seqs: Vec<u64>,
    first_copy: HashMap<String, Vec<u8>>,
    seq_of: HashMap<u64, String>,
    assembler: Assembler,
}

impl Received {
    /// Takes one message; panics on an image whose bytes do not match its hash.
    pub fn read(&mut self, topic: &str, payload: Vec<u8>) {
        if topic.ends_with("/passage") {
            let v: Value = serde_json::from_slice(&payload).expect("a passage record is JSON");
            let images = ["captures", "empty_check"]
                .iter()
                .flat_map(|k| v[*k].as_array().cloned().unwrap_or_default())
                .filter_map(|c| c["image"]["sha256"].as_str().map(str::to_string));
            self.referenced.extend(images);
            let id = v["id"].as_str().expect("a record has an id").to_string();
            if let Some(seq) = v["seq"].as_u64() {
                if self.seq_of.entry(seq).or_insert_with(|| id.clone()) != &id {
                    self.reused_seqs.push(seq);
                }
            }
            match self.first_copy.get(&id) {
                Some(first) if *first != payload => self.twins.push(id.clone()),
                Some(_) => {}
                None => drop(self.first_copy.insert(id.clone(), payload)),
            }
            if self.ids.insert(id) {
                self.records.push(v);
            }
        } else if topic.ends_with("/alarm") {
            self.alarms.push(serde_json::from_slice(&payload).expect("an alarm is JSON"));
        } else if let Some((_, rest)) = topic.split_once("/image/") {
            let done = match rest.split_once('/') {
                None => {
                    self.assembler.manifest(serde_json::from_slice(&payload).expect("a manifest is JSON"))
                }
                Some((sha, i)) => self.assembler.chunk(sha, i.parse().expect("a chunk index"), payload),
            };
            if let Some((m, _)) = done.expect("every image hashes right") {
                self.images.insert(m.sha256);
            }
        }
    }

    /// Every image a record referred to arrived whole.
    pub fn images_complete(&self) -> bool {
        self.referenced.is_subset(&self.images)
    }

    /// Reads until `done` holds or `limit` has passed; says which.
    pub fn take(&mut self, sub: &Subscriber, limit: Duration, done: impl Fn(&Received) -> bool) -> bool {
        let end = Instant::now() + limit;
        while !done(self) {
            if Instant::now() >= end {
                return false;
            }
            if let Some((topic, payload, _)) = sub.next(Duration::from_millis(500)) {
                self.read(&topic, payload);
            }
        }
        true
    }

    /// Whatever arrives within `time`.
    pub fn drain(&mut self, sub: &Subscriber, time: Duration) {
        let end = Instant::now() + time;
        while let Some((topic, payload, _)) = sub.next(end.saturating_duration_since(Instant::now())) {
            self.read(&topic, payload);
        }
    }
}
