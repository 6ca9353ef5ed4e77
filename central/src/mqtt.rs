//! The broker connection: MQTT 5 (rumqttc's v5 client), one persistent
//! session per instance, the stream shared between instances
//! (`$share/<group>/...`), and **manual acknowledgements**: a message is
//! acknowledged only after what it carries is committed, so a crash (or a
//! database that refuses writes) leaves it with the broker, which delivers it
//! again. `receive_maximum` bounds what is in flight and unacknowledged, so a
//! stalled instance is not flooded: the broker keeps the rest.
//!
//! The event loop only reads and never waits on the handlers: each message is
//! handled on a task of its own that retries transient failures with backoff
//! until they pass, then acks (the acks leave through the same event loop).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::v5::{Filter, Publish};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use tokio::sync::{watch, Semaphore};

use crate::config::MqttConfig;
use crate::ingest::{Ingest, IngestError};

/// Publishing side, for signed commands (resend, the desk's decisions).
#[derive(Clone)]
pub struct Publisher {
    client: AsyncClient,
}

impl Publisher {
    /// QoS 1; the broker queues it for a lane that is away (persistent session).
    pub async fn publish(&self, topic: String, payload: Vec<u8>) -> Result<(), rumqttc::v5::ClientError> {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload).await
    }
}

pub fn connect(cfg: &MqttConfig) -> (AsyncClient, EventLoop) {
    let mut o = MqttOptions::new(cfg.client_id.clone(), cfg.host.clone(), cfg.port);
    o.set_keep_alive(cfg.keepalive);
    o.set_clean_start(false);
    // The broker keeps this instance's session (and its queued messages) a day.
    o.set_session_expiry_interval(Some(86_400));
    o.set_manual_acks(true);
    o.set_receive_maximum(Some(cfg.inflight));
    o.set_max_packet_size(Some(cfg.max_packet_size));
    if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
        o.set_credentials(u.clone(), p.clone());
    }
    if let Some(tls) = &cfg.tls {
        if let Ok(transport) = tls_transport(tls) {
            o.set_transport(transport);
        }
    }
    // Room for an ack of every message in flight, plus commands.
    AsyncClient::new(o, cfg.inflight as usize * 4 + 64)
}

fn tls_transport(tls: &crate::config::TlsConfig) -> std::io::Result<rumqttc::Transport> {
    let ca = std::fs::read(&tls.ca)?;
    let client_auth = match &tls.client {
        Some((cert, key)) => Some((std::fs::read(cert)?, std::fs::read(key)?)),
        None => None,
    };
    Ok(rumqttc::Transport::tls(ca, client_auth, None))
}

/// Runs the consumer until `stop`; returns the publisher at once through `ready`.
pub async fn consume(
    client: AsyncClient,
    mut eventloop: EventLoop,
    filters: Vec<String>,
    ingest: Ingest,
    inflight: usize,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(inflight));
    let mut connected_before = false;
    loop {
        let event = tokio::select! {
            e = eventloop.poll() => e,
            _ = stop.wait_for(|s| *s) => break,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                tracing::info!(session_present = ack.session_present, "connected to the broker");
                ingest.metrics.set("broker_connected", 1.0);
                // Subscribing again is harmless and covers a broker that lost the session.
                let subs =
                    filters.iter().map(|f| Filter::new(f.clone(), QoS::AtLeastOnce)).collect::<Vec<_>>();
                if let Err(e) = client.subscribe_many(subs).await {
                    tracing::error!(cause = %e, "cannot subscribe");
                }
                connected_before = true;
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                // The loop itself never waits: it also carries the acks out, and a
                // loop waiting for a task that waits for its ack to be sent is stuck.
                // What is in flight is bounded by the broker (receive_maximum).
                let (client, ingest, permits) = (client.clone(), ingest.clone(), permits.clone());
                tokio::spawn(async move {
                    let permit = permits.acquire_owned().await.expect("the semaphore is never closed");
                    // A handler that panics (a bug) still has its message acknowledged, once it
                    // is kept for a retry (see `ingest::failed`).
                    if AssertUnwindSafe(handle_until_done(&ingest, &p)).catch_unwind().await.is_err() {
                        keep_failed_until_done(&ingest, &p).await;
                    }
                    if let Err(e) = client.ack(&p).await {
                        tracing::warn!(cause = %e, "cannot acknowledge; the broker will deliver it again");
                    }
                    drop(permit);
                });
            }
            Ok(_) => {}
            Err(e) => {
                ingest.metrics.set("broker_connected", 0.0);
                if connected_before {
                    tracing::warn!(cause = %e, "broker connection lost; reconnecting");
                } else {
                    tracing::warn!(cause = %e, "broker not reachable; retrying");
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        }
    }
    let _ = client.disconnect().await;
}

/// Handles one message until it is done: transient failures (database or
/// store refusing) are retried with backoff, for as long as it takes.
async fn handle_until_done(ingest: &Ingest, p: &Publish) {
    let topic = String::from_utf8_lossy(&p.topic).to_string();
    let payload: &Bytes = &p.payload;
    until_done(&topic, "cannot store yet; keeping the message", || ingest.handle(&topic, payload)).await;
}

/// Keeps a message the handler failed on, retrying while the database refuses: acknowledged
/// before it is kept, it would be lost.
async fn keep_failed_until_done(ingest: &Ingest, p: &Publish) {
    let topic = String::from_utf8_lossy(&p.topic).to_string();
    ingest.metrics.add("handler_panics_total", 1);
    tracing::error!(
        topic,
        bytes = p.payload.len(),
        "the handler failed on this message (a bug); keeping it for a retry"
    );
    until_done(&topic, "cannot keep the message yet", || ingest.keep_failed(&topic, &p.payload)).await;
}

/// Runs `attempt` until it succeeds, waiting 100 ms after the first failure and twice as long
/// after each next one, up to 10 s; the message stays unacknowledged meanwhile.
async fn until_done<T, F, Fut>(topic: &str, what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, IngestError>>,
{
    let mut wait = Duration::from_millis(100);
    loop {
        match attempt().await {
            Ok(done) => return done,
            Err(e) => {
                tracing::warn!(cause = %e, topic, retry_in_ms = wait.as_millis() as u64, "{what}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(10));
            }
        }
    }
}

impl Publisher {
    pub fn new(client: AsyncClient) -> Self {
        Publisher { client }
    }
}
