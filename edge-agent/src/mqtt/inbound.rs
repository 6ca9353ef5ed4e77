//! Messages from central, as the uplink takes them off the wire.
//!
//! Whatever arrives is consumed: rumqttc acknowledges a QoS 1 message to the broker as it reads
//! it, so the broker never resends it and nothing can wedge the connection. What the lane cannot
//! use is counted and, where central is owed an answer, handed on as a refusal so the lane
//! rejects it on `ack` like any bad command (without an id: nothing in an unread or unverified
//! message can be trusted).

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tracing::{debug, warn};

/// What the lane gets from the command topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A message within the limit, exactly as it arrived.
    Command(Vec<u8>),
    /// A message larger than the configured limit; its bytes were dropped unread.
    TooLarge { bytes: usize, limit: usize },
}

impl From<Vec<u8>> for Inbound {
    fn from(bytes: Vec<u8>) -> Self {
        Inbound::Command(bytes)
    }
}

/// Where commands arrive and where they are handed on.
pub struct Inbox {
    pub topic: String,
    pub tx: mpsc::Sender<Inbound>,
    /// Largest command accepted (`mqtt.max_command_size`).
    pub limit: usize,
}

/// Counted where each thing happens; rendered by `/metrics`.
#[derive(Debug, Default)]
pub struct LinkCounters {
    /// Connections made to the broker (the first and every reconnect).
    pub connects: AtomicU64,
    /// Connections lost.
    pub losses: AtomicU64,
    /// Messages from central by what became of them.
    pub commands_in: AtomicU64,
    pub too_large: AtomicU64,
    pub dropped_busy: AtomicU64,
    pub other_topic: AtomicU64,
    /// Outbox messages the broker acknowledged.
    pub delivered: AtomicU64,
}

impl Inbox {
    /// Hands one received message on; never blocks (the lane loop takes commands quickly, and a
    /// full queue means a flood, counted and logged).
    pub fn take(&self, topic: &str, payload: &[u8], counters: &LinkCounters) {
        if topic != self.topic {
            counters.other_topic.fetch_add(1, Ordering::Relaxed);
            debug!(topic, "message on a topic the lane does not read");
            return;
        }
        let inbound = if payload.len() > self.limit {
            counters.too_large.fetch_add(1, Ordering::Relaxed);
            warn!(
                bytes = payload.len(),
                limit = self.limit,
                "command larger than the limit; rejected unread"
            );
            Inbound::TooLarge { bytes: payload.len(), limit: self.limit }
        } else {
            counters.commands_in.fetch_add(1, Ordering::Relaxed);
            Inbound::Command(payload.to_vec())
        };
        if self.tx.try_send(inbound).is_err() {
            counters.dropped_busy.fetch_add(1, Ordering::Relaxed);
            warn!(bytes = payload.len(), "command queue full or closed; command dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_and_stray_messages_are_counted_and_never_passed_on_as_commands() {
        let (tx, mut rx) = mpsc::channel(1);
        let inbox = Inbox { topic: "l/cmd".into(), tx, limit: 10 };
        let c = LinkCounters::default();
        inbox.take("l/other", b"x", &c);
        assert!(rx.try_recv().is_err());
        inbox.take("l/cmd", &[b'x'; 11], &c);
        assert_eq!(rx.try_recv().unwrap(), Inbound::TooLarge { bytes: 11, limit: 10 });
        inbox.take("l/cmd", b"{}", &c);
        inbox.take("l/cmd", b"{}", &c);
        assert_eq!(rx.try_recv().unwrap(), Inbound::Command(b"{}".to_vec()));
        let n = |a: &AtomicU64| a.load(Ordering::SeqCst);
        assert_eq!((n(&c.other_topic), n(&c.too_large), n(&c.commands_in), n(&c.dropped_busy)), (1, 1, 2, 1));
    }
}
