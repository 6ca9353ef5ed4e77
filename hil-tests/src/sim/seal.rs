//! Plays an ISO 18185 seal reader on the device end of a PTY pair, speaking
//! `drivers::protocol::seal` exactly as a reader on RS-232 would: it answers
//! pings, interrogations (after the requested listening window) and log reads
//! addressed to it, and lets the current [`Scenario`] mangle its replies.
//!
//! For the `lane-sim` binary the agent must open a path, as it does for a real
//! port: [`run_on_pty`] keeps a symlink pointing at the current PTY slave and,
//! in the `disconnect` scenario, drops the pair and creates a new one (the
//! agent sees a hang-up and must reopen the path, as after a USB unplug).

use std::io;
use std::path::PathBuf;

pub use super::pty::{pty_for_path, pty_pair, slave_path};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use chrono::{DateTime, Utc};
use drivers::protocol::seal::{self, EventKind, LogEvent, NakCode, SealBody, SealFrame, SealId, SealRecord};
use drivers::SealStatus;
use rand::{rngs::SmallRng, SeedableRng};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::{debug, info};

use super::{faults, Scenario, ScenarioCtl};

/// What the simulated reader hears: the seals currently in range.
pub type SealsInRange = Arc<Mutex<Vec<SealRecord>>>;

/// Longest listening window honoured, so a bad request cannot park the simulator.
const MAX_WINDOW: Duration = Duration::from_secs(2);

/// A few plausible seals: sealed, one opened, one tampered if `n` allows.
pub fn sample_seals(n: usize) -> Vec<SealRecord> {
    let sealed_at = DateTime::from_timestamp(1_700_000_000, 0);
    (0..n)
        .map(|i| SealRecord {
            id: SealId { manufacturer: 0x1234, serial: 0xDEAD_0000 + i as u32 },
            status: [SealStatus::Sealed, SealStatus::Opened, SealStatus::Tampered][i % 3],
            sealed_at,
            battery_pct: 90 - i as u8,
            rssi_dbm: -60 - i as i8,
        })
        .collect()
}

fn log_of(seal: SealId) -> Vec<LogEvent> {
    let t = |s: i64| DateTime::<Utc>::from_timestamp(1_700_000_000 + s, 0).unwrap();
    let _ = seal;
    (0..200)
        .map(|i| LogEvent { kind: [EventKind::Sealed, EventKind::BatteryLow][i % 2], at: t(i as i64 * 60) })
        .collect()
}

fn reply_to(body: SealBody, seals: &SealsInRange) -> Option<SealBody> {
    Some(match body {
        SealBody::Ping => SealBody::PingReply { fw_major: 2, fw_minor: 7, reader_serial: 0x00C0_FFEE },
        SealBody::Interrogate { .. } => SealBody::InterrogateReply { seals: seals.lock().unwrap().clone() },
        SealBody::ReadLog { seal, from, max } => {
            let log = log_of(seal);
            let first = usize::from(from).min(log.len());
            let last = (first + usize::from(max)).min(log.len());
            SealBody::LogReply {
                seal,
                total: log.len() as u16,
                first: from,
                events: log[first..last].to_vec(),
            }
        }
        SealBody::Nak { .. }
        | SealBody::PingReply { .. }
        | SealBody::InterrogateReply { .. }
        | SealBody::LogReply { .. } => return None,
    })
}

/// Serves one link until the host hangs up or the scenario says `disconnect`.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    address: u8,
    seals: SealsInRange,
    scenario: ScenarioCtl,
) -> io::Result<()> {
    let mut buf = BytesMut::with_capacity(4096);
    let mut rng = SmallRng::from_entropy();
    let mut changes = scenario.subscribe();
    loop {
        while let Some(frame) = decode_next(&mut buf) {
            if frame.addr != address {
                continue;
            }
            if let SealBody::Interrogate { window_ms } = frame.body {
                tokio::time::sleep(Duration::from_millis(window_ms.into()).min(MAX_WINDOW)).await;
            }
            let cmd = frame_cmd(&frame.body);
            let body = reply_to(frame.body, &seals)
                .unwrap_or(SealBody::Nak { for_cmd: cmd, code: NakCode::UnknownCommand });
            let mut out = BytesMut::new();
            seal::encode(&SealFrame { addr: address, seq: frame.seq, body }, &mut out)
                .expect("sim replies encode");
            if let Some(bytes) = faults::mangle(scenario.get(), &out, &[seal::SYNC], &mut rng) {
                stream.write_all(&bytes).await?;
                stream.flush().await?;
            }
        }
        tokio::select! {
            r = stream.read_buf(&mut buf) => match r {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(5) => return Ok(()),
                Err(e) => return Err(e),
            },
            r = changes.changed() => {
                if r.is_err() || *changes.borrow() == Scenario::Disconnect {
                    info!(device = "seal", "simulated disconnect");
                    return Ok(());
                }
            }
        }
    }
}

fn frame_cmd(body: &SealBody) -> u8 {
    match body {
        SealBody::Ping => seal::cmd::PING,
        SealBody::Interrogate { .. } => seal::cmd::INTERROGATE,
        SealBody::ReadLog { .. } => seal::cmd::READ_LOG,
        _ => 0,
    }
}

fn decode_next(buf: &mut BytesMut) -> Option<SealFrame> {
    loop {
        match seal::decode(buf) {
            Ok(f) => return f,
            Err(e) => debug!(device = "seal", error = %e, "sim dropped corrupt request bytes"),
        }
    }
}

/// Binary mode: serve the reader on a PTY whose slave `link` points at (see
/// [`super::pty::serve_on_pty`]).
pub async fn run_on_pty(
    link: PathBuf,
    address: u8,
    seals: SealsInRange,
    scenario: ScenarioCtl,
    comeback: Duration,
) -> io::Result<()> {
    let ctl = scenario.clone();
    super::pty::serve_on_pty(link, "seal", scenario, comeback, move |master| {
        serve(master, address, seals.clone(), ctl.clone())
    })
    .await
}
