//! ISO 18185 seal reader over a serial line (RS-232/485, USB-serial, or a PTY in
//! tests), speaking `protocol::seal`.
//!
//! The link is half duplex and polled: one request in flight, the reply matched
//! by address and sequence number, so a late reply to a request that already
//! timed out is recognised and dropped instead of answering the next one. Before
//! each request whatever is still buffered is thrown away (a stale or truncated
//! reply can only confuse the next exchange). A reply that does not come is
//! retried once with a fresh `seq`; the error that is finally returned says what
//! went wrong: [`DeviceError::Timeout`] when the reader was silent,
//! [`DeviceError::Protocol`] when something came back but never a clean frame.
//!
//! Health: `down` while the port cannot be opened or the reader does not answer;
//! `degraded` while replies arrive only after garbage, CRC errors or retries (a
//! noisy line, a bad termination resistor); `ok` after a clean exchange. A ping
//! every `keepalive` keeps the health current when the lane is quiet, and a
//! hang-up (USB adapter unplugged: reads return `Ok(0)`) reopens the port with
//! backoff.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, timeout_at, Instant};
use tracing::{debug, warn};

use crate::protocol::seal::{self, LogEvent, NakCode, SealBody, SealFrame, SealId, MAX_EVENTS};
use crate::transport::{
    converse, supervise, Backoff, Connector, Dialogue, Framed, HealthReporter, Request, TxError,
};
use crate::{DeviceError, Health, SealRead, SealReader};

#[derive(Debug, Clone)]
pub struct SealReaderConfig {
    /// Bus address of the reader, 1–247.
    pub address: u8,
    /// How long the reader listens for seals per interrogation.
    pub window: Duration,
    /// Added to the window (or alone, for a ping) to give the reply time to arrive.
    pub reply_margin: Duration,
    /// Attempts per request (1 = no retry).
    pub attempts: u8,
    /// A ping when the link has been idle this long.
    pub keepalive: Duration,
    pub backoff: Backoff,
}

impl Default for SealReaderConfig {
    fn default() -> Self {
        SealReaderConfig {
            address: 1,
            window: Duration::from_millis(500),
            reply_margin: Duration::from_millis(500),
            attempts: 2,
            keepalive: Duration::from_secs(5),
            backoff: Backoff::default(),
        }
    }
}

#[derive(Debug)]
enum Query {
    Interrogate,
    Ping,
    ReadLog(SealId),
}

#[derive(Debug)]
enum Answer {
    Seals(Vec<SealRead>),
    Pong { fw: (u8, u8), serial: u32 },
    Log(Vec<LogEvent>),
}

/// Handle to a seal reader; the link runs in its own task, stopped when the
/// handle is dropped.
pub struct SealReaderDriver {
    tx: mpsc::Sender<Request<Query, Answer>>,
    health: watch::Receiver<Health>,
}

impl SealReaderDriver {
    /// Starts the link task. `name` names the device in logs and health.
    pub fn spawn<C: Connector>(name: &str, connector: C, cfg: SealReaderConfig) -> Self {
        let health = HealthReporter::new(name);
        let (tx, rx) = mpsc::channel(8);
        let rx_health = health.subscribe();
        let cfg = Arc::new(cfg);
        let backoff = cfg.backoff.clone();
        let h = health.clone();
        tokio::spawn(supervise(connector, rx, health, backoff, move |io, rx| {
            converse(Session { io, cfg: cfg.clone(), health: h.clone(), seq: 0 }, rx)
        }));
        SealReaderDriver { tx, health: rx_health }
    }

    pub fn health(&self) -> watch::Receiver<Health> {
        self.health.clone()
    }

    /// Firmware version and reader serial number.
    pub async fn ping(&self) -> Result<((u8, u8), u32), DeviceError> {
        match Request::call(&self.tx, Query::Ping).await? {
            Answer::Pong { fw, serial } => Ok((fw, serial)),
            other => Err(DeviceError::Protocol(format!("unexpected answer {other:?}"))),
        }
    }

    /// A seal's whole event log, read page by page.
    pub async fn read_log(&self, seal: SealId) -> Result<Vec<LogEvent>, DeviceError> {
        match Request::call(&self.tx, Query::ReadLog(seal)).await? {
            Answer::Log(events) => Ok(events),
            other => Err(DeviceError::Protocol(format!("unexpected answer {other:?}"))),
        }
    }
}

#[async_trait]
impl SealReader for SealReaderDriver {
    async fn interrogate(&mut self) -> Result<Vec<SealRead>, DeviceError> {
        match Request::call(&self.tx, Query::Interrogate).await? {
            Answer::Seals(seals) => Ok(seals),
            other => Err(DeviceError::Protocol(format!("unexpected answer {other:?}"))),
        }
    }
}

struct Session<S> {
    io: Framed<S>,
    cfg: Arc<SealReaderConfig>,
    health: HealthReporter,
    seq: u8,
}

#[async_trait]
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Dialogue for Session<S> {
    type Stream = S;
    type Query = Query;
    type Answer = Answer;

    fn ping(&self) -> Query {
        Query::Ping
    }

    fn keepalive(&self) -> Duration {
        self.cfg.keepalive
    }

    fn who(&self) -> String {
        format!("reader {}", self.cfg.address)
    }

    fn health(&self) -> &HealthReporter {
        &self.health
    }

    fn link(&mut self) -> &mut Framed<S> {
        &mut self.io
    }

    async fn ask(&mut self, q: Query) -> Result<Answer, TxError> {
        self.answer(q).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    async fn answer(&mut self, q: Query) -> Result<Answer, TxError> {
        let window_ms = self.cfg.window.as_millis().min(u128::from(u16::MAX)) as u16;
        let with_window = self.cfg.window + self.cfg.reply_margin;
        match q {
            Query::Ping => match self.exchange(SealBody::Ping, self.cfg.reply_margin).await? {
                SealBody::PingReply { fw_major, fw_minor, reader_serial } => {
                    Ok(Answer::Pong { fw: (fw_major, fw_minor), serial: reader_serial })
                }
                other => Err(unexpected(&other)),
            },
            Query::Interrogate => {
                match self.exchange(SealBody::Interrogate { window_ms }, with_window).await? {
                    SealBody::InterrogateReply { seals } => {
                        Ok(Answer::Seals(seals.into_iter().map(SealRead::from).collect()))
                    }
                    other => Err(unexpected(&other)),
                }
            }
            Query::ReadLog(seal) => {
                let mut events = Vec::new();
                loop {
                    let req = SealBody::ReadLog { seal, from: events.len() as u16, max: MAX_EVENTS as u8 };
                    match self.exchange(req, self.cfg.reply_margin).await? {
                        SealBody::LogReply { total, events: page, .. } => {
                            let empty = page.is_empty();
                            events.extend(page);
                            if empty || events.len() >= usize::from(total) {
                                return Ok(Answer::Log(events));
                            }
                        }
                        other => return Err(unexpected(&other)),
                    }
                }
            }
        }
    }

    /// Sends `body` and waits for the reply with the same address and `seq`,
    /// retrying as configured. Records health on success.
    async fn exchange(&mut self, body: SealBody, wait: Duration) -> Result<SealBody, TxError> {
        let mut last = DeviceError::Timeout(wait);
        for attempt in 0..self.cfg.attempts.max(1) {
            let stale = self.io.discard();
            if stale > 0 {
                debug!(device = self.health.device(), stale, "dropped stale bytes before a request");
            }
            self.seq = self.seq.wrapping_add(1);
            let frame = SealFrame { addr: self.cfg.address, seq: self.seq, body: body.clone() };
            let mut out = BytesMut::new();
            seal::encode(&frame, &mut out)
                .map_err(|e| TxError::Device(DeviceError::Protocol(e.to_string())))?;
            self.io.send(&out).await.map_err(TxError::Link)?;
            let deadline = Instant::now() + wait;
            let mut corrupt: Option<String> = None;
            let outcome = loop {
                let next = self.io.next(seal::decode, |e| {
                    warn!(device = self.health.device(), error = %e, "corrupt data from reader");
                    corrupt.get_or_insert_with(|| e.to_string());
                });
                match timeout_at(deadline, next).await {
                    Err(_) => {
                        if self.io.buffered() > 0 {
                            corrupt.get_or_insert_with(|| "reply truncated".into());
                        }
                        break None;
                    }
                    Ok(Err(e)) => return Err(TxError::Link(e)),
                    Ok(Ok(f)) if f.addr != self.cfg.address || f.seq != self.seq => {
                        debug!(
                            device = self.health.device(),
                            seq = f.seq,
                            "dropped a reply to an earlier request"
                        );
                    }
                    Ok(Ok(f)) => break Some(f.body),
                }
            };
            match outcome {
                Some(SealBody::Nak { code, .. }) => match code {
                    NakCode::BadFrame => {
                        last = DeviceError::Protocol("reader received our request corrupted".into())
                    }
                    NakCode::Busy => {
                        last = DeviceError::Protocol("reader stayed busy".into());
                        sleep(self.cfg.window).await;
                    }
                    NakCode::RadioFault => {
                        return Err(TxError::Device(DeviceError::Fault(
                            "reader reports a radio front-end fault".into(),
                        )))
                    }
                    NakCode::UnknownCommand => {
                        return Err(TxError::Device(DeviceError::Protocol(
                            "reader does not know the command: firmware too old".into(),
                        )))
                    }
                    code => {
                        return Err(TxError::Device(DeviceError::Protocol(format!(
                            "reader refused: {code:?}"
                        ))))
                    }
                },
                Some(reply) => {
                    match (attempt, corrupt) {
                        (0, None) => self.health.ok(),
                        (_, Some(c)) => self.health.degraded(format!("recovered from corrupt data: {c}")),
                        (n, None) => self.health.degraded(format!("answered only after {n} retries")),
                    }
                    return Ok(reply);
                }
                None => {
                    last = match corrupt {
                        Some(c) => DeviceError::Protocol(format!("no clean reply: {c}")),
                        None => DeviceError::Timeout(wait),
                    }
                }
            }
        }
        Err(TxError::Device(last))
    }
}

fn unexpected(body: &SealBody) -> TxError {
    TxError::Device(DeviceError::Protocol(format!("unexpected reply {body:?}")))
}

#[cfg(test)]
mod tests;
