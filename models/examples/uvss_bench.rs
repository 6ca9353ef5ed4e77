//! Time one UVSS comparison of a 2048 x 12000 scan (travel along y, as a line-scan camera
//! 2048 pixels wide delivers it), against an anchor measured in the same run on the same
//! machine: a grey conversion plus a copy of the same image (one plain full-frame pass).
//!   cargo run -p models --release --example uvss_bench [RUNS=5]
use std::time::Instant;

use models::uvss::{self, synth, Params};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|v| v.parse().ok()).unwrap_or(5);
    // Rendered at 2048 across, ~12000 lines long, then turned so travel runs along y.
    let pair = synth::pair(7, true, 2048, 11_000);
    let rot = |img: &image::RgbImage| {
        let mut r = image::imageops::rotate90(img);
        r = image::imageops::crop_imm(&r, 0, 0, 2048, r.height().min(12_000)).to_image();
        r
    };
    let (reference, probe) = (rot(&pair.reference), rot(&pair.probe));
    println!(
        "reference {}x{}, probe {}x{}",
        reference.width(),
        reference.height(),
        probe.width(),
        probe.height()
    );
    let p = Params::default();
    let mut anchor = Vec::new();
    let mut cmp = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let g = image::imageops::grayscale(&probe);
        let copy = probe.clone();
        std::hint::black_box((&g, &copy));
        anchor.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let c = uvss::compare(&reference, &probe, &p).expect("compare");
        cmp.push(t.elapsed().as_secs_f64() * 1e3);
        last = Some(c);
    }
    let c = last.expect("at least one run");
    let (a, m) = (median(anchor), median(cmp));
    println!("stages (last run, ms): {:?}", c.timings_ms);
    println!(
        "verdict {:?} score {:.2} regions {} (planted object at {:?} before rotation)",
        c.verdict,
        c.score,
        c.regions.len(),
        pair.object
    );
    println!(
        "compare 2048x12000: median {m:.0} ms over {runs} runs; anchor (grey + copy) {a:.1} ms; ratio {:.1}x",
        m / a
    );
}
