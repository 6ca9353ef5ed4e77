//! Modbus RTU framing for the three function codes a dry-contact barrier
//! controller or a loop detector needs: 01 read coils, 02 read discrete inputs,
//! 05 write single coil. Codec only, both directions (the simulator plays the
//! slave with it), in the style of `protocol::*`: `Ok(None)` is a partial
//! frame, every `Err` has consumed at least one byte, so the caller counts it
//! and decodes again.
//!
//! RTU has no sync byte; frames are delimited by line silence, which a host on
//! a USB-serial adapter cannot time reliably. So the decoder finds frames by
//! their structure instead: the function code tells the length (fixed 8 bytes,
//! or 5 + byte count, or 5 for an exception) and CRC-16/MODBUS confirms it; on
//! a mismatch one byte is dropped and the search goes on. Why not tokio-modbus:
//! it pulls in a framed-codec stack for three function codes, and its RTU
//! client does not expose the resynchronisation and health signals we report.

use bytes::{Buf, BufMut, BytesMut};

use crate::protocol::crc::crc16_modbus;

pub const READ_COILS: u8 = 0x01;
pub const READ_DISCRETE_INPUTS: u8 = 0x02;
pub const WRITE_SINGLE_COIL: u8 = 0x05;
/// Most bits in one read (the spec's limit for coils and inputs).
pub const MAX_BITS: u16 = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtuRequest {
    ReadCoils { addr: u16, count: u16 },
    ReadDiscreteInputs { addr: u16, count: u16 },
    WriteSingleCoil { addr: u16, on: bool },
}

impl RtuRequest {
    pub fn function(&self) -> u8 {
        match self {
            RtuRequest::ReadCoils { .. } => READ_COILS,
            RtuRequest::ReadDiscreteInputs { .. } => READ_DISCRETE_INPUTS,
            RtuRequest::WriteSingleCoil { .. } => WRITE_SINGLE_COIL,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtuResponse {
    /// Reply to 01 or 02: the packed bits, 8 per byte, LSB first (padding included).
    Bits {
        function: u8,
        bits: Vec<bool>,
    },
    CoilWritten {
        addr: u16,
        on: bool,
    },
    Exception {
        function: u8,
        code: u8,
    },
}

impl RtuResponse {
    pub fn function(&self) -> u8 {
        match self {
            RtuResponse::Bits { function, .. } => *function,
            RtuResponse::CoilWritten { .. } => WRITE_SINGLE_COIL,
            RtuResponse::Exception { function, .. } => *function,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtuError {
    #[error("unknown function code {0:#04x}; resynchronising")]
    UnknownFunction(u8),
    #[error("CRC mismatch; resynchronising")]
    Crc,
    #[error("invalid field {0}; resynchronising")]
    Invalid(&'static str),
}

fn finish(dst: &mut BytesMut, start: usize) {
    let crc = crc16_modbus(&dst[start..]);
    dst.put_u16_le(crc);
}

pub fn encode_request(unit: u8, req: &RtuRequest, dst: &mut BytesMut) {
    let start = dst.len();
    dst.put_u8(unit);
    dst.put_u8(req.function());
    match *req {
        RtuRequest::ReadCoils { addr, count } | RtuRequest::ReadDiscreteInputs { addr, count } => {
            dst.put_u16(addr);
            dst.put_u16(count);
        }
        RtuRequest::WriteSingleCoil { addr, on } => {
            dst.put_u16(addr);
            dst.put_u16(if on { 0xFF00 } else { 0x0000 });
        }
    }
    finish(dst, start);
}

pub fn encode_response(unit: u8, resp: &RtuResponse, dst: &mut BytesMut) {
    let start = dst.len();
    dst.put_u8(unit);
    match resp {
        RtuResponse::Bits { function, bits } => {
            dst.put_u8(*function);
            let bytes = bits.len().div_ceil(8);
            dst.put_u8(bytes as u8);
            for chunk in bits.chunks(8) {
                dst.put_u8(chunk.iter().enumerate().fold(0u8, |a, (i, b)| a | (u8::from(*b) << i)));
            }
        }
        RtuResponse::CoilWritten { addr, on } => {
            dst.put_u8(WRITE_SINGLE_COIL);
            dst.put_u16(*addr);
            dst.put_u16(if *on { 0xFF00 } else { 0 });
        }
        RtuResponse::Exception { function, code } => {
            dst.put_u8(function | 0x80);
            dst.put_u8(*code);
        }
    }
    finish(dst, start);
}

/// Checks the CRC of the first `len` bytes; consumes them if good, one byte if not.
fn take(src: &mut BytesMut, len: usize) -> Result<Option<BytesMut>, RtuError> {
    if src.len() < len {
        return Ok(None);
    }
    let crc = u16::from_le_bytes([src[len - 2], src[len - 1]]);
    if crc16_modbus(&src[..len - 2]) != crc {
        src.advance(1);
        return Err(RtuError::Crc);
    }
    Ok(Some(src.split_to(len)))
}

fn skip<T>(src: &mut BytesMut, e: RtuError) -> Result<T, RtuError> {
    src.advance(1);
    Err(e)
}

/// A request as a slave sees it: `(unit, request)`.
pub fn decode_request(src: &mut BytesMut) -> Result<Option<(u8, RtuRequest)>, RtuError> {
    if src.len() < 2 {
        return Ok(None);
    }
    let f = src[1];
    if ![READ_COILS, READ_DISCRETE_INPUTS, WRITE_SINGLE_COIL].contains(&f) {
        return skip(src, RtuError::UnknownFunction(f));
    }
    let Some(mut fr) = take(src, 8)? else { return Ok(None) };
    let unit = fr.get_u8();
    fr.advance(1);
    let (addr, v) = (fr.get_u16(), fr.get_u16());
    let req = match f {
        READ_COILS | READ_DISCRETE_INPUTS if v == 0 || v > MAX_BITS => {
            return Err(RtuError::Invalid("count"))
        }
        READ_COILS => RtuRequest::ReadCoils { addr, count: v },
        READ_DISCRETE_INPUTS => RtuRequest::ReadDiscreteInputs { addr, count: v },
        _ => match v {
            0xFF00 => RtuRequest::WriteSingleCoil { addr, on: true },
            0x0000 => RtuRequest::WriteSingleCoil { addr, on: false },
            _ => return Err(RtuError::Invalid("coil value")),
        },
    };
    Ok(Some((unit, req)))
}

/// A response as the master sees it: `(unit, response)`.
pub fn decode_response(src: &mut BytesMut) -> Result<Option<(u8, RtuResponse)>, RtuError> {
    if src.len() < 2 {
        return Ok(None);
    }
    let f = src[1];
    let len = match f {
        READ_COILS | READ_DISCRETE_INPUTS => {
            if src.len() < 3 {
                return Ok(None);
            }
            match src[2] {
                0 | 251.. => return skip(src, RtuError::Invalid("byte count")),
                n => 5 + usize::from(n),
            }
        }
        WRITE_SINGLE_COIL => 8,
        f if f & 0x80 != 0 && [READ_COILS, READ_DISCRETE_INPUTS, WRITE_SINGLE_COIL].contains(&(f & 0x7F)) => {
            5
        }
        f => return skip(src, RtuError::UnknownFunction(f)),
    };
    let Some(mut fr) = take(src, len)? else { return Ok(None) };
    let unit = fr.get_u8();
    fr.advance(1);
    let resp = match f {
        READ_COILS | READ_DISCRETE_INPUTS => {
            let n = usize::from(fr.get_u8());
            let bits = fr[..n].iter().flat_map(|b| (0..8).map(move |i| b >> i & 1 == 1)).collect();
            RtuResponse::Bits { function: f, bits }
        }
        WRITE_SINGLE_COIL => {
            let addr = fr.get_u16();
            match fr.get_u16() {
                0xFF00 => RtuResponse::CoilWritten { addr, on: true },
                0 => RtuResponse::CoilWritten { addr, on: false },
                _ => return Err(RtuError::Invalid("coil value")),
            }
        }
        f => RtuResponse::Exception { function: f & 0x7F, code: fr.get_u8() },
    };
    Ok(Some((unit, resp)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reference_frames() {
        // Read coils, slave 0x11, from 0x0013, 0x25 coils (Modbus over serial line spec).
        let mut b = BytesMut::new();
        encode_request(0x11, &RtuRequest::ReadCoils { addr: 0x13, count: 0x25 }, &mut b);
        assert_eq!(&b[..6], &[0x11, 0x01, 0x00, 0x13, 0x00, 0x25]);
        assert_eq!(
            decode_request(&mut b).unwrap(),
            Some((0x11, RtuRequest::ReadCoils { addr: 0x13, count: 0x25 }))
        );
        // Write coil 0x00AC on, slave 0x11: 11 05 00 AC FF 00 | CRC 4E 8B.
        let mut b = BytesMut::new();
        encode_request(0x11, &RtuRequest::WriteSingleCoil { addr: 0xAC, on: true }, &mut b);
        assert_eq!(&b[..], &[0x11, 0x05, 0x00, 0xAC, 0xFF, 0x00, 0x4E, 0x8B]);
    }

    #[test]
    fn responses_round_trip_and_resync_after_garbage() {
        let mut b = BytesMut::from(&[0x42, 0x99, 0x07][..]);
        let bits = vec![
            true, false, true, true, false, false, false, false, true, false, false, false, false, false,
            false, false,
        ];
        encode_response(3, &RtuResponse::Bits { function: READ_DISCRETE_INPUTS, bits: bits.clone() }, &mut b);
        encode_response(3, &RtuResponse::Exception { function: WRITE_SINGLE_COIL, code: 4 }, &mut b);
        let mut got = Vec::new();
        let mut errors = 0;
        loop {
            match decode_response(&mut b) {
                Ok(Some(r)) => got.push(r),
                Ok(None) => break,
                Err(_) => errors += 1,
            }
        }
        assert!(errors > 0);
        assert_eq!(
            got,
            vec![
                (3, RtuResponse::Bits { function: READ_DISCRETE_INPUTS, bits }),
                (3, RtuResponse::Exception { function: WRITE_SINGLE_COIL, code: 4 }),
            ]
        );
    }

    fn request() -> impl Strategy<Value = RtuRequest> {
        prop_oneof![
            (any::<u16>(), 1..=MAX_BITS).prop_map(|(addr, count)| RtuRequest::ReadCoils { addr, count }),
            (any::<u16>(), 1..=MAX_BITS)
                .prop_map(|(addr, count)| RtuRequest::ReadDiscreteInputs { addr, count }),
            (any::<u16>(), any::<bool>()).prop_map(|(addr, on)| RtuRequest::WriteSingleCoil { addr, on }),
        ]
    }

    fn response() -> impl Strategy<Value = RtuResponse> {
        prop_oneof![
            // Whole bytes of bits: the wire carries the padding, so that is what comes back.
            (prop_oneof![Just(READ_COILS), Just(READ_DISCRETE_INPUTS)], 1..=250usize)
                .prop_flat_map(|(f, n)| (Just(f), proptest::collection::vec(any::<bool>(), n * 8)))
                .prop_map(|(function, bits)| RtuResponse::Bits { function, bits }),
            (any::<u16>(), any::<bool>()).prop_map(|(addr, on)| RtuResponse::CoilWritten { addr, on }),
            (prop_oneof![Just(READ_COILS), Just(READ_DISCRETE_INPUTS), Just(WRITE_SINGLE_COIL)], 1..=4u8)
                .prop_map(|(function, code)| RtuResponse::Exception { function, code }),
        ]
    }

    proptest! {
        #[test]
        fn requests_and_responses_round_trip(unit in 1..=247u8, req in request(), resp in response()) {
            let mut b = BytesMut::new();
            encode_request(unit, &req, &mut b);
            prop_assert_eq!(decode_request(&mut b).unwrap(), Some((unit, req)));
            prop_assert!(b.is_empty());
            encode_response(unit, &resp, &mut b);
            prop_assert_eq!(decode_response(&mut b).unwrap(), Some((unit, resp)));
            prop_assert!(b.is_empty());
        }

        #[test]
        fn random_bytes_never_panic_and_always_progress(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            for decode in [|b: &mut BytesMut| decode_response(b).map(|_| ()), |b: &mut BytesMut| decode_request(b).map(|_| ())] {
                let mut b = BytesMut::from(&data[..]);
                loop {
                    let before = b.len();
                    match decode(&mut b) {
                        Ok(()) if b.len() == before => break,
                        Ok(()) => {}
                        Err(_) => prop_assert!(b.len() < before),
                    }
                }
            }
        }
    }
}
