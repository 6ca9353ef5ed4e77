//! Topic layout: `<prefix>/<site>/<lane>/<leaf>`. See docs/mqtt.md.
//!
//! [`Topics`] builds a lane's topics (the lane publishes on them); [`parse`]
//! reads one back (a consumer subscribed to many lanes learns from the topic
//! which lane and which kind of message it got). Both live here so the two
//! directions cannot disagree.

#[derive(Debug, Clone)]
pub struct Topics {
    base: String,
}

impl Topics {
    pub fn new(prefix: &str, site: &str, lane: &str) -> Self {
        Topics { base: format!("{prefix}/{site}/{lane}") }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Retained lane status; the last will sets it offline.
    pub fn status(&self) -> String {
        format!("{}/status", self.base)
    }

    /// Complete passage records, one per vehicle.
    pub fn passage(&self) -> String {
        format!("{}/passage", self.base)
    }

    /// Decisions as soon as they are made.
    pub fn decision(&self) -> String {
        format!("{}/decision", self.base)
    }

    pub fn alarm(&self) -> String {
        format!("{}/alarm", self.base)
    }

    /// Retained, one per device.
    pub fn health(&self, device: &str) -> String {
        format!("{}/health/{device}", self.base)
    }

    /// An image's manifest; its chunks are `<this>/<index>`.
    pub fn image(&self, sha256: &str) -> String {
        format!("{}/image/{sha256}", self.base)
    }

    /// One chunk of an image.
    pub fn image_chunk(&self, sha256: &str, index: u32) -> String {
        format!("{}/image/{sha256}/{index}", self.base)
    }

    /// Clearance statistics, retained, at most once a minute.
    pub fn stats(&self) -> String {
        format!("{}/stats", self.base)
    }

    /// Signed audit checkpoints.
    pub fn audit_checkpoint(&self) -> String {
        format!("{}/audit/checkpoint", self.base)
    }

    /// Signed commands from central (subscribed, QoS 1).
    pub fn cmd(&self) -> String {
        format!("{}/cmd", self.base)
    }

    /// One acknowledgement per command received: accepted with its outcome, or
    /// rejected with the reason.
    pub fn ack(&self) -> String {
        format!("{}/ack", self.base)
    }

    /// Everything of this lane, for followers.
    pub fn all(&self) -> String {
        format!("{}/#", self.base)
    }
}

/// Which message a topic carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leaf {
    Status,
    Passage,
    Decision,
    Alarm,
    Stats,
    Ack,
    Cmd,
    AuditCheckpoint,
    Health { device: String },
    ImageManifest { sha256: String },
    ImageChunk { sha256: String, index: u32 },
}

/// A topic read back: whose it is and what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneTopic {
    pub site: String,
    pub lane: String,
    pub leaf: Leaf,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("topic {0:?} is not under the prefix {1:?}")]
    OtherPrefix(String, String),
    #[error("topic {0:?} has no site, lane and message kind")]
    Incomplete(String),
    #[error("topic {0:?}: unknown message kind")]
    UnknownLeaf(String),
    #[error("topic {0:?}: an image topic names a sha256 (64 hex digits) and a chunk number")]
    BadImage(String),
}

/// Reads a topic published under `prefix` (e.g. `lanectl`).
pub fn parse(prefix: &str, topic: &str) -> Result<LaneTopic, TopicError> {
    let rest = topic
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(|| TopicError::OtherPrefix(topic.into(), prefix.into()))?;
    let parts: Vec<&str> = rest.split('/').collect();
    let [site, lane, leaf @ ..] = parts.as_slice() else { return Err(TopicError::Incomplete(topic.into())) };
    if site.is_empty() || lane.is_empty() || leaf.is_empty() {
        return Err(TopicError::Incomplete(topic.into()));
    }
    let bad_image = || TopicError::BadImage(topic.into());
    let leaf = match *leaf {
        ["status"] => Leaf::Status,
        ["passage"] => Leaf::Passage,
        ["decision"] => Leaf::Decision,
        ["alarm"] => Leaf::Alarm,
        ["stats"] => Leaf::Stats,
        ["ack"] => Leaf::Ack,
        ["cmd"] => Leaf::Cmd,
        ["audit", "checkpoint"] => Leaf::AuditCheckpoint,
        ["health", device] if !device.is_empty() => Leaf::Health { device: device.to_string() },
        ["image", sha] => Leaf::ImageManifest { sha256: sha256(sha).ok_or_else(bad_image)? },
        ["image", sha, index] => Leaf::ImageChunk {
            sha256: sha256(sha).ok_or_else(bad_image)?,
            index: index.parse().map_err(|_| bad_image())?,
        },
        _ => return Err(TopicError::UnknownLeaf(topic.into())),
    };
    Ok(LaneTopic { site: site.to_string(), lane: lane.to_string(), leaf })
}

fn sha256(s: &str) -> Option<String> {
    (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_the_lane_builds_reads_back() {
        let t = Topics::new("lanectl", "CNSHA", "G07");
        let sha = "ab".repeat(32);
        let cases = [
            (t.status(), Leaf::Status),
            (t.passage(), Leaf::Passage),
            (t.decision(), Leaf::Decision),
            (t.alarm(), Leaf::Alarm),
            (t.stats(), Leaf::Stats),
            (t.ack(), Leaf::Ack),
            (t.cmd(), Leaf::Cmd),
            (t.audit_checkpoint(), Leaf::AuditCheckpoint),
            (t.health("plate-front"), Leaf::Health { device: "plate-front".into() }),
            (t.image(&sha), Leaf::ImageManifest { sha256: sha.clone() }),
            (t.image_chunk(&sha, 12), Leaf::ImageChunk { sha256: sha.clone(), index: 12 }),
        ];
        for (topic, leaf) in cases {
            let got = parse("lanectl", &topic).unwrap();
            assert_eq!(got, LaneTopic { site: "CNSHA".into(), lane: "G07".into(), leaf }, "{topic}");
        }
    }

    #[test]
    fn a_prefix_with_slashes_works() {
        let t = Topics::new("port/lanectl", "S", "L");
        assert_eq!(parse("port/lanectl", &t.passage()).unwrap().leaf, Leaf::Passage);
    }

    #[test]
    fn foreign_and_broken_topics_say_why() {
        let sha = "ab".repeat(32);
        for (topic, want) in [
            ("other/S/L/passage", "OtherPrefix"),
            ("lanectlx/S/L/passage", "OtherPrefix"),
            ("lanectl/S/L", "Incomplete"),
            ("lanectl/S//passage", "Incomplete"),
            ("lanectl/S/L/passages", "UnknownLeaf"),
            ("lanectl/S/L/passage/x", "UnknownLeaf"),
            ("lanectl/S/L/health/", "UnknownLeaf"),
            ("lanectl/S/L/image/xyz", "BadImage"),
            (&format!("lanectl/S/L/image/{sha}/-1"), "BadImage"),
            (&format!("lanectl/S/L/image/{sha}/1/2"), "UnknownLeaf"),
        ] {
            let err = parse("lanectl", topic).unwrap_err();
            assert!(format!("{err:?}").starts_with(want), "{topic}: {err:?}");
        }
    }
}
