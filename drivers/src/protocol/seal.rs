//! Electronic seal reader protocol (RS-232 / RS-485), codec only.
//!
//! Modelled on the binary protocols of ISO 18185 reader vendors: a master (the
//! lane PC) polls addressed readers on a shared RS-485 bus, one request in flight
//! per reader. Why it looks the way it does:
//!
//! * **Address byte**: several readers (one per door side) share one bus; a reader
//!   answers only frames carrying its address and puts the same address in its reply.
//! * **Sequence byte**: the reply echoes the request's `seq`, so a late reply to a
//!   request that already timed out is recognised and dropped instead of being
//!   taken as the answer to the next one.
//! * **Length framing with header check and CRC-16/MODBUS** rather than byte
//!   stuffing: frames stay a fixed, predictable size, and a false start byte in line
//!   noise is rejected by the header check after 7 bytes (see [`super`]).
//!
//! Frame: `A5 | addr | seq | cmd | len u16 LE | hck | payload | CRC-16/MODBUS LE`.
//! The full layout and the payloads are in `docs/protocols/seal-reader.md`.

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Utc};

use super::{FrameError, Framing, PayloadError, Rd, Trailer};
use crate::{SealRead, SealStatus};

pub const SYNC: u8 = 0xA5;
/// Largest payload a reader sends; longer length fields are corruption.
pub const MAX_PAYLOAD: usize = 1024;
/// Most seals in one interrogation reply (13 bytes each).
pub const MAX_SEALS: usize = 64;
/// Most events in one log reply (5 bytes each); read longer logs page by page.
pub const MAX_EVENTS: usize = 128;

const FRAMING: Framing = Framing {
    sync: &[SYNC],
    fields_len: 5,
    len_offset: 3,
    len_width: 2,
    max_payload: MAX_PAYLOAD,
    trailer: Trailer::Crc16Modbus,
};

/// Command codes; a reply sets bit 7 of its request's code.
pub mod cmd {
    pub const PING: u8 = 0x01;
    pub const INTERROGATE: u8 = 0x10;
    pub const READ_LOG: u8 = 0x11;
    pub const REPLY: u8 = 0x80;
    pub const NAK: u8 = 0xFF;
}

/// One frame on the bus, either direction.
#[derive(Debug, Clone, PartialEq)]
pub struct SealFrame {
    /// Reader address, 1–247 (0 = broadcast, no reply expected).
    pub addr: u8,
    /// Chosen by the master, echoed in the reply.
    pub seq: u8,
    pub body: SealBody,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SealBody {
    /// Master: are you there?
    Ping,
    /// Reader: firmware version and serial number.
    PingReply {
        fw_major: u8,
        fw_minor: u8,
        reader_serial: u32,
    },
    /// Master: listen for seals for `window_ms`, then report every seal heard.
    Interrogate {
        window_ms: u16,
    },
    InterrogateReply {
        seals: Vec<SealRecord>,
    },
    /// Master: read up to `max` events of one seal's log, starting at `from`.
    ReadLog {
        seal: SealId,
        from: u16,
        max: u8,
    },
    /// Reader: `total` events are stored; these start at index `first`.
    LogReply {
        seal: SealId,
        total: u16,
        first: u16,
        events: Vec<LogEvent>,
    },
    /// Reader: request `for_cmd` was refused.
    Nak {
        for_cmd: u8,
        code: NakCode,
    },
}

/// ISO 18185 seal identity: registered manufacturer code and tag serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SealId {
    pub manufacturer: u16,
    pub serial: u32,
}

impl std::fmt::Display for SealId {
    /// `MMMM-SSSSSSSS`, the form used in [`SealRead::id`].
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04X}-{:08X}", self.manufacturer, self.serial)
    }
}

/// One seal in an interrogation reply.
#[derive(Debug, Clone, PartialEq)]
pub struct SealRecord {
    pub id: SealId,
    pub status: SealStatus,
    /// Whole seconds UTC; on the wire 0 means "not known".
    pub sealed_at: Option<DateTime<Utc>>,
    /// 0–100 %.
    pub battery_pct: u8,
    pub rssi_dbm: i8,
}

impl From<SealRecord> for SealRead {
    fn from(r: SealRecord) -> Self {
        SealRead {
            id: r.id.to_string(),
            status: r.status,
            sealed_at: r.sealed_at,
            battery_pct: r.battery_pct,
            rssi_dbm: i16::from(r.rssi_dbm),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Sealed,
    Opened,
    Tampered,
    BatteryLow,
    /// A vendor event this codec does not know; kept, not rejected.
    Other(u8),
}

impl EventKind {
    fn code(self) -> u8 {
        match self {
            EventKind::Sealed => 1,
            EventKind::Opened => 2,
            EventKind::Tampered => 3,
            EventKind::BatteryLow => 4,
            EventKind::Other(c) => c,
        }
    }

    fn from_code(c: u8) -> Self {
        match c {
            1 => EventKind::Sealed,
            2 => EventKind::Opened,
            3 => EventKind::Tampered,
            4 => EventKind::BatteryLow,
            c => EventKind::Other(c),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogEvent {
    pub kind: EventKind,
    /// Whole seconds UTC.
    pub at: DateTime<Utc>,
}

/// Why a reader refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NakCode {
    /// The request frame failed its checks at the reader: resend.
    BadFrame,
    UnknownCommand,
    BadParameter,
    /// Still interrogating: retry after the window.
    Busy,
    SealNotInRange,
    /// Radio front end fault: call a technician.
    RadioFault,
    Other(u8),
}

impl NakCode {
    fn code(self) -> u8 {
        match self {
            NakCode::BadFrame => 1,
            NakCode::UnknownCommand => 2,
            NakCode::BadParameter => 3,
            NakCode::Busy => 4,
            NakCode::SealNotInRange => 5,
            NakCode::RadioFault => 6,
            NakCode::Other(c) => c,
        }
    }

    fn from_code(c: u8) -> Self {
        match c {
            1 => NakCode::BadFrame,
            2 => NakCode::UnknownCommand,
            3 => NakCode::BadParameter,
            4 => NakCode::Busy,
            5 => NakCode::SealNotInRange,
            6 => NakCode::RadioFault,
            c => NakCode::Other(c),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Bytes were dropped while resynchronising; call `decode` again.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A well-framed reply whose payload does not parse; the frame is consumed.
    #[error("command {cmd:#04x}: {source}")]
    Payload { cmd: u8, source: PayloadError },
    #[error("unknown command {0:#04x}")]
    UnknownCommand(u8),
    #[error("{count} {what} do not fit in one frame (max {max})")]
    TooMany { what: &'static str, count: usize, max: usize },
    #[error("time {0} cannot be sent as u32 seconds")]
    TimeOutOfRange(DateTime<Utc>),
}

fn put_time(p: &mut Vec<u8>, t: DateTime<Utc>) -> Result<(), SealError> {
    let s = u32::try_from(t.timestamp()).map_err(|_| SealError::TimeOutOfRange(t))?;
    p.put_u32_le(s);
    Ok(())
}

fn get_time(r: &mut Rd, field: &'static str) -> Result<Option<DateTime<Utc>>, PayloadError> {
    match r.u32(field)? {
        0 => Ok(None),
        s => Ok(DateTime::from_timestamp(i64::from(s), 0)),
    }
}

fn put_id(p: &mut Vec<u8>, id: SealId) {
    p.put_u16_le(id.manufacturer);
    p.put_u32_le(id.serial);
}

fn get_id(r: &mut Rd) -> Result<SealId, PayloadError> {
    Ok(SealId { manufacturer: r.u16("manufacturer")?, serial: r.u32("serial")? })
}

fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), SealError> {
    if count > max {
        return Err(SealError::TooMany { what, count, max });
    }
    Ok(())
}

/// Appends one frame to `dst`. Fails, writing nothing, when the message cannot be sent.
pub fn encode(msg: &SealFrame, dst: &mut BytesMut) -> Result<(), SealError> {
    let mut p = Vec::new();
    let cmd = match &msg.body {
        SealBody::Ping => cmd::PING,
        SealBody::PingReply { fw_major, fw_minor, reader_serial } => {
            p.extend_from_slice(&[*fw_major, *fw_minor]);
            p.put_u32_le(*reader_serial);
            cmd::PING | cmd::REPLY
        }
        SealBody::Interrogate { window_ms } => {
            p.put_u16_le(*window_ms);
            cmd::INTERROGATE
        }
        SealBody::InterrogateReply { seals } => {
            check_count("seals", seals.len(), MAX_SEALS)?;
            p.put_u8(seals.len() as u8);
            for s in seals {
                put_id(&mut p, s.id);
                p.put_u8(status_code(s.status));
                match s.sealed_at {
                    Some(t) => put_time(&mut p, t)?,
                    None => p.put_u32_le(0),
                }
                p.put_u8(s.battery_pct);
                p.put_i8(s.rssi_dbm);
            }
            cmd::INTERROGATE | cmd::REPLY
        }
        SealBody::ReadLog { seal, from, max } => {
            put_id(&mut p, *seal);
            p.put_u16_le(*from);
            p.put_u8(*max);
            cmd::READ_LOG
        }
        SealBody::LogReply { seal, total, first, events } => {
            check_count("events", events.len(), MAX_EVENTS)?;
            put_id(&mut p, *seal);
            p.put_u16_le(*total);
            p.put_u16_le(*first);
            p.put_u8(events.len() as u8);
            for e in events {
                p.put_u8(e.kind.code());
                put_time(&mut p, e.at)?;
            }
            cmd::READ_LOG | cmd::REPLY
        }
        SealBody::Nak { for_cmd, code } => {
            p.extend_from_slice(&[*for_cmd, code.code()]);
            cmd::NAK
        }
    };
    FRAMING.encode(&[msg.addr, msg.seq, cmd, 0, 0], &p, dst)?;
    Ok(())
}

/// Next frame from `src`: `Ok(None)` for a partial frame; every `Err` has consumed
/// bytes, so log it and call again.
pub fn decode(src: &mut BytesMut) -> Result<Option<SealFrame>, SealError> {
    let Some(raw) = FRAMING.decode(src)? else { return Ok(None) };
    let (addr, seq, cmd) = (raw.fields[0], raw.fields[1], raw.fields[2]);
    let body = parse_body(cmd, Rd::new(raw.payload)).map_err(|source| match source {
        PayloadError::Invalid { field: "cmd", .. } => SealError::UnknownCommand(cmd),
        source => SealError::Payload { cmd, source },
    })?;
    Ok(Some(SealFrame { addr, seq, body }))
}

fn status_code(s: SealStatus) -> u8 {
    match s {
        SealStatus::Sealed => 0,
        SealStatus::Opened => 1,
        SealStatus::Tampered => 2,
    }
}

fn parse_body(cmd: u8, mut r: Rd) -> Result<SealBody, PayloadError> {
    let body = match cmd {
        cmd::PING => SealBody::Ping,
        c if c == cmd::PING | cmd::REPLY => SealBody::PingReply {
            fw_major: r.u8("fw_major")?,
            fw_minor: r.u8("fw_minor")?,
            reader_serial: r.u32("reader_serial")?,
        },
        cmd::INTERROGATE => SealBody::Interrogate { window_ms: r.u16("window_ms")? },
        c if c == cmd::INTERROGATE | cmd::REPLY => {
            let n = r.u8("seal count")? as usize;
            if n > MAX_SEALS {
                return Err(PayloadError::Invalid { field: "seal count", value: n as u64 });
            }
            let mut seals = Vec::with_capacity(n);
            for _ in 0..n {
                let id = get_id(&mut r)?;
                let status = match r.u8("status")? {
                    0 => SealStatus::Sealed,
                    1 => SealStatus::Opened,
                    2 => SealStatus::Tampered,
                    v => return Err(PayloadError::Invalid { field: "status", value: v.into() }),
                };
                let sealed_at = get_time(&mut r, "sealed_at")?;
                let battery_pct = r.u8("battery")?;
                if battery_pct > 100 {
                    return Err(PayloadError::Invalid { field: "battery", value: battery_pct.into() });
                }
                let rssi_dbm = r.u8("rssi")? as i8;
                seals.push(SealRecord { id, status, sealed_at, battery_pct, rssi_dbm });
            }
            SealBody::InterrogateReply { seals }
        }
        cmd::READ_LOG => SealBody::ReadLog { seal: get_id(&mut r)?, from: r.u16("from")?, max: r.u8("max")? },
        c if c == cmd::READ_LOG | cmd::REPLY => {
            let seal = get_id(&mut r)?;
            let (total, first) = (r.u16("total")?, r.u16("first")?);
            let n = r.u8("event count")? as usize;
            if n > MAX_EVENTS {
                return Err(PayloadError::Invalid { field: "event count", value: n as u64 });
            }
            let mut events = Vec::with_capacity(n);
            for _ in 0..n {
                let kind = EventKind::from_code(r.u8("event kind")?);
                let at = get_time(&mut r, "event time")?
                    .ok_or(PayloadError::Invalid { field: "event time", value: 0 })?;
                events.push(LogEvent { kind, at });
            }
            SealBody::LogReply { seal, total, first, events }
        }
        cmd::NAK => SealBody::Nak { for_cmd: r.u8("for_cmd")?, code: NakCode::from_code(r.u8("nak code")?) },
        c => return Err(PayloadError::Invalid { field: "cmd", value: c.into() }),
    };
    r.finish()?;
    Ok(body)
}

#[cfg(test)]
mod tests;
