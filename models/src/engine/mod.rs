//! The recognition worker: one thread owns the ONNX sessions, callers send it requests.
//!
//! `Session::run` needs `&mut self` and sessions are expensive to create (~0.5 s), so they live
//! on one dedicated thread for the life of the process; callers hold a cheap, cloneable
//! [`Engine`] handle and block on a reply channel (from async code: `spawn_blocking`). The request
//! queue is bounded, so a burst of images applies back-pressure instead of growing memory.
//! Decoding the image happens on the worker too, keeping callers free of image work.
//! A passage's images, spread over several workers and fused, are [`passage`]'s.

pub mod passage;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use crate::error::{ModelError, OcrError};
use crate::imgops;
use crate::manifest::{Manifest, ModelPaths};
use crate::ocr::rec::normalize_char;
use crate::ocr::runtime::{KeepChar, Narrowing, OcrSessions};
use crate::read::image::{recognize_image, ImageResult};
use crate::read::options::ReadOptions;
use crate::read::plate;

/// Where an image comes from.
pub enum ImageSource {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

/// What the camera that took an image is there for. A plate camera's frame, or one of unknown
/// purpose, may skip the text detector when the plate detector is sure of a plate
/// ([`ReadOptions::sure_plate`]); a container camera's frame never does: its container code is
/// what it is for, even with a plate in view (the tractor's plate below a box's front).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Purpose {
    #[default]
    Any,
    Plates,
    Containers,
}

enum Job {
    Recognize {
        source: ImageSource,
        camera: String,
        purpose: Purpose,
        reply: mpsc::Sender<Result<ImageResult, OcrError>>,
    },
    ReleaseMemory {
        reply: mpsc::Sender<Result<(), ModelError>>,
    },
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub paths: ModelPaths,
    /// ONNX Runtime intra-op threads per session. With a single worker, all cores (2 on the lane
    /// PC) halve the time per image compared with 1.
    pub threads: usize,
    pub queue: usize,
    pub read: ReadOptions,
}

impl EngineOptions {
    /// Default paths (`$LANECTL_CACHE` or `<repo>/.cache`) and settings.
    pub fn discover() -> Result<EngineOptions, ModelError> {
        let manifest = Manifest::builtin()?;
        // One worker runs one model at a time, so it may use every core (up to 4; beyond that the
        // small models stop scaling). LANECTL_OCR_THREADS overrides.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
        let threads = std::env::var("LANECTL_OCR_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(cores);
        Ok(EngineOptions {
            paths: ModelPaths::discover(&manifest),
            threads,
            queue: 16,
            read: ReadOptions::default(),
        })
    }
}

/// The classes the plates' second recogniser keeps: it reads nothing but plates (full-width and
/// look-alike forms of plate characters included, as the parsers normalise them).
pub fn plate_class(c: char) -> bool {
    plate::is_plate_char(normalize_char(c))
}

/// The classes PP-OCRv4 keeps: it reads container codes and plates, and the parsers skip
/// separators between their parts.
pub fn code_or_plate_class(c: char) -> bool {
    let c = normalize_char(c);
    c.is_ascii_graphic() || plate::is_separator(c) || plate::is_plate_char(c)
}

/// How long the worker waits without a job before it returns freed memory to the system.
const IDLE_TRIM_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// Handle to the recognition worker. Cloning is cheap; the worker stops when all handles drop.
#[derive(Clone)]
pub struct Engine {
    tx: mpsc::SyncSender<Job>,
    models: Vec<String>,
}

impl Engine {
    /// Start the worker and load the models on it; returns once they are loaded (or failed to).
    pub fn start(opts: EngineOptions) -> Result<Engine, ModelError> {
        let (tx, rx) = mpsc::sync_channel::<Job>(opts.queue.max(1));
        let (ready_tx, ready_rx) = mpsc::channel();
        thread::Builder::new()
            .name("ocr-worker".into())
            .spawn(move || {
                let ocr = &opts.read.ocr;
                let narrowing = Narrowing {
                    rec: ocr.rec_narrow.then_some(code_or_plate_class as KeepChar),
                    rec_alt: ocr.alt_rec_narrow.then_some(plate_class as KeepChar),
                };
                let mut sessions =
                    match OcrSessions::load_with(&opts.paths, opts.threads, ocr.alt_rec, narrowing) {
                        Ok(s) => {
                            let _ = ready_tx.send(Ok(s.model_names.clone()));
                            s
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                // A container camera's frames always get the text detector (see [`Purpose`]).
                let full_look = opts.read.for_containers();
                loop {
                    let job = match rx.recv_timeout(IDLE_TRIM_AFTER) {
                        Ok(job) => job,
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            // Idle between vehicles: hand the inference buffers back to the
                            // system, so the lane PC's resident memory is the models, not the
                            // largest image seen. Not after every image: re-faulting the pages
                            // costs tens of milliseconds, so a burst keeps them.
                            if let Err(e) = sessions.release_memory() {
                                tracing::warn!(error = %e, "could not release inference memory");
                            }
                            match rx.recv() {
                                Ok(job) => job,
                                Err(_) => break,
                            }
                        }
                    };
                    match job {
                        Job::Recognize { source, camera, purpose, reply } => {
                            let read = if purpose == Purpose::Containers { &full_look } else { &opts.read };
                            let _ = reply.send(process(&mut sessions, read, source, &camera));
                        }
                        Job::ReleaseMemory { reply } => {
                            let _ = reply.send(sessions.release_memory());
                        }
                    }
                }
            })
            .map_err(|e| ModelError::Io { path: PathBuf::from("<ocr-worker thread>"), source: e })?;
        let models = ready_rx.recv().map_err(|_| ModelError::WorkerGone)??;
        Ok(Engine { tx, models })
    }

    /// `name version` of the loaded models.
    pub fn models(&self) -> &[String] {
        &self.models
    }

    /// Recognise one image of unknown purpose (blocking).
    pub fn recognize(&self, source: ImageSource, camera: &str) -> Result<ImageResult, OcrError> {
        self.recognize_as(source, camera, Purpose::Any)
    }

    /// Recognise one image from a camera there for `purpose` (blocking).
    pub fn recognize_as(
        &self,
        source: ImageSource,
        camera: &str,
        purpose: Purpose,
    ) -> Result<ImageResult, OcrError> {
        let (reply, rx) = mpsc::channel();
        self.tx
            .send(Job::Recognize { source, camera: camera.to_string(), purpose, reply })
            .map_err(|_| ModelError::WorkerGone)?;
        rx.recv().map_err(|_| ModelError::WorkerGone)?
    }

    /// Give past inferences' memory back now, as the worker does by itself when idle (blocking).
    pub fn release_memory(&self) -> Result<(), ModelError> {
        let (reply, rx) = mpsc::channel();
        self.tx.send(Job::ReleaseMemory { reply }).map_err(|_| ModelError::WorkerGone)?;
        rx.recv().map_err(|_| ModelError::WorkerGone)?
    }

    pub fn recognize_path(&self, path: &Path) -> Result<ImageResult, OcrError> {
        self.recognize(ImageSource::Path(path.to_path_buf()), "")
    }
}

fn process(
    s: &mut OcrSessions,
    o: &ReadOptions,
    source: ImageSource,
    camera: &str,
) -> Result<ImageResult, OcrError> {
    let t = Instant::now();
    let (img, file) = match source {
        ImageSource::Path(p) => (imgops::load_path(&p)?, p.display().to_string()),
        ImageSource::Bytes(b) => (imgops::decode(&b)?, String::new()),
    };
    let decode = t.elapsed().as_secs_f64() * 1e3;
    let mut r = recognize_image(s, &img, camera, o)?;
    r.file = file;
    r.models = s.model_names.clone();
    r.timings_ms.decode = decode;
    r.timings_ms.total += decode;
    Ok(r)
}
