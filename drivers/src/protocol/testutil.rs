//! Test harness shared by the codec tests: drive a decoder the way a transport
//! does, and check the properties every codec must have.

use std::fmt::Debug;

use bytes::BytesMut;
use proptest::prelude::*;

/// Decodes until `Ok(None)`, as a transport's read loop does; returns the messages
/// and how many errors were skipped. Panics if an error consumed nothing (the
/// contract that makes resynchronisation terminate).
pub(crate) fn decode_all<M, E: Debug>(
    buf: &mut BytesMut,
    decode: impl Fn(&mut BytesMut) -> Result<Option<M>, E>,
) -> (Vec<M>, usize) {
    let (mut out, mut errors) = (Vec::new(), 0);
    loop {
        let before = buf.len();
        match decode(buf) {
            Ok(Some(m)) => out.push(m),
            Ok(None) => return (out, errors),
            Err(e) => {
                assert!(buf.len() < before, "error {e:?} consumed nothing");
                errors += 1;
            }
        }
    }
}

/// Feeds `bytes` in two reads split at every position and checks that the same
/// messages come out as from one read.
pub(crate) fn assert_split_invariant<M: PartialEq + Debug, E: Debug>(
    bytes: &[u8],
    decode: impl Fn(&mut BytesMut) -> Result<Option<M>, E> + Copy,
) {
    let (whole, _) = decode_all(&mut BytesMut::from(bytes), decode);
    for cut in 0..=bytes.len() {
        let mut buf = BytesMut::from(&bytes[..cut]);
        let (mut got, _) = decode_all(&mut buf, decode);
        buf.extend_from_slice(&bytes[cut..]);
        got.extend(decode_all(&mut buf, decode).0);
        assert_eq!(got, whole, "split at {cut} of {}", bytes.len());
    }
}

/// Random bytes, with the protocol's sync bytes over-represented so that the
/// header and CRC paths are exercised, not just the garbage skipper.
pub(crate) fn noise(sync: &'static [u8], max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![4 => any::<u8>(), 1 => proptest::sample::select(sync.to_vec())];
    proptest::collection::vec(byte, 0..max_len)
}

/// Garbage that contains no byte of the sync pattern, so a test can prefix frames
/// with it knowing every frame must still be found.
pub(crate) fn clean_garbage(sync: &'static [u8], max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>().prop_filter("not sync", move |b| !sync.contains(b)), 0..max_len)
}
