//! Rendered footage: the simulated cameras show each vehicle's plate and container codes drawn
//! into a scene (`models::synth`), so a lane running the real recognition has something real to
//! read. A vehicle the plan gives a poor view (`read_confidence` below 1) is filmed worse:
//! defocused, dim and noisy, as a dirty lens or dusk would make it.

use std::io::Cursor;

use bytes::Bytes;
use chrono::Utc;
use image::{ImageEncoder, RgbImage};
use models::synth::{container_scene, plate_scene, Fonts, Look, SynthError};

use super::{CameraView, Footage, SimVehicle};
use crate::{Image, ImageFormat};

/// Footage rendered from each vehicle's truth.
pub struct Rendered {
    fonts: Fonts,
}

impl Rendered {
    /// With the system fonts (`fonts-dejavu-core`, `fonts-wqy-zenhei`).
    pub fn system() -> Result<Rendered, SynthError> {
        Ok(Rendered { fonts: Fonts::system()? })
    }
}

impl Footage for Rendered {
    fn stage(&self, _: &mut SimVehicle) {}

    fn picture(&self, v: &SimVehicle, view: CameraView) -> Option<Image> {
        // The same vehicle looks the same from one camera, different from the other.
        let look = Look::random(v.seq.wrapping_mul(2).wrapping_add(view as u64), v.read_confidence.min(1.0));
        let img = match view {
            CameraView::Plate => plate_scene(&self.fonts, &v.plate, &look),
            CameraView::Container if v.containers.is_empty() => return None,
            CameraView::Container => container_scene(&self.fonts, &v.containers, &look),
        };
        Some(jpeg(&img))
    }
}

fn jpeg(img: &RgbImage) -> Image {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(Cursor::new(&mut buf), 85)
        .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8)
        .expect("encoding an in-memory RGB frame cannot fail");
    Image {
        bytes: Bytes::from(buf),
        format: ImageFormat::Jpeg,
        width: img.width(),
        height: img.height(),
        captured_at: Utc::now(),
        sim_truth: None,
    }
}
