//! Recognition runs on its own worker thread: models are slow and hold large
//! sessions, and must never stall the lane loop.
//!
//! [`PpOcrReader`] is the real engine: PP-OCR on ONNX Runtime from the `models` crate, whose
//! sessions live on their own threads (one per configured worker). It never fails to start:
//! missing or corrupt models become an error on every passage (and a retry now and then), so
//! the lane keeps running and holds each vehicle for review with the reason.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use drivers::Image;
use models::engine::passage::recognize_passage;
use models::engine::Purpose;
use models::engine::{Engine, EngineOptions};
use models::manifest::{Manifest, ModelPaths};
use models::{ContainerRead, PlateRead, Reads, RecognitionError};

use crate::config::RecognitionConfig;
use contract::passage::CaptureKind;

/// One image to read, with the camera it came from.
pub struct Shot {
    pub device: String,
    pub kind: CaptureKind,
    pub image: Image,
}

pub trait Recognizer: Send {
    fn recognize(&mut self, shots: &[Shot]) -> Result<Reads, RecognitionError>;
}

impl Recognizer for Box<dyn Recognizer> {
    fn recognize(&mut self, shots: &[Shot]) -> Result<Reads, RecognitionError> {
        (**self).recognize(shots)
    }
}

/// Reads the ground truth the simulated cameras attach to their images. Only
/// configuration for a fully simulated lane can select it.
pub struct SimTruthReader;

impl Recognizer for SimTruthReader {
    fn recognize(&mut self, shots: &[Shot]) -> Result<Reads, RecognitionError> {
        let mut reads = Reads { models: vec!["sim-truth".into()], ..Reads::default() };
        for shot in shots {
            let Some(truth) = &shot.image.sim_truth else { continue };
            if let Some(plate) = &truth.plate {
                match reads.plates.iter_mut().find(|p| &p.text == plate) {
                    Some(p) => p.cameras.push(shot.device.clone()),
                    None => reads.plates.push(PlateRead {
                        text: plate.clone(),
                        confidence: truth.confidence,
                        color: None,
                        cameras: vec![shot.device.clone()],
                        models: vec![],
                    }),
                }
            }
            for code in &truth.containers {
                match reads.containers.iter_mut().find(|c| &c.code == code) {
                    Some(c) => c.cameras.push(shot.device.clone()),
                    None => reads.containers.push(ContainerRead {
                        code: code.clone(),
                        confidence: truth.confidence,
                        check_digit_ok: models::read::iso6346::is_valid(code),
                        corrected: vec![],
                        size_type: None,
                        cameras: vec![shot.device.clone()],
                        models: vec![],
                    }),
                }
            }
        }
        Ok(reads)
    }
}

/// How long after a failed model load the next passage tries again.
const RELOAD_AFTER: Duration = Duration::from_secs(60);

/// PP-OCR on ONNX Runtime (the `ppocr` engine).
pub struct PpOcrReader {
    opts: EngineOptions,
    workers: usize,
    engines: Result<Vec<Engine>, (String, Instant)>,
}

impl PpOcrReader {
    /// Model files from `recognition.models_dir`; the runtime library from
    /// `recognition.runtime_library`, else `onnxruntime/` beside the models directory (the layout
    /// `scripts/setup-models` makes), else the default discovery (`ORT_DYLIB_PATH`, the cache).
    pub fn from_config(cfg: &RecognitionConfig) -> PpOcrReader {
        let workers = (cfg.workers as usize).max(1);
        let mut opts = match EngineOptions::discover() {
            Ok(o) => o,
            Err(e) => return PpOcrReader::failed(e.to_string(), workers),
        };
        let manifest = Manifest::builtin().ok();
        let beside = cfg
            .models_dir
            .parent()
            .zip(manifest.as_ref())
            .map(|(p, m)| p.join("onnxruntime").join(&m.runtime.file));
        let runtime_lib = cfg
            .runtime_library
            .clone()
            .or_else(|| beside.filter(|p| p.exists()))
            .unwrap_or_else(|| opts.paths.runtime_lib.clone());
        opts.paths = ModelPaths { models_dir: cfg.models_dir.clone(), runtime_lib };
        // The cores are shared among the workers' sessions.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        opts.threads = std::env::var("LANECTL_OCR_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or((cores / workers).max(1));
        PpOcrReader::start(opts, workers)
    }

    /// Load the models on `workers` threads; a failure is kept and reported per passage.
    pub fn start(opts: EngineOptions, workers: usize) -> PpOcrReader {
        let mut reader =
            PpOcrReader { opts, workers: workers.max(1), engines: Err((String::new(), Instant::now())) };
        reader.load();
        reader
    }

    fn failed(reason: String, workers: usize) -> PpOcrReader {
        let paths = ModelPaths { models_dir: PathBuf::new(), runtime_lib: PathBuf::new() };
        let opts = EngineOptions { paths, threads: 1, queue: 1, read: Default::default() };
        PpOcrReader { opts, workers, engines: Err((reason, Instant::now())) }
    }

    fn load(&mut self) {
        let loaded: Result<Vec<Engine>, _> =
            (0..self.workers).map(|_| Engine::start(self.opts.clone())).collect();
        self.engines = loaded.map_err(|e| {
            tracing::error!(cause = %e, models_dir = %self.opts.paths.models_dir.display(), "recognition models unavailable");
            (e.to_string(), Instant::now())
        });
    }

    /// The loaded engines, retrying a failed load at most every [`RELOAD_AFTER`].
    fn engines(&mut self) -> Result<&[Engine], RecognitionError> {
        if let Err((_, at)) = &self.engines {
            if at.elapsed() >= RELOAD_AFTER && !self.opts.paths.models_dir.as_os_str().is_empty() {
                self.load();
            }
        }
        match &self.engines {
            Ok(e) => Ok(e),
            Err((reason, _)) => Err(RecognitionError::ModelsUnavailable(reason.clone())),
        }
    }
}

impl Recognizer for PpOcrReader {
    /// Reads every plate and container image of the passage, spread over the workers. Any
    /// unusable image fails the passage with the camera and the reason: a person should look
    /// rather than the lane decide on part of the evidence.
    fn recognize(&mut self, shots: &[Shot]) -> Result<Reads, RecognitionError> {
        let engines = self.engines()?;
        let images = shots
            .iter()
            .filter_map(|s| {
                let purpose = match s.kind {
                    CaptureKind::PlateImage => Purpose::Plates,
                    CaptureKind::ContainerImage => Purpose::Containers,
                    _ => return None,
                };
                Some((s.device.clone(), purpose, s.image.bytes.to_vec()))
            })
            .collect();
        recognize_passage(engines, images)
    }
}

pub struct Job {
    pub passage: String,
    pub shots: Vec<Shot>,
}

/// Starts a worker thread that owns the recognizer; results come back through
/// `done` (with the shots, for the checks that follow recognition on the same thread,
/// see [`crate::vision`]) so the lane loop can await them like any other event. The typed error
/// becomes its text here: that is what the passage record carries.
pub fn spawn_worker<R, F>(mut recognizer: R, mut done: F) -> mpsc::SyncSender<Job>
where
    R: Recognizer + 'static,
    F: FnMut(String, Result<Reads, String>, Vec<Shot>) + Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel::<Job>(16);
    std::thread::Builder::new()
        .name("recognition".into())
        .spawn(move || {
            for job in rx {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    recognizer.recognize(&job.shots)
                }))
                .unwrap_or(Err(RecognitionError::Crashed));
                done(job.passage, result.map_err(|e| e.to_string()), job.shots);
            }
        })
        .expect("spawning the recognition thread");
    tx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Engine as EngineKind;

    fn shot(kind: CaptureKind, bytes: &[u8]) -> Shot {
        let image = Image {
            bytes: bytes.to_vec().into(),
            format: drivers::ImageFormat::Jpeg,
            width: 0,
            height: 0,
            captured_at: chrono::Utc::now(),
            sim_truth: None,
        };
        Shot { device: "cam1".into(), kind, image }
    }

    fn config(models_dir: PathBuf) -> RecognitionConfig {
        RecognitionConfig {
            engine: EngineKind::PpOcr,
            models_dir,
            runtime_library: None,
            plate_min_confidence: 0.8,
            plate_confirmed_min_confidence: 0.7,
            container_min_confidence: 0.8,
            workers: 1,
        }
    }

    #[test]
    fn missing_models_fail_each_passage_with_the_reason() {
        let mut r = PpOcrReader::from_config(&config(PathBuf::from("/nonexistent/edge-agent-models")));
        let err = r.recognize(&[shot(CaptureKind::PlateImage, b"x")]).unwrap_err();
        assert!(matches!(err, RecognitionError::ModelsUnavailable(_)), "{err}");
        let err = err.to_string();
        assert!(
            err.contains("recognition models unavailable") && err.contains("/nonexistent/edge-agent-models"),
            "{err}"
        );
    }

    #[test]
    fn corrupt_image_fails_the_passage_naming_the_camera() {
        let Ok(opts) = EngineOptions::discover() else { return };
        let dir = opts.paths.models_dir.clone();
        if !dir.is_dir() {
            eprintln!("skipping: models not installed in {} (run scripts/setup-models)", dir.display());
            return;
        }
        let mut r = PpOcrReader::from_config(&config(dir));
        let err =
            r.recognize(&[shot(CaptureKind::ContainerImage, b"\xff\xd8\xff\xe0 truncated")]).unwrap_err();
        let RecognitionError::UnusableImages(bad) = &err else { panic!("{err}") };
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].camera, "cam1");
        assert!(err.to_string().contains("cam1") && err.to_string().contains("unusable image"), "{err}");
        // Seal and under-vehicle captures are not OCR input: nothing to read, no error.
        let reads = r.recognize(&[shot(CaptureKind::UvssScan, b"not read")]).unwrap();
        assert!(reads.plates.is_empty() && !reads.models.is_empty());
    }
}
