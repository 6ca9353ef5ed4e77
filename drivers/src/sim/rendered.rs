//! Rendered footage: the simulated cameras show each vehicle's plate and container codes drawn
//! into a scene (`models::synth`), so a lane running the real recognition has something real to
//! read. Frames are rendered when a vehicle is staged, before it arrives. A vehicle the plan gives a poor view (`read_confidence` below 1) is filmed worse:
//! defocused, dim and noisy, as a dirty lens or dusk would make it.

use std::collections::VecDeque;
use std::io::Cursor;
use std::sync::Mutex;

use bytes::Bytes;
use chrono::Utc;
use image::{ImageEncoder, RgbImage};
use models::synth::{container_scene, plate_scene, Fonts, Look, SynthError};

use super::{CameraView, Footage, SimVehicle};
use crate::{Image, ImageFormat};

/// Frames kept: a few vehicles' worth (one arriving, one or two leaving).
const KEPT: usize = 8;

/// Footage rendered from each vehicle's truth.
pub struct Rendered {
    fonts: Fonts,
    /// Frames rendered when their vehicle was staged, newest last: a snapshot then costs what a
    /// real camera's does (nothing the capture timeout notices), and two cameras on one view
    /// share one frame.
    frames: Mutex<VecDeque<(u64, CameraView, Option<Image>)>>,
}

impl Rendered {
    /// With the system fonts (`fonts-dejavu-core`, `fonts-wqy-zenhei`).
    pub fn system() -> Result<Rendered, SynthError> {
        Ok(Rendered { fonts: Fonts::system()?, frames: Mutex::new(VecDeque::new()) })
    }

    fn render(&self, v: &SimVehicle, view: CameraView) -> Option<Image> {
        // The same vehicle looks the same from one camera, different from the other.
        let quality = v.read_confidence.min(1.0);
        let look = match (view, v.returning) {
            // A returning truck shows the plate camera the same front (body, plate, framing) as
            // on its first visit, in another light, so it is read as it was then; its load is
            // this trip's.
            (CameraView::Plate, Some(first)) => {
                let mut look = Look::random(first.wrapping_mul(2).wrapping_add(view as u64), quality);
                look.gain *= 0.93 + 0.01 * (v.seq % 6) as f32;
                look
            }
            _ => Look::random(v.seq.wrapping_mul(2).wrapping_add(view as u64), quality),
        };
        let img = match view {
            CameraView::Plate => plate_scene(&self.fonts, &v.plate, &look),
            CameraView::Container if v.containers.is_empty() => return None,
            CameraView::Container => container_scene(&self.fonts, &v.containers, &look),
        };
        Some(jpeg(&img))
    }

    fn frames(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, CameraView, Option<Image>)>> {
        // A panic elsewhere while holding the lock leaves whole entries only.
        self.frames.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Footage for Rendered {
    /// Renders the vehicle's frames ahead of its arrival (the traffic runs this off the runtime).
    fn stage(&self, v: &mut SimVehicle) {
        for view in [CameraView::Plate, CameraView::Container] {
            let frame = self.render(v, view);
            let mut frames = self.frames();
            frames.push_back((v.seq, view, frame));
            while frames.len() > KEPT {
                frames.pop_front();
            }
        }
    }

    fn picture(&self, v: &SimVehicle, view: CameraView) -> Option<Image> {
        let staged = self.frames().iter().rev().find(|f| f.0 == v.seq && f.1 == view).map(|f| f.2.clone());
        let mut frame = staged.unwrap_or_else(|| self.render(v, view))?;
        frame.captured_at = Utc::now(); // taken now, whenever it was drawn
        Some(frame)
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
