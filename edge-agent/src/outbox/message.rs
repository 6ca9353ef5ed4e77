//! A message on its way to central, with its delivery class decided where it is made.
//!
//! The class travels with the message from the line that builds it to the outbox row, so nothing
//! downstream has to guess it back from the topic string. Image chunks are not copied: their body
//! is a [`FilePart`] of the image store, read when the chunk is sent.

use std::path::{Path, PathBuf};

/// Delivery class; lower goes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Passage records, decisions, alarms, command acks, audit checkpoints: evidence.
    Result = 0,
    /// Image manifests and chunks: evidence too, but bulky.
    Image = 1,
    /// Status, health, statistics: the first to go when the disk is full.
    Telemetry = 2,
}

impl Class {
    pub(super) fn from_i64(v: i64) -> Class {
        match v {
            0 => Class::Result,
            1 => Class::Image,
            _ => Class::Telemetry,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Class::Result => "result",
            Class::Image => "image",
            Class::Telemetry => "telemetry",
        }
    }
}

/// `len` bytes of a stored file from `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePart {
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
}

impl FilePart {
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        read_part(&self.path, self.offset, self.len)
    }
}

/// Reads `len` bytes of `path` from `offset`; a short file is an error, never a short chunk.
pub fn read_part(path: &Path, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path)?;
    let mut buf = vec![0; len as usize];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Bytes(Vec<u8>),
    File(FilePart),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub class: Class,
    pub topic: String,
    pub body: Body,
    pub retain: bool,
}

impl Message {
    pub fn new(class: Class, topic: String, payload: Vec<u8>, retain: bool) -> Self {
        Message { class, topic, body: Body::Bytes(payload), retain }
    }

    /// Evidence: passage records, decisions, alarms, acks, checkpoints.
    pub fn result(topic: String, payload: Vec<u8>) -> Self {
        Message { class: Class::Result, topic, body: Body::Bytes(payload), retain: false }
    }

    /// An image's manifest.
    pub fn image(topic: String, payload: Vec<u8>) -> Self {
        Message { class: Class::Image, topic, body: Body::Bytes(payload), retain: false }
    }

    /// One chunk of a stored image, read when sent.
    pub fn image_chunk(topic: String, part: FilePart) -> Self {
        Message { class: Class::Image, topic, body: Body::File(part), retain: false }
    }

    /// Status, health, statistics: dropped first under pressure.
    pub fn telemetry(topic: String, payload: Vec<u8>, retain: bool) -> Self {
        Message { class: Class::Telemetry, topic, body: Body::Bytes(payload), retain }
    }

    /// The bytes as they go on the wire (a file part is read now).
    pub fn payload(&self) -> std::io::Result<Vec<u8>> {
        match &self.body {
            Body::Bytes(b) => Ok(b.clone()),
            Body::File(part) => part.read(),
        }
    }

    /// Bytes this message takes in the outbox database (a file part only points into the store).
    pub fn stored_len(&self) -> u64 {
        match &self.body {
            Body::Bytes(b) => b.len() as u64,
            Body::File(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_parts_read_exactly_their_bytes_or_fail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img");
        std::fs::write(&path, b"0123456789").unwrap();
        let part = |offset, len| FilePart { path: path.clone(), offset, len };
        assert_eq!(part(4, 6).read().unwrap(), b"456789");
        assert!(part(8, 4).read().is_err(), "a chunk past the end is an error, not a short chunk");
        let chunk = Message::image_chunk("t/0".into(), part(0, 2));
        assert_eq!(
            (chunk.class, chunk.payload().unwrap(), chunk.stored_len()),
            (Class::Image, b"01".to_vec(), 0)
        );
    }
}
