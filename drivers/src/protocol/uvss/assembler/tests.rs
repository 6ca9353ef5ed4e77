//! Assembler tests on a simulated pass: a vehicle whose underside has 10 cm
//! stripes drives over the camera at a known speed profile; after assembly the
//! stripes must sit at the right distances, whatever the speed did.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::protocol::uvss::{RowBatch, ScanEnd, ScanStart};

const T0: u64 = 1_763_888_000_000_000;
const LINE_PERIOD_US: u64 = 1000; // 1 kHz
const WIDTH: u16 = 3;

/// Bright on even decimetres, dark on odd ones.
fn stripe(x_m: f64) -> u8 {
    if (x_m * 10.0).floor() as i64 % 2 == 0 {
        200
    } else {
        20
    }
}

fn start(scan_id: u32) -> UvssMsg {
    UvssMsg::ScanStart(ScanStart {
        scan_id,
        width: WIDTH,
        bit_depth: 8,
        line_rate_hz: 1000,
        pixel_pitch_um: 1000,
        started_at_us: T0,
    })
}

/// Rows of a pass of `length_m` at `speed(t_s)` m/s, in batches of 50 rows, each
/// batch carrying the speed at its first row when `report_speed`.
fn pass(speed: impl Fn(f64) -> f64, length_m: f64, report_speed: bool) -> Vec<RowBatch> {
    let (mut x, mut row, mut batches) = (0.0, 0u32, Vec::new());
    while x < length_m {
        let t_s = f64::from(row) * LINE_PERIOD_US as f64 / 1e6;
        let mut data = Vec::new();
        let mut xx = x;
        for r in 0..50 {
            let tr = t_s + f64::from(r) * LINE_PERIOD_US as f64 / 1e6;
            data.extend(std::iter::repeat_n(stripe(xx), WIDTH.into()));
            xx += speed(tr) * LINE_PERIOD_US as f64 / 1e6;
        }
        batches.push(RowBatch {
            scan_id: 1,
            first_row: row,
            timestamp_us: T0 + u64::from(row) * LINE_PERIOD_US,
            line_period_ns: (LINE_PERIOD_US * 1000) as u32,
            speed_mm_s: report_speed.then(|| (speed(t_s) * 1000.0).round() as u32),
            width: WIDTH,
            bit_depth: 8,
            rows: 50,
            data: Bytes::from(data),
        });
        x = xx;
        row += 50;
    }
    batches
}

fn end(rows_total: u32) -> UvssMsg {
    UvssMsg::ScanEnd(ScanEnd {
        scan_id: 1,
        rows_total,
        ended_at_us: T0 + 9_000_000,
        reason: EndReason::Normal,
    })
}

fn assemble(cfg: AssemblerConfig, batches: &[RowBatch], extra: &[UvssMsg]) -> AssembledScan {
    let mut a = ScanAssembler::new(cfg);
    for m in extra {
        assert_eq!(a.push(m), Ok(None));
    }
    assert_eq!(a.push(&start(1)), Ok(None));
    let mut rows = 0;
    for b in batches {
        a.push(&UvssMsg::RowBatch(b.clone())).unwrap();
        rows = b.first_row + u32::from(b.rows);
    }
    a.push(&end(rows)).unwrap().expect("scan complete")
}

/// Share of output rows whose pixel is not the stripe at that distance; rows
/// within 4 mm of a stripe edge may legitimately be a blend and are not counted.
fn misplaced(s: &AssembledScan) -> f64 {
    let rpm = f64::from(s.meta.rows_per_metre);
    let near_edge = |x: f64| ((x * 10.0).round() - x * 10.0).abs() < 0.04;
    let bad = (0..s.height as usize)
        .filter(|k| !near_edge(*k as f64 / rpm))
        .filter(|k| s.pixels[k * WIDTH as usize].abs_diff(stripe(*k as f64 / rpm)) > 60)
        .count();
    bad as f64 / f64::from(s.height)
}

#[test]
fn constant_speed_gives_rows_per_metre() {
    let s = assemble(AssemblerConfig::default(), &pass(|_| 1.0, 4.0, true), &[]);
    assert!((s.meta.length_m - 4.0).abs() < 0.06, "{:?}", s.meta);
    assert_eq!(s.height, (f64::from(s.meta.length_m) * 500.0) as u32 + 1);
    assert!((s.meta.mean_speed_kmh - 3.6).abs() < 0.01);
    assert_eq!(s.meta.speed_source, SpeedSource::Camera);
    assert_eq!(misplaced(&s), 0.0);
}

#[test]
fn accelerating_vehicle_is_not_squashed() {
    // 0.5 m/s rising to 3 m/s: a naive row stack would put the stripes wrong.
    let s = assemble(AssemblerConfig::default(), &pass(|t| (0.5 + t).min(3.0), 6.0, true), &[]);
    assert!((s.meta.length_m - 6.0).abs() < 0.1, "{:?}", s.meta);
    assert!(misplaced(&s) < 0.005, "{}", misplaced(&s));
}

#[test]
fn dropped_batches_are_counted_and_bridged() {
    let mut batches = pass(|_| 1.0, 4.0, true);
    batches.remove(20); // rows 1000..1050, 5 cm of vehicle
    let s = assemble(AssemblerConfig::default(), &batches, &[]);
    assert_eq!(s.meta.rows_dropped, 50);
    assert!((s.meta.length_m - 4.0).abs() < 0.06);
    // The lost 5 cm begin at the stripe edge at 1.0 m, so the bridge blends across
    // the edge and about half of it (0.6 % of all rows) is off.
    assert!(misplaced(&s) < 0.01, "{}", misplaced(&s));
}

#[test]
fn repeated_batch_is_ignored() {
    let mut batches = pass(|_| 1.0, 1.0, true);
    batches.insert(5, batches[4].clone());
    let s = assemble(AssemblerConfig::default(), &batches, &[]);
    assert_eq!((s.meta.rows_duplicate, s.meta.rows_dropped), (50, 0));
    assert!(misplaced(&s) < 0.005);
}

#[test]
fn loops_give_the_speed_when_the_camera_does_not() {
    let cfg = AssemblerConfig { loop_spacing_m: Some(3.0), ..AssemblerConfig::default() };
    let loops = [
        UvssMsg::Loop { loop_id: 0, occupied: true, at_us: T0 - 500_000 },
        UvssMsg::Loop { loop_id: 1, occupied: true, at_us: T0 + 1_000_000 },
    ];
    let s = assemble(cfg, &pass(|_| 2.0, 4.0, false), &loops);
    assert_eq!(s.meta.speed_source, SpeedSource::Loops);
    // Edges from a vehicle a minute earlier are not used.
    let stale = [
        UvssMsg::Loop { loop_id: 0, occupied: true, at_us: T0 - 60_000_000 },
        UvssMsg::Loop { loop_id: 1, occupied: true, at_us: T0 - 59_000_000 },
    ];
    assert_eq!(assemble(cfg, &pass(|_| 2.0, 1.0, false), &stale).meta.speed_source, SpeedSource::Assumed);
    let s = assemble(cfg, &pass(|_| 2.0, 4.0, false), &loops);
    assert!((s.meta.mean_speed_kmh - 7.2).abs() < 0.01);
    assert!(misplaced(&s) < 0.005);
}

#[test]
fn no_speed_at_all_is_flagged_as_assumed() {
    let s = assemble(AssemblerConfig::default(), &pass(|_| 1.0, 1.0, false), &[]);
    assert_eq!(s.meta.speed_source, SpeedSource::Assumed);
    assert!((s.meta.mean_speed_kmh - 5.0).abs() < 0.01);
}

#[test]
fn long_scans_are_cut_and_flagged() {
    let cfg = AssemblerConfig { max_length_m: 1.0, ..AssemblerConfig::default() };
    let s = assemble(cfg, &pass(|_| 1.0, 3.0, true), &[]);
    assert!(s.meta.truncated);
    assert_eq!(s.height, 501);
    let cfg = AssemblerConfig { max_pixels: 300 * WIDTH as usize, ..AssemblerConfig::default() };
    let s = assemble(cfg, &pass(|_| 1.0, 3.0, true), &[]);
    assert!(s.meta.truncated);
    assert_eq!((s.meta.rows_received, s.height), (300, 150)); // 300 rows of 1 mm at 2 mm per output row
}

#[test]
fn stray_messages_are_typed_errors() {
    let mut a = ScanAssembler::new(AssemblerConfig::default());
    let b = pass(|_| 1.0, 0.1, true).remove(0);
    assert_eq!(a.push(&UvssMsg::RowBatch(b.clone())), Err(AssembleError::NoScan { scan_id: 1 }));
    a.push(&start(2)).unwrap();
    assert_eq!(a.push(&UvssMsg::RowBatch(b.clone())), Err(AssembleError::WrongScan { expected: 2, got: 1 }));
    a.push(&start(1)).unwrap();
    let wide = RowBatch { width: 1, data: b.data.slice(..50), ..b };
    assert_eq!(a.push(&UvssMsg::RowBatch(wide)), Err(AssembleError::GeometryMismatch { scan_id: 1 }));
    // Built by hand with data that does not match its geometry: refused, no panic.
    let short = RowBatch { data: b.data.slice(..10), ..b.clone() };
    assert_eq!(a.push(&UvssMsg::RowBatch(short)), Err(AssembleError::GeometryMismatch { scan_id: 1 }));
    assert_eq!(a.push(&end(0)), Err(AssembleError::Empty { scan_id: 1 }));
}

#[test]
fn new_scan_or_flush_closes_an_unfinished_one() {
    let mut a = ScanAssembler::new(AssemblerConfig::default());
    a.push(&start(1)).unwrap();
    for b in pass(|_| 1.0, 0.5, true) {
        a.push(&UvssMsg::RowBatch(b)).unwrap();
    }
    let s = a.push(&start(2)).unwrap().expect("partial scan handed over");
    assert_eq!((s.meta.scan_id, s.meta.end_reason), (1, None));
    assert_eq!(a.flush(T0), Err(AssembleError::Empty { scan_id: 2 }));
    assert_eq!(a.flush(T0), Ok(None));
}

#[test]
fn deep_pixels_are_scaled_to_eight_bits() {
    let mut a = ScanAssembler::new(AssemblerConfig::default());
    let s = ScanStart {
        width: 2,
        bit_depth: 12,
        ..match start(1) {
            UvssMsg::ScanStart(s) => s,
            _ => unreachable!(),
        }
    };
    a.push(&UvssMsg::ScanStart(s)).unwrap();
    let data = Bytes::from_static(&[0xFF, 0x0F, 0x00, 0x08]); // 4095, 2048
    let b = RowBatch { width: 2, bit_depth: 12, rows: 1, data, ..pass(|_| 1.0, 0.1, true).remove(0) };
    a.push(&UvssMsg::RowBatch(b)).unwrap();
    let out = a.push(&end(1)).unwrap().unwrap();
    assert_eq!(out.pixels, vec![255, 128]);
}

#[test]
fn png_round_trip() {
    let s = assemble(AssemblerConfig::default(), &pass(|_| 1.0, 0.5, true), &[]);
    let u = s.to_uvss_scan().unwrap();
    let img = image::load_from_memory(&u.image.bytes).unwrap().to_luma8();
    assert_eq!((img.width(), img.height()), (s.width, s.height));
    assert_eq!(img.as_raw(), &s.pixels);
    assert_eq!(u.rows_per_metre, 500.0);
}

proptest! {
    /// Batches in any order, with gaps, repeats and odd speeds never panic, and
    /// the output respects the length cap.
    #[test]
    fn any_batch_sequence_assembles_within_limits(
        order in proptest::collection::vec((0usize..40, proptest::option::of(0u32..60_000)), 1..40),
    ) {
        let cfg = AssemblerConfig { max_length_m: 5.0, ..AssemblerConfig::default() };
        let base = pass(|_| 1.0, 2.0, true);
        let mut a = ScanAssembler::new(cfg);
        a.push(&start(1)).unwrap();
        for (i, speed) in &order {
            let b = RowBatch { speed_mm_s: *speed, ..base[*i].clone() };
            a.push(&UvssMsg::RowBatch(b)).unwrap();
        }
        let s = a.push(&end(2000)).unwrap().unwrap();
        prop_assert!(s.height as f32 <= 5.0 * 500.0 + 1.0);
        prop_assert_eq!(s.pixels.len(), (s.width * s.height) as usize);
    }
}
