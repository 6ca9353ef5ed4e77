//! UVSS codec tests: annotated frames, resync, limits and properties.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::protocol::testutil::{assert_split_invariant, clean_garbage, decode_all, noise};

fn enc(m: &UvssMsg) -> BytesMut {
    let mut b = BytesMut::new();
    encode(m, &mut b).unwrap();
    b
}

#[rustfmt::skip]
const HEARTBEAT: [u8; 23] = [
    0x55, 0x56,             // sync "UV"
    0x01,                   // version 1
    0x84,                   // type: heartbeat
    0x0A, 0x00, 0x00, 0x00, // payload length 10
    0x71,                   // hck
    0x00, 0xE0, 0xA9, 0x2D, 0x3F, 0x44, 0x06, 0x00, // now: 2025-11-23T08:53:20Z in µs
    0x02,                   // state: scanning
    0x29,                   // 41 °C
    0x7B, 0xA0, 0xC8, 0xB2, // CRC-32, little-endian
];

#[rustfmt::skip]
const BATCH: [u8; 50] = [
    0x55, 0x56, 0x01, 0x82, // sync, version, type: row batch
    0x25, 0x00, 0x00, 0x00, // payload length 37
    0x58,                   // hck
    0x07, 0x00, 0x00, 0x00, // scan 7
    0x64, 0x00, 0x00, 0x00, // first row 100
    0x90, 0xB0, 0xAD, 0x2D, 0x3F, 0x44, 0x06, 0x00, // first row at 08:53:20.250Z
    0xA0, 0x86, 0x01, 0x00, // line period 100 000 ns (10 kHz)
    0x6D, 0x05, 0x00, 0x00, // speed 1389 mm/s (5 km/h)
    0x04, 0x00,             // width 4
    0x08,                   // 8 bits per pixel
    0x02, 0x00,             // 2 rows
    0x0A, 0x14, 0x1E, 0x28, // row 100
    0x0B, 0x15, 0x1F, 0x29, // row 101
    0x46, 0x8C, 0x10, 0x4A, // CRC-32
];

fn batch() -> RowBatch {
    RowBatch {
        scan_id: 7,
        first_row: 100,
        timestamp_us: 1_763_888_000_250_000,
        line_period_ns: 100_000,
        speed_mm_s: Some(1389),
        width: 4,
        bit_depth: 8,
        rows: 2,
        data: Bytes::from_static(&[10, 20, 30, 40, 11, 21, 31, 41]),
    }
}

#[test]
fn heartbeat_bytes() {
    let m =
        UvssMsg::Heartbeat { now_us: 1_763_888_000_000_000, state: CameraState::Scanning, temperature_c: 41 };
    assert_eq!(&enc(&m)[..], &HEARTBEAT);
    assert_eq!(decode(&mut BytesMut::from(&HEARTBEAT[..])), Ok(Some(m)));
}

#[test]
fn row_batch_bytes() {
    let m = UvssMsg::RowBatch(batch());
    assert_eq!(&enc(&m)[..], &BATCH);
    let Ok(Some(UvssMsg::RowBatch(b))) = decode(&mut BytesMut::from(&BATCH[..])) else { panic!() };
    assert_eq!((b.pixel(0, 3), b.pixel(1, 0)), (40, 11));
}

#[test]
fn sixteen_bit_pixels_are_little_endian() {
    let b = RowBatch { bit_depth: 12, rows: 1, width: 1, data: Bytes::from_static(&[0x34, 0x0F]), ..batch() };
    assert_eq!(b.pixel(0, 0), 0x0F34);
}

#[test]
fn other_version_is_rejected_after_the_frame() {
    let mut b = BytesMut::new();
    FRAMING.encode(&[2, kind::ARM, 0, 0, 0, 0], &[], &mut b).unwrap();
    b.extend_from_slice(&HEARTBEAT);
    assert_eq!(decode(&mut b), Err(UvssError::Version(2)));
    assert!(matches!(decode(&mut b), Ok(Some(UvssMsg::Heartbeat { .. }))));
}

#[test]
fn batch_whose_data_does_not_match_geometry_is_refused() {
    let bad = RowBatch { rows: 3, ..batch() };
    let mut b = BytesMut::new();
    assert!(matches!(encode(&UvssMsg::RowBatch(bad), &mut b), Err(UvssError::Invalid(_))));
    // Same on the wire: claim 3 rows, send 2.
    let mut payload = BATCH[9..46].to_vec();
    payload[27] = 3;
    FRAMING.encode(&[VERSION, kind::ROW_BATCH, 0, 0, 0, 0], &payload, &mut b).unwrap();
    assert!(matches!(decode(&mut b), Err(UvssError::Payload { kind: kind::ROW_BATCH, .. })));
}

#[test]
fn truncated_stream_then_reconnect_resyncs() {
    // Half a batch (the connection broke), then a heartbeat on the new stream.
    let mut b = BytesMut::from(&BATCH[..30]);
    b.extend_from_slice(&HEARTBEAT);
    let (msgs, errors) = decode_all(&mut b, decode);
    assert!(matches!(msgs[..], [UvssMsg::Heartbeat { .. }]), "{msgs:?}");
    assert!(errors > 0);
}

fn scan_start() -> impl Strategy<Value = ScanStart> {
    (any::<u32>(), 1..=MAX_WIDTH, 1u8..=16, any::<u32>(), any::<u16>(), any::<u64>()).prop_map(
        |(scan_id, width, bit_depth, line_rate_hz, pixel_pitch_um, started_at_us)| ScanStart {
            scan_id,
            width,
            bit_depth,
            line_rate_hz,
            pixel_pitch_um,
            started_at_us,
        },
    )
}

fn row_batch() -> impl Strategy<Value = RowBatch> {
    (1u16..=8, 1u8..=16, 0u16..=4)
        .prop_flat_map(|(width, bit_depth, rows)| {
            let n = rows as usize * width as usize * RowBatch::bytes_per_pixel(bit_depth);
            let head =
                (any::<u32>(), any::<u32>(), any::<u64>(), any::<u32>(), proptest::option::of(0..NO_SPEED));
            (head, proptest::collection::vec(any::<u8>(), n), Just((width, bit_depth, rows)))
        })
        .prop_map(
            |(
                (scan_id, first_row, timestamp_us, line_period_ns, speed_mm_s),
                data,
                (width, bit_depth, rows),
            )| {
                RowBatch {
                    scan_id,
                    first_row,
                    timestamp_us,
                    line_period_ns,
                    speed_mm_s,
                    width,
                    bit_depth,
                    rows,
                    data: Bytes::from(data),
                }
            },
        )
}

fn msg() -> impl Strategy<Value = UvssMsg> {
    prop_oneof![
        Just(UvssMsg::Arm),
        Just(UvssMsg::Disarm),
        any::<u32>().prop_map(|token| UvssMsg::Ping { token }),
        any::<u32>().prop_map(|token| UvssMsg::Pong { token }),
        scan_start().prop_map(UvssMsg::ScanStart),
        row_batch().prop_map(UvssMsg::RowBatch),
        (any::<u32>(), any::<u32>(), any::<u64>(), any::<u8>()).prop_map(
            |(scan_id, rows_total, ended_at_us, r)| {
                UvssMsg::ScanEnd(ScanEnd {
                    scan_id,
                    rows_total,
                    ended_at_us,
                    reason: EndReason::from_code(r),
                })
            }
        ),
        (any::<u64>(), any::<u8>(), any::<i8>()).prop_map(|(now_us, s, temperature_c)| UvssMsg::Heartbeat {
            now_us,
            state: CameraState::from_code(s),
            temperature_c
        }),
        (any::<u8>(), any::<bool>(), any::<u64>()).prop_map(|(loop_id, occupied, at_us)| UvssMsg::Loop {
            loop_id,
            occupied,
            at_us
        }),
    ]
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in noise(&SYNC, 512)) {
        decode_all(&mut BytesMut::from(&bytes[..]), decode);
    }

    #[test]
    fn encode_decode_round_trips(m in msg()) {
        let mut b = enc(&m);
        prop_assert_eq!(decode(&mut b), Ok(Some(m)));
        prop_assert!(b.is_empty());
    }

    #[test]
    fn split_anywhere_decodes_the_same(
        garbage in clean_garbage(&SYNC, 16),
        msgs in proptest::collection::vec(msg(), 1..4),
    ) {
        let mut bytes = BytesMut::from(&garbage[..]);
        for m in &msgs {
            encode(m, &mut bytes).unwrap();
        }
        prop_assert_eq!(&decode_all(&mut bytes.clone(), decode).0, &msgs);
        assert_split_invariant(&bytes, decode);
    }
}
