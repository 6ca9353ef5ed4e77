//! Empty-box detector codec and reassembly tests.

use bytes::{Bytes, BytesMut};
use chrono::DateTime;
use proptest::prelude::*;

use super::*;
use crate::protocol::testutil::{assert_split_invariant, clean_garbage, decode_all, noise};

fn enc(m: &EbMsg) -> BytesMut {
    let mut b = BytesMut::new();
    encode(m, &mut b).unwrap();
    b
}

#[rustfmt::skip]
const START_SCAN: [u8; 27] = [
    0xEB, 0x90,             // sync word
    0x01,                   // type: start scan
    0x02, 0x01,             // seq 0x0102
    0x0D, 0x00, 0x00, 0x00, // payload length 13
    0xEF,                   // hck: sum of type..length + hck = 0 (mod 256)
    0x0B,                   // container id length 11
    b'C', b'S', b'Q', b'U', b'3', b'0', b'5', b'4', b'3', b'8', b'3',
    0x01,                   // want image: yes
    0x8B, 0xEC, 0xA5, 0xAE, // CRC-32 over type..payload, little-endian
];

#[rustfmt::skip]
const CHUNK: [u8; 24] = [
    0xEB, 0x90, 0x84,       // sync, type: image chunk
    0x02, 0x01,             // seq of the start scan it answers
    0x0A, 0x00, 0x00, 0x00, // payload length 10
    0x6F,                   // hck
    0x2A, 0x00, 0x00, 0x00, // scan id 42
    0x00, 0x00,             // chunk index 0
    0xFF, 0xD8, 0xFF, 0xE0, // data: the start of a JPEG
    0x1E, 0x0E, 0x61, 0x2A, // CRC-32
];

#[test]
fn start_scan_bytes() {
    let m = EbMsg {
        seq: 0x0102,
        body: EbBody::StartScan { container: Some("CSQU3054383".into()), want_image: true },
    };
    assert_eq!(&enc(&m)[..], &START_SCAN);
    assert_eq!(decode(&mut BytesMut::from(&START_SCAN[..])), Ok(Some(m)));
}

#[test]
fn chunk_bytes() {
    let m = EbMsg {
        seq: 0x0102,
        body: EbBody::ImageChunk(ImageChunk {
            scan_id: 42,
            index: 0,
            data: Bytes::from_static(&[0xFF, 0xD8, 0xFF, 0xE0]),
        }),
    };
    assert_eq!(&enc(&m)[..], &CHUNK);
}

#[test]
fn line_noise_between_frames_resyncs() {
    let mut b = BytesMut::from(&START_SCAN[..]);
    b.extend_from_slice(&[0xEB, 0x00, 0x90, 0xEB, 0x90, 0x55]); // false syncs
    b.extend_from_slice(&CHUNK);
    let (msgs, errors) = decode_all(&mut b, decode);
    assert_eq!(msgs.len(), 2);
    assert!(errors > 0);
}

#[test]
fn oversized_chunk_is_refused_on_encode() {
    let m = EbMsg {
        seq: 1,
        body: EbBody::ImageChunk(ImageChunk {
            scan_id: 1,
            index: 0,
            data: Bytes::from(vec![0; MAX_CHUNK + 1]),
        }),
    };
    let mut b = BytesMut::new();
    assert_eq!(
        encode(&m, &mut b),
        Err(EbError::TooLarge { field: "chunk", len: MAX_CHUNK + 1, max: MAX_CHUNK })
    );
    assert!(b.is_empty());
}

#[test]
fn absurd_length_field_does_not_allocate() {
    // sync, type 0x84, seq 0, length 0x7FFF_FFFF, hck
    let fields = [0x84, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F];
    let mut b = BytesMut::from(&SYNC[..]);
    b.extend_from_slice(&fields);
    b.extend_from_slice(&[crate::protocol::header_check(&fields)]);
    assert!(matches!(decode(&mut b), Err(EbError::Frame(FrameError::PayloadTooLarge { .. }))));
    assert!(b.capacity() < 4096);
}

fn result(image: Option<ImageInfo>) -> ScanResult {
    ScanResult {
        scan_id: 42,
        container: Some("CSQU3054383".into()),
        scanned_at: DateTime::from_timestamp_millis(1_763_888_000_123).unwrap(),
        verdict: EmptyVerdict::NotEmpty,
        confidence_permille: 930,
        sample_spacing_mm: 500,
        depth_mm: vec![5890, 2100, NO_ECHO],
        image,
    }
}

#[test]
fn reassembles_out_of_order_chunks_with_a_resend() {
    let info = ImageInfo { total_len: 7, width: 640, height: 480, chunks: 3 };
    let mut a = ResultAssembler::new(result(Some(info))).unwrap();
    let chunk =
        |index, data: &'static [u8]| ImageChunk { scan_id: 42, index, data: Bytes::from_static(data) };
    assert_eq!(a.push(chunk(2, b"fg")), Ok(false));
    assert_eq!(a.push(chunk(0, b"abc")), Ok(false));
    assert_eq!(a.missing(), vec![1]);
    assert_eq!(a.push(chunk(0, b"abc")), Ok(false)); // duplicate
    assert_eq!(
        a.push(ImageChunk { scan_id: 7, index: 1, data: Bytes::new() }),
        Err(ReassemblyError::WrongScan { expected: 42, got: 7 })
    );
    assert!(matches!(a.push(chunk(3, b"x")), Err(ReassemblyError::IndexOutOfRange { .. })));
    assert_eq!(a.push(chunk(1, b"de")), Ok(true));
    let r = a.finish().unwrap();
    assert_eq!(r.verdict, EmptyVerdict::NotEmpty);
    assert_eq!(r.confidence, 0.93);
    assert_eq!(r.depth_profile, vec![5.89, 2.1, f32::INFINITY]);
    let img = r.interior.unwrap();
    assert_eq!((&img.bytes[..], img.width, img.height), (&b"abcdefg"[..], 640, 480));
}

#[test]
fn incomplete_or_inconsistent_images_are_typed() {
    let info = ImageInfo { total_len: 4, width: 1, height: 1, chunks: 2 };
    let mut a = ResultAssembler::new(result(Some(info))).unwrap();
    a.push(ImageChunk { scan_id: 42, index: 0, data: Bytes::from_static(b"ab") }).unwrap();
    assert!(matches!(a.finish(), Err(ReassemblyError::Incomplete { missing: 1 })));
    let bad = ImageInfo { total_len: 1_000_000, width: 1, height: 1, chunks: 2 };
    assert!(matches!(ResultAssembler::new(result(Some(bad))), Err(ReassemblyError::BadAnnouncement { .. })));
    // A chunk larger than the announcement is refused before it is held.
    let mut a = ResultAssembler::new(result(Some(info))).unwrap();
    let big = ImageChunk { scan_id: 42, index: 1, data: Bytes::from_static(b"cdefg") };
    assert_eq!(a.push(big), Err(ReassemblyError::LengthMismatch { got: 5, total_len: 4 }));
    let r = ResultAssembler::new(result(None)).unwrap().finish().unwrap();
    assert!(r.interior.is_none());
}

fn container() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[A-Z]{4}[0-9]{7}")
}

fn scan_result() -> impl Strategy<Value = ScanResult> {
    let verdict = prop_oneof![
        Just(EmptyVerdict::Empty),
        Just(EmptyVerdict::NotEmpty),
        Just(EmptyVerdict::Inconclusive)
    ];
    let image = proptest::option::of(
        (1u32..MAX_IMAGE, any::<u16>(), any::<u16>(), any::<u16>())
            .prop_map(|(total_len, width, height, chunks)| ImageInfo { total_len, width, height, chunks }),
    );
    (
        (any::<u32>(), container(), 0i64..4_102_444_800_000, verdict),
        (0u16..=1000, any::<u16>(), proptest::collection::vec(any::<u16>(), 0..40), image),
    )
        .prop_map(
            |(
                (scan_id, container, ms, verdict),
                (confidence_permille, sample_spacing_mm, depth_mm, image),
            )| {
                let scanned_at = DateTime::from_timestamp_millis(ms).unwrap();
                ScanResult {
                    scan_id,
                    container,
                    scanned_at,
                    verdict,
                    confidence_permille,
                    sample_spacing_mm,
                    depth_mm,
                    image,
                }
            },
        )
}

fn body() -> impl Strategy<Value = EbBody> {
    prop_oneof![
        (container(), any::<bool>())
            .prop_map(|(container, want_image)| EbBody::StartScan { container, want_image }),
        Just(EbBody::GetStatus),
        any::<u32>().prop_map(|scan_id| EbBody::Abort { scan_id }),
        (any::<u32>(), any::<u16>()).prop_map(|(scan_id, index)| EbBody::GetChunk { scan_id, index }),
        any::<u32>().prop_map(|scan_id| EbBody::ScanAccepted { scan_id }),
        (any::<u8>(), any::<u16>())
            .prop_map(|(s, faults)| EbBody::Status { state: DetectorState::from_code(s), faults }),
        scan_result().prop_map(EbBody::ScanResult),
        (any::<u32>(), any::<u16>(), proptest::collection::vec(any::<u8>(), 0..64)).prop_map(
            |(scan_id, index, d)| { EbBody::ImageChunk(ImageChunk { scan_id, index, data: Bytes::from(d) }) }
        ),
        (any::<u8>(), any::<u8>())
            .prop_map(|(for_kind, c)| EbBody::Nak { for_kind, code: NakCode::from_code(c) }),
    ]
}

fn msg() -> impl Strategy<Value = EbMsg> {
    (any::<u16>(), body()).prop_map(|(seq, body)| EbMsg { seq, body })
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
