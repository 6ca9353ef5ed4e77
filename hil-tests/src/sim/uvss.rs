//! Plays the under-vehicle line-scan camera as a TCP server speaking
//! `drivers::protocol::uvss`: heartbeats while idle, and on every
//! [`UvssSim::drive_over`] a whole pass (ScanStart, row batches of a synthetic
//! undercarriage with a speed field, ScanEnd) to every connected host.
//!
//! Under `garbage`, `truncated` and `bad-crc` only the scan frames are mangled
//! and heartbeats stay clean, so a test sees the driver lose or recover scan
//! data while the link itself stays alive; `silent` stops all output with the
//! connection open; `disconnect` closes every connection and refuses new ones
//! for a moment (the binary repeats that every few seconds).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use drivers::protocol::uvss::{self, CameraState, EndReason, RowBatch, ScanEnd, ScanStart, UvssMsg};
use rand::{rngs::SmallRng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tracing::{debug, info};

use super::{faults, Scenario, ScenarioCtl};

#[derive(Debug, Clone)]
pub struct UvssSimConfig {
    pub heartbeat: Duration,
    pub width: u16,
    pub rows: u32,
    pub rows_per_batch: u16,
    pub line_rate_hz: u32,
    pub speed_mm_s: u32,
}

impl Default for UvssSimConfig {
    fn default() -> Self {
        UvssSimConfig {
            heartbeat: Duration::from_millis(500),
            width: 256,
            rows: 1024,
            rows_per_batch: 64,
            line_rate_hz: 2000,
            speed_mm_s: 1389,
        }
    }
}

pub struct UvssSim {
    pub addr: SocketAddr,
    trigger: broadcast::Sender<u32>,
    next_scan: std::sync::atomic::AtomicU32,
}

impl UvssSim {
    pub async fn start(bind: &str, ctl: ScenarioCtl, cfg: UvssSimConfig) -> io::Result<Self> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let (trigger, _) = broadcast::channel(16);
        let t = trigger.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, peer)) = listener.accept().await else { continue };
                if ctl.get() == Scenario::Disconnect {
                    drop(sock);
                    continue;
                }
                debug!(device = "uvss", %peer, "host connected");
                tokio::spawn(serve(sock, ctl.clone(), cfg.clone(), t.subscribe()));
            }
        });
        info!(device = "uvss", %addr, "UVSS camera listening");
        Ok(UvssSim { addr, trigger, next_scan: 1.into() })
    }

    /// A vehicle drives over the camera: every connected host gets one pass.
    pub fn drive_over(&self) -> u32 {
        let id = self.next_scan.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let _ = self.trigger.send(id);
        id
    }
}

fn now_us() -> u64 {
    chrono::Utc::now().timestamp_micros() as u64
}

/// The frames of one pass: a synthetic undercarriage (axles as dark bands).
pub fn pass(scan_id: u32, cfg: &UvssSimConfig) -> Vec<UvssMsg> {
    let start = now_us();
    let period_ns = 1_000_000_000 / cfg.line_rate_hz;
    let mut msgs = vec![UvssMsg::ScanStart(ScanStart {
        scan_id,
        width: cfg.width,
        bit_depth: 8,
        line_rate_hz: cfg.line_rate_hz,
        pixel_pitch_um: 1000,
        started_at_us: start,
    })];
    let mut row = 0u32;
    while row < cfg.rows {
        let n = (cfg.rows - row).min(u32::from(cfg.rows_per_batch)) as u16;
        let w = usize::from(cfg.width);
        let mut data = Vec::with_capacity(usize::from(n) * w);
        for r in row..row + u32::from(n) {
            let axle = (r / 64) % 5 == 0;
            data.extend((0..w).map(|x| if axle { 30 } else { (60 + (x * 128 / w) as u32 + (r % 32)) as u8 }));
        }
        msgs.push(UvssMsg::RowBatch(RowBatch {
            scan_id,
            first_row: row,
            timestamp_us: start + u64::from(row) * u64::from(period_ns) / 1000,
            line_period_ns: period_ns,
            speed_mm_s: Some(cfg.speed_mm_s),
            width: cfg.width,
            bit_depth: 8,
            rows: n,
            data: Bytes::from(data),
        }));
        row += u32::from(n);
    }
    let ended = start + u64::from(cfg.rows) * u64::from(period_ns) / 1000;
    msgs.push(UvssMsg::ScanEnd(ScanEnd {
        scan_id,
        rows_total: cfg.rows,
        ended_at_us: ended,
        reason: EndReason::Normal,
    }));
    msgs
}

async fn serve(
    mut sock: TcpStream,
    ctl: ScenarioCtl,
    cfg: UvssSimConfig,
    mut trigger: broadcast::Receiver<u32>,
) -> io::Result<()> {
    let mut rng = SmallRng::from_entropy();
    let mut changes = ctl.subscribe();
    let mut hb = tokio::time::interval(cfg.heartbeat);
    let mut inbound = [0u8; 256];
    let connected_at = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = hb.tick() => {
                if ctl.get() == Scenario::Disconnect && connected_at.elapsed() > Duration::from_secs(3) {
                    return Ok(());
                }
                if ctl.get() == Scenario::Silent {
                    continue;
                }
                let mut out = BytesMut::new();
                uvss::encode(&UvssMsg::Heartbeat { now_us: now_us(), state: CameraState::Armed, temperature_c: 35 }, &mut out).unwrap();
                sock.write_all(&out).await?;
            }
            id = trigger.recv() => {
                let Ok(id) = id else { continue };
                for m in pass(id, &cfg) {
                    let mut out = BytesMut::new();
                    uvss::encode(&m, &mut out).unwrap();
                    if let Some(bytes) = faults::mangle(ctl.get(), &out, &uvss::SYNC, &mut rng) {
                        sock.write_all(&bytes).await?;
                    }
                    // Rows arrive over time, as from a real camera.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            r = changes.changed() => {
                if r.is_err() || *changes.borrow() == Scenario::Disconnect {
                    info!(device = "uvss", "simulated disconnect");
                    return Ok(());
                }
            }
            r = sock.read(&mut inbound) => {
                // Arm / Disarm / Ping from the host; the simulator is always armed.
                if r? == 0 { return Ok(()); }
            }
        }
    }
}
