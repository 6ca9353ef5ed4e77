//! `edge-agent uvss compare`: the under-vehicle comparison from a terminal, for technicians
//! and for other tools.
//!
//! The text and `--json` say the same things: the verdict (its wire word, `no_reference`),
//! the score, why when inconclusive (a machine-readable `inconclusive_reason` code and the
//! sentence `reason`), how well the scans matched (`match`), how much of the
//! new scan the reference covers (`coverage`), the speed ratio between the two passes, the
//! regions, and the time taken (`timings_ms`: `load`, the comparison's own stages, `compare`,
//! and `total` for all of it, so no part is ever longer than the total). Exit 0 whenever a
//! verdict was reached (including `anomaly`), 2 when a scan is unusable (the message says
//! which of the two) or the overlay cannot be written.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use models::uvss;

#[derive(Subcommand)]
pub enum UvssCmd {
    /// Compare a new scan with the vehicle's reference scan; writes a heat-map overlay.
    #[command(
        after_help = "Example:\n  edge-agent uvss compare reference.png today.png --out overlay.png\n\n\
Prints the verdict (clean, anomaly, inconclusive or no_reference), the score (0.5 and above is an anomaly), \
how well the scans matched, how much the reference covers, the speed ratio of the two passes, the time \
taken and a line per region. Exit 0 with a verdict, 2 when a scan is unusable or the overlay cannot be written."
    )]
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

/// What `--json` prints; the text shows the same fields.
#[derive(serde::Serialize)]
struct UvssReport<'a> {
    verdict: uvss::Verdict,
    score: f32,
    /// Why the verdict is inconclusive, as a code: too_different_in_size, too_dark,
    /// overexposed, no_structure, registration_failed, differs_everywhere, partial_scan.
    inconclusive_reason: Option<&'static str>,
    /// Why the verdict is inconclusive or no_reference, in a sentence.
    reason: Option<&'a str>,
    /// How well the two scans could be registered, 0..1 (null without a reference).
    r#match: Option<f32>,
    /// The share of the new scan the reference covers, 0..1 (null without a reference).
    coverage: Option<f32>,
    /// The new pass's length over the reference's along the lane (null without a reference).
    speed_ratio: Option<f32>,
    regions: &'a [uvss::Region],
    timings_ms: &'a std::collections::BTreeMap<&'static str, f64>,
}

impl<'a> UvssReport<'a> {
    fn of(c: &'a uvss::Comparison) -> Self {
        // Without a reference nothing was measured: null, not a misleading 0.
        let measured = |v: f32| (c.verdict != uvss::Verdict::NoReference).then_some(v);
        UvssReport {
            verdict: c.verdict,
            score: c.score,
            inconclusive_reason: c.inconclusive.map(|r| r.code()),
            reason: c.reason.as_deref(),
            r#match: measured(c.quality),
            coverage: measured(c.coverage),
            speed_ratio: measured(c.scale),
            regions: &c.regions,
            timings_ms: &c.timings_ms,
        }
    }

    fn text(&self) -> String {
        let regions = crate::words::plural(self.regions.len() as u64, "region", "regions");
        let mut s = format!("{}: score {:.2}, {regions}", crate::words::wire_word(&self.verdict), self.score);
        match (self.inconclusive_reason, self.reason) {
            (Some(code), Some(r)) => s += &format!(" ({code}: {r})"),
            (None, Some(r)) => s += &format!(" ({r})"),
            (Some(code), None) => s += &format!(" ({code})"),
            (None, None) => {}
        }
        if let (Some(m), Some(c), Some(v)) = (self.r#match, self.coverage, self.speed_ratio) {
            s += &format!("; match {m:.2}, coverage {:.0}%, speed ratio {v:.3}", c * 100.0);
        }
        if let Some(total) = self.timings_ms.get("total") {
            s += &format!("; {total:.0} ms");
        }
        for r in self.regions {
            s += &format!("\n  x={} y={} w={} h={} score={:.2}", r.x, r.y, r.w, r.h, r.score);
        }
        s
    }
}

pub fn uvss(cmd: UvssCmd) -> ExitCode {
    let UvssCmd::Compare { reference, new, out, overlay_max, json } = cmd;
    let params = uvss::Params::default();
    let (c, ref_img, new_img) = match compare_files(&reference, &new, &params) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("edge-agent uvss compare: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = &out {
        if c.verdict != uvss::Verdict::NoReference {
            if let Err(e) =
                uvss::overlay::render(ref_img.as_ref(), &new_img, &c, &params, overlay_max).save(path)
            {
                eprintln!("edge-agent uvss compare: cannot write the overlay {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    let report = UvssReport::of(&c);
    let text = if json { serde_json::to_string(&report).expect("report serialises") } else { report.text() };
    // A closed pipe (| head) is not an error worth a panic.
    let _ = writeln!(std::io::stdout(), "{text}");
    ExitCode::SUCCESS
}

/// Both scans loaded and compared; an unusable one is named (reference or new scan).
fn compare_files(
    reference: &Path,
    new: &Path,
    p: &uvss::Params,
) -> Result<(uvss::Comparison, Option<image::RgbImage>, image::RgbImage), String> {
    let scan = |what: &str, path: &Path| {
        uvss::load(path).map_err(|e| format!("the {what} {}: {}", path.display(), words_for(&e)))
    };
    let t0 = std::time::Instant::now();
    let new_img = scan("new scan", new)?;
    if !reference.exists() {
        eprintln!("edge-agent uvss compare: no reference scan at {}", reference.display());
        let mut c = uvss::Comparison::no_reference();
        c.timings_ms.insert("load", ms(t0));
        c.timings_ms.insert("total", ms(t0));
        return Ok((c, None, new_img));
    }
    let ref_img = scan("reference scan", reference)?;
    let load = ms(t0);
    let t1 = std::time::Instant::now();
    let mut c = uvss::compare(&ref_img, &new_img, p).map_err(|e| words_for(&e))?;
    // The comparison's own `total` is its part of the whole: `compare`.
    c.timings_ms.remove("total");
    c.timings_ms.insert("compare", ms(t1));
    c.timings_ms.insert("load", load);
    c.timings_ms.insert("total", ms(t0));
    // The reference comes back for the overlay (warped onto the new scan's geometry).
    Ok((c, Some(ref_img), new_img))
}

fn ms(since: std::time::Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e5).round() / 100.0
}

/// The models' message in words (the file is named by the caller already).
fn words_for(e: &uvss::Error) -> String {
    match e {
        uvss::Error::Input(models::InputError::Io { source, .. }) => {
            format!("cannot read it: {}", crate::words::io_words(source))
        }
        other => crate::words::without_os_codes(&other.to_string()).replacen("input is ", "it is ", 1),
    }
}
