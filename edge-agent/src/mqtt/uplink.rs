//! The MQTT connection to central, fed from the durable outbox.
//!
//! A message leaves the outbox only when the broker's PUBACK for it arrives.
//! rumqttc does not say which packet id a `publish` call got; it emits
//! `Outgoing::Publish(pkid)` for requests in the order they were made. So every
//! publish is recorded in a FIFO under the same lock as the call itself, and the
//! driver task pairs each `Outgoing::Publish` with the FIFO's head. On a lost
//! connection the driver, under that lock, drops everything rumqttc still holds
//! (`clean` + `pending.clear()`) and the FIFO: what was unacknowledged is simply
//! sent again from the outbox after the reconnect. Consumers deduplicate.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{
    AsyncClient, Event, EventLoop, LastWill, MqttOptions, Outgoing as RumqttOutgoing, Packet, QoS,
};
use tokio::sync::{watch, Notify};
use tracing::{debug, info, warn};

use crate::config::MqttConfig;
use crate::outbox::{Class, OutboxHandle};

/// Messages allowed in flight (published, not yet acknowledged).
const WINDOW: usize = 64;
/// Marks a FIFO entry that is not from the outbox (the online status).
const NOT_STORED: i64 = 0;

/// Where commands from central arrive and where they are handed on.
pub struct Inbox {
    pub topic: String,
    pub tx: tokio::sync::mpsc::Sender<Vec<u8>>,
}

pub struct Will {
    pub topic: String,
    pub online: Vec<u8>,
    pub offline: Vec<u8>,
}

#[derive(Default)]
struct Flight {
    connected: bool,
    fifo: VecDeque<i64>,
    by_pkid: HashMap<u16, i64>,
    in_flight: HashSet<i64>,
}

/// Cheap to clone; everything that publishes holds one.
#[derive(Clone)]
pub struct UplinkHandle {
    outbox: OutboxHandle,
    client: AsyncClient,
    flight: Arc<Mutex<Flight>>,
    connected: watch::Receiver<bool>,
    stopped: watch::Receiver<bool>,
}

impl UplinkHandle {
    /// Stores the message in the outbox; it is sent when the link allows.
    pub fn publish(&self, class: Class, topic: String, payload: Vec<u8>, retain: bool) -> bool {
        self.outbox.push(class, topic, payload, retain)
    }

    pub fn connected(&self) -> watch::Receiver<bool> {
        self.connected.clone()
    }

    pub fn outbox(&self) -> &OutboxHandle {
        &self.outbox
    }

    /// Says goodbye: publishes `offline` (retained), disconnects, and waits up
    /// to `grace` for it to go out. What is still in the outbox stays there.
    pub async fn close(&self, offline: Vec<u8>, topic: String, grace: Duration) {
        {
            let mut f = self.flight.lock().unwrap();
            if f.connected && self.client.try_publish(topic, QoS::AtLeastOnce, true, offline).is_ok() {
                f.fifo.push_back(NOT_STORED);
            }
        }
        let _ = self.client.try_disconnect();
        let mut stopped = self.stopped.clone();
        let _ = tokio::time::timeout(grace, stopped.wait_for(|s| *s)).await;
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}")]
pub struct TlsFileError {
    path: String,
    source: std::io::Error,
}

/// rumqttc's TLS settings from the configured PEM files: the broker is verified
/// against `ca`; with a client certificate the lane proves who it is (mutual TLS).
pub fn tls_transport(tls: &crate::config::TlsConfig) -> Result<rumqttc::Transport, TlsFileError> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|source| TlsFileError { path: p.display().to_string(), source })
    };
    let ca = read(&tls.ca)?;
    let client_auth = match &tls.client {
        Some((cert, key)) => Some((read(cert)?, read(key)?)),
        None => None,
    };
    Ok(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Simple { ca, alpn: None, client_auth }))
}

pub fn start(
    cfg: &MqttConfig,
    host: &str,
    port: u16,
    will: Will,
    outbox: OutboxHandle,
    inbox: Option<Inbox>,
) -> Result<UplinkHandle, TlsFileError> {
    let mut options = MqttOptions::new(cfg.client_id.clone(), host, port);
    // A persistent session: the broker keeps commands for the lane while the
    // link is down. Our own messages do not rely on it; the outbox resends them.
    options.set_clean_session(false);
    if let Some(tls) = &cfg.tls {
        options.set_transport(tls_transport(tls)?);
    }
    options.set_keep_alive(cfg.keepalive);
    options.set_max_packet_size(cfg.max_packet_size as usize, cfg.max_packet_size as usize);
    options.set_last_will(LastWill::new(will.topic.clone(), will.offline, QoS::AtLeastOnce, true));
    options.set_inflight(WINDOW as u16);
    if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
        options.set_credentials(u.clone(), p.clone());
    }
    let (client, eventloop) = AsyncClient::new(options, WINDOW);
    let flight = Arc::new(Mutex::new(Flight::default()));
    let wake = Arc::new(Notify::new());
    let (connected_tx, connected) = watch::channel(false);
    let (stopped_tx, stopped) = watch::channel(false);
    let driver = Driver {
        client: client.clone(),
        flight: flight.clone(),
        wake: wake.clone(),
        outbox: outbox.clone(),
        connected: connected_tx,
        online: (will.topic, will.online),
        inbox,
    };
    tokio::spawn(async move {
        driver.run(eventloop).await;
        stopped_tx.send_replace(true);
    });
    tokio::spawn(feed(client.clone(), flight.clone(), wake, outbox.clone()));
    Ok(UplinkHandle { outbox, client, flight, connected, stopped })
}

struct Driver {
    client: AsyncClient,
    flight: Arc<Mutex<Flight>>,
    wake: Arc<Notify>,
    outbox: OutboxHandle,
    connected: watch::Sender<bool>,
    online: (String, Vec<u8>),
    inbox: Option<Inbox>,
}

impl Driver {
    async fn run(self, mut eventloop: EventLoop) {
        let mut backoff = Duration::from_millis(250);
        // An installer must see why the link does not come up (TLS, auth,
        // address), once per distinct cause rather than at every retry.
        let mut last_error = String::new();
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    info!("connected to broker");
                    last_error.clear();
                    backoff = Duration::from_millis(250);
                    let mut f = self.flight.lock().unwrap();
                    f.connected = true;
                    let (topic, payload) = self.online.clone();
                    if self.client.try_publish(topic, QoS::AtLeastOnce, true, payload).is_ok() {
                        f.fifo.push_back(NOT_STORED);
                    }
                    drop(f);
                    if let Some(inbox) = &self.inbox {
                        // Again on every connect: a broker that lost the session
                        // (restart without persistence) must learn it anew.
                        if let Err(e) = self.client.try_subscribe(inbox.topic.clone(), QoS::AtLeastOnce) {
                            warn!(cause = %e, "cannot subscribe to commands");
                        }
                    }
                    self.connected.send_replace(true);
                    self.wake.notify_one();
                }
                Ok(Event::Outgoing(RumqttOutgoing::Publish(pkid))) => {
                    let mut f = self.flight.lock().unwrap();
                    match f.fifo.pop_front() {
                        Some(NOT_STORED) => {}
                        Some(id) => {
                            f.by_pkid.insert(pkid, id);
                        }
                        None => warn!(pkid, "publish without a record of its request"),
                    }
                    drop(f);
                    self.wake.notify_one();
                }
                Ok(Event::Incoming(Packet::PubAck(ack))) => {
                    let mut f = self.flight.lock().unwrap();
                    if let Some(id) = f.by_pkid.remove(&ack.pkid) {
                        // Queue the delete before the id leaves `in_flight`, so the
                        // sender cannot fetch it again in between.
                        self.outbox.ack(vec![id]);
                        f.in_flight.remove(&id);
                    }
                    drop(f);
                    self.wake.notify_one();
                }
                Ok(Event::Incoming(Packet::Publish(p))) => self.deliver(p),
                Ok(Event::Outgoing(RumqttOutgoing::Disconnect)) => {
                    debug!("disconnect sent");
                    self.forget(&mut eventloop);
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    let cause = e.to_string();
                    if *self.connected.borrow() {
                        warn!(%cause, "lost the broker; reconnecting");
                    } else if cause != last_error {
                        warn!(%cause, "cannot reach the broker; retrying with backoff");
                    } else {
                        debug!(%cause, ?backoff, "broker still unreachable");
                    }
                    last_error = cause;
                    self.forget(&mut eventloop);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    fn deliver(&self, p: rumqttc::Publish) {
        let Some(inbox) = self.inbox.as_ref().filter(|i| i.topic == p.topic) else {
            debug!(topic = %p.topic, "message on a topic the lane does not read");
            return;
        };
        // The lane loop takes commands quickly; a full queue means a flood, and
        // central sees no ack for what is dropped here.
        if inbox.tx.try_send(p.payload.to_vec()).is_err() {
            warn!(bytes = p.payload.len(), "command queue full or closed; command dropped");
        }
    }

    /// Drops every unacknowledged publish: the outbox still has them all.
    fn forget(&self, eventloop: &mut EventLoop) {
        let mut f = self.flight.lock().unwrap();
        f.connected = false;
        eventloop.clean(); // also takes requests that reached the channel late
        eventloop.pending.clear();
        f.fifo.clear();
        f.by_pkid.clear();
        f.in_flight.clear();
        drop(f);
        self.connected.send_replace(false);
    }
}

/// Takes messages from the outbox, in priority order, as the window allows.
async fn feed(client: AsyncClient, flight: Arc<Mutex<Flight>>, wake: Arc<Notify>, outbox: OutboxHandle) {
    loop {
        let (connected, in_flight) = {
            let f = flight.lock().unwrap();
            (f.connected, f.in_flight.clone())
        };
        if !connected || in_flight.len() >= WINDOW {
            wake.notified().await;
            continue;
        }
        let room = WINDOW - in_flight.len();
        let batch = outbox.next(in_flight, room).await;
        if batch.is_empty() {
            tokio::select! {
                _ = outbox.pushed.notified() => {}
                _ = wake.notified() => {}
            }
            continue;
        }
        let mut blocked = false;
        for m in batch {
            let mut f = flight.lock().unwrap();
            if !f.connected || f.in_flight.contains(&m.id) {
                break;
            }
            match client.try_publish(m.topic, QoS::AtLeastOnce, m.retain, m.payload) {
                Ok(()) => {
                    f.fifo.push_back(m.id);
                    f.in_flight.insert(m.id);
                }
                Err(_) => {
                    blocked = true; // request channel full
                    break;
                }
            }
        }
        if blocked {
            wake.notified().await; // the driver took a request or got an ack
        } else {
            tokio::task::yield_now().await;
        }
    }
}

/// Which outbox class a lane message belongs to.
pub fn class_of(topic: &str) -> Class {
    if topic.contains("/health/") || topic.ends_with("/status") || topic.ends_with("/stats") {
        Class::Telemetry
    } else if topic.contains("/image") {
        Class::Image
    } else {
        Class::Result
    }
}
