//! Detection and false-alarm rates of the UVSS comparison.
//!
//! Synthetic pairs (no external data):
//!   cargo run -p models --release --example uvss_eval -- synth [PAIRS=200] [CROSS=400] [LEN=2000] [OVERLAY_DIR]
//! Real line-scan pairs (reads ../shared/testdata/uvss/labels.tsv):
//!   cargo run -p models --release --example uvss_eval -- real DIR [OVERLAY_DIR]
//! UVSS_NOISE_TILE=0.47 evaluates with the local noise level on (`Params::noise_tile`).
use std::path::{Path, PathBuf};
use std::time::Instant;

use models::uvss::{self, synth, Params, Verdict};

/// Default parameters, with `UVSS_NOISE_TILE` if set (the optional local noise level).
fn params() -> Params {
    let mut p = Params::default();
    if let Some(t) = std::env::var("UVSS_NOISE_TILE").ok().and_then(|v| v.parse().ok()) {
        p.noise_tile = t;
    }
    p
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    match a.first().map(String::as_str) {
        Some("synth") => {
            let n = a.get(1).and_then(|v| v.parse().ok()).unwrap_or(200);
            let cross = a.get(2).and_then(|v| v.parse().ok()).unwrap_or(400);
            let len = a.get(3).and_then(|v| v.parse().ok()).unwrap_or(2000);
            synthetic(n, cross, len, a.get(4).map(PathBuf::from));
        }
        Some("debug") => {
            let seed: u64 = a.get(1).and_then(|v| v.parse().ok()).unwrap_or(0);
            let pair = synth::pair(1000 + seed, seed % 2 == 0, 400, 2000);
            let c = uvss::compare(&pair.reference, &pair.probe, &Params::default()).unwrap();
            let reg = c.registration.unwrap();
            println!("scale {} shift {}", reg.scale, reg.shift);
            for x in (0..reg.map_x.len()).step_by(50) {
                let mm = pair.reference_mm[x];
                let truth = pair.probe_mm.partition_point(|&v| v < mm);
                let (lx, ly) = reg.locate(x as f32, 200.0);
                println!(
                    "x {x:5} map {:8.1} located {lx:8.1} truth {truth:6} lat {:.1} {ly:.1}",
                    reg.map_x[x], reg.map_y[x]
                );
            }
        }
        Some("real") if a.len() >= 2 => real(Path::new(&a[1]), a.get(2).map(PathBuf::from)),
        _ => {
            eprintln!("usage: uvss_eval synth [PAIRS] [CROSS] [LEN] [OVERLAY_DIR] | real DIR [OVERLAY_DIR]");
            std::process::exit(2);
        }
    }
}

fn overlaps(r: &uvss::Region, b: (u32, u32, u32, u32)) -> bool {
    r.x < b.0 + b.2 && b.0 < r.x + r.w && r.y < b.1 + b.3 && b.1 < r.y + r.h
}

fn synthetic(n: usize, cross: usize, len: usize, dir: Option<PathBuf>) {
    let p = params();
    let (mut hits, mut found_anything, mut positives, mut fas, mut negatives, mut inconclusive) =
        (0, 0, 0, 0, 0, 0);
    let mut times = Vec::new();
    for i in 0..n {
        let with = i % 2 == 0;
        let pair = synth::pair(1000 + i as u64, with, cross, len);
        let t = Instant::now();
        let c = uvss::compare(&pair.reference, &pair.probe, &p).expect("synthetic pair compares");
        times.push(t.elapsed().as_secs_f64() * 1e3);
        if c.verdict == Verdict::Inconclusive {
            inconclusive += 1;
        }
        let flagged = c.verdict == Verdict::Anomaly;
        let ok = match pair.object {
            Some(b) => {
                positives += 1;
                found_anything += flagged as usize;
                let hit = flagged && c.regions.iter().any(|r| overlaps(r, b));
                hits += hit as usize;
                hit
            }
            None => {
                negatives += 1;
                fas += flagged as usize;
                !flagged
            }
        };
        println!(
            "pair {i:3} object={} verdict={:?} score={:.2} regions={} quality={:.2} scale={:.3} cov={:.2} {}",
            pair.object.map_or("-".into(), |b| format!("{b:?}")),
            c.verdict,
            c.score,
            c.regions.len(),
            c.quality,
            c.scale,
            c.coverage,
            if ok { "ok" } else { "MISS/FA" }
        );
        if let (Some(d), false) = (&dir, ok) {
            uvss::overlay::render(&pair.probe, &c, &p, 2000)
                .save(d.join(format!("synth_{i:03}.png")))
                .expect("write overlay");
            pair.reference.save(d.join(format!("synth_{i:03}_ref.png"))).expect("write ref");
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "synthetic {n} pairs ({cross} x ~{len}): detection {hits}/{positives} = {:.1}% (flagged at all {found_anything}), false alarms {fas}/{negatives} = {:.1}%, inconclusive {inconclusive}, median {:.0} ms",
        100.0 * hits as f64 / positives.max(1) as f64,
        100.0 * fas as f64 / negatives.max(1) as f64,
        times[times.len() / 2]
    );
}

fn real(dir: &Path, out: Option<PathBuf>) {
    let labels = std::fs::read_to_string(dir.join("labels.tsv")).expect("labels.tsv");
    let p = params();
    let mut refs = Vec::new();
    let mut probes = Vec::new();
    for line in labels.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 2 || f[1].contains("gallery") {
            continue;
        }
        if f[1].starts_with("probe") {
            let r =
                f[1].split(';').find_map(|k| k.strip_prefix("reference=")).unwrap_or_default().to_string();
            let n = f[1].split(';').find_map(|k| k.strip_prefix("anomalies=")).unwrap_or("0").to_string();
            probes.push((f[0].to_string(), r, n));
        } else {
            refs.push(f[0].to_string());
        }
    }
    let load = |f: &str| uvss::load(&dir.join(f)).expect("readable scan");
    let run = |rf: &str, nf: &str, tag: &str| {
        let (r, n) = (load(rf), load(nf));
        let c = uvss::compare(&r, &n, &p).expect("compare");
        println!(
            "{tag:10} {rf} vs {nf}: {:?} score={:.2} regions={} quality={:.2} scale={:.3} cov={:.2} {:?} total={:.0}ms",
            c.verdict, c.score, c.regions.len(), c.quality, c.scale, c.coverage, c.reason, c.timings_ms.get("total").unwrap_or(&0.0)
        );
        for r in c.regions.iter().take(6) {
            println!("           region x={} y={} w={} h={} score={:.2}", r.x, r.y, r.w, r.h, r.score);
        }
        if let Some(o) = &out {
            let name = format!("{}__{}.png", nf.trim_end_matches(".jpg"), rf.trim_end_matches(".jpg"));
            uvss::overlay::render(&n, &c, &p, 2400).save(o.join(name)).expect("write overlay");
        }
        c.verdict
    };
    let mut flagged = 0;
    for (probe, rf, n) in &probes {
        flagged += (run(rf, probe, &format!("probe({n})")) == Verdict::Anomaly) as usize;
    }
    // Clean pairs: references of the same vehicle on different days, when labels say so.
    let mut fa = 0;
    let mut clean_pairs = 0;
    let bora = ["exp04_reference.jpg", "exp05_reference.jpg", "exp10_reference.jpg"];
    for a in bora.iter() {
        for b in bora.iter() {
            if a != b && refs.iter().any(|r| r == a) && refs.iter().any(|r| r == b) {
                clean_pairs += 1;
                fa += (run(a, b, "ref-ref") == Verdict::Anomaly) as usize;
            }
        }
    }
    println!(
        "real: probes flagged {flagged}/{}; clean reference pairs flagged {fa}/{clean_pairs}",
        probes.len()
    );
}
