//! Tuning of one comparison, in one place: every threshold the method uses, with the reason
//! for its value next to it (the measurements behind them are in docs/design/uvss.md).

use super::register::RegisterParams;
use super::rematch::Reach;

/// Which image axis the vehicle travels along (line-scan time axis).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TravelAxis {
    /// The longer side: a vehicle is always longer than the lane is wide.
    Auto,
    X,
    Y,
}

/// Tuning of one comparison. Thresholds are in local standard deviations (see `normalise`).
#[derive(Clone, Debug)]
pub struct Params {
    pub travel: TravelAxis,
    /// Work-grid size across the lane; the downsampling factor follows from it.
    pub work_cross: usize,
    pub register: RegisterParams,
    /// Radius (work px) and noise floor (grey levels) of the lighting normalisation.
    pub norm_radius: usize,
    pub norm_floor: f32,
    /// The difference runs on the work grid reduced by this factor (speed; objects of interest
    /// still cover tens of pixels there).
    pub diff_step: usize,
    /// Search window of the patch match, in difference-grid pixels: along travel and across
    /// the lane (parallax moves parts across the lane), and the patch radius.
    pub search_along: usize,
    pub search_across: usize,
    pub patch: usize,
    /// Weight of a colour difference against a grey difference of the same size.
    pub chroma_weight: f32,
    pub pixel_threshold: f32,
    /// Opening radius (difference-grid pixels): structures thinner than 2r+1 are not regions.
    pub open_radius: usize,
    /// A component is an anomaly when its strength reaches this: its mean difference, times
    /// sqrt(area / `full_area`) when it is smaller than `full_area` (difference-grid pixels).
    pub region_threshold: f32,
    pub full_area: usize,
    /// Smallest residual level (90th percentile of the difference) the difference is divided
    /// by: a near-perfect pair must not turn sensor noise into anomalies.
    pub residual_floor: f32,
    /// On a work grid narrower than `work_cross` (a scanner under 400 pixels across), region
    /// sizes are counted in millimetres (`min_area` and `full_area` times (cross /
    /// work_cross)^2), and the floor may grow as (work_cross / cross)^`floor_growth`. 0 (the
    /// default): 0.25 (floor 0.24 at half the pixels) was the other value tried, on synthetic
    /// pairs of other vehicles at 200 pixels across (native and res0.5x, 80 pairs each: detection
    /// 56/80 vs 60/80, false alarms 0/80 vs 2/80) and on the simulated lane's scans (200 across),
    /// where it lost the parcel (score 0.496) that the lane's end-to-end test must hold. The
    /// res0.5x row of `uvss_eval conditions` judges it (docs/design/uvss.md, round 4).
    pub floor_growth: f32,
    /// Above this residual level the scans differ everywhere: inconclusive, never clean. It also
    /// bounds how blind a comparison may be and still say clean: regions are scored against this
    /// level, so at 0.95 a planted box that scores 3.5 on a well-registered pass stays under the
    /// line. A person looking at such a pair costs far less than a vehicle released on it.
    pub max_residual: f32,
    /// Smallest anomaly, in difference-grid pixels of a grid `work_cross` across (at the
    /// defaults about 4 x 4 cm).
    pub min_area: usize,
    /// Below this block correlation the scans are not of the same underside: inconclusive.
    pub min_quality: f32,
    /// Below this share of the reference covered by the new scan: inconclusive.
    pub min_coverage: f32,
    pub max_regions: usize,
    /// Neighbourhood whose median difference sets the local noise level (see [`noise`]), as a
    /// share of the scan's width across the lane (about 1 m on a 2.4 m lane at the default);
    /// 0 (the default) switches the local level off: at 0.47 it removes every false alarm on
    /// the real pairs but costs 6 points of synthetic detection and fails on small scans,
    /// where an object is a large share of any neighbourhood (docs/design/uvss.md).
    pub noise_tile: f32,
    /// Share of the travel length at each end where no region is reported (bumpers, entry).
    pub end_band: f32,
    /// Largest ratio of pixels across the lane between the two scans (scanner resolutions)
    /// and of lengths along travel at a common scale across (line rates times speeds); beyond
    /// these the pair is `too_different_in_size`.
    pub max_resolution_ratio: f32,
    pub max_length_ratio: f32,
    /// Once registration has measured the length ratio, the finer scan is resampled along
    /// travel to the coarser when they differ by more than this ratio (1.1, chosen on the
    /// choose conditions of `uvss_eval`, see [`super::RegisterParams`]: two passes of one
    /// scanner within 10 % keep their own sampling).
    pub equalise_above: f32,
    /// Match the new scan's tone curve to the reference's before registering (see
    /// [`super::tone`]); off only to measure what it does.
    pub match_tone: bool,
    /// ... when the map between the tone curves bends away from a straight line by at least
    /// this share of the grey range ([`super::tone::ToneMap::bend`]; 0.05: a straight map is
    /// a gain and an offset, which the normalisation divides out; the synthetic pairs of one
    /// exposure bend by 0.005-0.016, the real passes of different days by 0.01-0.09).
    pub tone_bend: f32,
    /// ... and, when it does, difference the new scan put on the reference's curve too
    /// ([`super::tone::ToneMap::onto_reference`], normalised by its own contrast); off only to
    /// measure what it does (round 5: synthetic gamma 0.6 10/20 -> 15/20 detected, gamma 0.5
    /// 7/20 -> 14/20).
    pub tone_difference: bool,
    /// ... unless the new scan clips more than the reference: its share of work pixels at the
    /// sensor's top exceeds the reference's by more than this (see `stages::clips_no_more`;
    /// 0.035: the real passes of one exposure on different days differ by up to 0.030, a gain
    /// of 1.3 adds 0.040 to 0.112; round 5).
    pub tone_clip: f32,
    /// How far a candidate region is moved as a whole before it is reported, in search
    /// windows along and across (see [`super::rematch`]).
    pub rematch: Reach,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            travel: TravelAxis::Auto,
            work_cross: 400,
            register: RegisterParams::default(),
            norm_radius: 40,
            norm_floor: 2.0,
            diff_step: 2,
            search_along: 2,
            search_across: 5,
            patch: 1,
            chroma_weight: 1.0,
            pixel_threshold: 1.5,
            open_radius: 1,
            region_threshold: 3.0,
            full_area: 250,
            residual_floor: 0.2,
            floor_growth: 0.0,
            max_residual: 0.9,
            min_area: 16,
            min_quality: 0.35,
            min_coverage: 0.7,
            max_regions: 20,
            noise_tile: 0.0,
            end_band: 0.03,
            max_resolution_ratio: 5.0,
            max_length_ratio: 6.0,
            equalise_above: 1.1,
            match_tone: true,
            tone_bend: 0.05,
            tone_difference: true,
            tone_clip: 0.035,
            rematch: Reach { along: 2, across: 1 },
        }
    }
}
