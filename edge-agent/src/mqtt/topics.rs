//! Topic layout: `<prefix>/<site>/<lane>/<leaf>`. See docs/mqtt.md.

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

    /// Clearance statistics, retained, at most once a minute.
    pub fn stats(&self) -> String {
        format!("{}/stats", self.base)
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
