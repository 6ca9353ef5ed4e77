//! Is there anything to compare? Exposure checks on a scan's grey work plane.
//!
//! The comparison divides out gain and offset (see [`super::plane::Plane::normalise`]), so a
//! scan taken with another exposure or gain compares fine. What it cannot divide out is a scan
//! with nothing in it: the lamps failed (all dark), the exposure was far too long (all
//! saturated) or the frame is blank (scanner fault, lens covered). Comparing those would
//! only produce noise or a meaningless `clean`; they are `inconclusive` with a reason that
//! tells the technician what to look at. Thresholds are far outside any usable scan: a gain
//! of 0.3 on a real scan still passes (and is compared), a failed lamp does not.

use super::plane::Plane;
use super::verdict::InconclusiveReason;

/// Brightness below which a scan shows nothing: its 99th percentile (grey levels).
pub const DARK_P99: f32 = 32.0;
/// Grey level at which a pixel counts as saturated, and the share of such pixels that makes a
/// scan overexposed.
pub const SATURATED: f32 = 250.0;
pub const MAX_SATURATED_SHARE: f32 = 0.5;
/// Mean absolute deviation from the local mean (grey levels) below which a scan is flat.
pub const MIN_STRUCTURE: f32 = 1.0;

/// Brightness statistics of one grey work plane.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exposure {
    pub p99: f32,
    pub saturated: f32,
}

impl Exposure {
    /// From a grey plane in 0..255 (a 256-bin histogram: one pass, no sort).
    pub fn of(grey: &Plane) -> Exposure {
        let mut hist = [0usize; 256];
        for v in &grey.data {
            hist[v.clamp(0.0, 255.0) as usize] += 1;
        }
        let n = grey.data.len().max(1);
        let (mut acc, mut p99) = (0usize, 255.0);
        for (level, count) in hist.iter().enumerate() {
            acc += count;
            if acc * 100 >= n * 99 {
                p99 = level as f32;
                break;
            }
        }
        let saturated = hist[SATURATED as usize..].iter().sum::<usize>() as f32 / n as f32;
        Exposure { p99, saturated }
    }
}

/// The reason a scan cannot be compared, if any, with the sentence for a person. `which` names
/// the scan ("reference" or "new"); `structure` is its mean absolute deviation from the local
/// mean in grey levels (from the normalisation).
pub fn check(e: Exposure, structure: f32, which: &str) -> Option<(InconclusiveReason, String)> {
    if e.p99 < DARK_P99 {
        return Some((
            InconclusiveReason::TooDark,
            format!(
                "the {which} scan is too dark to compare (99% of it darker than {:.0} of 255): check the scanner's lamps",
                e.p99 + 1.0
            ),
        ));
    }
    if e.saturated > MAX_SATURATED_SHARE {
        return Some((
            InconclusiveReason::Overexposed,
            format!(
                "the {which} scan is overexposed ({:.0}% of it saturated): check the scanner's exposure",
                e.saturated * 100.0
            ),
        ));
    }
    if structure < MIN_STRUCTURE {
        return Some((
            InconclusiveReason::NoStructure,
            format!("the {which} scan is blank (no structure to compare): check the scanner and its window"),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(f: impl Fn(usize) -> f32) -> Plane {
        Plane { w: 100, h: 50, data: (0..5000).map(f).collect() }
    }

    #[test]
    fn dark_saturated_and_flat_scans_are_named() {
        let dark = Exposure::of(&plane(|i| (i % 20) as f32));
        assert_eq!(check(dark, 5.0, "new").unwrap().0, InconclusiveReason::TooDark);
        let glare = Exposure::of(&plane(|i| if i % 3 == 0 { 120.0 } else { 255.0 }));
        let (r, s) = check(glare, 5.0, "reference").unwrap();
        assert_eq!(r, InconclusiveReason::Overexposed);
        assert!(s.contains("reference scan is overexposed (67% of it saturated)"), "{s}");
        let flat = Exposure::of(&plane(|_| 128.0));
        assert_eq!(check(flat, 0.0, "new").unwrap().0, InconclusiveReason::NoStructure);
    }

    #[test]
    fn a_dim_but_usable_scan_passes() {
        // A real underside at a third of its gain: mostly 10..60 grey, still structured.
        let dim = Exposure::of(&plane(|i| 10.0 + (i * 37 % 50) as f32));
        assert!(dim.p99 >= 58.0, "{dim:?}");
        assert_eq!(check(dim, 8.0, "new"), None);
    }
}
