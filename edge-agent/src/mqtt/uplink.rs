//! The MQTT connection to central: a bounded queue in front of rumqttc, so the
//! lane loop never waits on the network.
//!
//! Two tasks: one drives rumqttc's event loop (connects, reconnects with backoff,
//! publishes the retained `online` status after each connect), the other feeds
//! it publishes from the queue. The broker publishes the retained `offline`
//! status (the last will) when the connection drops without a goodbye.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, LastWill, MqttOptions, Outgoing as RumqttOutgoing, Packet, QoS};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use crate::config::MqttConfig;

#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

enum Msg {
    Publish(Outgoing),
    Close(Option<Outgoing>, oneshot::Sender<()>),
}

/// Cheap to clone; everything that publishes holds one.
#[derive(Clone)]
pub struct UplinkHandle {
    tx: mpsc::Sender<Msg>,
    connected: watch::Receiver<bool>,
}

/// Room for a long outage's worth of results before publishes are refused.
const QUEUE: usize = 4096;

pub struct Will {
    pub topic: String,
    pub online: Vec<u8>,
    pub offline: Vec<u8>,
}

impl UplinkHandle {
    /// Queues a QoS 1 publish. Returns false (and logs) if the queue is full.
    pub fn publish(&self, topic: String, payload: Vec<u8>, retain: bool) -> bool {
        match self.tx.try_send(Msg::Publish(Outgoing { topic, payload, retain })) {
            Ok(()) => true,
            Err(e) => {
                warn!(cause = %e, "uplink queue full or closed; message not sent");
                false
            }
        }
    }

    pub fn connected(&self) -> watch::Receiver<bool> {
        self.connected.clone()
    }

    /// Sends `last` (e.g. an explicit offline status), disconnects cleanly and
    /// waits up to `grace` for it to go out.
    pub async fn close(&self, last: Option<Outgoing>, grace: Duration) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Close(last, done)).await.is_ok() {
            let _ = tokio::time::timeout(grace, wait).await;
        }
    }
}

pub fn start(cfg: &MqttConfig, host: &str, port: u16, will: Will) -> UplinkHandle {
    let mut options = MqttOptions::new(cfg.client_id.clone(), host, port);
    options.set_keep_alive(cfg.keepalive);
    options.set_max_packet_size(cfg.max_packet_size as usize, cfg.max_packet_size as usize);
    options.set_last_will(LastWill::new(will.topic.clone(), will.offline, QoS::AtLeastOnce, true));
    if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
        options.set_credentials(u.clone(), p.clone());
    }
    let (client, eventloop) = AsyncClient::new(options, 64);
    let (tx, rx) = mpsc::channel(QUEUE);
    let (connected_tx, connected) = watch::channel(false);
    let online = Outgoing { topic: will.topic, payload: will.online, retain: true };
    tokio::spawn(drive(eventloop, client.clone(), online, connected_tx));
    tokio::spawn(feed(client, rx));
    UplinkHandle { tx, connected }
}

async fn drive(mut eventloop: EventLoop, client: AsyncClient, online: Outgoing, connected: watch::Sender<bool>) {
    let mut backoff = Duration::from_millis(250);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                info!(code = ?ack.code, "connected to broker");
                backoff = Duration::from_millis(250);
                connected.send_replace(true);
                if let Err(e) = client.try_publish(&online.topic, QoS::AtLeastOnce, true, online.payload.clone()) {
                    warn!(cause = %e, "could not queue the online status");
                }
            }
            Ok(Event::Outgoing(RumqttOutgoing::Disconnect)) => {
                debug!("disconnect sent");
                connected.send_replace(false);
                return;
            }
            Ok(_) => {}
            Err(e) => {
                if connected.send_replace(false) {
                    warn!(cause = %e, "lost the broker; reconnecting");
                } else {
                    debug!(cause = %e, ?backoff, "broker unreachable");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

async fn feed(client: AsyncClient, mut rx: mpsc::Receiver<Msg>) {
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Publish(o) => {
                if let Err(e) = client.publish(o.topic, QoS::AtLeastOnce, o.retain, o.payload).await {
                    warn!(cause = %e, "publish failed");
                }
            }
            Msg::Close(last, done) => {
                if let Some(o) = last {
                    let _ = client.publish(o.topic, QoS::AtLeastOnce, o.retain, o.payload).await;
                }
                let _ = client.disconnect().await;
                let _ = done.send(());
                return;
            }
        }
    }
}
