//! What the uplink has handed to the MQTT client and not yet seen acknowledged: a pure state with
//! no I/O, owned by the uplink task alone, in the manner of rumqttc's own `MqttState`.
//!
//! rumqttc does not say which packet id a `publish` call got; it emits `Outgoing::Publish(pkid)`
//! for requests in the order they were made. So every request is recorded in a FIFO when it is
//! made ([`Flight::requested`]), each `Outgoing::Publish` pairs the FIFO's head with its packet id
//! ([`Flight::sent`]), and the broker's PUBACK names the message to delete ([`Flight::acked`]).
//! When the connection is lost everything is forgotten ([`Flight::lost`]): the outbox still has
//! every unacknowledged message and sends it again after the reconnect.

use std::collections::{HashMap, HashSet, VecDeque};

/// What a request to the client was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// An outbox row.
    Stored(i64),
    /// The lane's online status, published on every connect (not stored).
    Online,
    /// The offline status of a clean stop (not stored).
    Offline,
}

/// What a PUBACK acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acked {
    Stored(i64),
    Online,
    Offline,
    /// A packet id this state does not know (after a reconnect, or the broker's mistake).
    Unknown,
}

#[derive(Debug)]
pub struct Flight {
    window: usize,
    connected: bool,
    /// Requests made, waiting for their `Outgoing::Publish`.
    requested: VecDeque<Tag>,
    by_pkid: HashMap<u16, Tag>,
    /// Outbox rows requested and not yet acknowledged: not to be fetched again.
    in_flight: HashSet<i64>,
}

impl Flight {
    /// At most `window` outbox rows in flight at once.
    pub fn new(window: usize) -> Self {
        Flight {
            window,
            connected: false,
            requested: VecDeque::new(),
            by_pkid: HashMap::new(),
            in_flight: HashSet::new(),
        }
    }

    pub fn connected(&mut self) {
        self.connected = true;
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The connection is gone: every unacknowledged request is forgotten (the client's queue is
    /// emptied at the same point). Returns how many outbox rows were in flight.
    pub fn lost(&mut self) -> usize {
        let dropped = self.in_flight.len();
        self.connected = false;
        self.requested.clear();
        self.by_pkid.clear();
        self.in_flight.clear();
        dropped
    }

    /// How many more outbox rows may be requested now.
    pub fn room(&self) -> usize {
        if self.connected {
            self.window.saturating_sub(self.in_flight.len())
        } else {
            0
        }
    }

    pub fn in_flight(&self) -> &HashSet<i64> {
        &self.in_flight
    }

    /// A publish was handed to the client.
    pub fn requested(&mut self, tag: Tag) {
        if let Tag::Stored(id) = tag {
            self.in_flight.insert(id);
        }
        self.requested.push_back(tag);
    }

    /// The client sent a publish with `pkid`: the oldest request it had not sent. False when no
    /// request was waiting (which would be a bug in the pairing).
    pub fn sent(&mut self, pkid: u16) -> bool {
        match self.requested.pop_front() {
            Some(tag) => {
                self.by_pkid.insert(pkid, tag);
                true
            }
            None => false,
        }
    }

    /// The broker acknowledged `pkid`.
    pub fn acked(&mut self, pkid: u16) -> Acked {
        match self.by_pkid.remove(&pkid) {
            Some(Tag::Stored(id)) => {
                self.in_flight.remove(&id);
                Acked::Stored(id)
            }
            Some(Tag::Online) => Acked::Online,
            Some(Tag::Offline) => Acked::Offline,
            None => Acked::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(id: i64) -> Tag {
        Tag::Stored(id)
    }

    #[test]
    fn requests_pair_with_packet_ids_in_order_and_acks_name_the_row() {
        let mut f = Flight::new(4);
        assert_eq!(f.room(), 0, "nothing goes out before the connection is up");
        f.connected();
        f.requested(Tag::Online);
        f.requested(stored(10));
        f.requested(stored(11));
        assert_eq!(f.room(), 2, "the status does not take a place in the window");
        assert!(f.sent(1) && f.sent(2) && f.sent(3));
        assert!(!f.sent(4), "a publish nobody requested");
        // Acks out of order are fine: the packet id says which.
        assert_eq!(f.acked(3), Acked::Stored(11));
        assert_eq!(f.acked(1), Acked::Online);
        assert_eq!(f.acked(3), Acked::Unknown, "the same ack twice deletes nothing more");
        assert_eq!(f.in_flight(), &HashSet::from([10]));
        assert_eq!(f.acked(2), Acked::Stored(10));
        assert_eq!(f.room(), 4);
    }

    #[test]
    fn a_request_sent_before_a_loss_is_not_paired_with_one_made_after() {
        let mut f = Flight::new(4);
        f.connected();
        f.requested(stored(1));
        f.requested(stored(2));
        assert!(f.sent(7));
        assert_eq!(f.lost(), 2, "both were unacknowledged");
        assert_eq!(f.room(), 0);
        f.connected();
        f.requested(stored(3));
        assert!(f.sent(7), "packet ids start over on the new connection");
        assert_eq!(f.acked(7), Acked::Stored(3), "not row 1, whose pkid this was before");
        assert!(f.in_flight().is_empty());
    }

    #[test]
    fn the_window_bounds_rows_in_flight() {
        let mut f = Flight::new(2);
        f.connected();
        f.requested(stored(1));
        f.requested(stored(2));
        assert_eq!(f.room(), 0);
        f.sent(1);
        f.acked(1);
        assert_eq!(f.room(), 1);
    }
}
