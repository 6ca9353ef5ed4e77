//! Detection and false-alarm rates of the UVSS comparison, per condition.
//!
//! Synthetic pairs only (no external data):
//!   cargo run -p models --release --example uvss_eval -- synth [PAIRS=200] [CROSS=400] [LEN=2000] [OVERLAY_DIR]
//! Real line-scan pairs, as they are or under one condition (`UVSS_VARIANT=wobble0.12`),
//! pair by pair (reads DIR/labels.tsv):
//!   cargo run -p models --release --example uvss_eval -- real DIR [OVERLAY_DIR]
//! Every condition (variants of the real pairs and of synthetic pairs), one table row each:
//!   cargo run -p models --release --example uvss_eval -- conditions DIR [SYNTH_PAIRS=40] [CONDITION...]
//! A variant alters the new scan of each pair (the probe, or the second pass of a clean pair):
//! see `models::uvss::variants`. Environment overrides of the parameters: see `params`.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use image::RgbImage;
use models::uvss::{self, synth, variants::Variant, Comparison, Params, Verdict};

/// Default parameters, with overrides from the environment to measure alternatives:
/// `UVSS_NOISE_TILE` (the optional local noise level), `UVSS_TONE=0` (no tone matching), `UVSS_TONE_DIFF=0` (tone matching for registration only),
/// `UVSS_TONE_CLIP` (the largest excess of clipped pixels at which the difference is still tone-matched), `UVSS_TONE_BEND=0` (match always),
/// `UVSS_REMATCH=ALONG,ACROSS` (how far candidates are moved as a whole, in windows),
/// `UVSS_FLOOR_GROWTH` (the residual floor on grids narrower than the nominal one).
fn params() -> Params {
    let mut p = Params::default();
    let env = |k: &str| std::env::var(k).ok();
    if let Some(t) = env("UVSS_NOISE_TILE").and_then(|v| v.parse().ok()) {
        p.noise_tile = t;
    }
    if let Some(g) = env("UVSS_FLOOR_GROWTH").and_then(|v| v.parse().ok()) {
        p.floor_growth = g;
    }
    if env("UVSS_TONE").as_deref() == Some("0") {
        p.match_tone = false;
    }
    if env("UVSS_TONE_DIFF").as_deref() == Some("0") {
        p.tone_difference = false;
    }
    if let Some(c) = env("UVSS_TONE_CLIP").and_then(|v| v.parse().ok()) {
        p.tone_clip = c;
    }
    if let Some(b) = env("UVSS_TONE_BEND").and_then(|v| v.parse().ok()) {
        p.tone_bend = b;
    }
    if let Some((a, c)) = env("UVSS_REMATCH").as_deref().and_then(|v| v.split_once(',')) {
        if let (Ok(along), Ok(across)) = (a.parse(), c.parse()) {
            p.rematch = uvss::rematch::Reach { along, across };
        }
    }
    p
}

/// The condition named by `UVSS_VARIANT` (a table name such as `rot+2`), else identity.
fn variant_from_env() -> Variant {
    let v = std::env::var("UVSS_VARIANT")
        .ok()
        .and_then(|name| conditions().into_iter().find(|c| c.0.name() == name));
    v.map_or(Variant::Identity, |c| c.0)
}

/// The conditions and the fold each belongs to: thresholds and heuristics were chosen looking
/// at the "choose" rows (and at every synthetic row); the "judge" rows on real pairs were run
/// only to report them.
fn conditions() -> Vec<(Variant, &'static str)> {
    use Variant::*;
    let choose = [
        Identity,
        Length(0.9),
        Length(1.1),
        Lateral(-0.05),
        Lateral(0.05),
        Gain(0.7),
        Gain(1.3),
        Gamma(0.8),
        Gamma(1.25),
    ];
    let judge = [
        Length(0.75),
        Length(1.3),
        SpeedRamp { from: 0.85, to: 1.2 },
        SpeedRamp { from: 1.2, to: 0.85 },
        SpeedWobble(0.12),
        Lateral(0.1),
        Rotate(-2.0),
        Rotate(-1.0),
        Rotate(1.0),
        Rotate(2.0),
        Scanner { across: 0.5, along: 0.5 },
        Scanner { across: 0.75, along: 0.75 },
        Scanner { across: 1.5, along: 1.5 },
        Scanner { across: 2.0, along: 2.0 },
        Scanner { across: 1.3, along: 5.0 },
        Scanner { across: 1.3, along: 0.95 * 5.0 },
        Gain(0.5),
        Gain(1.6),
        Gamma(0.6),
        Gamma(1.6),
        // Added in round 5, after the clipping rule was chosen: conditions it was not seen on.
        Gain(1.45),
        Gamma(0.5),
        Jpeg(30),
        Jpeg(60),
        // Added in round 6: several differences at once, as a real pass has them; nothing was
        // chosen on these.
        Both(&[Scanner { across: 1.3, along: 5.0 }, Gamma(0.8)]),
        Both(&[Scanner { across: 0.75, along: 0.75 }, Gain(1.3)]),
        Both(&[Length(0.95), Gamma(1.25)]),
        Both(&[SpeedRamp { from: 0.9, to: 1.1 }, Lateral(0.05), Rotate(1.0)]),
        Both(&[Length(1.1), Gain(0.7), Jpeg(60)]),
    ];
    choose.into_iter().map(|v| (v, "choose")).chain(judge.into_iter().map(|v| (v, "judge"))).collect()
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: usize| a.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
    match a.first().map(String::as_str) {
        Some("synth") => {
            let (n, cross, len) = (num(1, 200), num(2, 400), num(3, 2000));
            // A variant by its table name, e.g. UVSS_VARIANT=rot+2.
            let mut r = synthetic(n, cross, len, variant_from_env(), a.get(4).map(PathBuf::from), true);
            println!("synthetic {n} pairs ({cross} x ~{len}): {}", r.describe());
        }
        Some("real") if a.len() >= 2 => {
            let set = RealSet::load(Path::new(&a[1]));
            let mut r = set.run(variant_from_env(), a.get(2).map(PathBuf::from).as_deref(), true);
            println!("real: {}", r.describe());
        }
        Some("conditions") if a.len() >= 2 => {
            let set = RealSet::load(Path::new(&a[1]));
            let n = num(2, 40);
            let only: Vec<&String> = a.iter().skip(3).collect();
            println!("| condition | fold | real probes flagged | real clean pairs flagged | real inconclusive | synthetic detection | synthetic false alarms | synthetic inconclusive |");
            println!("|---|---|---|---|---|---|---|---|");
            for (v, fold) in conditions() {
                if !only.is_empty() && !only.iter().any(|o| **o == v.name()) {
                    continue;
                }
                let r = set.run(v, None, false);
                let s = synthetic(n, 400, 2000, v, None, false);
                println!(
                    "| {} | {fold} | {}/{} | {}/{} | {} | {}/{} | {}/{} | {} |",
                    v.name(),
                    r.flagged,
                    r.positives,
                    r.false_alarms,
                    r.negatives,
                    r.inconclusive_text(),
                    s.flagged,
                    s.positives,
                    s.false_alarms,
                    s.negatives,
                    s.inconclusive_text()
                );
            }
        }
        _ => {
            eprintln!("usage: uvss_eval synth [PAIRS] [CROSS] [LEN] [OVERLAY_DIR] | real DIR [OVERLAY_DIR] | conditions DIR [SYNTH_PAIRS] [CONDITION...]");
            std::process::exit(2);
        }
    }
}

/// Counts of one condition on one set of pairs.
#[derive(Default)]
struct Tally {
    flagged: usize,
    positives: usize,
    false_alarms: usize,
    negatives: usize,
    /// Inconclusive verdicts by reason code (a missing reason would show as "NONE").
    inconclusive: BTreeMap<String, usize>,
    times_ms: Vec<f64>,
}

impl Tally {
    fn add(&mut self, c: &Comparison, positive: bool, hit: bool) {
        if c.verdict == Verdict::Inconclusive {
            let code = c.inconclusive.map_or("NONE".to_string(), |r| r.code().to_string());
            *self.inconclusive.entry(code).or_default() += 1;
        }
        if positive {
            self.positives += 1;
            self.flagged += hit as usize;
        } else {
            self.negatives += 1;
            self.false_alarms += (c.verdict == Verdict::Anomaly) as usize;
        }
        self.times_ms.push(c.timings_ms.get("total").copied().unwrap_or(0.0));
    }

    fn inconclusive_text(&self) -> String {
        if self.inconclusive.is_empty() {
            return "0".into();
        }
        self.inconclusive.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ")
    }

    fn describe(&mut self) -> String {
        self.times_ms.sort_by(|a, b| a.total_cmp(b));
        format!(
            "detection {}/{} = {:.1}%, false alarms {}/{} = {:.1}%, inconclusive {}, median {:.0} ms",
            self.flagged,
            self.positives,
            100.0 * self.flagged as f64 / self.positives.max(1) as f64,
            self.false_alarms,
            self.negatives,
            100.0 * self.false_alarms as f64 / self.negatives.max(1) as f64,
            self.inconclusive_text(),
            self.times_ms.get(self.times_ms.len() / 2).unwrap_or(&0.0)
        )
    }
}

fn overlaps(r: &uvss::Region, b: (u32, u32, u32, u32)) -> bool {
    r.x < b.0 + b.2 && b.0 < r.x + r.w && r.y < b.1 + b.3 && b.1 < r.y + r.h
}

/// First seed of the synthetic pairs: 1000, or `UVSS_SEED` (other vehicles, to choose on pairs
/// the table's rows do not contain).
fn seed_base() -> u64 {
    std::env::var("UVSS_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
}

/// Synthetic pairs, every other one with a planted object; detection needs a region on it.
fn synthetic(n: usize, cross: usize, len: usize, v: Variant, dir: Option<PathBuf>, verbose: bool) -> Tally {
    let p = params();
    let mut t = Tally::default();
    for i in 0..n {
        let pair = synth::pair(seed_base() + i as u64, i % 2 == 0, cross, len);
        let probe = v.apply(&pair.probe);
        let object = pair.object.map(|b| v.forward_box(b, pair.probe.width(), pair.probe.height()));
        let start = Instant::now();
        let c = uvss::compare(&pair.reference, &probe, &p).expect("synthetic pair compares");
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let hit =
            c.verdict == Verdict::Anomaly && object.is_some_and(|b| c.regions.iter().any(|r| overlaps(r, b)));
        t.add(&c, object.is_some(), hit);
        let ok = if object.is_some() { hit } else { c.verdict != Verdict::Anomaly };
        if verbose {
            println!(
                "pair {i:3} object={} {} {ms:.0} ms {}",
                object.map_or("-".into(), |b| format!("{b:?}")),
                line(&c),
                if ok { "ok" } else { "MISS/FA" }
            );
        }
        if let (Some(d), false) = (&dir, ok) {
            uvss::overlay::render(Some(&pair.reference), &probe, &c, &p, 2000)
                .save(d.join(format!("synth_{i:03}.png")))
                .expect("write overlay");
        }
    }
    t
}

fn line(c: &Comparison) -> String {
    format!(
        "{} score={:.2} regions={} match={:.2} length={:.3} res={:.2} across={:.3} cov={:.2} resid={:.2} {}{}",
        c.verdict.as_str(),
        c.score,
        c.regions.len(),
        c.quality,
        c.scale,
        c.resolution_ratio,
        c.registration.as_ref().map_or(0.0, |r| r.cross_scale),
        c.coverage,
        c.residual,
        c.inconclusive.map_or(String::new(), |r| format!("[{}] ", r.code())),
        c.reason.as_deref().unwrap_or("")
    )
}

/// The developer pairs: probes with planted objects against their references, and clean pairs
/// (references of the same car on different days).
struct RealSet {
    images: BTreeMap<String, RgbImage>,
    probes: Vec<(String, String)>,
    clean: Vec<(String, String)>,
}

impl RealSet {
    fn load(dir: &Path) -> RealSet {
        let labels = std::fs::read_to_string(dir.join("labels.tsv")).expect("labels.tsv");
        let (mut probes, mut refs) = (Vec::new(), Vec::new());
        for row in labels.lines().skip(1) {
            let f: Vec<&str> = row.split('\t').collect();
            if f.len() < 2 || f[1].contains("gallery") {
                continue;
            }
            if f[1].starts_with("probe") {
                let r = f[1].split(';').find_map(|k| k.strip_prefix("reference=")).unwrap_or_default();
                probes.push((r.to_string(), f[0].to_string()));
            } else {
                refs.push(f[0].to_string());
            }
        }
        // The same VW Bora passed on three days: every ordered pair of its references is clean.
        let bora = ["exp04_reference.jpg", "exp05_reference.jpg", "exp10_reference.jpg"];
        let mut clean = Vec::new();
        for a in bora {
            for b in bora {
                if a != b && refs.iter().any(|r| r == a) && refs.iter().any(|r| r == b) {
                    clean.push((a.to_string(), b.to_string()));
                }
            }
        }
        let mut images = BTreeMap::new();
        for (a, b) in probes.iter().chain(&clean) {
            for f in [a, b] {
                images.entry(f.clone()).or_insert_with(|| uvss::load(&dir.join(f)).expect("readable scan"));
            }
        }
        RealSet { images, probes, clean }
    }

    fn run(&self, v: Variant, out: Option<&Path>, verbose: bool) -> Tally {
        let p = params();
        let mut t = Tally::default();
        let pairs = self.probes.iter().map(|x| (x, true)).chain(self.clean.iter().map(|x| (x, false)));
        for ((rf, nf), positive) in pairs {
            let (r, n) = (&self.images[rf], v.apply(&self.images[nf]));
            let c = uvss::compare(r, &n, &p).expect("compare");
            t.add(&c, positive, c.verdict == Verdict::Anomaly);
            if verbose {
                println!(
                    "{:8} {rf} vs {nf}: {} total={:.0}ms",
                    if positive { "probe" } else { "clean" },
                    line(&c),
                    c.timings_ms.get("total").unwrap_or(&0.0)
                );
                for r in c.regions.iter().take(6) {
                    println!(
                        "           region x={} y={} w={} h={} score={:.2}",
                        r.x, r.y, r.w, r.h, r.score
                    );
                }
            }
            if let Some(o) = out {
                let name = format!("{}__{}.png", nf.trim_end_matches(".jpg"), rf.trim_end_matches(".jpg"));
                uvss::overlay::render(Some(r), &n, &c, &p, 2400).save(o.join(name)).expect("write overlay");
            }
        }
        t
    }
}
