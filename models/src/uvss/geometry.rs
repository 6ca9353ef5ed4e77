//! Bringing two scans to a common scale before they are compared.
//!
//! A line-scan image has two unrelated pixel sizes. Across the lane it is fixed by the sensor
//! and lens: another scanner model gives another number of pixels for the same lane (a probe
//! 1.3x taller than its reference). Along travel it is the line rate divided by the vehicle's
//! speed: another pass gives another length (5 % shorter when the driver was a little faster),
//! and another scanner with another line rate can give a very different one (5x longer).
//!
//! So each scan gets its own work grid, both with the same number of pixels across the lane
//! (about [`Params::work_cross`], from the narrower scan: nothing is ever enlarged across).
//! Along travel each scan keeps its own pixel aspect, unless the two lengths are further apart
//! than two passes over one scanner can be (outside [`RegisterParams::scale_range`]): then the
//! scanners sample differently and the new scan is resampled to the reference's length; the
//! registration takes it from there. Once registration has measured the real length ratio, the
//! finer of the two is resampled along travel to the coarser ([`equalise_along`]), so that the
//! difference compares like with like (no enlarged, blurred scan against a sharp one).
//!
//! Reduction is an integer box average straight from the RGB bytes (the cheap part of a 2048 x
//! 12000 scan), followed, only where the ratio is fractional, by an area-weighted resample of
//! the small work planes.

use image::RgbImage;

use super::plane::Plane;
use super::{Params, TravelAxis};

/// Smallest work grid, along and across, on which a comparison means anything.
pub const MIN_WORK: usize = 32;

/// How one scan's work grid maps onto its image (work x runs along travel).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScanGrid {
    pub travel_is_y: bool,
    /// Image pixels per work pixel along travel and across the lane.
    pub along: f32,
    pub across: f32,
    /// Work plane size along travel and across the lane.
    pub len: usize,
    pub cross: usize,
    pub width: u32,
    pub height: u32,
}

impl ScanGrid {
    fn of(img: &RgbImage, travel_is_y: bool, along: f32, across: f32) -> ScanGrid {
        let (len, cross) = image_len_cross(img, travel_is_y);
        ScanGrid {
            travel_is_y,
            along,
            across,
            len: (len as f32 / along + 1e-3) as usize,
            cross: (cross as f32 / across + 1e-3) as usize,
            width: img.width(),
            height: img.height(),
        }
    }

    /// Work position (x along travel, y across, pixel edges) to image position.
    pub fn to_image(&self, wx: f32, wy: f32) -> (f32, f32) {
        let (a, c) = (wx * self.along, wy * self.across);
        if self.travel_is_y {
            (c, a)
        } else {
            (a, c)
        }
    }

    /// Image position to work position (inverse of [`ScanGrid::to_image`]).
    pub fn to_work(&self, ix: f32, iy: f32) -> (f32, f32) {
        let (a, c) = if self.travel_is_y { (iy, ix) } else { (ix, iy) };
        (a / self.along, c / self.across)
    }
}

/// The two scans' work grids: the comparison runs in the reference's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Geometry {
    pub reference: ScanGrid,
    pub new: ScanGrid,
}

impl Geometry {
    /// New/reference pixels across the lane.
    pub fn resolution_ratio(&self) -> f32 {
        self.new.across / self.reference.across
    }

    /// A travel ratio in work pixels (new per reference) as a length ratio of the two scans at
    /// the common scale across the lane.
    pub fn length_ratio(&self, work_scale: f32) -> f32 {
        work_scale * (self.new.along / self.new.across) / (self.reference.along / self.reference.across)
    }
}

/// Why two scans cannot be put on a common grid.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanError {
    /// A scan ("reference" or "new") too small to compare at all (an input error, not a
    /// verdict).
    TooSmall { scan: &'static str, width: u32, height: u32, min: usize },
    /// The sizes are beyond what scanners and speeds explain: inconclusive, with this sentence.
    TooDifferent(String),
}

fn travel_is_y(img: &RgbImage, axis: TravelAxis) -> bool {
    match axis {
        TravelAxis::X => false,
        TravelAxis::Y => true,
        TravelAxis::Auto => img.height() > img.width(),
    }
}

fn image_len_cross(img: &RgbImage, travel_is_y: bool) -> (u32, u32) {
    if travel_is_y {
        (img.height(), img.width())
    } else {
        (img.width(), img.height())
    }
}

/// Choose both work grids.
pub fn plan(reference: &RgbImage, new: &RgbImage, p: &Params) -> Result<Geometry, PlanError> {
    let (tr, tn) = (travel_is_y(reference, p.travel), travel_is_y(new, p.travel));
    let ((len_r, cross_r), (len_n, cross_n)) = (image_len_cross(reference, tr), image_len_cross(new, tn));
    let too_small = |scan, img: &RgbImage, min| PlanError::TooSmall {
        scan,
        width: img.width(),
        height: img.height(),
        min,
    };
    for (scan, img, len, cross) in [("reference", reference, len_r, cross_r), ("new", new, len_n, cross_n)] {
        if (len.min(cross) as usize) < MIN_WORK {
            return Err(too_small(scan, img, MIN_WORK));
        }
    }
    let k = cross_n as f32 / cross_r as f32;
    if k > p.max_resolution_ratio || k < 1.0 / p.max_resolution_ratio {
        return Err(PlanError::TooDifferent(format!(
            "the new scan is {cross_n} pixels across the lane and the reference {cross_r}: \
             resolutions {:.1}x apart, more than the {:.0}x two scanners may differ",
            k.max(1.0 / k),
            p.max_resolution_ratio
        )));
    }
    // The narrower scan sets the grid across, by an integer factor (its pixels are kept whole);
    // the wider one is reduced to the same count.
    let narrow = cross_r.min(cross_n) as usize;
    let f0 = (narrow / p.work_cross.max(1)).max(1);
    let work_cross = narrow / f0;
    let across =
        |cross: u32| if cross as usize == narrow { f0 as f32 } else { cross as f32 / work_cross as f32 };
    let (ar, an) = (across(cross_r), across(cross_n));
    let reference_grid = ScanGrid::of(reference, tr, ar, ar);
    let mut new_grid = ScanGrid::of(new, tn, an, an);
    for (scan, g, img) in [("reference", &reference_grid, reference), ("new", &new_grid, new)] {
        if g.len < MIN_WORK || g.cross < MIN_WORK {
            let f = g.along.max(g.across).ceil() as usize;
            return Err(too_small(scan, img, MIN_WORK * f));
        }
    }
    let ratio = new_grid.len as f32 / reference_grid.len as f32;
    if ratio > p.max_length_ratio || ratio < 1.0 / p.max_length_ratio {
        return Err(PlanError::TooDifferent(format!(
            "at a common scale across the lane the new scan is {ratio:.2}x the reference's length; \
             beyond {:.0}x it is not the same pass of a vehicle",
            p.max_length_ratio
        )));
    }
    let (lo, hi) = p.register.scale_range;
    if ratio < lo || ratio > hi {
        // Another line rate: start from equal lengths, registration finds the rest.
        new_grid = ScanGrid::of(new, tn, len_n as f32 / reference_grid.len as f32, an);
    }
    Ok(Geometry { reference: reference_grid, new: new_grid })
}

/// Reduce a scan to its work grid: luma, B-Y and R-Y planes, travel along x.
pub fn reduce(img: &RgbImage, g: &ScanGrid) -> [Plane; 3] {
    let (fa, fc) = ((g.along as usize).max(1), (g.across as usize).max(1));
    let (fx, fy) = if g.travel_is_y { (fc, fa) } else { (fa, fc) };
    let planes = Plane::from_rgb_colour(img, fx, fy, g.travel_is_y);
    if planes[0].w == g.len && planes[0].h == g.cross {
        planes
    } else {
        planes.map(|p| p.resample(g.len, g.cross))
    }
}

/// Resample planes of one scan along travel to `len` work pixels, updating its grid.
pub fn equalise_along(planes: &mut [&mut Plane], grid: &mut ScanGrid, len: usize) {
    let len = len.max(MIN_WORK);
    if len == grid.len {
        return;
    }
    for p in planes.iter_mut() {
        **p = p.resample(len, p.h);
    }
    grid.along *= grid.len as f32 / len as f32;
    grid.len = len;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(w: u32, h: u32) -> RgbImage {
        RgbImage::new(w, h)
    }

    #[test]
    fn same_scanner_keeps_integer_factors() {
        let g = plan(&img(8494, 1624), &img(8571, 1624), &Params::default()).unwrap();
        assert_eq!(
            (g.reference.along, g.reference.across, g.reference.cross, g.reference.len),
            (4.0, 4.0, 406, 2123)
        );
        assert_eq!((g.new.along, g.new.across, g.new.cross, g.new.len), (4.0, 4.0, 406, 2142));
        assert_eq!(g.resolution_ratio(), 1.0);
        let [y, ..] = reduce(&img(8571, 1624), &g.new);
        assert_eq!((y.w, y.h), (2142, 406));
    }

    #[test]
    fn another_resolution_is_brought_to_the_same_count_across() {
        // 1.3x the pixels across, same pixel aspect: a sharper scanner.
        let g = plan(&img(8494, 1624), &img(11042, 2111), &Params::default()).unwrap();
        assert_eq!(g.new.cross, 406);
        assert!((g.resolution_ratio() - 1.3).abs() < 0.01, "{}", g.resolution_ratio());
        assert!((g.new.len as f32 / g.reference.len as f32 - 1.0).abs() < 0.01);
        let [y, ..] = reduce(&img(11042, 2111), &g.new);
        assert_eq!((y.w, y.h), (g.new.len, 406));
        // Half the resolution: the new scan sets the grid, the reference is reduced to it.
        let g = plan(&img(8494, 1624), &img(4247, 812), &Params::default()).unwrap();
        assert_eq!((g.new.across, g.new.cross), (2.0, 406));
        assert_eq!((g.reference.across, g.reference.cross), (4.0, 406));
    }

    #[test]
    fn another_line_rate_starts_from_equal_lengths() {
        // 1.3x taller and 5x longer: the pixel aspect differs, so the lengths are equalised.
        let g = plan(&img(8494, 1624), &img(42470, 2111), &Params::default()).unwrap();
        assert_eq!(g.new.len, g.reference.len);
        assert!((g.length_ratio(1.0) - 5.0 / 1.3).abs() < 0.05, "{}", g.length_ratio(1.0));
        let [y, ..] = reduce(&img(42470, 2111), &g.new);
        assert_eq!((y.w, y.h), (g.reference.len, 406));
        // Travel along y in one scan and x in the other: both on one grid.
        let g = plan(&img(8494, 1624), &img(1624, 8494), &Params::default()).unwrap();
        assert!(g.new.travel_is_y && !g.reference.travel_is_y);
        assert_eq!((g.new.len, g.new.cross), (g.reference.len, g.reference.cross));
    }

    #[test]
    fn sizes_beyond_reason_are_refused_with_a_sentence() {
        let p = Params::default();
        match plan(&img(8494, 1624), &img(8494, 200), &p) {
            Err(PlanError::TooDifferent(s)) => assert!(s.contains("8.1x apart"), "{s}"),
            other => panic!("{other:?}"),
        }
        // Along travel: a seventh of the reference's length is not a pass of the same vehicle.
        let along_x = Params { travel: TravelAxis::X, ..Params::default() };
        match plan(&img(8494, 1624), &img(1200, 1624), &along_x) {
            Err(PlanError::TooDifferent(s)) => assert!(s.contains("0.14x the reference's length"), "{s}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(plan(&img(400, 200), &img(20, 10), &p), Err(PlanError::TooSmall { .. })));
    }

    #[test]
    fn grid_maps_work_to_image_and_back() {
        let g = ScanGrid::of(&img(100, 400), true, 2.5, 2.0);
        assert_eq!((g.len, g.cross), (160, 50));
        assert_eq!(g.to_image(10.0, 4.0), (8.0, 25.0));
        assert_eq!(g.to_work(8.0, 25.0), (10.0, 4.0));
    }
}
