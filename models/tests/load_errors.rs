//! Model loading failures are typed errors, never panics. Needs neither the models nor the runtime.

use std::path::PathBuf;

use models::manifest::{Manifest, ModelPaths};
use models::ocr::runtime::OcrSessions;
use models::ModelError;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("models-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn missing_model_directory() {
    let cache = temp_dir("nodir");
    let paths = ModelPaths::in_cache(&cache, &Manifest::builtin().unwrap());
    let err = OcrSessions::load(&paths, 1).err().expect("must fail");
    assert!(matches!(err, ModelError::MissingDir { .. }), "{err}");
    assert!(err.to_string().contains("setup-models"));
}

#[test]
fn missing_and_corrupt_model_files() {
    let cache = temp_dir("corrupt");
    let m = Manifest::builtin().unwrap();
    std::fs::create_dir_all(cache.join("models")).unwrap();
    let paths = ModelPaths::in_cache(&cache, &m);
    let err = OcrSessions::load(&paths, 1).err().expect("must fail");
    assert!(matches!(err, ModelError::MissingFile { .. }), "{err}");

    // A truncated (here: zero-size) det model.
    std::fs::write(cache.join("models").join(&m.model("det").file), b"").unwrap();
    let err = OcrSessions::load(&paths, 1).err().expect("must fail");
    assert!(matches!(err, ModelError::Checksum { .. }), "{err}");
    std::fs::remove_dir_all(&cache).ok();
}

#[test]
fn missing_runtime_library() {
    // Real models if installed (so the model checks pass), and a runtime path that does not exist.
    let m = Manifest::builtin().unwrap();
    let mut paths = ModelPaths::discover(&m);
    if !paths.models_dir.join(&m.model("rec").file).exists() {
        eprintln!("skipping: models not installed (run scripts/setup-models)");
        return;
    }
    paths.runtime_lib = PathBuf::from("/nonexistent/libonnxruntime.so.1.31.1");
    let err = OcrSessions::load(&paths, 1).err().expect("must fail");
    assert!(matches!(err, ModelError::MissingFile { .. } | ModelError::Runtime { .. }), "{err}");
}
