//! Per-plate reference scans on disk: the last clean under-vehicle scan of each vehicle with
//! its speed metadata, under a total size cap (oldest capture evicted first).
//!
//! Layout: `<dir>/<key>.jpg|png` (the scanner's bytes, never re-encoded) and `<key>.json` (the
//! metadata), where `key` is a hash of the plate, so plates in any script make safe file names.
//! The image is written first and the JSON last, each via a temporary file, fsync and rename:
//! a crash leaves either the old reference or the new one, never half of one. One writer (the
//! lane's worker) is assumed; readers may run concurrently.

use std::io::Write;
use std::path::{Path, PathBuf};

use image::RgbImage;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::InputError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReferenceMeta {
    pub plate: String,
    /// Vehicle speed over the scanner, if the lane measured it (stretch of the travel axis).
    pub speed_mps: Option<f32>,
    /// When the scan was taken (Unix ms); the eviction order.
    pub captured_ms: i64,
    pub bytes: u64,
    pub file: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("reference store {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("reference scan is not a JPEG or PNG image; store the scanner's original file")]
    NotAnImage,
    #[error("reference scan of {size} bytes exceeds the whole store cap of {cap} bytes; raise the cap")]
    TooLarge { size: u64, cap: u64 },
    #[error("stored reference {path} is unreadable ({reason}); it will be replaced by the next clean scan")]
    Corrupt { path: PathBuf, reason: String },
}

pub struct ReferenceStore {
    dir: PathBuf,
    cap_bytes: u64,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

impl ReferenceStore {
    /// Open (creating) the store directory; leftovers of an interrupted write are removed.
    pub fn open(dir: &Path, cap_bytes: u64) -> Result<ReferenceStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        for e in std::fs::read_dir(dir).map_err(io(dir))?.flatten() {
            if e.path().extension().is_some_and(|x| x == "tmp") {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(ReferenceStore { dir: dir.to_path_buf(), cap_bytes })
    }

    fn key(plate: &str) -> String {
        hex::encode(&Sha256::digest(plate.trim().as_bytes())[..16])
    }

    /// Make `scan` (JPEG/PNG bytes) the reference of `plate`; returns the plates evicted.
    pub fn put(
        &self,
        plate: &str,
        scan: &[u8],
        speed_mps: Option<f32>,
        captured_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let ext = match image::guess_format(scan) {
            Ok(image::ImageFormat::Jpeg) => "jpg",
            Ok(image::ImageFormat::Png) => "png",
            _ => return Err(StoreError::NotAnImage),
        };
        if scan.len() as u64 > self.cap_bytes {
            return Err(StoreError::TooLarge { size: scan.len() as u64, cap: self.cap_bytes });
        }
        let key = Self::key(plate);
        let old = self.meta_of_key(&key)?;
        let file = format!("{key}.{ext}");
        write_atomic(&self.dir.join(&file), scan)?;
        let meta = ReferenceMeta {
            plate: plate.trim().to_string(),
            speed_mps,
            captured_ms,
            bytes: scan.len() as u64,
            file: file.clone(),
        };
        let json = serde_json::to_vec_pretty(&meta).expect("metadata serialises");
        write_atomic(&self.dir.join(format!("{key}.json")), &json)?;
        if let Some(old) = old.filter(|o| o.file != file) {
            let _ = std::fs::remove_file(self.dir.join(old.file));
        }
        self.evict(&key)
    }

    /// The reference of `plate`, or `None` when the vehicle has none yet.
    pub fn get(&self, plate: &str) -> Result<Option<(RgbImage, ReferenceMeta)>, StoreError> {
        let Some(meta) = self.meta_of_key(&Self::key(plate))? else { return Ok(None) };
        let path = self.dir.join(&meta.file);
        match crate::imgops::load_path_within(&path, super::MAX_SCAN_SIDE) {
            Ok(img) => Ok(Some((img, meta))),
            Err(InputError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Corrupt { path, reason: e.to_string() }),
        }
    }

    pub fn remove(&self, plate: &str) -> Result<bool, StoreError> {
        let key = Self::key(plate);
        let Some(meta) = self.meta_of_key(&key)? else { return Ok(false) };
        let json = self.dir.join(format!("{key}.json"));
        std::fs::remove_file(&json).map_err(io(&json))?;
        let _ = std::fs::remove_file(self.dir.join(meta.file));
        Ok(true)
    }

    /// Every stored reference's metadata (unreadable entries are skipped).
    pub fn list(&self) -> Result<Vec<ReferenceMeta>, StoreError> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir).map_err(io(&self.dir))?.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                if let Some(m) =
                    std::fs::read(&p).ok().and_then(|b| serde_json::from_slice::<ReferenceMeta>(&b).ok())
                {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }

    /// Bytes of all stored scans.
    pub fn usage(&self) -> Result<u64, StoreError> {
        Ok(self.list()?.iter().map(|m| m.bytes).sum())
    }

    fn meta_of_key(&self, key: &str) -> Result<Option<ReferenceMeta>, StoreError> {
        let path = self.dir.join(format!("{key}.json"));
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| StoreError::Corrupt { path, reason: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Io { path, source: e }),
        }
    }

    /// Drop the oldest captures until under the cap, never the one just written.
    fn evict(&self, keep: &str) -> Result<Vec<String>, StoreError> {
        let mut all = self.list()?;
        all.sort_by_key(|m| m.captured_ms);
        let mut total: u64 = all.iter().map(|m| m.bytes).sum();
        let mut evicted = Vec::new();
        for m in all {
            if total <= self.cap_bytes {
                break;
            }
            if Self::key(&m.plate) == keep {
                continue;
            }
            self.remove(&m.plate)?;
            total -= m.bytes;
            evicted.push(m.plate);
        }
        Ok(evicted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory per test (no tempfile dependency in this crate).
    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("uvss-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn png(w: u32, seed: u8) -> Vec<u8> {
        let img = RgbImage::from_fn(w, 16, |x, y| image::Rgb([(x as u8).wrapping_mul(seed), y as u8, seed]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn put_get_replace_and_missing() {
        let dir = tempdir("put_get");
        let s = ReferenceStore::open(&dir, 1 << 20).unwrap();
        assert!(s.get("苏U1S338").unwrap().is_none());
        s.put("苏U1S338", &png(32, 3), Some(2.5), 1000).unwrap();
        let (img, meta) = s.get("苏U1S338").unwrap().unwrap();
        assert_eq!((img.width(), meta.speed_mps, meta.captured_ms), (32, Some(2.5), 1000));
        s.put("苏U1S338", &png(40, 5), None, 2000).unwrap();
        let (img, meta) = s.get("苏U1S338").unwrap().unwrap();
        assert_eq!((img.width(), meta.captured_ms), (40, 2000));
        assert_eq!(s.list().unwrap().len(), 1);
    }

    #[test]
    fn cap_evicts_oldest_capture_first() {
        let dir = tempdir("cap");
        let one = png(64, 7).len() as u64;
        let s = ReferenceStore::open(&dir, one * 2 + one / 2).unwrap();
        s.put("A", &png(64, 7), None, 300).unwrap();
        s.put("B", &png(64, 7), None, 100).unwrap();
        let evicted = s.put("C", &png(64, 7), None, 200).unwrap();
        assert_eq!(evicted, vec!["B".to_string()]);
        assert!(s.get("B").unwrap().is_none());
        assert!(s.get("A").unwrap().is_some() && s.get("C").unwrap().is_some());
        assert!(s.usage().unwrap() <= one * 2 + one / 2);
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let dir = tempdir("bad");
        let s = ReferenceStore::open(&dir, 100).unwrap();
        assert!(matches!(s.put("A", b"", None, 0), Err(StoreError::NotAnImage)));
        assert!(matches!(s.put("A", b"hello world", None, 0), Err(StoreError::NotAnImage)));
        assert!(matches!(s.put("A", &png(64, 1), None, 0), Err(StoreError::TooLarge { .. })));
        // A stored file that went bad is reported, not a panic.
        let s = ReferenceStore::open(&dir, 1 << 20).unwrap();
        s.put("A", &png(16, 1), None, 0).unwrap();
        let file = s.list().unwrap()[0].file.clone();
        std::fs::write(dir.join(file), b"\x89PNG\r\n\x1a\ntruncated").unwrap();
        assert!(matches!(s.get("A"), Err(StoreError::Corrupt { .. })));
    }
}
