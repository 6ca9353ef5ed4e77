//! `edge-agent empty-check IMAGE`: the image check beside the empty-box detector, from a
//! terminal — is the container in this interior image (X-ray or a photo through the doors)
//! empty?
//!
//! The classical method of `models::empty` decides (the lane runs the same); there is no
//! model option because no empty-box model ships, and a switch that can only fail is a
//! promise the tool does not keep. Text and `--json` carry the same figures:
//! `{"file","verdict","score","occupied","residual"}` (`verdict`: `empty`, `not_empty` or
//! `inconclusive`; `score`: loaded-ness, 0 clearly empty to 1 clearly loaded). Exit 0 when a
//! verdict was reached (whichever), 2 when the image is unusable.

use std::path::PathBuf;

use clap::Args;
use models::empty;
use serde::Serialize;

#[derive(Args)]
#[command(after_help = "Example:\n  edge-agent empty-check interior.jpg --json")]
pub struct EmptyCheckArgs {
    /// The interior image: an X-ray scan or a photo through the open doors (JPEG or PNG).
    pub image: PathBuf,
    /// One JSON object instead of a sentence: file, verdict, score, occupied, residual.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report {
    file: String,
    verdict: empty::Verdict,
    score: f32,
    occupied: Option<f32>,
    residual: Option<f32>,
}

pub fn run(args: EmptyCheckArgs) -> Result<bool, String> {
    let v = empty::load(&args.image)
        .and_then(|img| empty::check(&img, &empty::Params::default()))
        .map_err(|e| e.to_string())?;
    let report = Report {
        file: args.image.display().to_string(),
        verdict: v.verdict,
        score: v.score,
        occupied: v.measures.as_ref().map(|m| m.occupied),
        residual: v.measures.as_ref().map(|m| m.residual),
    };
    if args.json {
        super::print_line(&serde_json::to_string(&report).expect("reports serialise"));
    } else {
        let verdict = match v.verdict {
            empty::Verdict::Empty => "empty",
            empty::Verdict::NotEmpty => "not empty",
            empty::Verdict::Inconclusive => "inconclusive",
        };
        let measures = match (report.occupied, report.residual) {
            (Some(o), Some(r)) => format!("; occupied {o:.3}, structure residual {r:.3}"),
            _ => String::new(),
        };
        super::print_line(&format!("{}: {verdict} (loaded-ness {:.2}{measures})", report.file, v.score));
    }
    Ok(true)
}
