//! Behaviour of the whole comparison on generated pairs (fast: a few small pairs; the 200-pair
//! evaluation is `cargo run -p models --release --example uvss_eval -- synth 200`).

use super::synth;
use super::*;

fn overlaps(r: &Region, b: (u32, u32, u32, u32)) -> bool {
    r.x < b.0 + b.2 && b.0 < r.x + r.w && r.y < b.1 + b.3 && b.1 < r.y + r.h
}

#[test]
fn identical_scans_are_clean() {
    let pair = synth::pair(3, false, 200, 800);
    let c = compare(&pair.reference, &pair.reference, &Params::default()).unwrap();
    assert_eq!(c.verdict, Verdict::Clean, "{:?}", c.reason);
    assert!(c.regions.is_empty());
    assert!((c.scale - 1.0).abs() < 0.01 && c.quality > 0.9, "scale {} quality {}", c.scale, c.quality);
}

#[test]
fn speed_change_is_recovered_as_scale() {
    let pair = synth::pair(11, false, 200, 800);
    let c = compare(&pair.reference, &pair.probe, &Params::default()).unwrap();
    // True length ratio from the renderer: lines per vehicle millimetre in each pass.
    let truth = pair.probe.width() as f32 / pair.reference.width() as f32;
    // Loose: a straight line through a wobbling speed profile; the per-line check below is strict.
    assert!((c.scale - truth).abs() < 0.08, "estimated {} true {}", c.scale, truth);
    let (reg, geo) = (c.registration.as_ref().unwrap(), c.geometry.unwrap());
    // Every 100th reference line lands within 3 lines of where the vehicle really was (work
    // grids to image lines: one of the two was resampled along travel to the other's resolution).
    for x in (100..pair.reference.width() as usize - 100).step_by(100) {
        let truth = pair.probe_mm.partition_point(|&v| v < pair.reference_mm[x]) as f32;
        let (wx, wy) = geo.reference.to_work(x as f32 + 0.5, 100.0);
        let (lx, ly) = reg.locate(wx - 0.5, wy);
        let (ix, _) = geo.new.to_image(lx + 0.5, ly);
        assert!((ix - 0.5 - truth).abs() <= 3.0, "line {x}: located {ix}, true {truth}");
    }
}

#[test]
fn small_synthetic_batch_detects_objects_without_false_alarms() {
    let p = Params::default();
    let (mut hits, mut false_alarms) = (0, 0);
    let n = 4;
    for i in 0..n {
        let with = synth::pair(100 + i, true, 300, 900);
        let c = compare(&with.reference, &with.probe, &p).unwrap();
        let b = with.object.unwrap();
        hits += (c.verdict == Verdict::Anomaly && c.regions.iter().any(|r| overlaps(r, b))) as usize;
        let without = synth::pair(200 + i, false, 300, 900);
        let c = compare(&without.reference, &without.probe, &p).unwrap();
        false_alarms += (c.verdict == Verdict::Anomaly) as usize;
    }
    assert!(hits >= 3, "detected {hits}/{n}");
    assert!(false_alarms <= 1, "false alarms {false_alarms}/{n}");
}

#[test]
fn unrelated_scan_is_not_called_clean() {
    let a = synth::pair(21, false, 200, 800);
    let b = synth::pair(22, false, 200, 800);
    let c = compare(&a.reference, &b.probe, &Params::default()).unwrap();
    assert_ne!(
        c.verdict,
        Verdict::Clean,
        "a different vehicle must not pass as clean (quality {}, residual {})",
        c.quality,
        c.residual
    );
}

#[test]
fn tiny_or_mismatched_inputs_are_handled() {
    let big = image::RgbImage::new(400, 200);
    let tiny = image::RgbImage::new(20, 10);
    assert!(matches!(compare(&big, &tiny, &Params::default()), Err(Error::TooSmall { .. })));
    let narrow = image::RgbImage::new(400, 120);
    let c = compare(&big, &narrow, &Params::default()).unwrap();
    assert_eq!(c.verdict, Verdict::Inconclusive);
    // Blank frames (scanner fault) have no structure to align: inconclusive, never a panic.
    let c = compare(&big, &big.clone(), &Params::default()).unwrap();
    assert_eq!(c.verdict, Verdict::Inconclusive);
}

#[test]
fn unreadable_files_are_typed_errors() {
    let dir = std::env::temp_dir().join(format!("uvss-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let zero = dir.join("zero.jpg");
    std::fs::write(&zero, b"").unwrap();
    let text = dir.join("text.jpg");
    std::fs::write(&text, b"not an image at all").unwrap();
    let trunc = dir.join("trunc.jpg");
    std::fs::write(&trunc, [0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F']).unwrap();
    assert!(matches!(load(&zero), Err(Error::Input(InputError::Empty))));
    assert!(matches!(load(&text), Err(Error::Input(InputError::NotAnImage))));
    assert!(matches!(load(&trunc), Err(Error::Input(_))));
    assert!(matches!(load(&dir.join("missing.jpg")), Err(Error::Input(InputError::Io { .. }))));
}

#[test]
fn store_without_reference_gives_no_reference() {
    let dir = std::env::temp_dir().join(format!("uvss-noref-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = ReferenceStore::open(&dir, 1 << 20).unwrap();
    let (c, reference) =
        compare_to_reference(&store, "浙B52961", &image::RgbImage::new(400, 200), &Params::default())
            .unwrap();
    assert!(reference.is_none());
    assert_eq!(c.verdict, Verdict::NoReference);
    assert_eq!(c.score, 0.0);
}

#[test]
fn simulated_lane_scans_find_the_parcel_and_nothing_on_a_clean_pass() {
    // The sizes the simulated lane renders (drivers::sim::SimUvss).
    let reference = synth::vehicle_scan(42, 1, false, 200, 900);
    for pass in 2..5 {
        let clean =
            compare(&reference, &synth::vehicle_scan(42, pass, false, 200, 900), &Params::default()).unwrap();
        assert_eq!(clean.verdict, Verdict::Clean, "pass {pass}: score {} {:?}", clean.score, clean.reason);
        let dirty =
            compare(&reference, &synth::vehicle_scan(42, pass, true, 200, 900), &Params::default()).unwrap();
        assert_eq!(dirty.verdict, Verdict::Anomaly, "pass {pass}: score {}", dirty.score);
        // The parcel hangs under the middle of the vehicle.
        let mid = dirty.regions[0].x + dirty.regions[0].w / 2;
        let len = synth::vehicle_scan(42, pass, true, 200, 900).width();
        assert!(mid > len / 3 && mid < len * 2 / 3, "region {:?} of {len}", dirty.regions[0]);
    }
}

#[test]
fn region_sizes_on_a_narrow_scanner_count_in_millimetres() {
    use super::stages::area_scale;
    // Half the pixels across the lane: a quarter of the pixels per object.
    assert_eq!(area_scale(200, 400), 0.25);
    // The nominal grid and wider ones (up to twice, the integer reduction) keep their areas.
    assert_eq!(area_scale(400, 400), 1.0);
    assert_eq!(area_scale(406, 400), 1.0);
    assert_eq!(area_scale(799, 400), 1.0);
    // A scanner of half the resolution: the objects are found as on the nominal grid.
    let p = Params::default();
    let mut hits = 0;
    for seed in [5000u64, 5002, 5004, 5006] {
        let pair = synth::pair(seed, true, 400, 2000);
        let probe = variants::Variant::Scanner { across: 0.5, along: 0.5 }.apply(&pair.probe);
        let object = pair.object.map(|b| {
            variants::Variant::Scanner { across: 0.5, along: 0.5 }.forward_box(
                b,
                pair.probe.width(),
                pair.probe.height(),
            )
        });
        let c = compare(&pair.reference, &probe, &p).unwrap();
        hits += (c.verdict == Verdict::Anomaly && c.regions.iter().any(|r| overlaps(r, object.unwrap())))
            as usize;
    }
    assert!(hits >= 3, "detected {hits}/4 at half the resolution");
}

#[test]
fn a_darker_pass_keeps_its_glints_exempt() {
    use super::stages::white_ratio;
    // Two clipped passes (every developer pair): nothing changes.
    assert_eq!(white_ratio(255.0, 255.0), 1.0);
    // A pass exposed at 0.7: its white is 178, its grey goes back on the reference's scale.
    assert!((white_ratio(255.0, 178.5) - 1.0 / 0.7).abs() < 1e-3);
    // A brighter pass (clipped, or whose white is a bright planted object): left alone.
    assert_eq!(white_ratio(240.0, 255.0), 1.0);
    // A reference that does not clip shows its brightest part, not its exposure: left alone.
    assert_eq!(white_ratio(235.0, 171.0), 1.0);
    // Bounded, and no division by a black scan.
    assert_eq!(white_ratio(255.0, 10.0), 4.0);
    assert_eq!(white_ratio(255.0, 0.0), 1.0);
}

#[test]
fn a_curved_pass_is_differenced_on_the_reference_curve() {
    // A pass with another tone curve (gamma 0.6 and 1.6) must leave the residual level where a
    // pass of the same exposure leaves it, and the object found. Differenced on its own curve
    // (round 4, `tone_difference` off) this pair's level rose 0.20 -> 0.27 and the object
    // scored 0.45-0.46, under the line.
    let pair = synth::pair(102, true, 300, 900);
    let p = Params::default();
    let b = pair.object.unwrap();
    let same = compare(&pair.reference, &pair.probe, &p).unwrap();
    for gamma in [0.6, 1.6] {
        let curved = variants::Variant::Gamma(gamma).apply(&pair.probe);
        let c = compare(&pair.reference, &curved, &p).unwrap();
        assert!(
            c.residual <= same.residual * 1.1,
            "gamma {gamma}: level {} vs {}",
            c.residual,
            same.residual
        );
        assert_eq!(c.verdict, Verdict::Anomaly, "gamma {gamma}: score {}", c.score);
        assert!(c.regions.iter().any(|r| overlaps(r, b)), "gamma {gamma}: {:?} vs {b:?}", c.regions);
    }
}

#[test]
fn a_pass_that_clips_more_is_differenced_on_its_own_curve() {
    // A brighter pass (gain 1.6) clips what the reference still shows: above the clip its
    // texture is gone, and putting its flat white on the reference's curve lowered the real
    // clean pairs' residual level (0.82 -> 0.43) until ordinary disagreement crossed the line
    // (round 5). Such a pass keeps its own curve for the difference, as with `tone_difference`
    // off; registration still runs on the matched grey.
    use super::exposure::Exposure;
    use super::stages::clips_no_more;
    let p = Params::default();
    // Real passes of one exposure on different days differ by up to 0.030 in the share of
    // clipped work pixels; a gain of 1.3 adds 0.040 or more (round 5, choose rows).
    let e = |saturated| Exposure { p99: 255.0, saturated };
    assert!(clips_no_more(e(0.0467), e(0.0764), p.tone_clip));
    assert!(clips_no_more(e(0.1119), e(0.0), p.tone_clip));
    assert!(!clips_no_more(e(0.0668), e(0.1071), p.tone_clip));

    // This pair at gain 1.6: 15 % of its work pixels clipped against none in the reference.
    let pair = synth::pair(100, true, 300, 900);
    let bright = variants::Variant::Gain(1.6).apply(&pair.probe);
    let own = Params { tone_difference: false, ..Params::default() };
    let always = Params { tone_clip: 1.0, ..Params::default() };
    let [c, c_own, c_always] = [&p, &own, &always].map(|q| compare(&pair.reference, &bright, q).unwrap());
    // The premise: the tone map is used, and matching the difference would change it.
    assert!(c_always.heat != c_own.heat, "the tone map was not used for this pair");
    assert!(
        c.heat == c_own.heat,
        "differenced on the reference's curve (score {} vs {})",
        c.score,
        c_own.score
    );
    assert_eq!((c.residual, c.score), (c_own.residual, c_own.score));
}
