//! Tone matching: the new scan's grey levels put on the reference's tone curve before the two
//! are aligned and differenced.
//!
//! Two passes differ in exposure, gain and the camera's tone curve (another scanner, another
//! time of day, an automatic exposure that reacted to the sky behind the lane). Dividing by a
//! global contrast (see [`super::plane::Plane::normalise`]) removes a gain, but not a curve: a
//! gamma of 0.6 lifts the contrast of the dark parts and flattens the bright ones, and a gain of
//! 1.6 clips everything above 160 of 255 to one flat white, so the same part has another local
//! contrast in each scan and the block match of registration finds worse partners. Any monotone
//! tone curve keeps the order of grey levels, so matching the new scan's histogram to the
//! reference's (each level of the new scan goes to the level at the same rank in the
//! reference) undoes it, whatever its shape; clipped pixels go to the middle of the levels they
//! stand for. Registration uses it on the grey (see `stages::Prepared::match_tone`), the
//! difference on each colour channel (see [`ToneMap::onto_reference`] and
//! `stages::difference`) unless the new scan clips more than the reference
//! (`stages::clips_no_more`): clipped texture is gone, and no map brings it back.

use super::plane::{Plane, LUMA};

/// Histogram bins per grey level (work pixels are averages, so they fall between levels).
const SUB: usize = 4;
const BINS: usize = 256 * SUB;

/// A monotone map from the new scan's grey levels to the reference's.
pub(crate) struct ToneMap {
    /// The matched level of every bin edge of the new scan's grey (BINS + 1 knots).
    knots: Vec<f32>,
    /// How far the map bends away from a straight line (see [`ToneMap::bend`]).
    bend: f32,
}

fn bin(v: f32) -> usize {
    ((v * SUB as f32) as isize).clamp(0, BINS as isize - 1) as usize
}

/// Cumulative share of pixels below each bin edge (BINS + 1 values, 0 to 1).
fn cdf(p: &Plane) -> Vec<f64> {
    let mut hist = vec![0u64; BINS];
    let mut n = 0u64;
    for v in &p.data {
        if v.is_finite() {
            hist[bin(*v)] += 1;
            n += 1;
        }
    }
    let mut out = Vec::with_capacity(BINS + 1);
    let mut acc = 0u64;
    out.push(0.0);
    for h in hist {
        acc += h;
        out.push(acc as f64 / n.max(1) as f64);
    }
    out
}

impl ToneMap {
    /// The map that gives `new` the histogram of `reference`.
    pub fn matching(reference: &Plane, new: &Plane) -> ToneMap {
        let (cr, cn) = (cdf(reference), cdf(new));
        let edge = |i: usize| (i as f32) / SUB as f32;
        // Inverse CDF of the reference, linear within a bin.
        let inverse = |q: f64| -> f32 {
            // The lowest rank goes to the reference's lowest level, the highest to its highest.
            let k = if q <= 0.0 { cr.partition_point(|&c| c <= q) } else { cr.partition_point(|&c| c < q) };
            let k = k.clamp(1, BINS);
            let (c0, c1) = (cr[k - 1], cr[k]);
            let f = if c1 > c0 { ((q - c0) / (c1 - c0)) as f32 } else { 0.0 };
            edge(k - 1) + f / SUB as f32
        };
        // A bin edge of the new scan maps to the reference level of the same rank; inside a
        // run of empty bins the rank does not change, so the map is flat there (and monotone).
        let knots = cn.iter().map(|&q| inverse(q)).collect();
        // The same ranks in both scans, from the 5th to the 95th percentile.
        let level = |c: &[f64], q: f64| edge(c.partition_point(|&v| v < q).saturating_sub(1));
        let ranks: Vec<(f32, f32)> =
            (1..=19).map(|k| k as f64 * 0.05).map(|q| (level(&cn, q), level(&cr, q))).collect();
        ToneMap { knots, bend: bend(&ranks) }
    }

    /// Largest distance of the map from the straight line through it (least squares over the
    /// 5th..95th percentiles), as a share of the reference's grey range over those
    /// percentiles. A gain and an offset give 0: the normalisation divides them out already,
    /// and matching would only reshape the histogram after what each pass happened to show
    /// (an object, more of the lane beside the vehicle). A tone curve or clipping bends it.
    pub fn bend(&self) -> f32 {
        self.bend
    }

    /// The matched level of grey `v`. A level is read at the middle of its bin's ranks: a
    /// clipped scan has all its saturated pixels at exactly 255, and they go to the middle of
    /// the reference levels they stand for, not to the lowest of them.
    pub fn apply(&self, v: f32) -> f32 {
        let x = (v * SUB as f32 + 0.5).clamp(0.0, BINS as f32);
        let i = (x as usize).min(BINS - 1);
        self.knots[i] + (self.knots[i + 1] - self.knots[i]) * (x - i as f32)
    }

    /// A scan's grey and colour-difference planes (`B - Y`, `R - Y`) with each colour channel
    /// put on the reference's curve, returned in the same form. A tone curve acts on each
    /// channel of the camera, so that is where it is undone: a grey map with the colour planes
    /// left alone would keep a brightened pass's colour contrast 1.6 times the reference's,
    /// and a pixel whose red channel clipped keeps a hue the reference does not show. The
    /// channels are recovered from the planes of the work grid (averages of the scan's pixels),
    /// which is exact where the map is straight over the pixels averaged.
    pub fn onto_reference(&self, grey: &Plane, b_y: &Plane, r_y: &Plane) -> [Plane; 3] {
        debug_assert!(grey.data.len() == b_y.data.len() && grey.data.len() == r_y.data.len());
        let mut out = [grey.clone(), b_y.clone(), r_y.clone()];
        for i in 0..grey.data.len() {
            let (y, u, v) = (grey.data[i], b_y.data[i], r_y.data[i]);
            let (b, r) = (u + y, v + y);
            let g = (y - LUMA[0] * r - LUMA[2] * b) / LUMA[1];
            let (r, g, b) = (self.apply(r), self.apply(g), self.apply(b));
            let y = LUMA[0] * r + LUMA[1] * g + LUMA[2] * b;
            out[0].data[i] = y;
            out[1].data[i] = b - y;
            out[2].data[i] = r - y;
        }
        out
    }
}

/// See [`ToneMap::bend`]; `ranks` are (new, reference) levels at the same ranks.
fn bend(ranks: &[(f32, f32)]) -> f32 {
    let n = ranks.len() as f32;
    let (mx, my) = ranks.iter().fold((0.0, 0.0), |a, r| (a.0 + r.0 / n, a.1 + r.1 / n));
    let sxx: f32 = ranks.iter().map(|r| (r.0 - mx).powi(2)).sum();
    let sxy: f32 = ranks.iter().map(|r| (r.0 - mx) * (r.1 - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let worst = ranks.iter().map(|r| (r.1 - my - slope * (r.0 - mx)).abs()).fold(0.0, f32::max);
    let spread = ranks.last().map_or(0.0, |l| l.1) - ranks.first().map_or(0.0, |f| f.1);
    worst / spread.max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(f: impl Fn(usize) -> f32) -> Plane {
        Plane { w: 200, h: 100, data: (0..20_000).map(f).collect() }
    }

    #[test]
    fn a_gamma_curve_is_undone_and_clipping_bends_the_map() {
        let base = plane(|i| 10.0 + (i * 7919 % 240) as f32);
        let curved = plane(|i| 255.0 * (base.data[i] / 255.0).powf(0.6));
        let m = ToneMap::matching(&base, &curved);
        assert!(m.bend() > 0.05, "a gamma of 0.6 bends the map: {}", m.bend());
        let worst =
            base.data.iter().zip(&curved.data).map(|(a, b)| (m.apply(*b) - a).abs()).fold(0.0, f32::max);
        assert!(worst < 1.0, "worst {worst}");
        // A gain of 1.6 clips everything above 159.
        let bright = plane(|i| (base.data[i] * 1.6).min(255.0));
        let m = ToneMap::matching(&base, &bright);
        assert!((m.apply(100.0 * 1.6) - 100.0).abs() < 1.0, "{}", m.apply(160.0));
        // The clipped pixels go to the middle of the levels they stand for (160..250 here).
        assert!((m.apply(255.0) - 205.0).abs() < 10.0, "{}", m.apply(255.0));
        assert!(m.bend() > 0.05, "clipping bends the map: {}", m.bend());
        // A plain gain and offset leave it straight: nothing the normalisation does not undo.
        let dim = plane(|i| base.data[i] * 0.7 + 5.0);
        assert!(ToneMap::matching(&base, &dim).bend() < 0.02, "{}", ToneMap::matching(&base, &dim).bend());
    }

    #[test]
    fn colour_is_put_on_the_reference_curve_channel_by_channel() {
        // Work pixels of a greyish underside with coloured parts (up to 40 levels between the
        // channels, clipped at 255 like the camera's): grey, B - Y and R - Y from r, g, b.
        let rgb = |i: usize| {
            let base = 20.0 + (i * 7919 % 236) as f32;
            let r = (base + (i * 13 % 41) as f32).min(255.0);
            let b = (base + (i * 7 % 31) as f32).min(255.0);
            (r, base, b)
        };
        let planes = |f: &dyn Fn(f32) -> f32| {
            let y = plane(|i| {
                let (r, g, b) = rgb(i);
                LUMA[0] * f(r) + LUMA[1] * f(g) + LUMA[2] * f(b)
            });
            let u = plane(|i| f(rgb(i).2) - y.data[i]);
            let v = plane(|i| f(rgb(i).0) - y.data[i]);
            [y, u, v]
        };
        let reference = planes(&|c| c);
        let curved = planes(&|c: f32| 255.0 * (c / 255.0).powf(0.6));
        let [ny, nu, nv] = &curved;
        let matched = ToneMap::matching(&reference[0], ny).onto_reference(ny, nu, nv);
        // Mean error per plane: the grey map is estimated from grey, not from the channels.
        let error = |a: &[Plane; 3], k: usize| {
            a[k].data.iter().zip(&reference[k].data).map(|(x, y)| (x - y).abs()).sum::<f32>()
                / a[k].data.len() as f32
        };
        for k in 0..3 {
            let (before, after) = (error(&curved, k), error(&matched, k));
            assert!(after < 1.0 && after < before / 4.0, "plane {k}: {before} -> {after}");
        }
    }

    #[test]
    fn matching_a_scan_to_itself_changes_nothing() {
        let base = plane(|i| (i * 31 % 256) as f32 * 0.9 + 3.0);
        let m = ToneMap::matching(&base, &base);
        assert!(base.data.iter().all(|v| (m.apply(*v) - v).abs() < 0.5));
        assert!(m.bend() < 0.01, "{}", m.bend());
    }
}
