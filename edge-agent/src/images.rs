//! Content-addressed image store: each image is kept once, under its sha256.
//!
//! Records reference images by hash; the uplink sends them from here. Files are
//! written to a temporary name and renamed, so a crash never leaves a truncated
//! image under a valid hash.

use std::io::Write;
use std::path::{Path, PathBuf};

use drivers::Image;
use sha2::{Digest, Sha256};

use crate::record::ImageRef;

#[derive(Debug, Clone)]
pub struct ImageStore {
    dir: PathBuf,
}

impl ImageStore {
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(ImageStore { dir: dir.to_path_buf() })
    }

    pub fn path_of(&self, sha256: &str, ext: &str) -> PathBuf {
        self.dir.join(&sha256[..2]).join(format!("{sha256}.{ext}"))
    }

    /// Stores the image unless it is already there, and returns its reference.
    pub fn put(&self, image: &Image) -> std::io::Result<ImageRef> {
        let sha256 = hex::encode(Sha256::digest(&image.bytes));
        let path = self.path_of(&sha256, image.format.extension());
        if !path.exists() {
            let parent = path.parent().expect("image paths have a parent");
            std::fs::create_dir_all(parent)?;
            let mut tmp = tempfile_in(parent)?;
            tmp.1.write_all(&image.bytes)?;
            tmp.1.sync_all()?;
            std::fs::rename(&tmp.0, &path)?;
        }
        Ok(ImageRef { sha256, format: image.format, width: image.width, height: image.height, bytes: image.bytes.len() as u64 })
    }
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let path = dir.join(format!(".tmp-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let file = std::fs::File::create(&path)?;
    Ok((path, file))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use chrono::Utc;
    use drivers::ImageFormat;

    use super::*;

    #[test]
    fn stores_once_under_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let image = Image { bytes: Bytes::from_static(b"abc"), format: ImageFormat::Jpeg, width: 1, height: 1, captured_at: Utc::now(), sim_truth: None };
        let a = store.put(&image).unwrap();
        let b = store.put(&image).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(std::fs::read(store.path_of(&a.sha256, "jpg")).unwrap(), b"abc");
    }
}
