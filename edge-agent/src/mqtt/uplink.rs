//! The MQTT connection to central, fed from the durable outbox.
//!
//! A message leaves the outbox only when the broker's PUBACK for it arrives. One task owns
//! everything about that: the in-flight state ([`Flight`], pure), the client's request queue and
//! the outbox fetches. rumqttc's event loop is polled by a task of its own ([`super::link`]),
//! which hands events over in order, so the uplink task can wait on the outbox, the link and a
//! clean stop at once without ever cancelling a poll.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{info, warn};

use super::flight::{Acked, Flight, Tag};
use super::inbound::{Inbox, LinkCounters};
use super::link::{self, LinkEvent, MQTT_MAX_REMAINING};
use crate::config::MqttConfig;
use crate::outbox::{Due, Message, OutboxHandle};

/// Outbox rows allowed in flight (published, not yet acknowledged).
const WINDOW: usize = 64;
/// Fetch more once this much of the window is free (or the outbox said it had nothing).
const REFILL: usize = WINDOW / 4;

/// The lane's status for a given moment: the online one, or the offline one.
pub type StatusFor = Box<dyn Fn(bool, DateTime<Utc>) -> Vec<u8> + Send + Sync>;

pub struct Will {
    pub topic: String,
    /// `status(online, since)`: the retained status payload.
    pub status: StatusFor,
}

/// Cheap to clone; everything that publishes holds one.
#[derive(Clone)]
pub struct UplinkHandle {
    outbox: OutboxHandle,
    control: mpsc::Sender<Control>,
    connected: watch::Receiver<bool>,
    pub counters: Arc<LinkCounters>,
}

enum Control {
    Close { grace: Duration, done: oneshot::Sender<()> },
}

impl UplinkHandle {
    /// Stores the message in the outbox; it is sent when the link allows.
    pub fn publish(&self, message: Message) -> bool {
        self.outbox.push(message)
    }

    pub fn connected(&self) -> watch::Receiver<bool> {
        self.connected.clone()
    }

    pub fn outbox(&self) -> &OutboxHandle {
        &self.outbox
    }

    /// Says goodbye: sends the results still waiting (the final audit checkpoint among them),
    /// publishes `offline` (retained), disconnects — all within `grace`. What has not gone by
    /// then stays in the outbox for the next start.
    pub async fn close(&self, grace: Duration) {
        let (done, wait) = oneshot::channel();
        if self.control.send(Control::Close { grace, done }).await.is_ok() {
            let _ = tokio::time::timeout(grace + Duration::from_secs(1), wait).await;
        }
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
    // Incoming: anything MQTT can carry, so no message can break the link; the configured
    // command limit is applied to what arrives (see `link`).
    options.set_max_packet_size(MQTT_MAX_REMAINING, cfg.max_packet_size as usize);
    // The window plus the two status messages, which are not outbox rows.
    options.set_inflight(WINDOW as u16 + 2);
    if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
        options.set_credentials(u.clone(), p.clone());
    }
    let Will { topic: status_topic, status } = will;
    let status = Arc::new(status);
    let will_status = status.clone();
    let will_topic = status_topic.clone();
    options.set_last_will(link::last_will(&will_topic, will_status(false, Utc::now())));
    let (client, eventloop) = AsyncClient::new(options, WINDOW + 16);
    let (events_tx, events) = mpsc::channel(1024);
    tokio::spawn(link::run(
        eventloop,
        events_tx,
        Box::new(move |at| link::last_will(&will_topic, will_status(false, at))),
    ));
    let (connected_tx, connected) = watch::channel(false);
    let (control_tx, control) = mpsc::channel(4);
    let counters = Arc::new(LinkCounters::default());
    let uplink = Uplink {
        client,
        flight: Flight::new(WINDOW),
        outbox: outbox.clone(),
        connected: connected_tx,
        status_topic,
        status,
        inbox,
        counters: counters.clone(),
        fetch: None,
        asked: 0,
        idle: false,
        closing: None,
        depth: None,
        finished: false,
    };
    tokio::spawn(uplink.run(events, control));
    Ok(UplinkHandle { outbox, control: control_tx, connected, counters })
}

/// A clean stop under way: results first, then `offline`, then the DISCONNECT.
struct Closing {
    deadline: Instant,
    phase: Phase,
    done: Option<oneshot::Sender<()>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Sending until the outbox holds no result (the final audit checkpoint among them).
    Draining,
    /// `offline` handed to the client; the DISCONNECT follows its PUBACK.
    OfflineSent,
}

/// How often a clean stop asks the outbox whether results are still waiting.
const DRAIN_CHECK: Duration = Duration::from_millis(25);

struct Uplink {
    client: AsyncClient,
    flight: Flight,
    outbox: OutboxHandle,
    connected: watch::Sender<bool>,
    status_topic: String,
    status: Arc<StatusFor>,
    inbox: Option<Inbox>,
    counters: Arc<LinkCounters>,
    /// An outbox fetch under way, and how many rows it asked for.
    fetch: Option<oneshot::Receiver<Vec<Due>>>,
    asked: usize,
    /// The last fetch found nothing more to send: wait for a push.
    idle: bool,
    closing: Option<Closing>,
    /// While closing: a question to the outbox about what still waits.
    depth: Option<oneshot::Receiver<crate::outbox::Depth>>,
    /// A clean stop is complete without a DISCONNECT to wait for.
    finished: bool,
}

impl Uplink {
    async fn run(mut self, mut events: mpsc::Receiver<LinkEvent>, mut control: mpsc::Receiver<Control>) {
        let pushed = self.outbox.pushed.clone();
        let mut drain_check = tokio::time::interval(DRAIN_CHECK);
        while !self.finished {
            self.maybe_fetch();
            let deadline = self.closing.as_ref().map(|c| c.deadline);
            let draining = self.closing.as_ref().is_some_and(|c| c.phase == Phase::Draining);
            tokio::select! {
                event = events.recv() => match event {
                    Some(LinkEvent::Closed) | None => break,
                    Some(event) => self.on_link(event),
                },
                batch = answer(&mut self.fetch) => {
                    self.fetch = None;
                    self.on_batch(batch.unwrap_or_default());
                }
                _ = pushed.notified(), if self.idle => self.idle = false,
                Some(Control::Close { grace, done }) = control.recv(), if self.closing.is_none() => {
                    let deadline = Instant::now() + grace.saturating_sub(Duration::from_millis(500));
                    self.closing = Some(Closing { deadline, phase: Phase::Draining, done: Some(done) });
                    self.idle = false;
                }
                _ = drain_check.tick(), if draining && self.depth.is_none() => {
                    self.depth = Some(self.outbox.request_depth());
                }
                depth = answer(&mut self.depth) => {
                    self.depth = None;
                    // Nothing to wait for once the results are out, or while there is no link to
                    // send them on (they stay in the outbox for the next start).
                    if depth.is_ok_and(|d| d.results == 0) || !self.flight.is_connected() {
                        self.send_offline();
                    }
                }
                _ = sleep_until(deadline), if deadline.is_some() => self.closing_overdue(),
            }
        }
        self.connected.send_replace(false);
        if let Some(done) = self.closing.and_then(|mut c| c.done.take()) {
            let _ = done.send(());
        }
    }

    fn on_link(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Connected { at } => {
                info!("connected to broker");
                self.counters.connects.fetch_add(1, Ordering::Relaxed);
                self.flight.connected();
                let online = (self.status)(true, at);
                if self.client.try_publish(self.status_topic.clone(), QoS::AtLeastOnce, true, online).is_ok()
                {
                    self.flight.requested(Tag::Online);
                }
                if let Some(inbox) = &self.inbox {
                    // Again on every connect: a broker that lost the session (restart without
                    // persistence) must learn it anew.
                    if let Err(e) = self.client.try_subscribe(inbox.topic.clone(), QoS::AtLeastOnce) {
                        warn!(cause = %e, "cannot subscribe to commands");
                    }
                }
                self.idle = false;
                self.connected.send_replace(true);
            }
            LinkEvent::Mqtt(Event::Outgoing(Outgoing::Publish(pkid))) => {
                if !self.flight.sent(pkid) {
                    warn!(pkid, "publish without a record of its request");
                }
            }
            LinkEvent::Mqtt(Event::Incoming(Packet::PubAck(ack))) => match self.flight.acked(ack.pkid) {
                Acked::Stored(id) => {
                    self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                    // Queued before any later fetch, so the row cannot be fetched again.
                    self.outbox.ack(vec![id]);
                }
                Acked::Offline => {
                    let _ = self.client.try_disconnect();
                }
                Acked::Online | Acked::Unknown => {}
            },
            LinkEvent::Mqtt(Event::Incoming(Packet::Publish(p))) => {
                if let Some(inbox) = &self.inbox {
                    inbox.take(&p.topic, &p.payload, &self.counters);
                }
            }
            LinkEvent::Mqtt(_) => {}
            LinkEvent::Lost { was_connected, resync } => {
                if was_connected {
                    self.counters.losses.fetch_add(1, Ordering::Relaxed);
                }
                self.flight.lost();
                // A fetch under way is answered into the void: its rows stay in the outbox.
                self.fetch = None;
                self.connected.send_replace(false);
                let _ = resync.send(());
                if self.closing.as_ref().is_some_and(|c| c.phase == Phase::OfflineSent) {
                    self.finished = true;
                }
            }
            LinkEvent::Closed => {}
        }
    }

    fn maybe_fetch(&mut self) {
        let stopping = self.closing.as_ref().is_some_and(|c| c.phase == Phase::OfflineSent);
        let room = self.flight.room();
        let worth = room >= REFILL || (room > 0 && self.flight.in_flight().is_empty());
        if self.fetch.is_none() && !self.idle && !stopping && worth {
            self.fetch = Some(self.outbox.request_next(self.flight.in_flight().clone(), room));
            self.asked = room;
        }
    }

    fn on_batch(&mut self, batch: Vec<Due>) {
        // Fewer than asked: nothing more is waiting (until the next push).
        self.idle = batch.len() < self.asked;
        for m in batch {
            if !self.flight.is_connected() || self.flight.in_flight().contains(&m.id) {
                break;
            }
            match self.client.try_publish(m.topic, QoS::AtLeastOnce, m.retain, m.payload) {
                Ok(()) => self.flight.requested(Tag::Stored(m.id)),
                Err(e) => {
                    warn!(cause = %e, "client queue refused a publish; it stays in the outbox");
                    break;
                }
            }
        }
    }

    /// Results delivered (or no link to deliver them on): `offline` goes out.
    fn send_offline(&mut self) {
        let connected = self.flight.is_connected();
        let Some(c) = &mut self.closing else { return };
        if c.phase == Phase::OfflineSent {
            return;
        }
        c.phase = Phase::OfflineSent;
        c.deadline = Instant::now() + Duration::from_millis(500);
        let offline = (self.status)(false, Utc::now());
        if connected
            && self.client.try_publish(self.status_topic.clone(), QoS::AtLeastOnce, true, offline).is_ok()
        {
            self.flight.requested(Tag::Offline);
        } else {
            // No link to say goodbye on (the broker's will says it): done.
            self.finished = true;
        }
    }

    fn closing_overdue(&mut self) {
        match self.closing.as_ref().map(|c| c.phase) {
            Some(Phase::Draining) => {
                warn!("stopping with results still waiting; they are sent after the next start");
                self.send_offline();
            }
            // `offline` never acknowledged: the broker's will covers it.
            Some(Phase::OfflineSent) => self.finished = true,
            None => {}
        }
    }
}

/// The answer to a question to the outbox, if one was asked; never resolves otherwise.
async fn answer<T>(question: &mut Option<oneshot::Receiver<T>>) -> Result<T, oneshot::error::RecvError> {
    match question {
        Some(rx) => rx.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
