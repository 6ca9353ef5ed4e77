//! The two CRCs the lane protocols use, table-driven with tables built at compile
//! time, so no extra dependency is needed for a few dozen lines.
//!
//! * CRC-16/MODBUS (poly 0x8005 reflected = 0xA001, init 0xFFFF, no final xor,
//!   check value 0x4B37): the checksum every RS-485 installer's tooling knows.
//! * CRC-32/ISO-HDLC (poly 0x04C11DB7 reflected = 0xEDB88320, init and xorout
//!   0xFFFFFFFF, check value 0xCBF43926): zlib's CRC, for frames of up to 64 KiB
//!   where 16 bits would be too weak.

const fn table16(poly: u16) -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u16;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ poly } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

const fn table32(poly: u32) -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ poly } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static MODBUS: [u16; 256] = table16(0xA001);
static CRC32: [u32; 256] = table32(0xEDB8_8320);

/// CRC-16/MODBUS; sent low byte first.
pub fn crc16_modbus(data: &[u8]) -> u16 {
    data.iter().fold(0xFFFF_u16, |c, b| (c >> 8) ^ MODBUS[((c ^ u16::from(*b)) & 0xFF) as usize])
}

/// CRC-32/ISO-HDLC; sent little-endian.
pub fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(0xFFFF_FFFF_u32, |c, b| (c >> 8) ^ CRC32[((c ^ u32::from(*b)) & 0xFF) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values() {
        assert_eq!(crc16_modbus(b"123456789"), 0x4B37);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn modbus_reference_frame() {
        // Modbus RTU "read holding registers": slave 1, fn 3, addr 0, count 10 is sent
        // with the trailer C5 CD (CRC 0xCDC5, low byte first).
        assert_eq!(crc16_modbus(&[0x01, 0x03, 0x00, 0x00, 0x00, 0x0A]).to_le_bytes(), [0xC5, 0xCD]);
    }
}
