//! Clearance statistics over a rolling window of completed passages: counts,
//! the direct-release ratio (released by the machine, no person involved),
//! hold reasons, time in lane and per-stage durations (mean, p95). The lane
//! publishes them on `<base>/stats`; `edge-agent stats` computes the same from
//! the record archive, offline (its wording is in `cli::stats`).

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use contract::stats::{StatsReport, Summary, STATS_SCHEMA};

use contract::decision::Outcome;
use contract::passage::{ExitKind, PassageRecord, Stage};

/// What one passage contributes, kept small so a day of them is cheap.
#[derive(Debug, Clone)]
struct Sample {
    at: DateTime<Utc>,
    outcome: String,
    direct: bool,
    reasons: Vec<String>,
    total_ms: Option<u64>,
    stages: Vec<(Stage, u64)>,
}

pub struct Stats {
    window: Duration,
    samples: VecDeque<Sample>,
}

impl Stats {
    pub fn new(window: Duration) -> Self {
        Stats { window, samples: VecDeque::new() }
    }

    pub fn add(&mut self, r: &PassageRecord) {
        let at = r.completed_at.unwrap_or(r.arrived_at);
        let outcome = match (r.exit, r.final_outcome()) {
            (Some(ExitKind::Tailgated), _) => "tailgated".to_string(),
            (_, Some(o)) => word(o).to_string(),
            (_, None) => "none".to_string(),
        };
        let direct = r.review.is_none() && r.decision.as_ref().is_some_and(|d| d.outcome == Outcome::Release);
        let reasons = match r.final_outcome() {
            Some(Outcome::Release) | None => vec![],
            Some(_) => r
                .decision
                .iter()
                .flat_map(|d| d.reasons.iter())
                .map(|w| w.split(':').next().unwrap_or(w).to_string())
                .collect(),
        };
        let stages = r.stages.iter().filter_map(|s| Some((s.stage, s.duration_ms?))).collect();
        self.samples.push_back(Sample { at, outcome, direct, reasons, total_ms: r.total_ms, stages });
        while self.samples.front().is_some_and(|s| at - s.at > self.window) {
            self.samples.pop_front();
        }
    }

    pub fn report(&self, site: &str, lane: &str) -> StatsReport {
        let mut outcomes = BTreeMap::new();
        let mut hold_reasons = BTreeMap::new();
        let mut stage_samples: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for s in &self.samples {
            *outcomes.entry(s.outcome.clone()).or_default() += 1;
            for r in &s.reasons {
                *hold_reasons.entry(r.clone()).or_default() += 1;
            }
            for (stage, ms) in &s.stages {
                let name = serde_json::to_value(stage)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                stage_samples.entry(name).or_default().push(*ms);
            }
        }
        let n = self.samples.len() as u64;
        let direct = self.samples.iter().filter(|s| s.direct).count() as f64;
        StatsReport {
            schema: STATS_SCHEMA.into(),
            site: site.into(),
            lane: lane.into(),
            window_from: self.samples.front().map(|s| s.at),
            window_to: self.samples.back().map(|s| s.at),
            passages: n,
            outcomes,
            direct_release_ratio: if n == 0 { 0.0 } else { direct / n as f64 },
            hold_reasons,
            time_in_lane_ms: Summary::of(self.samples.iter().filter_map(|s| s.total_ms).collect()),
            stages_ms: stage_samples.into_iter().map(|(k, v)| (k, Summary::of(v))).collect(),
        }
    }
}

fn word(o: Outcome) -> &'static str {
    match o {
        Outcome::Release => "release",
        Outcome::Hold => "hold",
        Outcome::Inspection => "inspection",
    }
}

/// `edge-agent stats`: the same report from the archived records of a lane.
pub fn from_archive(
    dir: &std::path::Path,
    site: &str,
    lane: &str,
    window: Duration,
) -> std::io::Result<StatsReport> {
    let mut records: Vec<PassageRecord> = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        if entry.path().extension().is_some_and(|x| x == "json") {
            // A file that does not parse (foreign, or from another version) is skipped.
            if let Ok(r) = std::fs::read(entry.path())
                .map_err(|_| ())
                .and_then(|b| serde_json::from_slice(&b).map_err(|_| ()))
            {
                records.push(r);
            }
        }
    }
    records.sort_by_key(|r| r.completed_at.unwrap_or(r.arrived_at));
    let mut stats = Stats::new(window);
    let newest = records.last().and_then(|r| r.completed_at);
    for r in
        records.iter().filter(|r| newest.is_none_or(|n| n - r.completed_at.unwrap_or(r.arrived_at) <= window))
    {
        stats.add(r);
    }
    Ok(stats.report(site, lane))
}
