//! Plays the container empty-box detector on any byte stream (TCP here; a PTY
//! works the same), speaking `drivers::protocol::emptybox`: accepts a scan,
//! "scans" for a moment, sends the result and the interior JPEG in chunks, and
//! resends chunks on `GetChunk`.
//!
//! The verdict follows the container number so a test can predict it: a last
//! digit that is even means empty (12 m of free depth everywhere), odd means
//! cargo from 4 m on. With `lose_chunk` the first copy of chunk 1 of every
//! image goes out with a bad CRC, which exercises the driver's chunk recovery.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chrono::Utc;
use drivers::protocol::emptybox::{self, DetectorState, EbBody, EbMsg, ImageChunk, ImageInfo, ScanResult};
use drivers::EmptyVerdict;
use rand::{rngs::SmallRng, SeedableRng};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::{debug, info};

use super::{faults, jpeg, Scenario, ScenarioCtl};

#[derive(Debug, Clone)]
pub struct EmptyBoxSimConfig {
    pub scan_time: Duration,
    pub chunk_size: usize,
    pub lose_chunk: bool,
}

impl Default for EmptyBoxSimConfig {
    fn default() -> Self {
        EmptyBoxSimConfig { scan_time: Duration::from_millis(300), chunk_size: 4000, lose_chunk: false }
    }
}

pub struct EmptyBoxSim {
    pub addr: SocketAddr,
}

impl EmptyBoxSim {
    pub async fn start(bind: &str, ctl: ScenarioCtl, cfg: EmptyBoxSimConfig) -> io::Result<Self> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let scans = Arc::new(AtomicU32::new(1));
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else { continue };
                if ctl.get() == Scenario::Disconnect {
                    continue;
                }
                let _ = sock.set_nodelay(true);
                tokio::spawn(serve(sock, ctl.clone(), cfg.clone(), scans.clone()));
            }
        });
        info!(device = "emptybox", %addr, "empty-box detector listening");
        Ok(EmptyBoxSim { addr })
    }
}

/// The predicted verdict for a container number (see the module docs).
pub fn verdict_for(container: Option<&str>) -> EmptyVerdict {
    match container.and_then(|c| c.chars().last()).and_then(|c| c.to_digit(10)) {
        Some(d) if d % 2 == 0 => EmptyVerdict::Empty,
        Some(_) => EmptyVerdict::NotEmpty,
        None => EmptyVerdict::Inconclusive,
    }
}

struct Held {
    scan_id: u32,
    seq: u16,
    chunks: Vec<Bytes>,
}

pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    ctl: ScenarioCtl,
    cfg: EmptyBoxSimConfig,
    scans: Arc<AtomicU32>,
) -> io::Result<()> {
    let mut buf = BytesMut::new();
    let mut rng = SmallRng::from_entropy();
    let mut changes = ctl.subscribe();
    let mut held: Option<Held> = None;
    let connected_at = tokio::time::Instant::now();
    loop {
        loop {
            let msg = match emptybox::decode(&mut buf) {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(e) => {
                    debug!(device = "emptybox", error = %e, "sim dropped corrupt request bytes");
                    continue;
                }
            };
            let mut replies = Vec::new();
            match msg.body {
                EbBody::GetStatus => replies.push(EbBody::Status { state: DetectorState::Idle, faults: 0 }),
                EbBody::StartScan { container, want_image } => {
                    let scan_id = scans.fetch_add(1, Ordering::SeqCst);
                    let mut out = BytesMut::new();
                    emptybox::encode(
                        &EbMsg { seq: msg.seq, body: EbBody::ScanAccepted { scan_id } },
                        &mut out,
                    )
                    .unwrap();
                    send(&mut stream, &ctl, &out, &mut rng).await?;
                    tokio::time::sleep(cfg.scan_time).await;
                    let verdict = verdict_for(container.as_deref());
                    let depth_mm = (0..120)
                        .map(|i| if verdict == EmptyVerdict::NotEmpty && i >= 40 { 4000 } else { 12000 })
                        .collect();
                    let jpeg = Bytes::from(jpeg::jpeg(320, 240, scan_id));
                    let chunks: Vec<Bytes> = if want_image {
                        jpeg.chunks(cfg.chunk_size).map(Bytes::copy_from_slice).collect()
                    } else {
                        Vec::new()
                    };
                    let image = want_image.then_some(ImageInfo {
                        total_len: jpeg.len() as u32,
                        width: 320,
                        height: 240,
                        chunks: chunks.len() as u16,
                    });
                    let result = EbBody::ScanResult(ScanResult {
                        scan_id,
                        container,
                        scanned_at: Utc::now(),
                        verdict,
                        confidence_permille: 930,
                        sample_spacing_mm: 100,
                        depth_mm,
                        image,
                    });
                    let mut out = BytesMut::new();
                    emptybox::encode(&EbMsg { seq: msg.seq, body: result }, &mut out).unwrap();
                    send(&mut stream, &ctl, &out, &mut rng).await?;
                    for (index, data) in chunks.iter().enumerate() {
                        let mut c = BytesMut::new();
                        let chunk = ImageChunk { scan_id, index: index as u16, data: data.clone() };
                        emptybox::encode(&EbMsg { seq: msg.seq, body: EbBody::ImageChunk(chunk) }, &mut c)
                            .unwrap();
                        if cfg.lose_chunk && index == 1 {
                            let n = c.len();
                            c[n - 1] ^= 0xFF;
                        }
                        send(&mut stream, &ctl, &c, &mut rng).await?;
                    }
                    held = Some(Held { scan_id, seq: msg.seq, chunks });
                }
                EbBody::GetChunk { scan_id, index } => match held
                    .as_ref()
                    .filter(|h| h.scan_id == scan_id)
                    .and_then(|h| h.chunks.get(index as usize).map(|d| (h.seq, d.clone())))
                {
                    Some((seq, data)) => {
                        let mut c = BytesMut::new();
                        emptybox::encode(
                            &EbMsg { seq, body: EbBody::ImageChunk(ImageChunk { scan_id, index, data }) },
                            &mut c,
                        )
                        .unwrap();
                        send(&mut stream, &ctl, &c, &mut rng).await?;
                    }
                    None => replies.push(EbBody::Nak {
                        for_kind: emptybox::kind::GET_CHUNK,
                        code: emptybox::NakCode::NoSuchChunk,
                    }),
                },
                EbBody::Abort { .. } => {}
                _ => replies.push(EbBody::Nak { for_kind: 0, code: emptybox::NakCode::UnknownKind }),
            }
            for body in replies {
                let mut out = BytesMut::new();
                emptybox::encode(&EbMsg { seq: msg.seq, body }, &mut out).unwrap();
                send(&mut stream, &ctl, &out, &mut rng).await?;
            }
        }
        tokio::select! {
            r = stream.read_buf(&mut buf) => if r? == 0 { return Ok(()) },
            r = changes.changed() => if r.is_err() || *changes.borrow() == Scenario::Disconnect {
                info!(device = "emptybox", "simulated disconnect");
                return Ok(());
            },
            _ = tokio::time::sleep(Duration::from_secs(3).saturating_sub(connected_at.elapsed())), if ctl.get() == Scenario::Disconnect => return Ok(()),
        }
    }
}

async fn send<S: AsyncWrite + Unpin>(
    stream: &mut S,
    ctl: &ScenarioCtl,
    frame: &[u8],
    rng: &mut SmallRng,
) -> io::Result<()> {
    if let Some(bytes) = faults::mangle(ctl.get(), frame, &emptybox::SYNC, rng) {
        stream.write_all(&bytes).await?;
        stream.flush().await?;
    }
    Ok(())
}
