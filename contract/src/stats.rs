//! Clearance statistics as the lane publishes them (retained, at most once a
//! minute): the same numbers central computes port-wide, so the two can be
//! compared. The lane's rolling window that fills them in lives in
//! `edge-agent`; only the report and its arithmetic are shared here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const STATS_SCHEMA: &str = "lanectl.stats/1";

/// Published on `<prefix>/<site>/<lane>/stats` (retained).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatsReport {
    pub schema: String,
    pub site: String,
    pub lane: String,
    pub window_from: Option<DateTime<Utc>>,
    pub window_to: Option<DateTime<Utc>>,
    pub passages: u64,
    /// Final outcome (after any review) -> count; tailgaters count as `tailgated`.
    pub outcomes: BTreeMap<String, u64>,
    /// Released by the machine's own decision, as a share of all passages.
    pub direct_release_ratio: f64,
    /// Reason word (before any `:`) -> how many held or inspected vehicles had it.
    pub hold_reasons: BTreeMap<String, u64>,
    pub time_in_lane_ms: Summary,
    pub stages_ms: BTreeMap<String, Summary>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub count: u64,
    pub mean: f64,
    pub p95: u64,
}

impl Summary {
    /// Count, mean and 95th percentile (nearest rank) of some durations.
    pub fn of(mut v: Vec<u64>) -> Self {
        if v.is_empty() {
            return Summary::default();
        }
        v.sort_unstable();
        let p95 = v[((v.len() as f64 * 0.95).ceil() as usize).clamp(1, v.len()) - 1];
        Summary { count: v.len() as u64, mean: v.iter().sum::<u64>() as f64 / v.len() as f64, p95 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_mean_and_p95() {
        let s = Summary::of((1..=100).collect());
        assert_eq!((s.count, s.p95), (100, 95));
        assert!((s.mean - 50.5).abs() < 1e-9);
        assert_eq!(Summary::of(vec![]), Summary::default());
        assert_eq!(Summary::of(vec![7]).p95, 7);
    }
}
