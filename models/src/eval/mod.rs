//! Library side of `ocr-eval DIR`: accuracy and speed over a labelled folder.
//!
//! `DIR/labels.tsv` has a header and columns `file, label, kind (scene|crop), source_repo, ...`.
//! A label of 11-character ISO 6346 codes (several joined by `|`) makes the row a container row;
//! anything else is a plate. Exact match: the best container read equals the label (all labelled
//! codes present, for multi-code labels); the best plate equals the label (粤O and 粤0 equal).
//!
//! The plain figure flatters: the pipeline's heuristics were written looking at these images.
//! [`folds`] groups the rows by the repository they came from and judges every choice made on
//! the data (option variants, the confidence threshold in [`calibration`]) on a source it was not
//! made on; [`perturb`] evaluates perturbed copies.

pub mod calibration;
pub mod folds;
pub mod logistic;
pub mod perturb;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::engine::ImageSource;
use crate::engine::{Engine, EngineOptions, Purpose};
use crate::error::ModelError;
use crate::eval::perturb::Perturbation;
use crate::read::image::ImageResult;
use crate::read::iso6346;
use crate::read::plate;

/// One labelled image and how it went.
#[derive(Debug, Clone)]
pub struct EvalRow {
    pub file: String,
    pub label: String,
    pub kind: String,
    /// The repository the image came from (`source_repo`): the unit of a fold.
    pub source: String,
    /// Confidence of the read that was judged (the first plate, the first container); `None`
    /// when nothing was read.
    pub confidence: Option<f32>,
    /// The judged read's cues as the calibration map's inputs (see
    /// [`crate::read::calibrate`]); empty when nothing was read.
    pub features: Vec<f32>,
    pub domain: &'static str,
    pub exact: bool,
    /// The judged read is right: `exact` for a plate; for a container, the first code read is
    /// one of the labelled codes (a frame of several containers is exact only when all are read,
    /// but the confidence is the first read's, and it is that read it must be calibrated for).
    pub read_right: bool,
    pub check_digit_ok: bool,
    pub got: String,
    pub ms: f64,
    /// CPU time of the process over this image (all threads): on a busy machine a steadier
    /// measure than wall time; on an idle 2-core machine wall time is roughly half of it.
    pub cpu_ms: f64,
}

#[cfg(test)]
impl EvalRow {
    /// A plate row for the tests of choices made from rows: only what those choices read is set.
    pub(crate) fn plate_for_test(
        source: &str,
        kind: &str,
        exact: bool,
        confidence: Option<f32>,
        cpu_ms: f64,
    ) -> EvalRow {
        EvalRow {
            file: String::new(),
            label: String::new(),
            kind: kind.into(),
            source: source.into(),
            confidence,
            features: vec![],
            domain: "plates",
            exact,
            read_right: exact,
            check_digit_ok: false,
            got: String::new(),
            ms: cpu_ms,
            cpu_ms,
        }
    }
}

/// Process CPU time (user + system) in milliseconds, from `/proc/self/stat`.
fn cpu_ms() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let Some(after) = stat.rsplit(')').next() else { return 0.0 };
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name; 100 ticks/s.
    (ticks(11) + ticks(12)) * 10.0
}

/// Results over a folder.
#[derive(Debug, Clone, Default)]
pub struct EvalReport {
    pub rows: Vec<EvalRow>,
}

fn is_container_label(label: &str) -> bool {
    label.split('|').all(|c| c.len() == 11 && iso6346::is_valid(c))
}

/// How a result compares with its label.
struct Judged {
    domain: &'static str,
    exact: bool,
    read_right: bool,
    check_digit_ok: bool,
    got: String,
    confidence: Option<f32>,
    features: Vec<f32>,
}

fn judge(label: &str, r: &ImageResult) -> Judged {
    if is_container_label(label) {
        let want: Vec<&str> = label.split('|').collect();
        let got: Vec<&str> = r.containers.iter().map(|c| c.code.as_str()).collect();
        let exact = if want.len() == 1 {
            got.first() == Some(&want[0])
        } else {
            want.iter().all(|w| got.contains(w))
        };
        Judged {
            domain: "containers",
            exact,
            read_right: got.first().is_some_and(|g| want.contains(g)),
            check_digit_ok: r.containers.first().is_some_and(|c| c.check_digit_ok),
            got: got.join("|"),
            confidence: r.containers.first().map(|c| c.confidence),
            features: r.container_cues.first().map_or(vec![], |c| c.features().to_vec()),
        }
    } else {
        let got: Vec<&str> = r.plates.iter().map(|p| p.text.as_str()).collect();
        let exact = got.first().is_some_and(|g| plate::same_plate(g, label));
        Judged {
            domain: "plates",
            exact,
            read_right: exact,
            check_digit_ok: false,
            got: got.join("|"),
            confidence: r.plates.first().map(|p| p.confidence),
            features: r.plate_cues.first().map_or(vec![], |c| c.features().to_vec()),
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

impl EvalReport {
    /// Summary by domain and kind, then every miss.
    pub fn to_text(&self, show_misses: bool) -> String {
        let mut s = String::new();
        let mut groups: BTreeMap<(&str, &str), Vec<&EvalRow>> = BTreeMap::new();
        for r in &self.rows {
            groups.entry((r.domain, r.kind.as_str())).or_default().push(r);
            groups.entry((r.domain, "all")).or_default().push(r);
        }
        let _ = writeln!(
            s,
            "{:<11} {:<6} {:>5} {:>14} {:>10} {:>10} {:>10} {:>11}",
            "domain", "kind", "n", "exact", "cd-valid", "median ms", "max ms", "median cpu"
        );
        for ((domain, kind), rows) in &groups {
            let n = rows.len();
            let exact = rows.iter().filter(|r| r.exact).count();
            let cd = if *domain == "containers" {
                format!("{:.1}%", 100.0 * rows.iter().filter(|r| r.check_digit_ok).count() as f64 / n as f64)
            } else {
                "-".into()
            };
            let mut ms: Vec<f64> = rows.iter().map(|r| r.ms).collect();
            let mut cpu: Vec<f64> = rows.iter().map(|r| r.cpu_ms).collect();
            let max = ms.iter().copied().fold(0.0, f64::max);
            let _ = writeln!(
                s,
                "{domain:<11} {kind:<6} {n:>5} {:>6}/{:<3} {:>5.1}% {cd:>9} {:>10.0} {max:>10.0} {:>11.0}",
                exact,
                n,
                100.0 * exact as f64 / n as f64,
                median(&mut ms),
                median(&mut cpu)
            );
        }
        if show_misses {
            for r in self.rows.iter().filter(|r| !r.exact) {
                let _ = writeln!(s, "MISS {} [{}] want {} got {:?}", r.file, r.kind, r.label, r.got);
            }
        }
        s
    }
}

/// The image as the engine gets it: the file itself, or (with a seed) its perturbed copy
/// (see [`crate::eval::perturb`]). A file that cannot be decoded here is passed on as is, so the
/// engine reports it as it would any bad input.
fn source(path: &Path, file: &str, seed: Option<u64>) -> ImageSource {
    let Some(seed) = seed else { return ImageSource::Path(path.to_path_buf()) };
    match crate::imgops::load_path(path) {
        Ok(img) => match Perturbation::for_file(seed, file).apply(&img) {
            Ok(bytes) => ImageSource::Bytes(bytes),
            Err(_) => ImageSource::Path(path.to_path_buf()),
        },
        Err(_) => ImageSource::Path(path.to_path_buf()),
    }
}

/// Evaluate one labelled folder with an existing engine.
pub fn run_with(engine: &Engine, dir: &Path) -> Result<EvalReport, std::io::Error> {
    run_perturbed(engine, dir, None)
}

/// [`run_with`] on perturbed copies when `seed` is given (the perturbing is not timed).
pub fn run_perturbed(engine: &Engine, dir: &Path, seed: Option<u64>) -> Result<EvalReport, std::io::Error> {
    let tsv = std::fs::read_to_string(dir.join("labels.tsv"))?;
    let mut report = EvalReport::default();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 {
            continue;
        }
        let (file, label, kind) = (cols[0], cols[1], cols[2]);
        let repo = cols.get(3).copied().unwrap_or("unknown");
        let path: PathBuf = dir.join(file);
        let src = source(&path, file, seed);
        let (t, c) = (Instant::now(), cpu_ms());
        // Read as the lane would: each folder's images come from the cameras there for what
        // they are labelled with.
        let purpose = if is_container_label(label) { Purpose::Containers } else { Purpose::Plates };
        let result = engine.recognize_as(src, "", purpose);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let cpu = cpu_ms() - c;
        let j = match &result {
            Ok(r) => judge(label, r),
            Err(e) => Judged {
                domain: if is_container_label(label) { "containers" } else { "plates" },
                exact: false,
                read_right: false,
                check_digit_ok: false,
                got: format!("error: {e}"),
                confidence: None,
                features: vec![],
            },
        };
        report.rows.push(EvalRow {
            file: file.into(),
            label: label.into(),
            kind: kind.into(),
            source: repo.into(),
            confidence: j.confidence,
            features: j.features,
            domain: j.domain,
            exact: j.exact,
            read_right: j.read_right,
            check_digit_ok: j.check_digit_ok,
            got: j.got,
            ms,
            cpu_ms: cpu,
        });
    }
    Ok(report)
}

/// Errors of [`run`].
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("cannot read labels: {0}")]
    Labels(#[from] std::io::Error),
    #[error("unknown variant `{name}`; known: {known}")]
    Variant { name: String, known: String },
}

/// `edge-agent ocr-eval DIR...`: load the models, evaluate each folder, return the printable
/// report. With `perturb_seed`, every image is replaced by its perturbed copy.
pub fn run(dirs: &[PathBuf], show_misses: bool, perturb_seed: Option<u64>) -> Result<String, EvalError> {
    let engine = Engine::start(EngineOptions::discover()?)?;
    let mut out = String::new();
    for d in dirs {
        let report = run_perturbed(&engine, d, perturb_seed)?;
        match perturb_seed {
            Some(seed) => _ = writeln!(out, "== {} (perturbed, seed {seed})", d.display()),
            None => _ = writeln!(out, "== {}", d.display()),
        }
        out.push_str(&report.to_text(show_misses));
    }
    Ok(out)
}
