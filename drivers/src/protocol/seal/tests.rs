//! Seal reader codec tests: annotated frames, resync, and properties.

use bytes::BytesMut;
use chrono::DateTime;
use proptest::prelude::*;

use super::*;
use crate::protocol::testutil::{assert_split_invariant, clean_garbage, decode_all, noise};

fn frame(addr: u8, seq: u8, body: SealBody) -> SealFrame {
    SealFrame { addr, seq, body }
}

fn enc(f: &SealFrame) -> BytesMut {
    let mut b = BytesMut::new();
    encode(f, &mut b).unwrap();
    b
}

#[rustfmt::skip]
const INTERROGATE: [u8; 11] = [
    0xA5,             // sync
    0x01,             // reader address 1
    0x07,             // seq 7
    0x10,             // cmd: interrogate
    0x02, 0x00,       // payload length 2
    0xE6,             // hck: 01+07+10+02+00+E6 = 0 (mod 256)
    0xF4, 0x01,       // window 500 ms
    0xEA, 0xA0,       // CRC-16/MODBUS over 01..01, low byte first
];

#[rustfmt::skip]
const INTERROGATE_REPLY: [u8; 23] = [
    0xA5, 0x01, 0x07, // sync, address 1, seq 7 (echoed)
    0x90,             // cmd: interrogate | reply
    0x0E, 0x00,       // payload length 14
    0x5A,             // hck
    0x01,             // one seal
    0x34, 0x12,       //   manufacturer 0x1234
    0xEF, 0xBE, 0xAD, 0xDE, // serial 0xDEADBEEF
    0x00,             //   status: sealed
    0x00, 0xF1, 0x53, 0x65, // sealed at 1_700_000_000 s (2023-11-14T22:13:20Z)
    0x57,             //   battery 87 %
    0xC3,             //   RSSI -61 dBm
    0x67, 0xDB,       // CRC
];

#[rustfmt::skip]
const NAK_BUSY: [u8; 11] = [
    0xA5, 0x01, 0x08, // sync, address 1, seq 8
    0xFF,             // cmd: NAK
    0x02, 0x00, 0xF6, // length 2, hck
    0x10,             // refused command: interrogate
    0x04,             // code: busy
    0x89, 0xF9,       // CRC
];

#[test]
fn interrogate_request_bytes() {
    let f = frame(1, 7, SealBody::Interrogate { window_ms: 500 });
    assert_eq!(&enc(&f)[..], &INTERROGATE);
    assert_eq!(decode(&mut BytesMut::from(&INTERROGATE[..])), Ok(Some(f)));
}

#[test]
fn interrogate_reply_bytes_and_conversion() {
    let mut b = BytesMut::from(&INTERROGATE_REPLY[..]);
    let f = decode(&mut b).unwrap().unwrap();
    assert!(b.is_empty());
    assert_eq!((f.addr, f.seq), (1, 7));
    let SealBody::InterrogateReply { seals } = f.body.clone() else { panic!("{f:?}") };
    let read: SealRead = seals[0].clone().into();
    assert_eq!(read.id, "1234-DEADBEEF");
    assert_eq!(read.status, SealStatus::Sealed);
    assert_eq!(read.sealed_at.unwrap().to_rfc3339(), "2023-11-14T22:13:20+00:00");
    assert_eq!((read.battery_pct, read.rssi_dbm), (87, -61));
    assert_eq!(&enc(&f)[..], &INTERROGATE_REPLY);
}

#[test]
fn nak_bytes() {
    let f = frame(1, 8, SealBody::Nak { for_cmd: cmd::INTERROGATE, code: NakCode::Busy });
    assert_eq!(&enc(&f)[..], &NAK_BUSY);
}

#[test]
fn partial_frame_is_none_and_keeps_bytes() {
    let mut b = BytesMut::from(&INTERROGATE_REPLY[..10]);
    assert_eq!(decode(&mut b), Ok(None));
    assert_eq!(b.len(), 10);
}

#[test]
fn garbage_then_frame_resyncs() {
    let mut b = BytesMut::from(&[0x00, 0x13, 0x37][..]);
    b.extend_from_slice(&INTERROGATE);
    assert_eq!(decode(&mut b), Err(SealError::Frame(FrameError::Garbage { skipped: 3 })));
    assert!(decode(&mut b).unwrap().is_some());
}

#[test]
fn corrupt_crc_drops_frame_and_finds_the_next() {
    let mut bad = INTERROGATE;
    bad[8] ^= 0x40; // flip a payload bit
    let mut b = BytesMut::from(&bad[..]);
    b.extend_from_slice(&NAK_BUSY);
    let (msgs, errors) = decode_all(&mut b, decode);
    assert_eq!(msgs.len(), 1);
    assert!(matches!(msgs[0].body, SealBody::Nak { .. }));
    assert!(errors >= 2, "crc error plus skipped garbage, got {errors}");
}

#[test]
fn bad_header_check_rejects_false_sync_early() {
    // A5 inside noise followed by a plausible header whose check byte is wrong.
    let mut b = BytesMut::from(&[0xA5, 0x01, 0x07, 0x10, 0xFF, 0x03, 0x00][..]);
    assert_eq!(decode(&mut b), Err(SealError::Frame(FrameError::HeaderCheck)));
}

#[test]
fn oversized_length_is_refused() {
    let fields = [0x01, 0x07, 0x90, 0x01, 0x04]; // length 0x0401 = 1025
    let mut b = BytesMut::from(&[0xA5][..]);
    b.extend_from_slice(&fields);
    b.extend_from_slice(&[crate::protocol::header_check(&fields)]);
    assert_eq!(
        decode(&mut b),
        Err(SealError::Frame(FrameError::PayloadTooLarge { len: 1025, max: MAX_PAYLOAD }))
    );
}

#[test]
fn unknown_command_and_bad_status_are_typed() {
    let mut b = BytesMut::new();
    FRAMING.encode(&[1, 1, 0x42, 0, 0], &[], &mut b).unwrap();
    assert_eq!(decode(&mut b), Err(SealError::UnknownCommand(0x42)));
    let mut bad = INTERROGATE_REPLY[..21].to_vec();
    bad[14] = 9; // status 9
    let mut b = BytesMut::new();
    FRAMING.encode(&[1, 7, 0x90, 0, 0], &bad[7..], &mut b).unwrap();
    assert_eq!(
        decode(&mut b),
        Err(SealError::Payload { cmd: 0x90, source: PayloadError::Invalid { field: "status", value: 9 } })
    );
}

#[test]
fn too_many_seals_is_an_encode_error_and_writes_nothing() {
    let rec = SealRecord {
        id: SealId { manufacturer: 1, serial: 2 },
        status: SealStatus::Opened,
        sealed_at: None,
        battery_pct: 1,
        rssi_dbm: -1,
    };
    let f = frame(1, 1, SealBody::InterrogateReply { seals: vec![rec; MAX_SEALS + 1] });
    let mut b = BytesMut::new();
    assert!(matches!(encode(&f, &mut b), Err(SealError::TooMany { .. })));
    assert!(b.is_empty());
}

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (1u32..).prop_map(|s| DateTime::from_timestamp(i64::from(s), 0).unwrap())
}

fn seal_id() -> impl Strategy<Value = SealId> {
    (any::<u16>(), any::<u32>()).prop_map(|(manufacturer, serial)| SealId { manufacturer, serial })
}

fn record() -> impl Strategy<Value = SealRecord> {
    let status = prop_oneof![Just(SealStatus::Sealed), Just(SealStatus::Opened), Just(SealStatus::Tampered)];
    (seal_id(), status, proptest::option::of(time()), 0u8..=100, any::<i8>()).prop_map(
        |(id, status, sealed_at, battery_pct, rssi_dbm)| SealRecord {
            id,
            status,
            sealed_at,
            battery_pct,
            rssi_dbm,
        },
    )
}

fn event() -> impl Strategy<Value = LogEvent> {
    (any::<u8>(), time()).prop_map(|(c, at)| LogEvent { kind: EventKind::from_code(c), at })
}

fn body() -> impl Strategy<Value = SealBody> {
    prop_oneof![
        Just(SealBody::Ping),
        (any::<u8>(), any::<u8>(), any::<u32>()).prop_map(|(fw_major, fw_minor, reader_serial)| {
            SealBody::PingReply { fw_major, fw_minor, reader_serial }
        }),
        any::<u16>().prop_map(|window_ms| SealBody::Interrogate { window_ms }),
        proptest::collection::vec(record(), 0..6).prop_map(|seals| SealBody::InterrogateReply { seals }),
        (seal_id(), any::<u16>(), any::<u8>()).prop_map(|(seal, from, max)| SealBody::ReadLog {
            seal,
            from,
            max
        }),
        (seal_id(), any::<u16>(), any::<u16>(), proptest::collection::vec(event(), 0..6))
            .prop_map(|(seal, total, first, events)| SealBody::LogReply { seal, total, first, events }),
        (any::<u8>(), any::<u8>())
            .prop_map(|(for_cmd, c)| SealBody::Nak { for_cmd, code: NakCode::from_code(c) }),
    ]
}

fn any_frame() -> impl Strategy<Value = SealFrame> {
    (any::<u8>(), any::<u8>(), body()).prop_map(|(addr, seq, body)| SealFrame { addr, seq, body })
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in noise(&[SYNC], 512)) {
        decode_all(&mut BytesMut::from(&bytes[..]), decode);
    }

    #[test]
    fn encode_decode_round_trips(f in any_frame()) {
        let mut b = enc(&f);
        prop_assert_eq!(decode(&mut b), Ok(Some(f)));
        prop_assert!(b.is_empty());
    }

    #[test]
    fn split_anywhere_decodes_the_same(
        garbage in clean_garbage(&[SYNC], 16),
        frames in proptest::collection::vec(any_frame(), 1..4),
    ) {
        let mut bytes = BytesMut::from(&garbage[..]);
        for f in &frames {
            encode(f, &mut bytes).unwrap();
        }
        let (got, _) = decode_all(&mut bytes.clone(), decode);
        prop_assert_eq!(&got, &frames);
        assert_split_invariant(&bytes, decode);
    }
}
