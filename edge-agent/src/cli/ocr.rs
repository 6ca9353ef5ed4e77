//! `edge-agent ocr IMAGE... [--json]` and `edge-agent ocr-eval DIR...`: recognition from the
//! terminal, for field technicians testing a camera and for measuring accuracy on a labelled
//! folder. The work is in the `models` crate; this is argument handling and exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum OcrCmd {
    /// Read container codes and plates in images (one JSON object per image and line with --json).
    Ocr {
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// One JSON object per image and line: file, containers, plates, lines, timings_ms.
        #[arg(long)]
        json: bool,
        /// Also print every recognised text line (plain-text output).
        #[arg(long)]
        lines: bool,
        /// Print resident memory to stderr after the last image (`rss_kb_busy=N`) and once the
        /// worker has released its buffers, models still loaded (`rss_kb=N`).
        #[arg(long)]
        rss: bool,
    },
    /// Accuracy and speed over labelled folders (`labels.tsv`: file, label, kind scene|crop).
    OcrEval {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// List every image whose read did not match its label.
        #[arg(long)]
        misses: bool,
        /// Evaluate deterministic perturbed copies instead (scale 0.6–1.4, rotation ±5°,
        /// brightness/contrast, JPEG quality 40–90), drawn from this seed and each file's name.
        #[arg(long, value_name = "SEED")]
        perturb: Option<u64>,
    },
}

/// Exit codes: 0 all read, 1 some image unusable, 2 models unavailable or labels unreadable.
pub fn run(cmd: OcrCmd) -> ExitCode {
    match cmd {
        OcrCmd::Ocr { images, json, lines, rss } => match read_files(&images, rss) {
            Ok(results) => {
                for r in &results {
                    if json {
                        match serde_json::to_string(r) {
                            Ok(s) => println!("{s}"),
                            Err(e) => eprintln!("error: {}: {e}", r.file),
                        }
                    } else {
                        print!("{}", r.to_text());
                        if lines {
                            for l in &r.lines {
                                println!("    {:?} {:.2} {} {:?}", l.text, l.confidence, l.source, l.bbox);
                            }
                        }
                    }
                }
                if results.iter().all(|r| r.error.is_none()) {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        OcrCmd::OcrEval { dirs, misses, perturb } => match models::eval::run(&dirs, misses, perturb) {
            Ok(report) => {
                print!("{report}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
    }
}

/// Recognise the files; with `rss`, report the resident memory afterwards with the models still
/// loaded and the worker idle (what the lane PC holds between vehicles).
fn read_files(
    images: &[PathBuf],
    rss: bool,
) -> Result<Vec<models::read::image::ImageResult>, models::ModelError> {
    let engine = models::engine::Engine::start(models::engine::EngineOptions::discover()?)?;
    let results = models::cli::recognize_with(&engine, images)?;
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
