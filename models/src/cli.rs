//! Library side of `edge-agent ocr`: recognise files and format the results.

use std::path::PathBuf;

use crate::engine::{Engine, EngineOptions, ImageSource, Purpose};
use crate::error::{ModelError, OcrError};
use crate::read::image::ImageResult;

/// Recognise each file; an unusable file gives a result with `error` set, not a failure.
/// Fails only when the models cannot be loaded.
pub fn recognize_files(paths: &[PathBuf]) -> Result<Vec<ImageResult>, ModelError> {
    recognize_with(&Engine::start(EngineOptions::discover()?)?, paths, Purpose::Any)
}

/// [`recognize_files`] on an engine the caller keeps (to measure it afterwards, say), each file
/// read as a frame of a camera there for `purpose`.
pub fn recognize_with(
    engine: &Engine,
    paths: &[PathBuf],
    purpose: Purpose,
) -> Result<Vec<ImageResult>, ModelError> {
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        match engine.recognize_as(ImageSource::Path(p.clone()), "", purpose) {
            Ok(r) => out.push(r),
            Err(OcrError::Model(e)) => return Err(e),
            Err(OcrError::Input(e)) => out.push(ImageResult {
                file: p.display().to_string(),
                error: Some(e.to_string()),
                ..Default::default()
            }),
        }
    }
    Ok(out)
}

/// `edge-agent ocr [--json] FILE...`: the output text (JSON lines, one object per file, or the
/// plain-text summary). Returns the text and whether every file was readable.
pub fn ocr_files(paths: &[PathBuf], json: bool) -> Result<(String, bool), ModelError> {
    let results = recognize_files(paths)?;
    let all_ok = results.iter().all(|r| r.error.is_none());
    let mut s = String::new();
    for r in &results {
        if json {
            s.push_str(&serde_json::to_string(r).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")));
            s.push('\n');
        } else {
            s.push_str(&r.to_text());
        }
    }
    Ok((s, all_ok))
}
