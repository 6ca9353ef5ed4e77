//! Content-addressed image store: each image is kept once, under its sha256.
//!
//! Records reference images by hash; the uplink sends them from here. Files are
//! written to a temporary name and renamed, so a crash never leaves a truncated
//! image under a valid hash (and a failed write leaves no temporary file behind).
//! Images are bulk for the data disk's guard: below its floor none is kept, and
//! the capture says so (see `crate::storage`).

use std::io::Write;
use std::path::{Path, PathBuf};

use drivers::Image;
use sha2::{Digest, Sha256};

use contract::image::ImageRef;

use crate::storage::DiskGuard;

#[derive(Debug, Clone)]
pub struct ImageStore {
    dir: PathBuf,
    guard: Option<DiskGuard>,
}

impl ImageStore {
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(ImageStore { dir: dir.to_path_buf(), guard: None })
    }

    /// Keeps images only while the data disk has room above its floor.
    pub fn with_guard(mut self, guard: DiskGuard) -> Self {
        self.guard = Some(guard);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path_of(&self, sha256: &str, ext: &str) -> PathBuf {
        self.dir.join(&sha256[..2]).join(format!("{sha256}.{ext}"))
    }

    /// Stores the image unless it is already there, and returns its reference.
    pub fn put(&self, image: &Image) -> std::io::Result<ImageRef> {
        let sha256 = hex::encode(Sha256::digest(&image.bytes));
        let path = self.path_of(&sha256, image.format.extension());
        if path.exists() {
            // Stored again: fresh for the eviction of delivered images, which leaves young files.
            let _ = std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()));
        } else {
            if self.guard.as_ref().is_some_and(|g| !g.admit_bulk(image.bytes.len() as u64)) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "the data disk is below its floor; image not kept",
                ));
            }
            let parent = path.parent().expect("image paths have a parent");
            std::fs::create_dir_all(parent)?;
            let (tmp, mut file) = tempfile_in(parent)?;
            let written = file.write_all(&image.bytes).and_then(|()| file.sync_all());
            if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, &path)) {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        }
        Ok(ImageRef {
            sha256,
            format: image.format,
            width: image.width,
            height: image.height,
            bytes: image.bytes.len() as u64,
            preview_jpeg: preview(&image.bytes),
        })
    }
}

/// A JPEG thumbnail at most 160 pixels wide, base64, for the passage record.
/// None if the image cannot be decoded (the full image is still kept and sent).
pub fn preview(encoded: &[u8]) -> Option<String> {
    use base64::Engine;
    let img = image::load_from_memory(encoded).ok()?;
    let thumb = img.thumbnail(160, 160).to_rgb8();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 60).encode_image(&thumb).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(out))
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
        let image = Image {
            bytes: Bytes::from_static(b"abc"),
            format: ImageFormat::Jpeg,
            width: 1,
            height: 1,
            captured_at: Utc::now(),
            sim_truth: None,
        };
        let a = store.put(&image).unwrap();
        let b = store.put(&image).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(std::fs::read(store.path_of(&a.sha256, "jpg")).unwrap(), b"abc");
        assert_eq!(a.preview_jpeg, None, "not an image: no preview, no error");
    }

    #[test]
    fn preview_is_a_small_jpeg() {
        use base64::Engine;
        let img = image::RgbImage::from_pixel(640, 360, image::Rgb([200, 10, 10]));
        let mut png = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let b64 = preview(&png).unwrap();
        let jpeg = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
        let back = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (160, 90));
    }
}
