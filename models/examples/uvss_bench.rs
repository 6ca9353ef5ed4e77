//! Time one UVSS comparison against a 2048 x 12000 reference scan (travel along y, as a
//! line-scan camera 2048 pixels wide delivers it), against an anchor measured in the same run
//! on the same machine: a grey conversion plus a copy of the same image (one plain full-frame
//! pass). Three probes, each the whole pass of the same vehicle with a planted object, driven
//! at another speed: the same scanner, a scanner with 0.75x the pixels (both scans resampled
//! to a common scale) and one with 1.3x the pixels across and a faster line rate (as a
//! held-out pair has it), and the same scanner with another tone curve (gamma 0.6). Each line
//! also says whether a region covers the planted object.
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
    // The reference is cut to 12000 lines (only road after the vehicle goes). The probe keeps
    // its whole pass: it was driven at another speed, so its length differs, and cutting it to
    // 12000 lines too cut off the rear tenth of its vehicle (this pair's probe is 14 069
    // lines long); the mismatch of the cut end raised the pair's residual level (0.70 against about
    // 0.2 for a whole pass) until the planted object fell below the line. Cut before any
    // variant: a scanner variant must keep all of its own pixels.
    let cut = |img: &RgbImage| image::imageops::crop_imm(img, 0, 0, img.width().min(12_000), 2048).to_image();
    let (reference, probe) = (cut(&pair.reference), pair.probe.clone());
    let rot = |img: &RgbImage| image::imageops::rotate90(img);
    // Variants work with travel along x: alter before turning.
    let other = |v: Variant| rot(&v.apply(&probe));
    // The planted object's box in a probe made by `v`, after the turn: (x, y) -> (cross - 1 - y, x).
    let object = pair.object.expect("the pair has an object");
    let turned_box = |v: Variant| {
        let (x, y, w, h) = v.forward_box(object, probe.width(), probe.height());
        let cross = match v {
            Variant::Scanner { across, .. } => (probe.height() as f32 * across).round() as u32,
            _ => probe.height(),
        };
        (cross.saturating_sub(y + h), x, h, w)
    };
    let same = Variant::Identity;
    let (v75, v13) =
        (Variant::Scanner { across: 0.75, along: 0.75 }, Variant::Scanner { across: 1.3, along: 1.6 });
    let probes = [
        ("same scanner", rot(&probe), turned_box(same)),
        ("0.75x scanner", other(v75), turned_box(v75)),
        ("1.3x across, 1.6x along", other(v13), turned_box(v13)),
        // Another tone curve: the new scan is put on the reference's curve for registration
        // and the difference (the only configuration that runs that path).
        ("same scanner, gamma 0.6", other(Variant::Gamma(0.6)), turned_box(Variant::Gamma(0.6))),
    ];
    let reference = rot(&reference);
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
        for (k, (_, probe, _)) in probes.iter().enumerate() {
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
    for (k, (name, probe, b)) in probes.iter().enumerate() {
        let c: uvss::Comparison = last[k].take().expect("at least one run");
        let found = c
            .regions
            .iter()
            .any(|r| r.x < b.0 + b.2 && b.0 < r.x + r.w && r.y < b.1 + b.3 && b.1 < r.y + r.h);
        let m = median(std::mem::take(&mut times[k]));
        println!(
            "{name}: probe {}x{}, {} score {:.2} regions {} (planted object {}); median {m:.0} ms, ratio {:.1}x; stages (last run, ms) {:?}",
            probe.width(),
            probe.height(),
            c.verdict.as_str(),
            c.score,
            c.regions.len(),
            if found { "found" } else { "MISSED" },
            m / a,
            c.timings_ms
        );
    }
}
