//! Container empty-box detector protocol (RS-232 or TCP), codec only.
//!
//! The detector scans the inside of a container through the open doors (or
//! through the walls, for radiation-based units) and answers empty / not empty /
//! inconclusive with a depth profile and an interior JPEG. The shape of the
//! protocol follows from that JPEG, 50 KB–2 MB:
//!
//! * The image does not travel inside the result: the result announces its size
//!   and chunk count and [`ImageChunk`]s follow, each at most [`MAX_CHUNK`] bytes,
//!   so no frame is bigger than 64 KiB and a corrupt chunk costs one chunk, which
//!   the host asks for again with [`EbBody::GetChunk`] (on serial links at 115200
//!   baud a whole-image resend would cost tens of seconds).
//! * CRC-32 rather than CRC-16: 16 bits are too weak for 64 KiB frames.
//! * A two-byte sync word (`EB 90`) and the header check of [`super`] let a
//!   serial stream resynchronise after line noise; on TCP they are cheap insurance.
//!
//! Frame: `EB 90 | type u8 | seq u16 LE | len u32 LE | hck | payload | CRC-32 LE`.
//! Layouts in `docs/protocols/empty-box-detector.md`. [`ResultAssembler`] turns a
//! result plus its chunks into an [`crate::EmptyBoxResult`].

mod reassembly;
#[cfg(test)]
mod tests;

use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, Utc};

use super::{FrameError, Framing, PayloadError, Rd, Trailer};
use crate::EmptyVerdict;
pub use reassembly::{ReassemblyError, ResultAssembler};

pub const SYNC: [u8; 2] = [0xEB, 0x90];
/// Largest image chunk.
pub const MAX_CHUNK: usize = 60_000;
/// Largest frame payload; longer length fields are corruption.
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// Most samples in a depth profile (2 bytes each).
pub const MAX_PROFILE: usize = 4096;
/// Largest interior image a detector may announce.
pub const MAX_IMAGE: u32 = 16 * 1024 * 1024;
/// Longest container id field (ISO 6346 is 11; some sites add a suffix).
pub const MAX_CONTAINER: usize = 16;
/// Depth sample meaning "no echo within range".
pub const NO_ECHO: u16 = 0xFFFF;

const FRAMING: Framing = Framing {
    sync: &SYNC,
    fields_len: 7,
    len_offset: 3,
    len_width: 4,
    max_payload: MAX_PAYLOAD,
    trailer: Trailer::Crc32,
};

/// Message type codes; detector messages have bit 7 set.
pub mod kind {
    pub const START_SCAN: u8 = 0x01;
    pub const GET_STATUS: u8 = 0x02;
    pub const ABORT: u8 = 0x03;
    pub const GET_CHUNK: u8 = 0x04;
    pub const SCAN_ACCEPTED: u8 = 0x81;
    pub const STATUS: u8 = 0x82;
    pub const SCAN_RESULT: u8 = 0x83;
    pub const IMAGE_CHUNK: u8 = 0x84;
    pub const NAK: u8 = 0xFF;
}

#[derive(Debug, Clone, PartialEq)]
pub struct EbMsg {
    /// Host requests carry a fresh `seq`; replies echo it. Unsolicited detector
    /// messages (result, chunks) carry the `seq` of the `StartScan` they answer.
    pub seq: u16,
    pub body: EbBody,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EbBody {
    /// Host: scan the container now in position; `container` is what the lane
    /// read (ISO 6346), stored by the detector with its result.
    StartScan {
        container: Option<String>,
        want_image: bool,
    },
    GetStatus,
    Abort {
        scan_id: u32,
    },
    /// Host: send chunk `index` of `scan_id`'s image again.
    GetChunk {
        scan_id: u32,
        index: u16,
    },
    /// Detector: scan started under this id.
    ScanAccepted {
        scan_id: u32,
    },
    Status {
        state: DetectorState,
        faults: u16,
    },
    ScanResult(ScanResult),
    ImageChunk(ImageChunk),
    Nak {
        for_kind: u8,
        code: NakCode,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorState {
    Idle,
    Scanning,
    WarmingUp,
    Fault,
    Other(u8),
}

impl DetectorState {
    fn code(self) -> u8 {
        match self {
            DetectorState::Idle => 0,
            DetectorState::Scanning => 1,
            DetectorState::WarmingUp => 2,
            DetectorState::Fault => 3,
            DetectorState::Other(c) => c,
        }
    }

    fn from_code(c: u8) -> Self {
        [DetectorState::Idle, DetectorState::Scanning, DetectorState::WarmingUp, DetectorState::Fault]
            .get(c as usize)
            .copied()
            .unwrap_or(DetectorState::Other(c))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NakCode {
    /// A scan is running: wait for its result or abort it.
    Busy,
    /// Warming up or not ready (doors not open, source interlock): retry later.
    NotReady,
    BadParameter,
    UnknownKind,
    /// The chunk asked for is no longer held.
    NoSuchChunk,
    /// Hardware fault: call a technician.
    Fault,
    Other(u8),
}

impl NakCode {
    const ALL: [NakCode; 6] = [
        NakCode::Busy,
        NakCode::NotReady,
        NakCode::BadParameter,
        NakCode::UnknownKind,
        NakCode::NoSuchChunk,
        NakCode::Fault,
    ];

    fn code(self) -> u8 {
        match self {
            NakCode::Other(c) => c,
            known => Self::ALL.iter().position(|k| *k == known).unwrap() as u8 + 1,
        }
    }

    fn from_code(c: u8) -> Self {
        match c {
            1..=6 => Self::ALL[c as usize - 1],
            c => NakCode::Other(c),
        }
    }
}

/// The detector's verdict; the interior image follows in chunks.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanResult {
    pub scan_id: u32,
    pub container: Option<String>,
    /// Milliseconds resolution on the wire.
    pub scanned_at: DateTime<Utc>,
    pub verdict: EmptyVerdict,
    /// 0–1000 (per mille).
    pub confidence_permille: u16,
    /// Distance between depth samples along the box, mm.
    pub sample_spacing_mm: u16,
    /// Free depth per sample, mm; [`NO_ECHO`] where nothing answered.
    pub depth_mm: Vec<u16>,
    pub image: Option<ImageInfo>,
}

/// Announces the interior JPEG that follows in `chunks` chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    pub total_len: u32,
    pub width: u16,
    pub height: u16,
    pub chunks: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageChunk {
    pub scan_id: u32,
    pub index: u16,
    pub data: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EbError {
    /// Bytes were dropped while resynchronising; call `decode` again.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A well-framed message whose payload does not parse; the frame is consumed.
    #[error("message type {kind:#04x}: {source}")]
    Payload { kind: u8, source: PayloadError },
    #[error("unknown message type {0:#04x}")]
    UnknownKind(u8),
    #[error("field {field} is {len}, more than the {max} the protocol allows")]
    TooLarge { field: &'static str, len: usize, max: usize },
    #[error("container id must be ASCII")]
    NonAsciiContainer,
}

fn too_large(field: &'static str, len: usize, max: usize) -> Result<(), EbError> {
    if len > max {
        return Err(EbError::TooLarge { field, len, max });
    }
    Ok(())
}

fn put_container(p: &mut Vec<u8>, c: &Option<String>) -> Result<(), EbError> {
    let c = c.as_deref().unwrap_or("");
    too_large("container", c.len(), MAX_CONTAINER)?;
    if !c.is_ascii() {
        return Err(EbError::NonAsciiContainer);
    }
    p.put_u8(c.len() as u8);
    p.put_slice(c.as_bytes());
    Ok(())
}

fn get_container(r: &mut Rd) -> Result<Option<String>, PayloadError> {
    let s = r.short_str("container")?;
    if s.len() > MAX_CONTAINER {
        return Err(PayloadError::Invalid { field: "container length", value: s.len() as u64 });
    }
    Ok(Some(s).filter(|s| !s.is_empty()))
}

fn verdict_code(v: EmptyVerdict) -> u8 {
    match v {
        EmptyVerdict::Empty => 0,
        EmptyVerdict::NotEmpty => 1,
        EmptyVerdict::Inconclusive => 2,
    }
}

/// Appends one frame to `dst`; fails, writing nothing, when a field is too large.
pub fn encode(msg: &EbMsg, dst: &mut BytesMut) -> Result<(), EbError> {
    let mut p = Vec::new();
    let kind = match &msg.body {
        EbBody::StartScan { container, want_image } => {
            put_container(&mut p, container)?;
            p.put_u8(u8::from(*want_image));
            kind::START_SCAN
        }
        EbBody::GetStatus => kind::GET_STATUS,
        EbBody::Abort { scan_id } => {
            p.put_u32_le(*scan_id);
            kind::ABORT
        }
        EbBody::GetChunk { scan_id, index } => {
            p.put_u32_le(*scan_id);
            p.put_u16_le(*index);
            kind::GET_CHUNK
        }
        EbBody::ScanAccepted { scan_id } => {
            p.put_u32_le(*scan_id);
            kind::SCAN_ACCEPTED
        }
        EbBody::Status { state, faults } => {
            p.put_u8(state.code());
            p.put_u16_le(*faults);
            kind::STATUS
        }
        EbBody::ScanResult(r) => {
            too_large("depth profile", r.depth_mm.len(), MAX_PROFILE)?;
            too_large("confidence", r.confidence_permille.into(), 1000)?;
            p.put_u32_le(r.scan_id);
            put_container(&mut p, &r.container)?;
            p.put_u64_le(r.scanned_at.timestamp_millis().max(0) as u64);
            p.put_u8(verdict_code(r.verdict));
            p.put_u16_le(r.confidence_permille);
            p.put_u16_le(r.sample_spacing_mm);
            p.put_u16_le(r.depth_mm.len() as u16);
            r.depth_mm.iter().for_each(|d| p.put_u16_le(*d));
            let img = r.image.unwrap_or(ImageInfo { total_len: 0, width: 0, height: 0, chunks: 0 });
            too_large("image", img.total_len as usize, MAX_IMAGE as usize)?;
            p.put_u32_le(img.total_len);
            p.put_u16_le(img.width);
            p.put_u16_le(img.height);
            p.put_u16_le(img.chunks);
            kind::SCAN_RESULT
        }
        EbBody::ImageChunk(c) => {
            too_large("chunk", c.data.len(), MAX_CHUNK)?;
            p.put_u32_le(c.scan_id);
            p.put_u16_le(c.index);
            p.put_slice(&c.data);
            kind::IMAGE_CHUNK
        }
        EbBody::Nak { for_kind, code } => {
            p.extend_from_slice(&[*for_kind, code.code()]);
            kind::NAK
        }
    };
    let seq = msg.seq.to_le_bytes();
    FRAMING.encode(&[kind, seq[0], seq[1], 0, 0, 0, 0], &p, dst)?;
    Ok(())
}

/// Next message from `src`: `Ok(None)` for a partial frame; every `Err` has
/// consumed bytes, so log it and call again.
pub fn decode(src: &mut BytesMut) -> Result<Option<EbMsg>, EbError> {
    let Some(raw) = FRAMING.decode(src)? else { return Ok(None) };
    let kind = raw.fields[0];
    let seq = u16::from_le_bytes([raw.fields[1], raw.fields[2]]);
    let body = parse_body(kind, Rd::new(raw.payload)).map_err(|source| match source {
        PayloadError::Invalid { field: "kind", .. } => EbError::UnknownKind(kind),
        source => EbError::Payload { kind, source },
    })?;
    Ok(Some(EbMsg { seq, body }))
}

fn parse_body(k: u8, mut r: Rd) -> Result<EbBody, PayloadError> {
    let body = match k {
        kind::START_SCAN => {
            let container = get_container(&mut r)?;
            EbBody::StartScan { container, want_image: r.u8("want_image")? != 0 }
        }
        kind::GET_STATUS => EbBody::GetStatus,
        kind::ABORT => EbBody::Abort { scan_id: r.u32("scan_id")? },
        kind::GET_CHUNK => EbBody::GetChunk { scan_id: r.u32("scan_id")?, index: r.u16("index")? },
        kind::SCAN_ACCEPTED => EbBody::ScanAccepted { scan_id: r.u32("scan_id")? },
        kind::STATUS => {
            EbBody::Status { state: DetectorState::from_code(r.u8("state")?), faults: r.u16("faults")? }
        }
        kind::SCAN_RESULT => EbBody::ScanResult(parse_result(&mut r)?),
        kind::IMAGE_CHUNK => {
            let (scan_id, index) = (r.u32("scan_id")?, r.u16("index")?);
            let data = r.rest();
            if data.len() > MAX_CHUNK {
                return Err(PayloadError::Invalid { field: "chunk length", value: data.len() as u64 });
            }
            EbBody::ImageChunk(ImageChunk { scan_id, index, data })
        }
        kind::NAK => EbBody::Nak { for_kind: r.u8("for_kind")?, code: NakCode::from_code(r.u8("nak code")?) },
        k => return Err(PayloadError::Invalid { field: "kind", value: k.into() }),
    };
    r.finish()?;
    Ok(body)
}

fn parse_result(r: &mut Rd) -> Result<ScanResult, PayloadError> {
    let scan_id = r.u32("scan_id")?;
    let container = get_container(r)?;
    let ms = r.u64("scanned_at")?;
    let scanned_at = i64::try_from(ms)
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .ok_or(PayloadError::Invalid { field: "scanned_at", value: ms })?;
    let verdict = match r.u8("verdict")? {
        0 => EmptyVerdict::Empty,
        1 => EmptyVerdict::NotEmpty,
        2 => EmptyVerdict::Inconclusive,
        v => return Err(PayloadError::Invalid { field: "verdict", value: v.into() }),
    };
    let confidence_permille = r.u16("confidence")?;
    if confidence_permille > 1000 {
        return Err(PayloadError::Invalid { field: "confidence", value: confidence_permille.into() });
    }
    let sample_spacing_mm = r.u16("sample spacing")?;
    // The frame length already bounds this; the check keeps the limit explicit.
    let n = r.u16("profile length")? as usize;
    if n > MAX_PROFILE {
        return Err(PayloadError::Invalid { field: "profile length", value: n as u64 });
    }
    let depth_mm = (0..n).map(|_| r.u16("depth sample")).collect::<Result<Vec<_>, _>>()?;
    let total_len = r.u32("image length")?;
    if total_len > MAX_IMAGE {
        return Err(PayloadError::Invalid { field: "image length", value: total_len.into() });
    }
    let (width, height, chunks) = (r.u16("width")?, r.u16("height")?, r.u16("chunks")?);
    let image = (total_len > 0).then_some(ImageInfo { total_len, width, height, chunks });
    Ok(ScanResult {
        scan_id,
        container,
        scanned_at,
        verdict,
        confidence_permille,
        sample_spacing_mm,
        depth_mm,
        image,
    })
}
