//! `edge-agent uvss compare`: the under-vehicle comparison from a terminal, for technicians
//! and for other tools.
//!
//! With `--json` it prints exactly one object (a contract other tools read):
//! `{"verdict","score","regions":[{"x","y","w","h","score"}],"timings_ms"}`. Exit 0 whenever a
//! verdict was reached (including `anomaly`), 2 when an input is unusable.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use models::uvss;

#[derive(Subcommand)]
pub enum UvssCmd {
    /// Compare a new scan with the vehicle's reference scan; writes a heat-map overlay.
    #[command(after_help = "Example:\n  edge-agent uvss compare reference.png today.png --out overlay.png")]
    Compare {
        /// The reference scan; a path that does not exist gives the verdict `no_reference`.
        reference: PathBuf,
        /// The new scan.
        new: PathBuf,
        /// Overlay PNG to write (the new scan with heat map and boxes).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Longest side of the overlay in pixels.
        #[arg(long, default_value_t = 4096)]
        overlay_max: u32,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(serde::Serialize)]
struct UvssReport<'a> {
    verdict: uvss::Verdict,
    score: f32,
    regions: &'a [uvss::Region],
    timings_ms: &'a std::collections::BTreeMap<&'static str, f64>,
}

pub fn uvss(cmd: UvssCmd) -> ExitCode {
    let UvssCmd::Compare { reference, new, out, overlay_max, json } = cmd;
    let params = uvss::Params::default();
    let result = compare_files(&reference, &new, &params);
    let (c, new_img) = match result {
        Ok(v) => v,
        Err(e) => {
            eprintln!("edge-agent uvss compare: {e}");
            return ExitCode::from(2);
        }
    };
    if let (Some(path), Some(img)) = (&out, &new_img) {
        if c.verdict != uvss::Verdict::NoReference {
            if let Err(e) = uvss::overlay::render(img, &c, &params, overlay_max).save(path) {
                eprintln!("edge-agent uvss compare: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let mut stdout = std::io::stdout();
    let text = if json {
        let report =
            UvssReport { verdict: c.verdict, score: c.score, regions: &c.regions, timings_ms: &c.timings_ms };
        serde_json::to_string(&report).expect("report serialises")
    } else {
        let mut s =
            format!("{:?}: score {:.2}, {} regions", c.verdict, c.score, c.regions.len()).to_lowercase();
        if let Some(r) = &c.reason {
            s += &format!(" ({r})");
        }
        s += &format!(
            "; match {:.2}, coverage {:.0}%, speed ratio {:.3}",
            c.quality,
            c.coverage * 100.0,
            c.scale
        );
        for r in &c.regions {
            s += &format!("\n  x={} y={} w={} h={} score={:.2}", r.x, r.y, r.w, r.h, r.score);
        }
        s
    };
    // A closed pipe (| head) is not an error worth a panic.
    let _ = writeln!(stdout, "{text}");
    ExitCode::SUCCESS
}

fn compare_files(
    reference: &Path,
    new: &Path,
    p: &uvss::Params,
) -> Result<(uvss::Comparison, Option<image::RgbImage>), uvss::Error> {
    let new_img = uvss::load(new)?;
    if !reference.exists() {
        eprintln!("{}: no such reference scan", reference.display());
        return Ok((uvss::Comparison::no_reference(), Some(new_img)));
    }
    let ref_img = uvss::load(reference)?;
    let t = std::time::Instant::now();
    let mut c = uvss::compare(&ref_img, &new_img, p)?;
    c.timings_ms.insert("compare", (t.elapsed().as_secs_f64() * 1e5).round() / 100.0);
    Ok((c, Some(new_img)))
}
