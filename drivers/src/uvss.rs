//! Under-vehicle line-scan camera over TCP, speaking `protocol::uvss`, assembling
//! rows with `protocol::uvss::ScanAssembler`.
//!
//! The camera streams; the host mostly listens. So the driver keeps one
//! connection open in its own task, arms the camera after every (re)connect,
//! feeds every message to the assembler and publishes each finished scan on a
//! watch channel. [`UnderVehicleCamera::last_scan`] then returns the newest scan
//! not yet handed out, waiting for one in progress (or the next one) to finish;
//! it never hands the same scan out twice, so a vehicle whose scan was lost does
//! not get the previous vehicle's underside in its record.
//!
//! Liveness comes from the camera's heartbeats: no byte at all for `silence`
//! means the link is dead even if TCP has not noticed, so the driver drops it
//! and reconnects. Bytes without a valid frame for `silence` are a different
//! fault, corrupt data from a live camera: health goes `degraded` with the
//! first problem seen, and the link stays. A frame that stalls the decoder
//! (truncated, or a false start after a bug) is skipped byte by byte after
//! `stall`, as the codec docs say.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::time::{timeout, Instant};
use tracing::{info, warn};

use crate::protocol::uvss::{self, AssembledScan, AssemblerConfig, CameraState, ScanAssembler, UvssMsg};
use crate::transport::{
    supervise, Backoff, Connector, Framed, HealthReporter, Request, SessionEnd, SessionOutcome,
};
use crate::{DeviceError, Health, UnderVehicleCamera, UvssScan};

#[derive(Debug, Clone)]
pub struct UvssConfig {
    pub assembler: AssemblerConfig,
    /// No byte at all for this long: the link is dead; reconnect. Bytes
    /// without a valid frame for this long: degraded (corrupt data).
    pub silence: Duration,
    /// A partial frame that has not completed for this long is skipped.
    pub stall: Duration,
    /// How long `last_scan` waits for a scan to finish.
    pub scan_wait: Duration,
    /// Health stays `degraded` this long after the last corrupt data, so a
    /// burst is seen by whoever looks, not only for one heartbeat.
    pub trouble_hold: Duration,
    pub backoff: Backoff,
}

impl Default for UvssConfig {
    fn default() -> Self {
        UvssConfig {
            assembler: AssemblerConfig::default(),
            silence: Duration::from_secs(3),
            stall: Duration::from_secs(1),
            scan_wait: Duration::from_secs(15),
            trouble_hold: Duration::from_secs(30),
            backoff: Backoff::default(),
        }
    }
}

/// What the driver task publishes for `last_scan`.
#[derive(Debug, Clone, Default)]
pub struct ScanSlot {
    pub in_progress: bool,
    pub latest: Option<Arc<AssembledScan>>,
    /// Scans finished since start; the number of `latest`.
    pub finished: u64,
}

pub struct UvssDriver {
    /// Held only so that dropping the handle stops the task.
    _tx: mpsc::Sender<Request<(), ()>>,
    scans: watch::Receiver<ScanSlot>,
    health: watch::Receiver<Health>,
    scan_wait: Duration,
    taken: u64,
}

impl UvssDriver {
    pub fn spawn<C: Connector>(name: &str, connector: C, cfg: UvssConfig) -> Self {
        let health = HealthReporter::new(name);
        let (tx, rx) = mpsc::channel(1);
        let (slot_tx, scans) = watch::channel(ScanSlot::default());
        let slot_tx = Arc::new(slot_tx);
        let rx_health = health.subscribe();
        let scan_wait = cfg.scan_wait;
        let h = health.clone();
        let cfg = Arc::new(cfg);
        tokio::spawn(supervise(connector, rx, health, cfg.backoff.clone(), move |io, rx| {
            session(io, rx, cfg.clone(), h.clone(), slot_tx.clone())
        }));
        UvssDriver { _tx: tx, scans, health: rx_health, scan_wait, taken: 0 }
    }

    pub fn health(&self) -> watch::Receiver<Health> {
        self.health.clone()
    }

    /// The scan channel itself, e.g. for diagnostics (`diag uvss --capture`).
    pub fn scans(&self) -> watch::Receiver<ScanSlot> {
        self.scans.clone()
    }

    /// Like [`UnderVehicleCamera::last_scan`], with the assembly metadata
    /// (speed source, dropped rows, truncation) the passage record wants.
    pub async fn next_assembled(&mut self) -> Result<Arc<AssembledScan>, DeviceError> {
        let taken = self.taken;
        let mut rx = self.scans.clone();
        let wait = rx.wait_for(|s| s.finished > taken && !s.in_progress);
        let slot = match timeout(self.scan_wait, wait).await {
            Ok(Ok(s)) => s.clone(),
            Ok(Err(_)) => return Err(DeviceError::Disconnected("UVSS driver task stopped".into())),
            Err(_) => return Err(DeviceError::Timeout(self.scan_wait)),
        };
        self.taken = slot.finished;
        slot.latest.ok_or_else(|| DeviceError::Protocol("scan slot without a scan".into()))
    }
}

#[async_trait]
impl UnderVehicleCamera for UvssDriver {
    async fn last_scan(&mut self) -> Result<UvssScan, DeviceError> {
        let scan = self.next_assembled().await?;
        scan.to_uvss_scan().map_err(|e| DeviceError::Protocol(format!("cannot encode the scan as PNG: {e}")))
    }
}

fn now_us() -> u64 {
    chrono::Utc::now().timestamp_micros().max(0) as u64
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: Framed<S>,
    mut rx: mpsc::Receiver<Request<(), ()>>,
    cfg: Arc<UvssConfig>,
    health: HealthReporter,
    slots: Arc<watch::Sender<ScanSlot>>,
) -> SessionOutcome<Request<(), ()>> {
    let device = health.device().to_string();
    let mut asm = ScanAssembler::new(cfg.assembler);
    let mut out = BytesMut::new();
    uvss::encode(&UvssMsg::Arm, &mut out).expect("Arm encodes");
    if let Err(e) = io.send(&out).await {
        return (rx, SessionEnd::Link(e), false);
    }
    let mut worked = false;
    let mut last_msg = Instant::now();
    // The first problem seen since the last heartbeat; reported on the next one.
    let mut trouble: Option<String> = None;
    let mut last_trouble: Option<Instant> = None;
    let publish = |scan: AssembledScan, trouble: &mut Option<String>| {
        if scan.meta.rows_dropped > 0 || scan.meta.truncated {
            trouble.get_or_insert(format!("scan {} lost {} rows", scan.meta.scan_id, scan.meta.rows_dropped));
        }
        info!(
            device,
            scan_id = scan.meta.scan_id,
            rows = scan.meta.rows_received,
            dropped = scan.meta.rows_dropped,
            "UVSS scan assembled"
        );
        slots.send_modify(|s| {
            s.in_progress = false;
            s.latest = Some(Arc::new(scan));
            s.finished += 1;
        });
    };
    let end = loop {
        let next = io.next(uvss::decode, |e| {
            warn!(device, error = %e, "corrupt data from UVSS camera");
            trouble.get_or_insert_with(|| e.to_string());
        });
        let msg = tokio::select! {
            r = rx.recv() => match r {
                None => break SessionEnd::Closed,
                Some(req) => { req.answer(Ok(())); continue; }
            },
            r = timeout(cfg.stall, next) => r,
        };
        let msg = match msg {
            Err(_) => {
                if io.quiet_for() >= cfg.silence {
                    break SessionEnd::Restart(format!("camera silent for {:?}; reconnecting", cfg.silence));
                }
                if io.skip_stalled() {
                    trouble.get_or_insert_with(|| "frame truncated".into());
                }
                // Bytes arrive but nothing decodes: a pass of corrupt frames can swallow
                // the heartbeats that would report it, so report it now.
                if last_msg.elapsed() >= cfg.silence {
                    if let Some(t) = trouble.take() {
                        last_trouble = Some(Instant::now());
                        health.degraded(format!("no valid frame for {:?}: {t}", cfg.silence));
                    }
                }
                continue;
            }
            Ok(Err(e)) => break SessionEnd::Link(e),
            Ok(Ok(m)) => m,
        };
        last_msg = Instant::now();
        worked = true;
        match &msg {
            UvssMsg::Heartbeat { state, .. } => {
                let held = last_trouble.is_some_and(|t| t.elapsed() < cfg.trouble_hold);
                match (trouble.take(), state) {
                    (Some(t), _) => {
                        last_trouble = Some(Instant::now());
                        health.degraded(t)
                    }
                    (None, CameraState::Fault) => {
                        health.degraded("camera reports a fault (lens, lighting or sensor)")
                    }
                    (None, _) if held => {}
                    (None, _) => health.ok(),
                }
                continue;
            }
            UvssMsg::ScanStart(_) => slots.send_modify(|s| s.in_progress = true),
            _ => {}
        }
        match asm.push(&msg) {
            Ok(Some(scan)) => publish(scan, &mut trouble),
            Ok(None) => {}
            Err(e) => {
                warn!(device, error = %e, "UVSS stream inconsistent");
                trouble.get_or_insert_with(|| e.to_string());
            }
        }
    };
    // A pass cut short by the link still yields what arrived, flagged by its metadata.
    if let Ok(Some(scan)) = asm.flush(now_us()) {
        publish(scan, &mut trouble);
    } else {
        slots.send_modify(|s| s.in_progress = false);
    }
    (rx, end, worked)
}
