//! Container empty-box detector over TCP or a serial line, speaking
//! `protocol::emptybox`, reassembling results with `ResultAssembler`.
//!
//! A scan is one conversation: `StartScan` → `ScanAccepted` (or a Nak), then
//! the `ScanResult` and the interior image in chunks. Chunks that do not arrive
//! (dropped for a CRC error) are asked for again with `GetChunk`, a few rounds at
//! most; if the image still cannot be completed the verdict is delivered
//! without it and the device is marked degraded, because the verdict must not
//! wait for the picture. Like the seal reader, the link runs the shared
//! request/keepalive loop ([`crate::transport::converse`]): a ping (`GetStatus`)
//! when idle, reconnection with backoff, and `Disconnected` at once while the
//! link is down.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::time::{timeout_at, Instant};
use tracing::{debug, warn};

use crate::protocol::emptybox::{self, DetectorState, EbBody, EbMsg, NakCode, ResultAssembler};
use crate::transport::{
    converse, supervise, Backoff, Connector, Dialogue, Framed, HealthReporter, Request, TxError,
};
use crate::{DeviceError, EmptyBoxDetector, EmptyBoxResult, Health};

#[derive(Debug, Clone)]
pub struct EmptyBoxConfig {
    /// For `ScanAccepted` / `Status` / a Nak.
    pub reply_timeout: Duration,
    /// From acceptance to the result.
    pub scan_timeout: Duration,
    /// Without a new chunk for this long, the missing ones are asked for again.
    pub chunk_timeout: Duration,
    /// Rounds of `GetChunk` before finishing without the image.
    pub chunk_rounds: u8,
    pub want_image: bool,
    pub keepalive: Duration,
    pub backoff: Backoff,
}

impl Default for EmptyBoxConfig {
    fn default() -> Self {
        EmptyBoxConfig {
            reply_timeout: Duration::from_secs(1),
            scan_timeout: Duration::from_secs(30),
            chunk_timeout: Duration::from_secs(2),
            chunk_rounds: 3,
            want_image: true,
            keepalive: Duration::from_secs(5),
            backoff: Backoff::default(),
        }
    }
}

#[derive(Debug)]
enum Query {
    Scan(Option<String>),
    Status,
}

#[derive(Debug)]
enum Answer {
    Result(EmptyBoxResult),
    Status(DetectorState, u16),
}

pub struct EmptyBoxDriver {
    tx: mpsc::Sender<Request<Query, Answer>>,
    health: watch::Receiver<Health>,
}

impl EmptyBoxDriver {
    pub fn spawn<C: Connector>(name: &str, connector: C, cfg: EmptyBoxConfig) -> Self {
        let health = HealthReporter::new(name);
        let (tx, rx) = mpsc::channel(4);
        let rx_health = health.subscribe();
        let cfg = Arc::new(cfg);
        let h = health.clone();
        tokio::spawn(supervise(connector, rx, health, cfg.backoff.clone(), move |io, rx| {
            converse(Session { io, cfg: cfg.clone(), health: h.clone(), seq: 0, corrupt: None }, rx)
        }));
        EmptyBoxDriver { tx, health: rx_health }
    }

    pub fn health(&self) -> watch::Receiver<Health> {
        self.health.clone()
    }

    /// The detector's own state and fault bits.
    pub async fn status(&self) -> Result<(DetectorState, u16), DeviceError> {
        match Request::call(&self.tx, Query::Status).await? {
            Answer::Status(s, f) => Ok((s, f)),
            other => Err(DeviceError::Protocol(format!("unexpected answer {other:?}"))),
        }
    }
}

#[async_trait]
impl EmptyBoxDetector for EmptyBoxDriver {
    async fn scan(&mut self, container: Option<&str>) -> Result<EmptyBoxResult, DeviceError> {
        match Request::call(&self.tx, Query::Scan(container.map(str::to_string))).await? {
            Answer::Result(r) => Ok(r),
            other => Err(DeviceError::Protocol(format!("unexpected answer {other:?}"))),
        }
    }
}

fn device(e: DeviceError) -> TxError {
    TxError::Device(e)
}

struct Session<S> {
    io: Framed<S>,
    cfg: Arc<EmptyBoxConfig>,
    health: HealthReporter,
    seq: u16,
    /// First corrupt-data error of the current exchange.
    corrupt: Option<String>,
}

#[async_trait]
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Dialogue for Session<S> {
    type Stream = S;
    type Query = Query;
    type Answer = Answer;

    fn ping(&self) -> Query {
        Query::Status
    }

    fn keepalive(&self) -> Duration {
        self.cfg.keepalive
    }

    fn who(&self) -> String {
        "detector".into()
    }

    fn health(&self) -> &HealthReporter {
        &self.health
    }

    fn link(&mut self) -> &mut Framed<S> {
        &mut self.io
    }

    async fn ask(&mut self, q: Query) -> Result<Answer, TxError> {
        self.corrupt = None;
        let stale = self.io.discard();
        if stale > 0 {
            debug!(device = self.health.device(), stale, "dropped stale bytes before a request");
        }
        let r = match q {
            Query::Status => self.status().await,
            Query::Scan(c) => self.scan(c).await,
        };
        if r.is_ok() {
            match &self.corrupt {
                None => self.health.ok(),
                Some(c) => self.health.degraded(format!("recovered from corrupt data: {c}")),
            }
        }
        r
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    async fn send(&mut self, body: EbBody) -> Result<u16, TxError> {
        self.seq = self.seq.wrapping_add(1);
        let mut out = BytesMut::new();
        emptybox::encode(&EbMsg { seq: self.seq, body }, &mut out)
            .map_err(|e| device(DeviceError::Protocol(e.to_string())))?;
        self.io.send(&out).await?;
        Ok(self.seq)
    }

    /// The next message for which `want` returns true, before `deadline`.
    /// `Ok(None)` on the deadline.
    async fn wait(
        &mut self,
        deadline: Instant,
        mut want: impl FnMut(&EbMsg) -> bool,
    ) -> Result<Option<EbMsg>, TxError> {
        loop {
            let (device, corrupt) = (self.health.device(), &mut self.corrupt);
            let next = self.io.next(emptybox::decode, |e| {
                warn!(device, error = %e, "corrupt data from detector");
                corrupt.get_or_insert_with(|| e.to_string());
            });
            match timeout_at(deadline, next).await {
                Err(_) => {
                    if self.io.buffered() > 0 {
                        self.corrupt.get_or_insert_with(|| "reply truncated".into());
                        self.io.discard();
                    }
                    return Ok(None);
                }
                Ok(Err(e)) => return Err(e.into()),
                Ok(Ok(m)) if want(&m) => return Ok(Some(m)),
                Ok(Ok(m)) => {
                    debug!(device = self.health.device(), seq = m.seq, "dropped an unexpected message")
                }
            }
        }
    }

    /// The error for a reply that never came: silence or only corrupt data.
    fn no_reply(&self, waited: Duration) -> TxError {
        device(match &self.corrupt {
            Some(c) => DeviceError::Protocol(format!("no clean reply: {c}")),
            None => DeviceError::Timeout(waited),
        })
    }

    async fn status(&mut self) -> Result<Answer, TxError> {
        let seq = self.send(EbBody::GetStatus).await?;
        let wait = self.cfg.reply_timeout;
        match self.wait(Instant::now() + wait, |m| m.seq == seq).await? {
            Some(EbMsg { body: EbBody::Status { state, faults }, .. }) => {
                if state == DetectorState::Fault {
                    return Err(device(DeviceError::Fault(format!(
                        "detector reports a fault (bits {faults:#06x})"
                    ))));
                }
                Ok(Answer::Status(state, faults))
            }
            Some(EbMsg { body: EbBody::Nak { code, .. }, .. }) => Err(nak(code)),
            Some(other) => Err(device(DeviceError::Protocol(format!("unexpected reply {:?}", other.body)))),
            None => Err(self.no_reply(wait)),
        }
    }

    async fn scan(&mut self, container: Option<String>) -> Result<Answer, TxError> {
        let seq = self.send(EbBody::StartScan { container, want_image: self.cfg.want_image }).await?;
        let wait = self.cfg.reply_timeout;
        let scan_id = match self.wait(Instant::now() + wait, |m| m.seq == seq).await? {
            Some(EbMsg { body: EbBody::ScanAccepted { scan_id }, .. }) => scan_id,
            Some(EbMsg { body: EbBody::Nak { code, .. }, .. }) => return Err(nak(code)),
            Some(other) => {
                return Err(device(DeviceError::Protocol(format!("unexpected reply {:?}", other.body))))
            }
            None => return Err(self.no_reply(wait)),
        };
        let is_result = |m: &EbMsg| matches!(&m.body, EbBody::ScanResult(r) if r.scan_id == scan_id);
        let result = match self.wait(Instant::now() + self.cfg.scan_timeout, is_result).await? {
            Some(EbMsg { body: EbBody::ScanResult(r), .. }) => r,
            _ => return Err(self.no_reply(self.cfg.scan_timeout)),
        };
        let mut asm =
            ResultAssembler::new(result).map_err(|e| device(DeviceError::Protocol(e.to_string())))?;
        for round in 0..=self.cfg.chunk_rounds {
            while !asm.is_complete() {
                let is_chunk = |m: &EbMsg| matches!(&m.body, EbBody::ImageChunk(c) if c.scan_id == scan_id);
                match self.wait(Instant::now() + self.cfg.chunk_timeout, is_chunk).await? {
                    Some(EbMsg { body: EbBody::ImageChunk(c), .. }) => {
                        if let Err(e) = asm.push(c) {
                            self.corrupt.get_or_insert_with(|| e.to_string());
                        }
                    }
                    _ => break,
                }
            }
            if asm.is_complete() || round == self.cfg.chunk_rounds {
                break;
            }
            let missing = asm.missing();
            debug!(
                device = self.health.device(),
                scan_id,
                missing = missing.len(),
                round,
                "asking for image chunks again"
            );
            for index in missing {
                self.send(EbBody::GetChunk { scan_id, index }).await?;
            }
        }
        let result = match asm.is_complete() {
            true => asm.finish().map_err(|e| device(DeviceError::Protocol(e.to_string())))?,
            false => {
                self.corrupt
                    .get_or_insert_with(|| "interior image incomplete; verdict delivered without it".into());
                asm.finish_without_image()
            }
        };
        Ok(Answer::Result(result))
    }
}

fn nak(code: NakCode) -> TxError {
    device(match code {
        NakCode::Fault => DeviceError::Fault("detector reports a hardware fault".into()),
        NakCode::NotReady => DeviceError::Refused(
            "detector not ready (warming up, doors closed or interlock); retry later".into(),
        ),
        NakCode::Busy => DeviceError::Refused("detector busy with another scan".into()),
        code => DeviceError::Protocol(format!("detector refused the request: {code:?}")),
    })
}
