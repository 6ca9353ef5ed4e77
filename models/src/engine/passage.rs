//! One passage's images: spread over the workers, fused into one [`Reads`], or one typed error.
//!
//! A passage is what the lane decides on, so it fails as a whole: if any plate or container image
//! cannot be used, the lane should hold the vehicle for a person rather than decide on part of
//! the evidence ([`RecognitionError::UnusableImages`] names every camera and why). Several
//! cameras' reads of one plate or one container are merged, so the record names every camera
//! that saw it.

use crate::engine::{Engine, ImageSource, Purpose};
use crate::error::{ModelError, OcrError, RecognitionError, UnusableImage};
use crate::read::container;
use crate::read::image::ImageResult;
use crate::read::plate;
use crate::reads::{PlateRead, Reads, TextLine};

/// Recognise every `(camera, its purpose, encoded image)` of a passage, image `i` on
/// `engines[i % n]` (each engine is one worker thread; several let a multi-core lane PC read
/// cameras in parallel).
pub fn recognize_passage(
    engines: &[Engine],
    images: Vec<(String, Purpose, Vec<u8>)>,
) -> Result<Reads, RecognitionError> {
    if engines.is_empty() {
        return Err(RecognitionError::ModelsUnavailable("no recognition worker".into()));
    }
    let outcomes: Vec<(String, Result<ImageResult, OcrError>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = images
            .into_iter()
            .enumerate()
            .map(|(i, (camera, purpose, bytes))| {
                let engine = &engines[i % engines.len()];
                scope.spawn(move || {
                    let r = engine.recognize_as(ImageSource::Bytes(bytes), &camera, purpose);
                    (camera, r)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| (String::new(), Err(ModelError::WorkerGone.into()))))
            .collect()
    });
    let mut results = Vec::new();
    let mut unusable = Vec::new();
    // Every line with its box, so a reviewer sees where each read came from.
    let mut lines = Vec::new();
    for (camera, r) in outcomes {
        match r {
            Ok(r) => {
                lines.extend(r.lines.iter().map(|l| TextLine {
                    camera: camera.clone(),
                    text: l.text.clone(),
                    confidence: l.confidence,
                    bbox: l.bbox,
                }));
                results.push(r)
            }
            Err(OcrError::Model(e)) => return Err(RecognitionError::ModelsUnavailable(e.to_string())),
            Err(OcrError::Input(e)) => unusable.push(UnusableImage { camera, reason: e.to_string() }),
        }
    }
    if !unusable.is_empty() {
        return Err(RecognitionError::UnusableImages(unusable));
    }
    Ok(Reads { lines, ..fuse_results(&results, engines[0].models()) })
}

/// Fuse several images' results (one passage, several cameras) into [`Reads`]: container reads
/// vote per code (see [`container::fuse`]), plates read by several cameras are merged.
pub fn fuse_results(results: &[ImageResult], models: &[String]) -> Reads {
    let mut containers = Vec::new();
    let mut plates: Vec<PlateRead> = Vec::new();
    for r in results {
        containers.extend(r.containers.iter().cloned());
        for p in &r.plates {
            match plates.iter_mut().find(|q| plate::same_plate(&q.text, &p.text)) {
                Some(q) => {
                    q.confidence = q.confidence.max(p.confidence);
                    q.cameras.extend(p.cameras.iter().cloned());
                    q.color = q.color.or(p.color);
                }
                None => plates.push(p.clone()),
            }
        }
    }
    plates.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    Reads { plates, containers: container::fuse(&containers), models: models.to_vec(), lines: vec![] }
}
