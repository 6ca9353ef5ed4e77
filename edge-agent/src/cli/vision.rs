//! `edge-agent uvss compare` and `edge-agent empty-check`: the under-vehicle comparison and
//! the image empty-container check from a terminal, for technicians and for other tools.
//!
//! With `--json` each prints exactly one object (a contract other tools read). `uvss compare`
//! prints `models::uvss::Summary`: `{"verdict","score","inconclusive_reason","reason",
//! "regions":[{"x","y","w","h","score"}],"match_quality","coverage","residual","length_ratio",
//! "resolution_ratio","timings_ms"}` (figures null where the comparison did not get that far),
//! the same values the text line shows; `empty-check` prints `{"verdict","score"}`. Exit 0
//! whenever a verdict was reached (including `anomaly`), 2 when an input is unusable (the
//! message names which of the two files).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use models::{empty, uvss};

#[derive(Subcommand)]
pub enum UvssCmd {
    /// Compare a new scan with the vehicle's reference scan; writes a heat-map overlay.
    ///
    /// Verdicts: anomaly, clean, no_reference (no reference scan), inconclusive (with a reason
    /// code: too_different_in_size, too_dark, overexposed, no_structure, registration_failed,
    /// differs_everywhere, partial_scan).
    Compare {
        /// The reference scan; a path that does not exist gives the verdict `no_reference`.
        reference: PathBuf,
        /// The new scan (any resolution, length or travel direction: both are brought to a
        /// common scale).
        new: PathBuf,
        /// Overlay PNG to write: the reference warped onto the new scan's geometry, next to the
        /// new scan with the heat map and boxes.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Longest side of the overlay in pixels.
        #[arg(long, default_value_t = 4096)]
        overlay_max: u32,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct EmptyCheckArgs {
    /// Interior image (X-ray scan or photo through the doors).
    pub image: PathBuf,
    /// ONNX classifier to use instead of the classical method.
    #[arg(long)]
    pub onnx: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn uvss(cmd: UvssCmd) -> ExitCode {
    let UvssCmd::Compare { reference, new, out, overlay_max, json } = cmd;
    let start = std::time::Instant::now();
    let params = uvss::Params::default();
    let (mut c, ref_img, new_img) = match compare_files(&reference, &new, &params) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("edge-agent uvss compare: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = &out {
        if c.verdict != uvss::Verdict::NoReference {
            let t = std::time::Instant::now();
            let overlay = uvss::overlay::render(ref_img.as_ref(), &new_img, &c, &params, overlay_max);
            if let Err(e) = overlay.save(path) {
                eprintln!("edge-agent uvss compare: cannot write the overlay {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            c.timings_ms.insert("overlay", ms(t));
        }
    }
    // `total` is the whole command (reading both files, comparing, the overlay), so it is never
    // less than any stage; the comparison's own total is `compare`.
    c.timings_ms.insert("total", ms(start));
    let summary = c.summary();
    let text =
        if json { serde_json::to_string(&summary).expect("summary serialises") } else { summary.text() };
    // A closed pipe (| head) is not an error worth a panic.
    let _ = writeln!(std::io::stdout(), "{text}");
    ExitCode::SUCCESS
}

/// Why `uvss compare` could not compare: names the file at fault.
#[derive(Debug, thiserror::Error)]
enum CompareError {
    #[error("reference scan {}: {source}", path.display())]
    Reference { path: PathBuf, source: uvss::Error },
    #[error("new scan {}: {source}", path.display())]
    New { path: PathBuf, source: uvss::Error },
    #[error("{0}")]
    Compare(uvss::Error),
}

type Compared = (uvss::Comparison, Option<image::RgbImage>, image::RgbImage);

fn compare_files(reference: &Path, new: &Path, p: &uvss::Params) -> Result<Compared, CompareError> {
    let t = std::time::Instant::now();
    let new_img = uvss::load(new).map_err(|source| CompareError::New { path: new.to_path_buf(), source })?;
    if !reference.exists() {
        eprintln!("{}: no such reference scan", reference.display());
        let mut c = uvss::Comparison::no_reference();
        c.timings_ms.insert("load", ms(t));
        return Ok((c, None, new_img));
    }
    let ref_img = uvss::load(reference)
        .map_err(|source| CompareError::Reference { path: reference.to_path_buf(), source })?;
    let load = ms(t);
    let mut c = uvss::compare(&ref_img, &new_img, p).map_err(CompareError::Compare)?;
    if let Some(total) = c.timings_ms.remove("total") {
        c.timings_ms.insert("compare", total);
    }
    c.timings_ms.insert("load", load);
    Ok((c, Some(ref_img), new_img))
}

fn ms(t: std::time::Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1e5).round() / 100.0
}

pub fn empty_check(args: EmptyCheckArgs) -> ExitCode {
    let p = empty::Params { onnx: args.onnx, ..empty::Params::default() };
    let v = match empty::load(&args.image).and_then(|img| empty::check(&img, &p)) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("edge-agent empty-check: {e}");
            return ExitCode::from(2);
        }
    };
    let text = if args.json {
        serde_json::to_string(&v).expect("verdict serialises")
    } else {
        let m = v.measures.as_ref().map_or(String::new(), |m| {
            format!(" (occupied {:.3}, structure residual {:.3})", m.occupied, m.residual)
        });
        format!(
            "{}: loaded-ness {:.2}{m}",
            serde_json::to_value(v.verdict)
                .ok()
                .and_then(|j| j.as_str().map(String::from))
                .unwrap_or_default(),
            v.score
        )
    };
    let _ = writeln!(std::io::stdout(), "{text}");
    ExitCode::SUCCESS
}
