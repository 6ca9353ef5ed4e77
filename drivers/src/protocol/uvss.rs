//! Under-vehicle line-scan camera protocol (TCP), codec only.
//!
//! The camera sits in the road surface and streams image rows while a vehicle
//! drives over it: `ScanStart` (geometry), `RowBatch`es, `ScanEnd`, and
//! `Heartbeat`s in between so the host can tell a quiet lane from a dead link.
//! Why it is built this way:
//!
//! * **Rows in batches with a row counter** (not one frame per row): at 10–40 kHz
//!   line rate a frame per row would be 40 000 headers per second, while one per
//!   batch keeps the overhead small and the counter still shows exactly which
//!   rows a dropped batch or a camera-side overflow lost.
//! * **A timestamp and line period per batch, and a speed field**: the travel axis
//!   is only meaningful once rows are placed by distance, not by time, so the
//!   information needed for that ([`ScanAssembler`]) travels with the rows.
//!   Loop events give a second source of speed when the camera has no radar.
//! * **Self-describing batches** (width and bit depth repeated): a batch decodes
//!   without decoder state, so the codec stays a pure function of the bytes and a
//!   batch that does not match its scan is detected instead of misread.
//! * TCP already checksums, but the sync word, header check and CRC-32 let the
//!   host resynchronise after its own buffer handling went wrong, and let the same
//!   codec run over a serial or UDP bridge.
//!
//! Frame: `55 56 ("UV") | version u8 = 1 | type u8 | len u32 LE | hck | payload | CRC-32 LE`.
//! Layouts in `docs/protocols/uvss.md`.

pub mod assembler;
#[cfg(test)]
mod tests;

use bytes::{BufMut, Bytes, BytesMut};

use super::{FrameError, Framing, PayloadError, Rd, Trailer};
pub use assembler::{AssembleError, AssembledScan, AssemblerConfig, ScanAssembler, ScanMeta, SpeedSource};

pub const SYNC: [u8; 2] = *b"UV";
pub const VERSION: u8 = 1;
pub const MAX_WIDTH: u16 = 8192;
pub const MAX_ROWS_PER_BATCH: u16 = 256;
/// Largest row data in one batch.
pub const MAX_BATCH_DATA: usize = 1 << 20;
/// Largest frame payload: a full batch plus its header.
pub const MAX_PAYLOAD: usize = MAX_BATCH_DATA + 64;
/// Speed field value meaning "no speed measured for this batch".
pub const NO_SPEED: u32 = u32::MAX;

const FRAMING: Framing = Framing {
    sync: &SYNC,
    fields_len: 6,
    len_offset: 2,
    len_width: 4,
    max_payload: MAX_PAYLOAD,
    trailer: Trailer::Crc32,
};

/// Message type codes; camera messages have bit 7 set.
pub mod kind {
    pub const ARM: u8 = 0x01;
    pub const DISARM: u8 = 0x02;
    pub const PING: u8 = 0x03;
    pub const SCAN_START: u8 = 0x81;
    pub const ROW_BATCH: u8 = 0x82;
    pub const SCAN_END: u8 = 0x83;
    pub const HEARTBEAT: u8 = 0x84;
    pub const PONG: u8 = 0x85;
    pub const LOOP: u8 = 0x86;
}

#[derive(Debug, Clone, PartialEq)]
pub enum UvssMsg {
    /// Host: start scanning when the trigger loop fires.
    Arm,
    Disarm,
    Ping {
        token: u32,
    },
    ScanStart(ScanStart),
    RowBatch(RowBatch),
    ScanEnd(ScanEnd),
    Heartbeat {
        now_us: u64,
        state: CameraState,
        temperature_c: i8,
    },
    Pong {
        token: u32,
    },
    /// A presence loop wired to the camera changed state.
    Loop {
        loop_id: u8,
        occupied: bool,
        at_us: u64,
    },
}

/// Times are microseconds since the Unix epoch, UTC, from the camera's clock
/// (PTP or NTP disciplined).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanStart {
    pub scan_id: u32,
    /// Pixels per row.
    pub width: u16,
    /// Significant bits per pixel, 1–16; ≤ 8 is sent as one byte, more as two (LE).
    pub bit_depth: u8,
    pub line_rate_hz: u32,
    /// Across-travel pixel pitch at the road surface, micrometres.
    pub pixel_pitch_um: u16,
    pub started_at_us: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowBatch {
    pub scan_id: u32,
    /// Counter of the first row in the batch; counts from 0 per scan.
    pub first_row: u32,
    /// Exposure time of the first row.
    pub timestamp_us: u64,
    /// Time between rows in this batch.
    pub line_period_ns: u32,
    /// Vehicle speed at `timestamp_us`, mm/s, if the camera measures it.
    pub speed_mm_s: Option<u32>,
    pub width: u16,
    pub bit_depth: u8,
    pub rows: u16,
    /// `rows * width` pixels, row by row.
    pub data: Bytes,
}

impl RowBatch {
    pub fn bytes_per_pixel(bit_depth: u8) -> usize {
        if bit_depth <= 8 {
            1
        } else {
            2
        }
    }

    /// Pixel `x` of row `r`, widened to 16 bits.
    pub fn pixel(&self, r: usize, x: usize) -> u16 {
        let bpp = Self::bytes_per_pixel(self.bit_depth);
        let i = (r * self.width as usize + x) * bpp;
        if bpp == 1 {
            u16::from(self.data[i])
        } else {
            u16::from_le_bytes([self.data[i], self.data[i + 1]])
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanEnd {
    pub scan_id: u32,
    /// Rows the camera produced: the counter of the last row plus one.
    pub rows_total: u32,
    pub ended_at_us: u64,
    pub reason: EndReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The vehicle left the exit loop.
    Normal,
    /// The scan hit the camera's maximum duration (vehicle stopped on the camera?).
    Timeout,
    /// The camera's buffer overflowed; rows are missing.
    Overflow,
    /// Disarmed by the host.
    Aborted,
    Other(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraState {
    Idle,
    Armed,
    Scanning,
    /// Lens dirty, lighting failed, sensor fault: a technician is needed.
    Fault,
    Other(u8),
}

macro_rules! codes {
    ($t:ident: $($v:ident = $c:expr),+) => {
        impl $t {
            fn code(self) -> u8 {
                match self { $($t::$v => $c,)+ $t::Other(c) => c }
            }
            fn from_code(c: u8) -> Self {
                match c { $($c => $t::$v,)+ c => $t::Other(c) }
            }
        }
    };
}
codes!(EndReason: Normal = 0, Timeout = 1, Overflow = 2, Aborted = 3);
codes!(CameraState: Idle = 0, Armed = 1, Scanning = 2, Fault = 3);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UvssError {
    /// Bytes were dropped while resynchronising; call `decode` again.
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("protocol version {0} is not supported (this host speaks {VERSION}); update the driver")]
    Version(u8),
    /// A well-framed message whose payload does not parse; the frame is consumed.
    #[error("message type {kind:#04x}: {source}")]
    Payload { kind: u8, source: PayloadError },
    #[error("unknown message type {0:#04x}")]
    UnknownKind(u8),
    /// The message cannot be sent: a field is out of range or the data does not
    /// match the declared geometry.
    #[error("cannot encode: {0}")]
    Invalid(&'static str),
}

fn check_geometry(width: u16, bit_depth: u8, rows: u16, data_len: usize) -> Result<(), &'static str> {
    if width == 0 || width > MAX_WIDTH {
        return Err("width out of range");
    }
    if !(1..=16).contains(&bit_depth) {
        return Err("bit depth out of range");
    }
    if rows > MAX_ROWS_PER_BATCH {
        return Err("too many rows in one batch");
    }
    if data_len != rows as usize * width as usize * RowBatch::bytes_per_pixel(bit_depth) {
        return Err("data length does not match rows x width x bytes per pixel");
    }
    if data_len > MAX_BATCH_DATA {
        return Err("batch data too large");
    }
    Ok(())
}

/// Appends one frame to `dst`; fails, writing nothing, on out-of-range fields.
pub fn encode(msg: &UvssMsg, dst: &mut BytesMut) -> Result<(), UvssError> {
    let mut p = Vec::new();
    let kind = match msg {
        UvssMsg::Arm => kind::ARM,
        UvssMsg::Disarm => kind::DISARM,
        UvssMsg::Ping { token } => {
            p.put_u32_le(*token);
            kind::PING
        }
        UvssMsg::ScanStart(s) => {
            check_geometry(s.width, s.bit_depth, 0, 0).map_err(UvssError::Invalid)?;
            p.put_u32_le(s.scan_id);
            p.put_u16_le(s.width);
            p.put_u8(s.bit_depth);
            p.put_u32_le(s.line_rate_hz);
            p.put_u16_le(s.pixel_pitch_um);
            p.put_u64_le(s.started_at_us);
            kind::SCAN_START
        }
        UvssMsg::RowBatch(b) => {
            check_geometry(b.width, b.bit_depth, b.rows, b.data.len()).map_err(UvssError::Invalid)?;
            if b.speed_mm_s == Some(NO_SPEED) {
                return Err(UvssError::Invalid("speed field value is reserved for 'no speed'"));
            }
            p.reserve(29 + b.data.len());
            p.put_u32_le(b.scan_id);
            p.put_u32_le(b.first_row);
            p.put_u64_le(b.timestamp_us);
            p.put_u32_le(b.line_period_ns);
            p.put_u32_le(b.speed_mm_s.unwrap_or(NO_SPEED));
            p.put_u16_le(b.width);
            p.put_u8(b.bit_depth);
            p.put_u16_le(b.rows);
            p.put_slice(&b.data);
            kind::ROW_BATCH
        }
        UvssMsg::ScanEnd(e) => {
            p.put_u32_le(e.scan_id);
            p.put_u32_le(e.rows_total);
            p.put_u64_le(e.ended_at_us);
            p.put_u8(e.reason.code());
            kind::SCAN_END
        }
        UvssMsg::Heartbeat { now_us, state, temperature_c } => {
            p.put_u64_le(*now_us);
            p.put_u8(state.code());
            p.put_i8(*temperature_c);
            kind::HEARTBEAT
        }
        UvssMsg::Pong { token } => {
            p.put_u32_le(*token);
            kind::PONG
        }
        UvssMsg::Loop { loop_id, occupied, at_us } => {
            p.put_u8(*loop_id);
            p.put_u8(u8::from(*occupied));
            p.put_u64_le(*at_us);
            kind::LOOP
        }
    };
    FRAMING.encode(&[VERSION, kind, 0, 0, 0, 0], &p, dst)?;
    Ok(())
}

/// Next message from `src`: `Ok(None)` for a partial frame; every `Err` has
/// consumed bytes, so log it and call again.
pub fn decode(src: &mut BytesMut) -> Result<Option<UvssMsg>, UvssError> {
    let Some(raw) = FRAMING.decode(src)? else { return Ok(None) };
    let (version, kind) = (raw.fields[0], raw.fields[1]);
    if version != VERSION {
        return Err(UvssError::Version(version));
    }
    let msg = parse(kind, Rd::new(raw.payload)).map_err(|source| match source {
        PayloadError::Invalid { field: "kind", .. } => UvssError::UnknownKind(kind),
        source => UvssError::Payload { kind, source },
    })?;
    Ok(Some(msg))
}

fn parse(k: u8, mut r: Rd) -> Result<UvssMsg, PayloadError> {
    let invalid = |field, value: u64| PayloadError::Invalid { field, value };
    let msg = match k {
        kind::ARM => UvssMsg::Arm,
        kind::DISARM => UvssMsg::Disarm,
        kind::PING => UvssMsg::Ping { token: r.u32("token")? },
        kind::PONG => UvssMsg::Pong { token: r.u32("token")? },
        kind::SCAN_START => {
            let s = ScanStart {
                scan_id: r.u32("scan_id")?,
                width: r.u16("width")?,
                bit_depth: r.u8("bit_depth")?,
                line_rate_hz: r.u32("line_rate")?,
                pixel_pitch_um: r.u16("pixel_pitch")?,
                started_at_us: r.u64("started_at")?,
            };
            check_geometry(s.width, s.bit_depth, 0, 0).map_err(|_| invalid("geometry", s.width.into()))?;
            UvssMsg::ScanStart(s)
        }
        kind::ROW_BATCH => {
            let (scan_id, first_row) = (r.u32("scan_id")?, r.u32("first_row")?);
            let (timestamp_us, line_period_ns) = (r.u64("timestamp")?, r.u32("line_period")?);
            let speed_mm_s = Some(r.u32("speed")?).filter(|s| *s != NO_SPEED);
            let (width, bit_depth, rows) = (r.u16("width")?, r.u8("bit_depth")?, r.u16("rows")?);
            let data = r.rest();
            check_geometry(width, bit_depth, rows, data.len())
                .map_err(|_| invalid("row data length", data.len() as u64))?;
            UvssMsg::RowBatch(RowBatch {
                scan_id,
                first_row,
                timestamp_us,
                line_period_ns,
                speed_mm_s,
                width,
                bit_depth,
                rows,
                data,
            })
        }
        kind::SCAN_END => UvssMsg::ScanEnd(ScanEnd {
            scan_id: r.u32("scan_id")?,
            rows_total: r.u32("rows_total")?,
            ended_at_us: r.u64("ended_at")?,
            reason: EndReason::from_code(r.u8("reason")?),
        }),
        kind::HEARTBEAT => UvssMsg::Heartbeat {
            now_us: r.u64("now")?,
            state: CameraState::from_code(r.u8("state")?),
            temperature_c: r.u8("temperature")? as i8,
        },
        kind::LOOP => UvssMsg::Loop {
            loop_id: r.u8("loop_id")?,
            occupied: match r.u8("occupied")? {
                0 => false,
                1 => true,
                v => return Err(invalid("occupied", v.into())),
            },
            at_us: r.u64("at")?,
        },
        k => return Err(invalid("kind", k.into())),
    };
    r.finish()?;
    Ok(msg)
}
