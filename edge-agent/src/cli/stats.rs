//! `edge-agent stats`: clearance statistics from the lane's archived passages, offline —
//! the same report the lane publishes on `…/stats`, in words or as that JSON.
//!
//! Reasons are printed as "why vehicles were not released": a targeted vehicle goes to
//! inspection, not into a hold, and the published field name (`hold_reasons`) says less
//! than it counts.

use std::fmt::Write;
use std::path::PathBuf;

use clap::Args;

use crate::words::{self, format_duration, plural};
use contract::stats::StatsReport;

#[derive(Args)]
#[command(after_help = "Examples:\n  edge-agent stats --config /etc/edge-agent/lane.toml\n  \
edge-agent stats --config /etc/edge-agent/lane.toml --hours 168 --json\n\n\
--json prints the report exactly as the lane publishes it on <prefix>/<site>/<lane>/stats (docs/mqtt.md).")]
pub struct StatsArgs {
    /// The lane's configuration: the archive is in its data directory.
    #[arg(short, long, default_value = super::lane::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// How many hours back from the newest passage to count.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(i64).range(1..=24 * 366))]
    pub hours: i64,
    /// The report as JSON (the published layout) instead of sentences.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: StatsArgs) -> Result<bool, String> {
    let cfg = super::lane::load(&args.config)?;
    let dir = cfg.data_dir.join("records");
    let report = crate::stats::from_archive(&dir, &cfg.site, &cfg.lane, chrono::Duration::hours(args.hours))
        .map_err(|e| super::io_error("read the passage archive", &dir, &e))?;
    if args.json {
        super::print_line(&serde_json::to_string_pretty(&report).expect("reports serialise"));
    } else {
        super::print_text(&render(&report));
    }
    Ok(true)
}

/// The report in plain words.
pub fn render(r: &StatsReport) -> String {
    let mut out = String::new();
    let span = match (r.window_from, r.window_to) {
        (Some(a), Some(b)) => format!("{} .. {}", a.format("%Y-%m-%d %H:%M"), b.format("%Y-%m-%d %H:%M")),
        _ => "none archived".into(),
    };
    let _ =
        writeln!(out, "lane {}/{}: {} ({span})", r.site, r.lane, plural(r.passages, "passage", "passages"));
    let _ = writeln!(out, "  released directly by the lane: {:.1} %", r.direct_release_ratio * 100.0);
    for (o, n) in &r.outcomes {
        let _ = writeln!(out, "  {:<16} {n}", words::en_of("outcome", o));
    }
    if !r.hold_reasons.is_empty() {
        let _ = writeln!(out, "  why vehicles were held or sent to inspection:");
        for (why, n) in &r.hold_reasons {
            let _ = writeln!(out, "    {:<44} {n}", words::reason_en(why));
        }
    }
    let t = &r.time_in_lane_ms;
    let _ = writeln!(out, "  time in lane: mean {}, p95 {}", ms(t.mean as u64), ms(t.p95));
    for (stage, s) in &r.stages_ms {
        let _ = writeln!(
            out,
            "    {:<12} mean {:>8}  p95 {:>8}  ({})",
            words::en_of("stage", stage),
            ms(s.mean as u64),
            ms(s.p95),
            plural(s.count, "time", "times")
        );
    }
    out
}

fn ms(ms: u64) -> String {
    format_duration(std::time::Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn targeted_vehicles_are_not_called_held_and_words_replace_codes() {
        let r = StatsReport {
            schema: "lanectl.stats/1".into(),
            site: "DEMO".into(),
            lane: "G01".into(),
            window_from: None,
            window_to: None,
            passages: 1,
            outcomes: BTreeMap::from([("inspection".to_string(), 1)]),
            direct_release_ratio: 0.0,
            hold_reasons: BTreeMap::from([("targeted".to_string(), 1)]),
            time_in_lane_ms: Default::default(),
            stages_ms: BTreeMap::from([(
                "empty_check".to_string(),
                contract::stats::Summary { count: 1, mean: 1500.0, p95: 1500 },
            )]),
        };
        let text = render(&r);
        assert!(text.starts_with("lane DEMO/G01: 1 passage (none archived)"), "{text}");
        assert!(text.contains("why vehicles were held or sent to inspection:"), "{text}");
        assert!(!text.contains("hold reasons"), "{text}");
        assert!(text.contains("targeted for inspection"), "{text}");
        assert!(text.contains("    empty check  mean     1.5s  p95     1.5s  (1 time)"), "{text}");
        assert!(text.contains("(1 time)"), "{text}");
    }
}
