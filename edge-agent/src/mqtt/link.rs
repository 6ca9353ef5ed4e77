//! The task that polls rumqttc's event loop and nothing else.
//!
//! `EventLoop::poll` must never be cancelled half-way (a request taken from the queue but not yet
//! written would be lost while rumqttc believes it sent), so it runs in a task of its own and hands
//! every event, in order, to the uplink task over a channel.
//!
//! A lost connection needs both tasks to agree on a clean slate: the uplink forgets what it had in
//! flight, and rumqttc forgets what it would resend (the outbox resends it instead). The link
//! reports [`LinkEvent::Lost`] and waits for the uplink's go-ahead before it empties rumqttc's
//! queues and reconnects, so a publish the uplink made just before it heard of the loss cannot
//! slip into the new connection unrecorded.
//!
//! No message, however large or malformed, breaks the connection here: rumqttc's incoming limit
//! is MQTT's own maximum (see [`MQTT_MAX_REMAINING`]), and the uplink applies the configured limit
//! to what it received. A limit inside rumqttc would make the broker resend an oversized command
//! on every reconnect, for ever.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rumqttc::{Event, EventLoop, LastWill, Outgoing, Packet, QoS};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

/// The largest "remaining length" MQTT can express: no packet can exceed it.
pub const MQTT_MAX_REMAINING: usize = 268_435_455;

pub enum LinkEvent {
    /// The broker accepted the connection (rumqttc turns a refusal into an error).
    Connected {
        at: DateTime<Utc>,
    },
    Mqtt(Event),
    /// The connection broke; reply once the uplink has forgotten its flight.
    Lost {
        was_connected: bool,
        resync: oneshot::Sender<()>,
    },
    /// Our own DISCONNECT went out: the link is done.
    Closed,
}

/// The last will's payload for a connection made at the given time.
pub type WillFor = Box<dyn Fn(DateTime<Utc>) -> LastWill + Send>;

pub async fn run(mut eventloop: EventLoop, events: mpsc::Sender<LinkEvent>, will: WillFor) {
    let mut backoff = Duration::from_millis(250);
    // An installer must see why the link does not come up (TLS, auth, address), once per
    // distinct cause rather than at every retry.
    let mut last_error = String::new();
    let mut connected = false;
    let mut attempt_at = Utc::now();
    loop {
        if eventloop.network.is_none() {
            // The will says since when the lane was last seen: this connection's start, the
            // same moment the online status of this connection gives.
            attempt_at = Utc::now();
            eventloop.mqtt_options.set_last_will(will(attempt_at));
        }
        let event = match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                connected = true;
                last_error.clear();
                backoff = Duration::from_millis(250);
                LinkEvent::Connected { at: attempt_at }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                debug!("disconnect sent");
                let _ = events.send(LinkEvent::Closed).await;
                return;
            }
            Ok(event) => LinkEvent::Mqtt(event),
            Err(e) => {
                let cause = e.to_string();
                if connected {
                    warn!(%cause, "lost the broker; reconnecting");
                } else if cause != last_error {
                    warn!(%cause, "cannot reach the broker; retrying with backoff");
                } else {
                    debug!(%cause, ?backoff, "broker still unreachable");
                }
                let (resync, agreed) = oneshot::channel();
                let lost = LinkEvent::Lost { was_connected: connected, resync };
                if events.send(lost).await.is_err() || agreed.await.is_err() {
                    return; // the uplink is gone
                }
                // The uplink publishes nothing more until the next `Connected`: what reached the
                // queue meanwhile is dropped with the rest; the outbox has all of it.
                eventloop.clean();
                eventloop.pending.clear();
                connected = false;
                last_error = cause;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}

/// A last will: retained, QoS 1.
pub fn last_will(topic: &str, payload: Vec<u8>) -> LastWill {
    LastWill::new(topic, payload, QoS::AtLeastOnce, true)
}
