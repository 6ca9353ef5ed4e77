//! Images on the wire: a reference inside the records (by sha256, with a small
//! preview), and a manifest followed by raw chunks on `<base>/image/<sha256>`.
//!
//! Images are content-addressed so that a receiver stores each once and can
//! tell a whole image from a partial one by hashing it; chunks keep every MQTT
//! message small enough for any broker's limits.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::device::ImageFormat;

/// A stored image, referenced by content hash. The full image follows on the
/// `image/<sha256>` topics; a small preview travels inside the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImageRef {
    pub sha256: String,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    /// A JPEG at most 160 pixels wide, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_jpeg: Option<String>,
}

pub const IMAGE_SCHEMA: &str = "lanectl.image/1";

/// Sent on `image/<sha256>` before the image's chunks (`image/<sha256>/<index>`,
/// raw bytes, `chunk_size` each but the last).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImageManifest {
    /// Always `lanectl.image/1` for this layout.
    pub schema: String,
    pub sha256: String,
    pub bytes: u64,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    pub camera: String,
    pub passage: String,
    pub chunks: u32,
    pub chunk_size: u32,
}

/// How many chunks an image of `bytes` is sent in: at least one, so even an
/// empty image has a chunk a receiver can wait for.
pub fn chunk_count(bytes: u64, chunk_size: u32) -> u32 {
    bytes.div_ceil(u64::from(chunk_size.max(1))).max(1) as u32
}

impl ImageManifest {
    /// The manifest for a stored image, as the lane sends it before the chunks.
    pub fn for_image(image: &ImageRef, camera: &str, passage: &str, chunk_size: u32) -> Self {
        ImageManifest {
            schema: IMAGE_SCHEMA.into(),
            sha256: image.sha256.clone(),
            bytes: image.bytes,
            format: image.format,
            width: image.width,
            height: image.height,
            camera: camera.to_string(),
            passage: passage.to_string(),
            chunks: chunk_count(image.bytes, chunk_size),
            chunk_size,
        }
    }

    /// Whether the chunk count agrees with the size: a receiver refuses a
    /// manifest that does not, rather than wait for chunks that never come.
    pub fn is_consistent(&self) -> bool {
        self.chunk_size != 0 && self.chunks == chunk_count(self.bytes, self.chunk_size)
    }

    /// Byte offset and length of chunk `index` within the image.
    pub fn chunk_span(&self, index: u32) -> Option<(u64, u64)> {
        if index >= self.chunks {
            return None;
        }
        let offset = u64::from(index) * u64::from(self.chunk_size);
        Some((offset, u64::from(self.chunk_size).min(self.bytes.saturating_sub(offset))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(bytes: u64) -> ImageRef {
        ImageRef {
            sha256: "ab".repeat(32),
            format: ImageFormat::Jpeg,
            width: 1,
            height: 1,
            bytes,
            preview_jpeg: None,
        }
    }

    #[test]
    fn chunks_cover_the_image_exactly_once() {
        for (bytes, size) in [(0u64, 100u32), (1, 100), (100, 100), (101, 100), (1000, 300)] {
            let m = ImageManifest::for_image(&image(bytes), "c", "p", size);
            assert!(m.is_consistent(), "{bytes}/{size}");
            let spans: Vec<_> = (0..m.chunks).map(|i| m.chunk_span(i).unwrap()).collect();
            assert_eq!(spans.iter().map(|s| s.1).sum::<u64>(), bytes, "{bytes}/{size}");
            assert!(spans.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0));
            assert_eq!(m.chunk_span(m.chunks), None);
        }
        assert_eq!(chunk_count(1000, 300), 4);
        assert_eq!(chunk_count(0, 300), 1);
    }

    #[test]
    fn a_manifest_whose_count_disagrees_with_its_size_is_inconsistent() {
        let mut m = ImageManifest::for_image(&image(1000), "c", "p", 300);
        m.chunks = 3;
        assert!(!m.is_consistent());
        m.chunks = 4;
        m.chunk_size = 0;
        assert!(!m.is_consistent());
    }
}
