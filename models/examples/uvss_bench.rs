//! Time one UVSS comparison of a 2048 x 12000 scan (travel along y, as a line-scan camera
//! 2048 pixels wide delivers it), against an anchor measured in the same run on the same
//! machine: a grey conversion plus a copy of the same image (one plain full-frame pass).
//! Three probes: the same scanner, a scanner with 0.75x the pixels (both scans resampled to a
//! common scale) and one with 1.3x the pixels across and a faster line rate (as a held-out
//! pair has it).
//!   cargo run -p models --release --example uvss_bench [RUNS=5]
use std::time::Instant;

use image::RgbImage;
use models::uvss::{self, synth, variants::Variant, Params};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|v| v.parse().ok()).unwrap_or(5);
    // Rendered at 2048 across, ~12000 lines long, then turned so travel runs along y.
    let pair = synth::pair(7, true, 2048, 11_000);
    // Cut to 12000 lines before any variant: a scanner variant must keep all of its own
    // pixels (cutting it to 2048 x 12000 afterwards dropped a quarter of the lane from the 1.3x
    // probe, which then came out inconclusive).
    let cut = |img: &RgbImage| image::imageops::crop_imm(img, 0, 0, img.width().min(12_000), 2048).to_image();
    let (reference, probe) = (cut(&pair.reference), cut(&pair.probe));
    let rot = |img: &RgbImage| image::imageops::rotate90(img);
    // Variants work with travel along x: alter before turning.
    let other = |v: Variant| rot(&v.apply(&probe));
    let (reference, probe) = (rot(&reference), rot(&probe));
    let probes = [
        ("same scanner", probe),
        ("0.75x scanner", other(Variant::Scanner { across: 0.75, along: 0.75 })),
        ("1.3x across, 1.6x along", other(Variant::Scanner { across: 1.3, along: 1.6 })),
    ];
    let p = Params::default();
    let mut anchor = Vec::new();
    let mut times = vec![Vec::new(); probes.len()];
    let mut last = vec![None; probes.len()];
    for _ in 0..runs {
        let t = Instant::now();
        let g = image::imageops::grayscale(&reference);
        let copy = reference.clone();
        std::hint::black_box((&g, &copy));
        anchor.push(t.elapsed().as_secs_f64() * 1e3);
        for (k, (_, probe)) in probes.iter().enumerate() {
            let t = Instant::now();
            let c = uvss::compare(&reference, probe, &p).expect("compare");
            times[k].push(t.elapsed().as_secs_f64() * 1e3);
            last[k] = Some(c);
        }
    }
    let a = median(anchor);
    println!(
        "reference {}x{}; anchor (grey + copy of it) median {a:.1} ms over {runs} runs",
        reference.width(),
        reference.height()
    );
    for (k, (name, probe)) in probes.iter().enumerate() {
        let c = last[k].take().expect("at least one run");
        let m = median(std::mem::take(&mut times[k]));
        println!(
            "{name}: probe {}x{}, {} score {:.2} regions {}; median {m:.0} ms, ratio {:.1}x; stages (last run, ms) {:?}",
            probe.width(),
            probe.height(),
            c.verdict.as_str(),
            c.score,
            c.regions.len(),
            m / a,
            c.timings_ms
        );
    }
}
