//! The `[desk]` section: the reviewers' desk's timers, sessions, lockout,
//! the sites' time zones and the reasons a reviewer picks from.
//!
//! Kept apart from the rest of the configuration (raw form, checks and the
//! validated type in one file) so the desk's settings change without touching
//! ingest's. Every key has a default a port can start with.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::validate::{duration, identifier};
use tomlcheck::duration::format_duration;
use tomlcheck::Reporter;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDesk {
    pub amber: Option<Spanned<String>>,
    pub red: Option<Spanned<String>>,
    pub lease: Option<Spanned<String>>,
    pub session_idle: Option<Spanned<String>>,
    pub session_max: Option<Spanned<String>>,
    pub lockout_after: Option<Spanned<u32>>,
    pub lockout_for: Option<Spanned<String>>,
    pub secure_cookies: Option<bool>,
    pub timezone: Option<Spanned<String>>,
    #[serde(default)]
    pub timezones: BTreeMap<String, Spanned<String>>,
    pub reasons: Option<Spanned<Vec<RawReason>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReason {
    pub code: Spanned<String>,
    pub outcomes: Spanned<Vec<String>>,
    pub en: String,
    pub zh: String,
}

#[derive(Debug, Clone)]
pub struct DeskConfig {
    /// A waiting vehicle's timer turns amber at this age ...
    pub amber: Duration,
    /// ... and red at this one, when the item escalates to supervisors and an alarm is raised.
    pub red: Duration,
    /// A claim lapses this long after the reviewer's page last renewed it.
    pub lease: Duration,
    pub session_idle: Duration,
    pub session_max: Duration,
    pub lockout_after: u32,
    pub lockout_for: Duration,
    /// Set `Secure` on the session cookie (the desk is served over TLS, e.g. behind a proxy).
    pub secure_cookies: bool,
    /// IANA zone per site; sites not listed use `default_timezone`.
    pub timezones: BTreeMap<String, String>,
    pub default_timezone: String,
    pub reasons: Vec<Reason>,
}

/// A reason a reviewer gives for a decision, in both page languages.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Reason {
    pub code: String,
    pub outcomes: Vec<String>,
    pub en: String,
    pub zh: String,
}

impl DeskConfig {
    pub fn timezone(&self, site: &str) -> &str {
        self.timezones.get(site).map_or(self.default_timezone.as_str(), |z| z.as_str())
    }

    pub fn reason(&self, code: &str, outcome: &str) -> Option<&Reason> {
        self.reasons.iter().find(|r| r.code == code && r.outcomes.iter().any(|o| o == outcome))
    }
}

const OUTCOMES: [&str; 3] = ["release", "hold", "inspection"];

pub(super) fn validate(raw: RawDesk, sites: &[String], r: &mut Reporter) -> DeskConfig {
    let amber = duration(r, raw.amber.as_ref(), "1m");
    let red = duration(r, raw.red.as_ref(), "2m");
    if red <= amber {
        let span = raw.red.as_ref().or(raw.amber.as_ref()).map_or(0..0, |v| v.span());
        r.error(
            span,
            format!("red ({}) must come after amber ({})", format_duration(red), format_duration(amber)),
            "a waiting vehicle turns amber first, then red: e.g. amber = \"1m\", red = \"2m\"",
        );
    }
    let lease = duration(r, raw.lease.as_ref(), "90s");
    if lease < Duration::from_secs(15) || lease > Duration::from_secs(600) {
        let span = raw.lease.as_ref().map_or(0..0, |v| v.span());
        r.error(
            span,
            format!("a claim lease of {} is out of range", format_duration(lease)),
            "use 15s to 10m: the reviewer's page renews it every third of it",
        );
    }
    let lockout_after = match &raw.lockout_after {
        Some(v) if *v.get_ref() == 0 => {
            r.error(v.span(), "lockout_after = 0 locks every account", "use 3 to 20 (default 5)");
            5
        }
        Some(v) => *v.get_ref(),
        None => 5,
    };
    let default_timezone =
        raw.timezone.as_ref().map(|z| zone(r, z)).unwrap_or_else(|| "Asia/Shanghai".into());
    let mut timezones = BTreeMap::new();
    for (site, z) in &raw.timezones {
        if !sites.contains(site) {
            r.error(z.span(), format!("{site:?} is not one of the sites"), "name a site listed in `sites`");
        }
        timezones.insert(site.clone(), zone(r, z));
    }
    let reasons = match raw.reasons {
        Some(list) => reasons(list, r),
        None => default_reasons(),
    };
    DeskConfig {
        amber,
        red,
        lease,
        session_idle: duration(r, raw.session_idle.as_ref(), "30m"),
        session_max: duration(r, raw.session_max.as_ref(), "12h"),
        lockout_after,
        lockout_for: duration(r, raw.lockout_for.as_ref(), "15m"),
        secure_cookies: raw.secure_cookies.unwrap_or(false),
        timezones,
        default_timezone,
        reasons,
    }
}

/// IANA names (`Asia/Shanghai`, `UTC`); the database checks them for real at start.
fn zone(r: &mut Reporter, z: &Spanned<String>) -> String {
    let s = z.get_ref();
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c))
        && !s.starts_with('/');
    if !ok {
        r.error(
            z.span(),
            format!("{s:?} is not a time zone name"),
            "use an IANA name, e.g. \"Asia/Shanghai\"",
        );
    }
    s.clone()
}

fn reasons(list: Spanned<Vec<RawReason>>, r: &mut Reporter) -> Vec<Reason> {
    let span = list.span();
    let mut out: Vec<Reason> = Vec::new();
    for raw in list.into_inner() {
        let code = identifier(r, &raw.code, "reason code").unwrap_or_default();
        if out.iter().any(|x| x.code == code) {
            r.error(
                raw.code.span(),
                format!("reason {code:?} is listed twice"),
                "give each reason its own code",
            );
        }
        let outcomes = raw.outcomes.get_ref().clone();
        if outcomes.is_empty() || outcomes.iter().any(|o| !OUTCOMES.contains(&o.as_str())) {
            r.error(
                raw.outcomes.span(),
                "outcomes must name release, hold or inspection",
                "e.g. outcomes = [\"hold\", \"inspection\"]",
            );
        }
        if raw.en.trim().is_empty() || raw.zh.trim().is_empty() {
            r.error(raw.code.span(), format!("reason {code:?} needs both texts"), "give `en` and `zh`");
        }
        out.push(Reason { code, outcomes, en: raw.en, zh: raw.zh });
    }
    for outcome in OUTCOMES {
        if !out.iter().any(|x| x.outcomes.iter().any(|o| o == outcome)) {
            r.error(
                span.clone(),
                format!("no reason for {outcome}"),
                "list at least one reason for each of release, hold and inspection",
            );
        }
    }
    out
}

fn default_reasons() -> Vec<Reason> {
    let r = |code: &str, outcomes: &[&str], en: &str, zh: &str| Reason {
        code: code.into(),
        outcomes: outcomes.iter().map(|o| o.to_string()).collect(),
        en: en.into(),
        zh: zh.into(),
    };
    vec![
        r("images_clear", &["release"], "Images checked, nothing suspect", "图像已核查，未见异常"),
        r(
            "read_corrected",
            &["release"],
            "Read corrected; matches the declaration",
            "识别已更正，与申报一致",
        ),
        r(
            "verified_otherwise",
            &["release"],
            "Device fault; verified by other means",
            "设备故障，已另行核实",
        ),
        r("await_documents", &["hold"], "Waiting for documents", "等待单证"),
        r("refer_chief", &["hold"], "Referred to the shift chief", "已上报值班科长"),
        r("recapture", &["hold"], "Images unclear; capture again", "图像不清，需重新采集"),
        r("mismatch", &["inspection", "hold"], "Declared and read do not match", "申报与识别不符"),
        r("seal_problem", &["inspection"], "Seal opened, tampered or missing", "关锁异常"),
        r("uvss_suspect", &["inspection"], "Suspect spot under the vehicle", "车底可疑"),
        r("not_empty", &["inspection"], "Declared empty, looks loaded", "申报空箱，疑似有货"),
        r("targeted", &["inspection"], "Targeted for inspection", "布控查验"),
    ]
}
