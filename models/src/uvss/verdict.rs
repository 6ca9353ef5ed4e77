//! What a comparison concludes, and why when it cannot conclude.
//!
//! An `inconclusive` verdict holds the vehicle for a person, so it must say what went wrong in
//! terms the person can act on: a scan too dark to see anything, a scanner of a resolution too
//! far from the reference's, two passes that would not align. Each case is an
//! [`InconclusiveReason`] (a stable snake_case code that records and `--json` carry, for
//! statistics and for tools) plus a sentence with the numbers behind it (for the reviewer).
//! [`Summary`] is the one serialisable view of a comparison: the CLI's `--json` prints it and
//! its text output is written from the same values, so the two cannot drift apart.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::geometry::Geometry;
use super::plane::Plane;
use super::register::Registration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Anomaly,
    Clean,
    NoReference,
    Inconclusive,
}

impl Verdict {
    /// The snake_case name used on the wire, in `--json` and in the text output.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Anomaly => "anomaly",
            Verdict::Clean => "clean",
            Verdict::NoReference => "no_reference",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// Why a comparison is `inconclusive`: the machine-readable half of the explanation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InconclusiveReason {
    /// The two scans cannot be brought to a common scale (resolution or length ratio beyond
    /// what two scanners or two speeds produce).
    TooDifferentInSize,
    /// A scan is too dark to show the underside (lamp failure, night without lighting).
    TooDark,
    /// A scan is mostly saturated (lamp glare, exposure far too long).
    Overexposed,
    /// A scan is flat: no structure at all (blank frame, lens covered, scanner fault).
    NoStructure,
    /// The scans could not be aligned: another vehicle, or a pass too different to register.
    RegistrationFailed,
    /// Aligned, but the scans differ almost everywhere (severe blur, glare, wrong reference).
    DiffersEverywhere,
    /// The new scan covers too little of the reference (scan cut short, vehicle reversed).
    PartialScan,
}

impl InconclusiveReason {
    pub const ALL: [InconclusiveReason; 7] = [
        InconclusiveReason::TooDifferentInSize,
        InconclusiveReason::TooDark,
        InconclusiveReason::Overexposed,
        InconclusiveReason::NoStructure,
        InconclusiveReason::RegistrationFailed,
        InconclusiveReason::DiffersEverywhere,
        InconclusiveReason::PartialScan,
    ];

    /// The snake_case code (as serialised).
    pub fn code(self) -> &'static str {
        match self {
            InconclusiveReason::TooDifferentInSize => "too_different_in_size",
            InconclusiveReason::TooDark => "too_dark",
            InconclusiveReason::Overexposed => "overexposed",
            InconclusiveReason::NoStructure => "no_structure",
            InconclusiveReason::RegistrationFailed => "registration_failed",
            InconclusiveReason::DiffersEverywhere => "differs_everywhere",
            InconclusiveReason::PartialScan => "partial_scan",
        }
    }
}

/// An anomaly box in pixel coordinates of the new scan, score in 0..1 (0.5 = threshold).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    pub score: f32,
}

/// Result of one comparison. `heat`, `registration` and `geometry` feed the overlay.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub verdict: Verdict,
    /// 0..1; at or above 0.5 the verdict is `Anomaly`.
    pub score: f32,
    pub regions: Vec<Region>,
    pub timings_ms: BTreeMap<&'static str, f64>,
    /// Set exactly when the verdict is `Inconclusive`.
    pub inconclusive: Option<InconclusiveReason>,
    /// The sentence for a person: why inconclusive or no_reference.
    pub reason: Option<String>,
    /// Median block correlation after alignment ("match"): near 1 same underside.
    pub quality: f32,
    pub coverage: f32,
    /// 90th percentile of the patch difference: the pair's own residual level.
    pub residual: f32,
    /// New/reference length ratio along travel once both are at a common scale across the
    /// lane: the speed ratio of the two passes when both scanners sample alike.
    pub scale: f32,
    /// New/reference pixel ratio across the lane (scanner resolution ratio).
    pub resolution_ratio: f32,
    /// Smoothed difference on the work grid, reference frame.
    pub heat: Option<Plane>,
    pub registration: Option<Registration>,
    pub geometry: Option<Geometry>,
}

impl Comparison {
    /// The verdict when the vehicle has no reference scan yet: not an anomaly.
    pub fn no_reference() -> Comparison {
        let mut c = Comparison::blank(Verdict::NoReference);
        c.reason = Some("no reference scan for this vehicle".into());
        c
    }

    /// An inconclusive comparison that stopped before producing any figures.
    pub fn inconclusive(reason: InconclusiveReason, sentence: String) -> Comparison {
        let mut c = Comparison::blank(Verdict::Inconclusive);
        c.inconclusive = Some(reason);
        c.reason = Some(sentence);
        c
    }

    /// A comparison with no figures yet (the stages fill them in).
    pub(crate) fn blank(verdict: Verdict) -> Comparison {
        Comparison {
            verdict,
            score: 0.0,
            regions: Vec::new(),
            timings_ms: BTreeMap::new(),
            inconclusive: None,
            reason: None,
            quality: 0.0,
            coverage: 0.0,
            residual: 0.0,
            scale: 0.0,
            resolution_ratio: 0.0,
            heat: None,
            registration: None,
            geometry: None,
        }
    }

    /// The serialisable figures of this comparison.
    pub fn summary(&self) -> Summary<'_> {
        Summary {
            verdict: self.verdict,
            score: self.score,
            inconclusive_reason: self.inconclusive,
            reason: self.reason.as_deref(),
            regions: &self.regions,
            match_quality: self.registration.is_some().then_some(self.quality),
            coverage: self.heat.is_some().then_some(self.coverage),
            residual: self.heat.is_some().then_some(self.residual),
            length_ratio: self.registration.is_some().then_some(self.scale),
            resolution_ratio: self.geometry.is_some().then_some(self.resolution_ratio),
            timings_ms: &self.timings_ms,
        }
    }
}

/// Everything a comparison reports, in one flat object (`edge-agent uvss compare --json`).
/// A figure is null when the comparison stopped before measuring it (no reference, a scan too
/// dark to register, ...); the text form leaves it out then.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    pub verdict: Verdict,
    pub score: f32,
    /// Code of why the verdict is inconclusive; null otherwise.
    pub inconclusive_reason: Option<InconclusiveReason>,
    /// Sentence for a person (inconclusive, no_reference); null otherwise.
    pub reason: Option<&'a str>,
    pub regions: &'a [Region],
    /// Median block correlation after alignment (text: "match").
    pub match_quality: Option<f32>,
    /// Share of the reference the new scan covers, 0..1 (text: "coverage", in %).
    pub coverage: Option<f32>,
    /// The pair's residual level (90th percentile of the difference; text: "residual").
    pub residual: Option<f32>,
    /// New/reference length along travel at a common scale across (text: "speed ratio").
    pub length_ratio: Option<f32>,
    /// New/reference pixels across the lane (text: "resolution ratio").
    pub resolution_ratio: Option<f32>,
    pub timings_ms: &'a BTreeMap<&'static str, f64>,
}

impl Summary<'_> {
    /// The text form: one line with the verdict and figures, then one line per region.
    pub fn text(&self) -> String {
        let mut s =
            format!("{}: score {:.2}, {} regions", self.verdict.as_str(), self.score, self.regions.len());
        if let Some(r) = self.inconclusive_reason {
            s += &format!(" [{}]", r.code());
        }
        if let Some(r) = self.reason {
            s += &format!(" ({r})");
        }
        let figures: Vec<String> = [
            self.match_quality.map(|v| format!("match {v:.2}")),
            self.coverage.map(|v| format!("coverage {:.0}%", v * 100.0)),
            self.residual.map(|v| format!("residual {v:.2}")),
            self.length_ratio.map(|v| format!("speed ratio {v:.3}")),
            self.resolution_ratio.map(|v| format!("resolution ratio {v:.2}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !figures.is_empty() {
            s += &format!("; {}", figures.join(", "));
        }
        if let Some(t) = self.timings_ms.get("total") {
            s += &format!("; {t:.0} ms");
        }
        for r in self.regions {
            s += &format!("\n  x={} y={} w={} h={} score={:.2}", r.x, r.y, r.w, r.h, r.score);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry_for_test() -> Geometry {
        let g = image::RgbImage::new(800, 200);
        super::super::geometry::plan(&g, &g, &super::super::Params::default()).unwrap()
    }

    #[test]
    fn codes_match_serde_names() {
        for r in InconclusiveReason::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.code());
        }
        for v in [Verdict::Anomaly, Verdict::Clean, Verdict::NoReference, Verdict::Inconclusive] {
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
        }
    }

    #[test]
    fn text_and_json_say_the_same() {
        let mut c = Comparison::inconclusive(InconclusiveReason::TooDark, "the new scan is too dark".into());
        c.resolution_ratio = 1.3;
        c.geometry = Some(geometry_for_test());
        let s = c.summary();
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["verdict"], "inconclusive");
        assert_eq!(j["inconclusive_reason"], "too_dark");
        assert_eq!(j["reason"], "the new scan is too dark");
        // Stopped before registration: no match or coverage, in either form.
        assert!(j["match_quality"].is_null() && j["coverage"].is_null(), "{j}");
        assert_eq!(j["resolution_ratio"], 1.3f32 as f64);
        let t = s.text();
        assert_eq!(t, "inconclusive: score 0.00, 0 regions [too_dark] (the new scan is too dark); resolution ratio 1.30");
        let n = Comparison::no_reference();
        assert!(n.summary().text().starts_with("no_reference: "), "{}", n.summary().text());
    }
}
