//! An image as lane S/G01 sends it: its manifest, then its chunks, each as (topic, payload).
//! Shared by the tests that feed images to ingest without a lane.

use contract::device::ImageFormat;
use contract::image::{ImageManifest, ImageRef};
use sha2::{Digest, Sha256};

/// The image's sha256 and its messages, manifest first, in chunks of `chunk` bytes.
pub fn image_messages(bytes: &[u8], passage: &str, chunk: u32) -> (String, Vec<(String, Vec<u8>)>) {
    let sha = hex::encode(Sha256::digest(bytes));
    let image = ImageRef {
        sha256: sha.clone(),
        format: ImageFormat::Jpeg,
        width: 4,
        height: 4,
        bytes: bytes.len() as u64,
        preview_jpeg: None,
    };
    let manifest = ImageManifest::for_image(&image, "cam", passage, chunk);
    let mut out = vec![(format!("lanectl/S/G01/image/{sha}"), serde_json::to_vec(&manifest).unwrap())];
    for (i, part) in bytes.chunks(chunk as usize).enumerate() {
        out.push((format!("lanectl/S/G01/image/{sha}/{i}"), part.to_vec()));
    }
    (sha, out)
}
