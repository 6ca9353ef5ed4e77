//! Wire protocols of the lane devices: codecs only, no I/O.
//!
//! Each device module ([`seal`], [`emptybox`], [`uvss`]) turns messages into bytes
//! (`encode(&Msg, &mut BytesMut)`) and bytes into messages
//! (`decode(&mut BytesMut) -> Result<Option<Msg>, Error>`), in the manner of
//! rumqttc's `mqttbytes`: the transport (serial port, PTY, TCP socket) reads into a
//! `BytesMut` and calls `decode` until it returns `Ok(None)`, which means "a partial
//! frame, read more". Both directions are encodable so that a wire-level simulator
//! can play the device side with the same code.
//!
//! All three protocols share one frame shape, implemented once here in [`Framing`]:
//!
//! ```text
//! sync (1-2 bytes) | header fields (fixed, includes a LE length) | hck u8 | payload | crc (LE)
//! ```
//!
//! * `hck` makes the byte sum of the header fields plus `hck` zero (mod 256). It
//!   lets the decoder reject a sync byte that turned up inside garbage after a few
//!   bytes, instead of waiting for a bogus length's worth of data first.
//! * The length is checked against a per-protocol maximum before anything is
//!   reserved, so a corrupt length never causes a large allocation.
//! * The CRC covers everything after the sync bytes up to the end of the payload.
//!
//! Resynchronisation: every `Err` returned by a `decode` has consumed at least one
//! byte (garbage up to the next sync, or the sync byte of a frame that failed a
//! check), so the caller logs/counts it and simply calls `decode` again. A stream
//! that stalls on a false sync with a plausible length is unstuck by
//! [`skip_stalled`], which the driver calls when a read times out with bytes still
//! buffered.

pub mod crc;
pub mod emptybox;
pub mod seal;
pub mod uvss;

#[cfg(test)]
mod testutil;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Errors of the shared framing layer; each protocol wraps them in its own error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Bytes before the next sync pattern were discarded.
    #[error("skipped {skipped} bytes of garbage before the next frame")]
    Garbage { skipped: usize },
    #[error("header check byte mismatch; resynchronising")]
    HeaderCheck,
    /// The length field exceeds what this protocol ever sends.
    #[error("frame payload of {len} bytes exceeds the maximum of {max}")]
    PayloadTooLarge { len: usize, max: usize },
    #[error("CRC mismatch: frame says {received:#x}, computed {computed:#x}")]
    Crc { received: u32, computed: u32 },
}

/// Which checksum trails the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trailer {
    /// CRC-16/MODBUS, 2 bytes, low byte first.
    Crc16Modbus,
    /// CRC-32/ISO-HDLC (the zlib/Ethernet CRC), 4 bytes, little-endian.
    Crc32,
}

impl Trailer {
    fn len(self) -> usize {
        match self {
            Trailer::Crc16Modbus => 2,
            Trailer::Crc32 => 4,
        }
    }

    fn compute(self, data: &[u8]) -> u32 {
        match self {
            Trailer::Crc16Modbus => u32::from(crc::crc16_modbus(data)),
            Trailer::Crc32 => crc::crc32(data),
        }
    }
}

/// A protocol's frame layout: sync pattern, header fields, length field, checksum.
#[derive(Debug, Clone, Copy)]
pub struct Framing {
    pub sync: &'static [u8],
    /// Length of the header fields between sync and `hck`.
    pub fields_len: usize,
    /// Offset of the little-endian payload length within the header fields.
    pub len_offset: usize,
    /// Width of the length field: 2 or 4 bytes.
    pub len_width: usize,
    pub max_payload: usize,
    pub trailer: Trailer,
}

/// One frame that passed every check: its header fields and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub fields: Bytes,
    pub payload: Bytes,
}

/// Byte that makes `sum(fields) + hck == 0 (mod 256)`.
pub fn header_check(fields: &[u8]) -> u8 {
    fields.iter().fold(0u8, |a, b| a.wrapping_add(*b)).wrapping_neg()
}

impl Framing {
    fn header_len(&self) -> usize {
        self.sync.len() + self.fields_len + 1
    }

    /// Frame `fields` (length field left zero by the caller; filled in here) and
    /// `payload` into `dst`.
    pub fn encode(&self, fields: &[u8], payload: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        debug_assert_eq!(fields.len(), self.fields_len);
        if payload.len() > self.max_payload {
            return Err(FrameError::PayloadTooLarge { len: payload.len(), max: self.max_payload });
        }
        let mut f = fields.to_vec();
        let len = (payload.len() as u32).to_le_bytes();
        f[self.len_offset..self.len_offset + self.len_width].copy_from_slice(&len[..self.len_width]);
        dst.reserve(self.header_len() + payload.len() + self.trailer.len());
        let start = dst.len() + self.sync.len();
        dst.put_slice(self.sync);
        dst.put_slice(&f);
        dst.put_u8(header_check(&f));
        dst.put_slice(payload);
        let crc = self.trailer.compute(&dst[start..]);
        dst.put_slice(&crc.to_le_bytes()[..self.trailer.len()]);
        Ok(())
    }

    /// Next checked frame from `src`; see the module docs for the error contract.
    pub fn decode(&self, src: &mut BytesMut) -> Result<Option<RawFrame>, FrameError> {
        let skipped = self.seek_sync(src);
        if skipped > 0 {
            return Err(FrameError::Garbage { skipped });
        }
        if src.len() < self.header_len() {
            return Ok(None);
        }
        let s = self.sync.len();
        let fields = &src[s..s + self.fields_len];
        if header_check(fields) != src[s + self.fields_len] {
            src.advance(1);
            return Err(FrameError::HeaderCheck);
        }
        let mut len_bytes = [0u8; 4];
        len_bytes[..self.len_width]
            .copy_from_slice(&fields[self.len_offset..self.len_offset + self.len_width]);
        let len = u32::from_le_bytes(len_bytes) as usize;
        if len > self.max_payload {
            src.advance(1);
            return Err(FrameError::PayloadTooLarge { len, max: self.max_payload });
        }
        let total = self.header_len() + len + self.trailer.len();
        if src.len() < total {
            src.reserve(total - src.len());
            return Ok(None);
        }
        let body_end = self.header_len() + len;
        let computed = self.trailer.compute(&src[s..body_end]);
        let mut crc_bytes = [0u8; 4];
        crc_bytes[..self.trailer.len()].copy_from_slice(&src[body_end..total]);
        let received = u32::from_le_bytes(crc_bytes);
        if computed != received {
            src.advance(1);
            return Err(FrameError::Crc { received, computed });
        }
        let mut frame = src.split_to(total).freeze();
        frame.advance(s);
        let fields = frame.split_to(self.fields_len);
        frame.advance(1);
        let payload = frame.split_to(len);
        Ok(Some(RawFrame { fields, payload }))
    }

    /// Drops bytes up to the first full sync pattern, or, when there is none, all but
    /// a trailing partial sync pattern. Returns how many bytes were dropped.
    fn seek_sync(&self, src: &mut BytesMut) -> usize {
        let sync = self.sync;
        let mut i = 0;
        while i < src.len() {
            let tail = &src[i..];
            let n = tail.len().min(sync.len());
            if tail[..n] == sync[..n] {
                break;
            }
            i += 1;
        }
        src.advance(i);
        i
    }
}

/// Unsticks a decoder that waits on a false sync whose bogus length asked for more
/// bytes than will ever come: drops the first byte. Call on a read timeout while
/// bytes are still buffered, then call `decode` again. Returns whether anything
/// was dropped.
pub fn skip_stalled(src: &mut BytesMut) -> bool {
    if src.is_empty() {
        return false;
    }
    src.advance(1);
    true
}

/// Why a checked payload could not be parsed. The frame is consumed either way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("payload ends early: needed {needed} more bytes for {field}")]
    Truncated { field: &'static str, needed: usize },
    #[error("{extra} unexpected bytes after the last field")]
    TrailingBytes { extra: usize },
    #[error("field {field} has invalid value {value}")]
    Invalid { field: &'static str, value: u64 },
}

/// Little-endian field reader over a checked payload.
pub(crate) struct Rd {
    buf: Bytes,
}

impl Rd {
    pub(crate) fn new(buf: Bytes) -> Self {
        Rd { buf }
    }

    fn need(&self, field: &'static str, n: usize) -> Result<(), PayloadError> {
        if self.buf.remaining() < n {
            return Err(PayloadError::Truncated { field, needed: n - self.buf.remaining() });
        }
        Ok(())
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, PayloadError> {
        self.need(field, 1)?;
        Ok(self.buf.get_u8())
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, PayloadError> {
        self.need(field, 2)?;
        Ok(self.buf.get_u16_le())
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, PayloadError> {
        self.need(field, 4)?;
        Ok(self.buf.get_u32_le())
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, PayloadError> {
        self.need(field, 8)?;
        Ok(self.buf.get_u64_le())
    }

    pub(crate) fn bytes(&mut self, field: &'static str, n: usize) -> Result<Bytes, PayloadError> {
        self.need(field, n)?;
        Ok(self.buf.split_to(n))
    }

    /// Everything left: the bulk data at the end of a payload.
    pub(crate) fn rest(&mut self) -> Bytes {
        self.buf.split_off(0)
    }

    /// A `u8`-length-prefixed ASCII string.
    pub(crate) fn short_str(&mut self, field: &'static str) -> Result<String, PayloadError> {
        let n = self.u8(field)? as usize;
        let b = self.bytes(field, n)?;
        if !b.is_ascii() {
            return Err(PayloadError::Invalid { field, value: n as u64 });
        }
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    pub(crate) fn finish(self) -> Result<(), PayloadError> {
        match self.buf.remaining() {
            0 => Ok(()),
            extra => Err(PayloadError::TrailingBytes { extra }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Framing = Framing {
        sync: &[0xEB, 0x90],
        fields_len: 3,
        len_offset: 1,
        len_width: 2,
        max_payload: 16,
        trailer: Trailer::Crc16Modbus,
    };

    #[test]
    fn two_byte_sync_partial_prefix_is_kept() {
        let mut b = BytesMut::from(&[0x00, 0x11, 0xEB][..]);
        assert_eq!(F.decode(&mut b), Err(FrameError::Garbage { skipped: 2 }));
        assert_eq!(&b[..], &[0xEB]);
        assert_eq!(F.decode(&mut b), Ok(None));
    }

    #[test]
    fn oversized_length_is_rejected_before_reserving() {
        // sync, type 0x01, len 0xFFFF, hck
        let fields = [0x01, 0xFF, 0xFF];
        let mut b = BytesMut::from(&[0xEB, 0x90][..]);
        b.extend_from_slice(&fields);
        b.extend_from_slice(&[header_check(&fields)]);
        assert_eq!(F.decode(&mut b), Err(FrameError::PayloadTooLarge { len: 0xFFFF, max: 16 }));
        assert!(b.capacity() < 1024);
    }

    #[test]
    fn skip_stalled_unsticks_a_bogus_length() {
        let mut ok = BytesMut::new();
        F.encode(&[0x07, 0, 0], b"hi", &mut ok).unwrap();
        // a false header claiming 16 bytes, then a real frame that is shorter
        let fields = [0x01, 16, 0];
        let mut b = BytesMut::from(&[0xEB, 0x90][..]);
        b.extend_from_slice(&fields);
        b.extend_from_slice(&[header_check(&fields)]);
        b.extend_from_slice(&ok);
        assert_eq!(F.decode(&mut b), Ok(None));
        assert!(skip_stalled(&mut b));
        let mut got = None;
        while !b.is_empty() {
            if let Ok(Some(f)) = F.decode(&mut b) {
                got = Some(f);
            }
        }
        assert_eq!(got.unwrap().payload, Bytes::from_static(b"hi"));
    }
}
