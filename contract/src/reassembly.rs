//! Putting images back together on the receiving side: manifests and chunks may
//! arrive in any order, twice, or interleaved with other images; an image is
//! handed out once, only when its bytes hash to the manifest's sha256.
//!
//! Pure and in memory, with a bound on what it buffers: a consumer that must
//! survive restarts or share the work between instances keeps the pieces in
//! its own storage and can still use [`ImageManifest::is_consistent`] and
//! [`ImageManifest::chunk_span`] to judge them.

use std::collections::{BTreeMap, HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::image::ImageManifest;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReassemblyError {
    #[error("image {sha256}: the bytes hash to {actual}")]
    HashMismatch { sha256: String, actual: String },
    #[error("image {sha256}: chunk {index} is beyond its {chunks} chunks")]
    BadIndex { sha256: String, index: u32, chunks: u32 },
    #[error("image {0}: manifest is inconsistent")]
    BadManifest(String),
}

#[derive(Default)]
struct Partial {
    manifest: Option<ImageManifest>,
    chunks: BTreeMap<u32, Vec<u8>>,
    bytes: u64,
}

/// Upper bound on bytes buffered for images without their manifest or last
/// chunk, so a broken sender cannot exhaust memory.
const MAX_BUFFERED: u64 = 256 << 20;

#[derive(Default)]
pub struct Assembler {
    partial: HashMap<String, Partial>,
    done: HashSet<String>,
    buffered: u64,
}

impl Assembler {
    pub fn manifest(
        &mut self,
        m: ImageManifest,
    ) -> Result<Option<(ImageManifest, Vec<u8>)>, ReassemblyError> {
        if self.done.contains(&m.sha256) {
            return Ok(None);
        }
        if !m.is_consistent() {
            return Err(ReassemblyError::BadManifest(m.sha256));
        }
        let sha = m.sha256.clone();
        self.partial.entry(sha.clone()).or_default().manifest = Some(m);
        self.try_finish(&sha)
    }

    pub fn chunk(
        &mut self,
        sha256: &str,
        index: u32,
        data: Vec<u8>,
    ) -> Result<Option<(ImageManifest, Vec<u8>)>, ReassemblyError> {
        if self.done.contains(sha256) {
            return Ok(None);
        }
        let p = self.partial.entry(sha256.to_string()).or_default();
        if let Some(m) = &p.manifest {
            if index >= m.chunks {
                return Err(ReassemblyError::BadIndex { sha256: sha256.into(), index, chunks: m.chunks });
            }
        }
        if !p.chunks.contains_key(&index) {
            self.buffered += data.len() as u64;
            p.bytes += data.len() as u64;
            p.chunks.insert(index, data);
        }
        if self.buffered > MAX_BUFFERED {
            // Drop the largest stalled image; it can be asked for again.
            if let Some(victim) = self.partial.iter().max_by_key(|(_, p)| p.bytes).map(|(k, _)| k.clone()) {
                let p = self.partial.remove(&victim).unwrap();
                self.buffered -= p.bytes;
            }
        }
        self.try_finish(sha256)
    }

    fn try_finish(&mut self, sha256: &str) -> Result<Option<(ImageManifest, Vec<u8>)>, ReassemblyError> {
        let Some(p) = self.partial.get(sha256) else { return Ok(None) };
        let Some(m) = &p.manifest else { return Ok(None) };
        if p.chunks.len() < m.chunks as usize {
            return Ok(None);
        }
        let p = self.partial.remove(sha256).unwrap();
        self.buffered -= p.bytes;
        let manifest = p.manifest.unwrap();
        let bytes: Vec<u8> = p.chunks.into_values().flatten().collect();
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != manifest.sha256 || bytes.len() as u64 != manifest.bytes {
            return Err(ReassemblyError::HashMismatch { sha256: manifest.sha256, actual });
        }
        self.done.insert(manifest.sha256.clone());
        Ok(Some((manifest, bytes)))
    }

    /// Images still waiting for pieces.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::ImageFormat;
    use crate::image::IMAGE_SCHEMA;

    fn manifest(data: &[u8], chunk: u32) -> ImageManifest {
        ImageManifest {
            schema: IMAGE_SCHEMA.into(),
            sha256: hex::encode(Sha256::digest(data)),
            bytes: data.len() as u64,
            format: ImageFormat::Jpeg,
            width: 1,
            height: 1,
            camera: "c".into(),
            passage: "p".into(),
            chunks: (data.len() as u32).div_ceil(chunk),
            chunk_size: chunk,
        }
    }

    #[test]
    fn chunks_in_any_order_and_twice_give_the_image_once() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let m = manifest(&data, 300);
        let mut a = Assembler::default();
        let sha = m.sha256.clone();
        assert_eq!(a.chunk(&sha, 3, data[900..].to_vec()).unwrap(), None);
        assert_eq!(a.chunk(&sha, 1, data[300..600].to_vec()).unwrap(), None);
        assert_eq!(a.manifest(m.clone()).unwrap(), None);
        assert_eq!(a.chunk(&sha, 1, data[300..600].to_vec()).unwrap(), None);
        assert_eq!(a.chunk(&sha, 0, data[..300].to_vec()).unwrap(), None);
        let (got, bytes) = a.chunk(&sha, 2, data[600..900].to_vec()).unwrap().unwrap();
        assert_eq!((got.sha256, bytes), (sha.clone(), data.clone()));
        assert_eq!(a.chunk(&sha, 2, data[600..900].to_vec()).unwrap(), None, "handed out once");
        assert_eq!(a.pending(), 0);
    }

    #[test]
    fn corrupted_chunk_is_caught_by_the_hash() {
        let data = vec![7u8; 500];
        let m = manifest(&data, 250);
        let mut a = Assembler::default();
        let sha = m.sha256.clone();
        a.manifest(m).unwrap();
        a.chunk(&sha, 0, vec![7; 250]).unwrap();
        let err = a.chunk(&sha, 1, vec![8; 250]).unwrap_err();
        assert!(matches!(err, ReassemblyError::HashMismatch { .. }));
        assert!(matches!(a.chunk(&sha, 9, vec![]), Ok(None)), "a failed image can arrive anew");
    }
}
