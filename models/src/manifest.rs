//! The model manifest (`models/manifest.toml`, compiled in) and verification of installed files.
//!
//! The manifest is embedded with `include_str!` so the binary and the files it expects can never
//! drift apart: a model swapped on disk fails the sha256 check with [`ModelError::Checksum`].
//! Hashing ~70 MB takes ~0.2 s once per process, cheap next to session creation.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::ModelError;

/// The manifest text as shipped with this build.
pub const MANIFEST_TOML: &str = include_str!("../manifest.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub runtime: FileEntry,
    pub models: BTreeMap<String, FileEntry>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub version: String,
    pub file: String,
    pub sha256: String,
    #[serde(default)]
    pub source: String,
    /// Recognisers: input height in pixels.
    #[serde(default)]
    pub height: Option<usize>,
    /// Recognisers: `"metadata"` (the model's `character` key) or a file beside the model.
    #[serde(default)]
    pub dictionary: Option<String>,
    #[serde(default)]
    pub dictionary_sha256: Option<String>,
    /// Recognisers: whether the output has a last class for the space after the dictionary
    /// (PaddleOCR's `use_space_char`); plate-only recognisers have none.
    #[serde(default = "yes")]
    pub space_class: bool,
    /// Text detectors: how pixels become inputs (see [`Normalize`]).
    #[serde(default)]
    pub normalize: Normalize,
}

/// A detector's input normalisation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalize {
    /// `x/127.5 - 1` (RapidOCR's PP-OCRv4 models).
    #[default]
    Half,
    /// `(x/255 - mean) / std` with PaddleOCR's ImageNet constants (PP-OCRv5/v6 detectors).
    Imagenet,
}

fn yes() -> bool {
    true
}

/// The models every engine loads, by manifest key.
pub const REQUIRED: [&str; 5] = ["det", "rec", "rec_alt", "rec_plate", "plate_det"];

/// Models loaded only when the options use them (verified then, like the others at start).
pub const OPTIONAL: [&str; 2] = ["det_fast", "rec_alt_tiny"];

impl Manifest {
    pub fn builtin() -> Result<Manifest, ModelError> {
        let m: Manifest = toml::from_str(MANIFEST_TOML).map_err(|e| ModelError::Manifest(e.to_string()))?;
        for key in REQUIRED.iter().chain(&OPTIONAL) {
            if !m.models.contains_key(*key) {
                return Err(ModelError::Manifest(format!("no [models.{key}] entry")));
            }
        }
        for (key, e) in &m.models {
            if e.dictionary.as_deref().is_some_and(|d| d != "metadata") && e.dictionary_sha256.is_none() {
                return Err(ModelError::Manifest(format!(
                    "[models.{key}] has a dictionary file but no sha256"
                )));
            }
        }
        Ok(m)
    }

    pub fn model(&self, key: &str) -> &FileEntry {
        &self.models[key]
    }

    /// `name version` of every model, for [`crate::Reads::models`].
    pub fn model_names(&self) -> Vec<String> {
        self.models.values().map(FileEntry::label).collect()
    }
}

impl FileEntry {
    /// `name version`, as recorded in the reads.
    pub fn label(&self) -> String {
        format!("{} {}", self.name, self.version)
    }
}

/// Where models and the runtime live: `$LANECTL_CACHE` or `<repo>/.cache`.
#[derive(Debug, Clone)]
pub struct ModelPaths {
    pub models_dir: PathBuf,
    pub runtime_lib: PathBuf,
}

impl ModelPaths {
    /// Paths under one cache directory laid out by `scripts/setup-models`.
    pub fn in_cache(cache: &Path, manifest: &Manifest) -> ModelPaths {
        ModelPaths {
            models_dir: cache.join("models"),
            runtime_lib: cache.join("onnxruntime").join(&manifest.runtime.file),
        }
    }

    /// `$LANECTL_CACHE`, else the repository's `.cache` (found from this crate's source location,
    /// then from the current directory upwards). `ORT_DYLIB_PATH` overrides the runtime library.
    pub fn discover(manifest: &Manifest) -> ModelPaths {
        let cache = std::env::var_os("LANECTL_CACHE").map(PathBuf::from).unwrap_or_else(default_cache);
        let mut p = ModelPaths::in_cache(&cache, manifest);
        if let Some(lib) = std::env::var_os("ORT_DYLIB_PATH") {
            p.runtime_lib = PathBuf::from(lib);
        }
        p
    }
}

fn default_cache() -> PathBuf {
    let from_crate = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(".cache");
    if from_crate.is_dir() {
        return from_crate;
    }
    if let Ok(mut dir) = std::env::current_dir() {
        loop {
            let c = dir.join(".cache");
            if c.join("models").is_dir() {
                return c;
            }
            if !dir.pop() {
                break;
            }
        }
    }
    from_crate
}

/// Check that `path` exists and hashes to `expected`.
pub fn verify_file(path: &Path, expected: &str) -> Result<(), ModelError> {
    let mut f = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ModelError::MissingFile { path: path.to_path_buf() },
        _ => ModelError::Io { path: path.to_path_buf(), source: e },
    })?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| ModelError::Io { path: path.to_path_buf(), source: e })?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let actual = hex::encode(h.finalize());
    if !actual.eq_ignore_ascii_case(expected) {
        return Err(ModelError::Checksum {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_parses() {
        let m = Manifest::builtin().unwrap();
        assert_eq!(m.runtime.version, "1.31.1");
        assert_eq!(m.model("rec").file, "ch_PP-OCRv4_rec_infer.onnx");
        assert_eq!(m.model_names().len(), REQUIRED.len() + OPTIONAL.len());
        assert_eq!(m.model("rec_alt").dictionary.as_deref(), Some("ppocrv6_dict.txt"));
        assert!(m.model("rec_alt").space_class && !m.model("rec_plate").space_class);
        assert_eq!(m.model("det").normalize, Normalize::Half);
        assert_eq!(m.model("det_fast").normalize, Normalize::Imagenet);
    }

    #[test]
    fn checksum_mismatch_and_missing_are_typed() {
        let dir = std::env::temp_dir().join(format!("models-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x.onnx");
        std::fs::write(&f, b"not a model").unwrap();
        assert!(matches!(verify_file(&f, "00"), Err(ModelError::Checksum { .. })));
        assert!(matches!(verify_file(&dir.join("nope"), "00"), Err(ModelError::MissingFile { .. })));
        std::fs::remove_dir_all(&dir).ok();
    }
}
