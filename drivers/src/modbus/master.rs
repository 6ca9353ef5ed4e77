//! The Modbus RTU master: one task per RS-485 bus, owning the serial link
//! (reconnecting with backoff like every driver), serialising requests from
//! every device on the bus (barrier controller, loop detectors) because RTU is
//! half duplex with one request in flight. Replies are matched by unit and
//! function; anything buffered before a request is stale and dropped.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::time::{timeout_at, Instant};
use tracing::{debug, warn};

use super::rtu::{self, RtuRequest, RtuResponse};
use crate::transport::{
    supervise, Backoff, Connector, Framed, HealthReporter, LinkError, Request, SessionEnd, SessionOutcome,
};
use crate::{DeviceError, Health};

#[derive(Debug, Clone)]
pub struct ModbusConfig {
    /// Per attempt.
    pub timeout: Duration,
    pub attempts: u8,
    pub backoff: Backoff,
    /// The RS-485 adapter hears its own transmissions (two-wire, no echo
    /// suppression). Must be configured, not guessed: the reply to a coil
    /// write equals the request, so an echo and a reply look the same.
    pub echo: bool,
}

impl Default for ModbusConfig {
    fn default() -> Self {
        ModbusConfig {
            timeout: Duration::from_millis(300),
            attempts: 2,
            backoff: Backoff::default(),
            echo: false,
        }
    }
}

type Call = Request<(u8, RtuRequest), RtuResponse>;

/// Handle to a bus; cheap to clone, one per device on the bus.
#[derive(Clone)]
pub struct ModbusBus {
    tx: mpsc::Sender<Call>,
    health: watch::Receiver<Health>,
}

impl ModbusBus {
    pub fn spawn<C: Connector>(name: &str, connector: C, cfg: ModbusConfig) -> Self {
        let health = HealthReporter::new(name);
        let (tx, rx) = mpsc::channel(16);
        let rx_health = health.subscribe();
        let cfg = Arc::new(cfg);
        let h = health.clone();
        tokio::spawn(supervise(connector, rx, health, cfg.backoff.clone(), move |io, rx| {
            session(io, rx, cfg.clone(), h.clone())
        }));
        ModbusBus { tx, health: rx_health }
    }

    /// Health of the bus link itself (port open, slaves answering).
    pub fn health(&self) -> watch::Receiver<Health> {
        self.health.clone()
    }

    pub async fn call(&self, unit: u8, req: RtuRequest) -> Result<RtuResponse, DeviceError> {
        Request::call(&self.tx, (unit, req)).await
    }

    pub async fn read_discrete_inputs(
        &self,
        unit: u8,
        addr: u16,
        count: u16,
    ) -> Result<Vec<bool>, DeviceError> {
        self.read_bits(unit, RtuRequest::ReadDiscreteInputs { addr, count }, count).await
    }

    pub async fn read_coils(&self, unit: u8, addr: u16, count: u16) -> Result<Vec<bool>, DeviceError> {
        self.read_bits(unit, RtuRequest::ReadCoils { addr, count }, count).await
    }

    async fn read_bits(&self, unit: u8, req: RtuRequest, count: u16) -> Result<Vec<bool>, DeviceError> {
        match self.call(unit, req).await? {
            RtuResponse::Bits { mut bits, .. } if bits.len() >= usize::from(count) => {
                bits.truncate(usize::from(count));
                Ok(bits)
            }
            other => Err(DeviceError::Protocol(format!("unexpected Modbus reply {other:?}"))),
        }
    }

    pub async fn write_coil(&self, unit: u8, addr: u16, on: bool) -> Result<(), DeviceError> {
        match self.call(unit, RtuRequest::WriteSingleCoil { addr, on }).await? {
            RtuResponse::CoilWritten { addr: a, on: o } if a == addr && o == on => Ok(()),
            other => Err(DeviceError::Protocol(format!("unexpected Modbus reply {other:?}"))),
        }
    }
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: Framed<S>,
    mut rx: mpsc::Receiver<Call>,
    cfg: Arc<ModbusConfig>,
    health: HealthReporter,
) -> SessionOutcome<Call> {
    io.set_echo(cfg.echo);
    // A serial port that opens is not yet a bus that answers: ok after the first reply.
    health.degraded("port open; no slave has answered yet");
    let mut worked = false;
    loop {
        tokio::select! {
            r = rx.recv() => {
                let Some(Request { body: (unit, req), reply }) = r else { return (rx, SessionEnd::Closed, worked) };
                match exchange(&mut io, &cfg, &health, unit, req).await {
                    Ok(resp) => {
                        worked = true;
                        let _ = reply.send(Ok(resp));
                    }
                    Err(Err(e)) => {
                        let _ = reply.send(Err(DeviceError::Disconnected(e.to_string())));
                        return (rx, SessionEnd::Link(e), worked);
                    }
                    Err(Ok(e)) => {
                        match &e {
                            DeviceError::Timeout(_) => health.down(format!("unit {unit} does not answer")),
                            e => health.degraded(e.to_string()),
                        }
                        let _ = reply.send(Err(e));
                    }
                }
            }
            r = io.fill() => if let Err(e) = r { return (rx, SessionEnd::Link(e), worked) },
        }
    }
}

/// `Err(Ok(_))`: the device failed, the link is fine; `Err(Err(_))`: the link failed.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut Framed<S>,
    cfg: &ModbusConfig,
    health: &HealthReporter,
    unit: u8,
    req: RtuRequest,
) -> Result<RtuResponse, Result<DeviceError, LinkError>> {
    let mut last = DeviceError::Timeout(cfg.timeout);
    for attempt in 0..cfg.attempts.max(1) {
        if io.discard() > 0 {
            debug!(device = health.device(), "dropped stale bytes before a request");
        }
        let mut out = BytesMut::new();
        rtu::encode_request(unit, &req, &mut out);
        io.send(&out).await.map_err(Err)?;
        let deadline = Instant::now() + cfg.timeout;
        let mut corrupt: Option<String> = None;
        let reply = loop {
            let next = io.next(rtu::decode_response, |e| {
                warn!(device = health.device(), error = %e, "corrupt data on the Modbus bus");
                corrupt.get_or_insert_with(|| e.to_string());
            });
            match timeout_at(deadline, next).await {
                Err(_) => break None,
                Ok(Err(e)) => return Err(Err(e)),
                Ok(Ok((u, r))) if u == unit && r.function() == req.function() => break Some(r),
                Ok(Ok(_)) => debug!(device = health.device(), "dropped a reply for another request"),
            }
        };
        match reply {
            Some(RtuResponse::Exception { code, .. }) => {
                let e = match code {
                    4 => DeviceError::Fault(format!("unit {unit} reports a device failure (exception 4)")),
                    code => DeviceError::Protocol(format!(
                        "unit {unit} refused the request: exception {code}; check the register map"
                    )),
                };
                return Err(Ok(e));
            }
            Some(r) => {
                match (attempt, corrupt) {
                    (0, None) => health.ok(),
                    (_, Some(c)) => health.degraded(format!("recovered from corrupt data: {c}")),
                    (n, None) => health.degraded(format!("answered only after {n} retries")),
                }
                return Ok(r);
            }
            None => {
                last = match (corrupt, io.buffered() > 0) {
                    (Some(c), _) => DeviceError::Protocol(format!("no clean reply: {c}")),
                    (None, true) => DeviceError::Protocol("no clean reply: reply truncated".into()),
                    (None, false) => DeviceError::Timeout(cfg.timeout),
                }
            }
        }
    }
    Err(Ok(last))
}

#[cfg(test)]
mod tests;
