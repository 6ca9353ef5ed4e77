//! `edge-agent ocr IMAGE...` and `edge-agent ocr-eval DIR...`: recognition from the
//! terminal, for field technicians testing a camera and for measuring accuracy on a labelled
//! folder. The work is in the `models` crate; this is wording, argument handling and exit
//! codes.
//!
//! The text shows what the lane would act on: every read at or above the confidence the
//! lane needs (`--min-confidence`, the lane's default 0.8), or when there is none, the best
//! read marked as one the lane would hold. The other candidates the recogniser considered
//! are counted, not listed (`--all` lists them): a technician checking a camera wants the
//! answer, not the recogniser's doubts. A corrected read says what was read before the
//! correction. `--json` prints every candidate (the `models::recognize::ImageResult`
//! contract, README "JSON outputs"). An image that cannot be read is reported on stderr.

use std::path::PathBuf;

use clap::Args;
use models::read::image::ImageResult;
use models::{ContainerRead, PlateRead};

#[derive(Args)]
#[command(after_help = "Examples:\n  edge-agent ocr gate7-front.jpg gate7-rear.jpg\n  \
edge-agent ocr --camera containers gate7-left.jpg\n  \
edge-agent ocr snapshot.jpg --json | jq '.containers[0].code'\n\n\
Exit 0 when every image was read (whether or not it showed a code), 1 when an image was \
unusable, 2 when the models cannot be loaded (scripts/setup-models installs them).")]
pub struct OcrArgs {
    /// Images to read (JPEG or PNG): a scene from a lane camera or a tight crop.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// One JSON object per image and line, every candidate included: file, containers,
    /// plates, lines, timings_ms, models (and error for an unusable image).
    #[arg(long)]
    pub json: bool,
    /// The confidence a read needs to count, as the lane's `plate_min_confidence` and
    /// `container_min_confidence`.
    #[arg(long, default_value_t = 0.8, value_parser = confidence)]
    pub min_confidence: f32,
    /// Also list the unlikely candidates below --min-confidence.
    #[arg(long)]
    pub all: bool,
    /// Also print every recognised text line, with its confidence and position.
    #[arg(long)]
    pub lines: bool,
    /// Print resident memory to stderr after the last image (`rss_kb_busy=N`) and once the
    /// worker has released its buffers, models still loaded (`rss_kb=N`).
    #[arg(long)]
    pub rss: bool,
    /// Read the images as the lane reads a frame of this kind of camera: `containers` never
    /// looks for plates and always runs the text detector; `plates` and `any` look for both.
    #[arg(long, value_enum, default_value_t = Camera::Any)]
    pub camera: Camera,
}

/// What the camera that took the images is there for (the lane knows it from the capture).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Camera {
    Any,
    Plates,
    Containers,
}

impl From<Camera> for models::engine::Purpose {
    fn from(c: Camera) -> Self {
        match c {
            Camera::Any => models::engine::Purpose::Any,
            Camera::Plates => models::engine::Purpose::Plates,
            Camera::Containers => models::engine::Purpose::Containers,
        }
    }
}

#[derive(Args)]
#[command(
    after_help = "Example:\n  edge-agent ocr-eval ../shared/testdata/containers ../shared/testdata/plates --misses\n\n\
Each folder has a labels.tsv (file, label, kind scene|crop)."
)]
pub struct OcrEvalArgs {
    /// Labelled folders, each with a `labels.tsv` (file, label, kind scene|crop).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// List every image whose read did not match its label.
    #[arg(long)]
    pub misses: bool,
    /// Evaluate deterministic perturbed copies instead (scale 0.6–1.4, rotation ±5°,
    /// brightness/contrast, JPEG quality 40–90), drawn from this seed and each file's name.
    #[arg(long, value_name = "SEED")]
    pub perturb: Option<u64>,
}

fn confidence(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(c) if c > 0.0 && c <= 1.0 => Ok(c),
        _ => Err(format!("{text:?} is not a confidence: give a fraction above 0 and at most 1, e.g. 0.8")),
    }
}

/// Exit codes: 0 all read, 1 some image unusable, 2 models unavailable.
pub fn run(args: OcrArgs) -> Result<bool, String> {
    let results = read_files(&args.images, args.camera, args.rss).map_err(|e| e.to_string())?;
    for r in &results {
        if let Some(e) = &r.error {
            eprintln!("edge-agent ocr: {}: {e}", r.file);
        }
        if args.json {
            super::print_line(&serde_json::to_string(r).expect("results serialise"));
        } else if r.error.is_none() {
            super::print_text(&render(r, args.min_confidence, args.all, args.lines));
        }
    }
    Ok(results.iter().all(|r| r.error.is_none()))
}

pub fn eval(args: OcrEvalArgs) -> Result<bool, String> {
    let report = models::eval::run(&args.dirs, args.misses, args.perturb).map_err(|e| e.to_string())?;
    super::print_text(&report.to_string());
    Ok(true)
}

/// One image's result in words: what counts, what would be held, what was left out.
pub fn render(r: &ImageResult, min: f32, all: bool, lines: bool) -> String {
    let mut s = format!("{}  ({:.0} ms)\n", r.file, r.timings_ms.total);
    let containers: Vec<(&ContainerRead, f32)> = r.containers.iter().map(|c| (c, c.confidence)).collect();
    let plates: Vec<(&PlateRead, f32)> = r.plates.iter().map(|p| (p, p.confidence)).collect();
    let (shown_c, hidden_c) = pick(&containers, min, |c| c.check_digit_ok, all);
    let (shown_p, hidden_p) = pick(&plates, min, |_| true, all);
    for c in shown_c {
        let check = if c.check_digit_ok { "check digit ok" } else { "CHECK DIGIT WRONG" };
        s += &format!("  container {}  {:.2}  {check}", c.code, c.confidence);
        if let Some(st) = &c.size_type {
            s += &format!("  size/type {st}");
        }
        if let Some(read) = read_before_correction(&c.code, &c.corrected) {
            s += &format!("  (read as \"{read}\", corrected)");
        }
        if c.confidence < min {
            s += &format!("  — below {min:.2}: the lane would hold it (low confidence)");
        }
        s.push('\n');
    }
    for p in shown_p {
        let color = p.color.map(|c| crate::words::wire_word(&c)).unwrap_or_else(|| "colour unknown".into());
        s += &format!("  plate {}  {:.2}  {color}", p.text, p.confidence);
        if p.confidence < min {
            s += &format!("  — below {min:.2}: the lane would hold it (low confidence)");
        }
        s.push('\n');
    }
    if r.containers.is_empty() && r.plates.is_empty() {
        s += &format!(
            "  no container code or plate recognised ({})\n",
            crate::words::plural(r.lines.len() as u64, "text line", "text lines")
        );
    }
    let hidden = hidden_c + hidden_p;
    if hidden > 0 {
        s += &format!(
            "  ({} below {min:.2} not shown; --all lists them)\n",
            crate::words::plural(hidden as u64, "unlikely candidate", "unlikely candidates")
        );
    }
    if lines {
        for l in &r.lines {
            let [x0, y0, x1, y1] = l.bbox;
            s += &format!(
                "    line \"{}\"  {:.2}  from {}  at {x0},{y0}–{x1},{y1}\n",
                l.text, l.confidence, l.source
            );
        }
    }
    s
}

/// The reads to show (those that count, else the best one) and how many were left out.
fn pick<'a, T>(
    reads: &[(&'a T, f32)],
    min: f32,
    valid: impl Fn(&T) -> bool,
    all: bool,
) -> (Vec<&'a T>, usize) {
    if all {
        return (reads.iter().map(|r| r.0).collect(), 0);
    }
    let mut shown: Vec<&T> = reads.iter().filter(|(r, c)| *c >= min && valid(r)).map(|r| r.0).collect();
    if shown.is_empty() {
        if let Some(best) = reads.iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
            shown.push(best.0);
        }
    }
    let hidden = reads.len() - shown.len();
    (shown, hidden)
}

/// What the recogniser read before the corrections listed in `corrected`
/// (`"U->0@4"`: the character at index 4 was read `U`; `"BEAUZ65693->BEAU2656931"`: the
/// whole read), or `None` when nothing was corrected or the notes cannot be followed.
pub fn read_before_correction(code: &str, corrected: &[String]) -> Option<String> {
    if corrected.is_empty() {
        return None;
    }
    let mut chars: Vec<char> = code.chars().collect();
    for note in corrected.iter().rev() {
        let (from, rest) = note.split_once("->")?;
        match rest.split_once('@') {
            Some((to, index)) => {
                let i: usize = index.parse().ok()?;
                let (from, to) = (single(from)?, single(to)?);
                if chars.get(i) != Some(&to) {
                    return None;
                }
                chars[i] = from;
            }
            None if rest == chars.iter().collect::<String>() => chars = from.chars().collect(),
            None => return None,
        }
    }
    let read: String = chars.into_iter().collect();
    (read != code).then_some(read)
}

fn single(s: &str) -> Option<char> {
    let mut it = s.chars();
    let c = it.next()?;
    it.next().is_none().then_some(c)
}

/// Recognise the files; with `rss`, report the resident memory afterwards with the models still
/// loaded and the worker idle (what the lane PC holds between vehicles).
fn read_files(images: &[PathBuf], camera: Camera, rss: bool) -> Result<Vec<ImageResult>, models::ModelError> {
    let engine = models::engine::Engine::start(models::engine::EngineOptions::discover()?)?;
    let results = models::cli::recognize_with(&engine, images, camera.into())?;
    if rss {
        eprintln!("rss_kb_busy={}", rss_kb().unwrap_or(0));
        engine.release_memory()?;
        eprintln!("rss_kb={}", rss_kb().unwrap_or(0));
    }
    Ok(results)
}

/// Resident set size of this process, from `/proc/self/status` (Linux).
fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests;
