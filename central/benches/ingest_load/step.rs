//! One paced step's figures and their table row.

/// What one step measured; rates are per second of wall time, CPU in cores.
pub struct Step {
    pub lanes: usize,
    pub secs: f64,
    pub passages: usize,
    pub offered: f64,
    pub ingested: f64,
    pub mb_per_s: f64,
    pub record_p95: f64,
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
    pub unfinished: usize,
    pub central_cores: f64,
    pub pg_cores: f64,
    pub broker_cores: f64,
    pub generator_cores: f64,
    pub rss_mb: f64,
    pub db_per_1000: f64,
    pub store_per_1000: f64,
    pub load: f64,
    /// Refusals, retries, resends and expiries during the step (from /metrics).
    pub trouble: String,
    /// The probe's API requests per second (load it added to central).
    pub api_per_s: f64,
}

impl Step {
    pub fn header() -> String {
        format!(
            "{:>4} {:>5} {:>5} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>4} {:>7} {:>5} {:>5} {:>5} {:>6} {:>7} {:>7} {:>5} {:>5}  {}",
            "inst", "lanes", "secs", "offer", "ingest", "MB/s", "rec95", "p50", "p95", "max", "left",
            "central", "pg", "mosq", "gen", "RSS_MB", "DB_MB/k", "ST_GB/k", "load", "api/s", "verdict"
        )
    }

    pub fn row(&self, instances: usize) -> String {
        let kept_up = self.p95 < 2.0 && self.unfinished == 0 && self.ingested >= 0.95 * self.offered;
        format!(
            "{instances:>4} {:>5} {:>5.0} {:>6.2} {:>6.2} {:>6.1} {:>6.2} {:>6.2} {:>6.2} {:>6.2} {:>4} {:>7.2} {:>5.2} {:>5.2} {:>5.2} {:>6.0} {:>7.1} {:>7.2} {:>5.1} {:>5.0}  {}",
            self.lanes, self.secs, self.offered, self.ingested, self.mb_per_s, self.record_p95, self.p50,
            self.p95, self.max, self.unfinished, self.central_cores, self.pg_cores, self.broker_cores,
            self.generator_cores, self.rss_mb, self.db_per_1000, self.store_per_1000, self.load, self.api_per_s,
            if kept_up { "keeps up" } else { "falls behind" }
        ) + &if self.trouble.is_empty() { String::new() } else { format!("\n       ^ {}", self.trouble) }
    }
}
