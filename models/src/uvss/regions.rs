//! Anomaly regions: threshold the difference, group pixels into 8-connected
//! components, and keep components that are both large enough and strong enough on average.
//! Requiring a mean (not a peak) keeps thin residual edges (a cable that swung, a pipe seen
//! with parallax) from qualifying while a solid object does.

use super::plane::Plane;

/// A connected component on the work grid of the reference frame (inclusive-exclusive box).
#[derive(Clone, Debug, PartialEq)]
pub struct Blob {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
    pub area: usize,
    /// Mean of the difference over the component's pixels.
    pub mean: f32,
    /// The component's pixels (row-major indices into the plane).
    pub pixels: Vec<usize>,
}

/// Components of `d > threshold` with at least `min_area` pixels, strongest first.
pub fn blobs(d: &Plane, threshold: f32, min_area: usize) -> Vec<Blob> {
    let mask: Vec<bool> = d.data.iter().map(|v| *v > threshold).collect();
    components(d, &mask, min_area)
}

/// Like [`blobs`], but the thresholded mask is first opened with a (2r+1)^2 square (erode,
/// then dilate): whatever is thinner than that (the residual edge of a pipe seen with
/// parallax, a swinging cable, the rim of a highlight) disappears, while a compact object
/// keeps its shape. What survives is then scored by its mean difference.
pub fn compact_blobs(d: &Plane, threshold: f32, open_r: usize, min_area: usize) -> Vec<Blob> {
    let mask: Vec<bool> = d.data.iter().map(|v| *v > threshold).collect();
    let opened = dilate(&erode(&mask, d.w, d.h, open_r), d.w, d.h, open_r);
    components(d, &opened, min_area)
}

fn erode(m: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    morph(m, w, h, r, true)
}

fn dilate(m: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    morph(m, w, h, r, false)
}

/// Separable square erosion (`all`) or dilation (any) of radius r; outside counts as false.
fn morph(m: &[bool], w: usize, h: usize, r: usize, all: bool) -> Vec<bool> {
    if r == 0 {
        return m.to_vec();
    }
    let pass = |src: &[bool], horizontal: bool| -> Vec<bool> {
        let mut out = vec![false; w * h];
        for y in 0..h {
            for x in 0..w {
                let (c, n) = if horizontal { (x, w) } else { (y, h) };
                let (a, b) = (c as isize - r as isize, c + r);
                let mut acc = all;
                for k in a..=b as isize {
                    let v = if k < 0 || k as usize >= n {
                        false
                    } else if horizontal {
                        src[y * w + k as usize]
                    } else {
                        src[k as usize * w + x]
                    };
                    if all {
                        acc &= v;
                        if !acc {
                            break;
                        }
                    } else if v {
                        acc = true;
                        break;
                    }
                }
                out[y * w + x] = acc;
            }
        }
        out
    };
    pass(&pass(m, true), false)
}

/// 8-connected components of `mask` with at least `min_area` pixels, strongest mean first.
fn components(d: &Plane, mask: &[bool], min_area: usize) -> Vec<Blob> {
    let (w, h) = (d.w, d.h);
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if seen[start] || !mask[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut b =
            Blob { x0: usize::MAX, y0: usize::MAX, x1: 0, y1: 0, area: 0, mean: 0.0, pixels: Vec::new() };
        let mut sum = 0f64;
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            b.x0 = b.x0.min(x);
            b.y0 = b.y0.min(y);
            b.x1 = b.x1.max(x + 1);
            b.y1 = b.y1.max(y + 1);
            b.area += 1;
            b.pixels.push(i);
            sum += d.data[i] as f64;
            for ny in y.saturating_sub(1)..(y + 2).min(h) {
                for nx in x.saturating_sub(1)..(x + 2).min(w) {
                    let j = ny * w + nx;
                    if !seen[j] && mask[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        if b.area >= min_area {
            b.mean = (sum / b.area as f64) as f32;
            out.push(b);
        }
    }
    out.sort_by(|a, b| b.mean.total_cmp(&a.mean));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_separate_components_with_boxes() {
        let mut d = Plane::new(20, 10);
        for (x, y) in [(2, 2), (3, 2), (3, 3), (4, 4)] {
            d.data[y * 20 + x] = 2.0; // diagonal neighbour joins: one component
        }
        for y in 5..9 {
            for x in 12..16 {
                d.data[y * 20 + x] = 3.0;
            }
        }
        d.data[9 * 20 + 19] = 5.0; // a single pixel, below min_area
        let b = blobs(&d, 1.0, 3);
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].x0, b[0].y0, b[0].x1, b[0].y1, b[0].area), (12, 5, 16, 9, 16));
        assert!((b[0].mean - 3.0).abs() < 1e-6);
        assert_eq!((b[1].x0, b[1].y0, b[1].x1, b[1].y1, b[1].area), (2, 2, 5, 5, 4));
    }

    #[test]
    fn opening_drops_thin_streaks_and_keeps_compact_objects() {
        let mut d = Plane::new(40, 20);
        for x in 2..38 {
            d.data[3 * 40 + x] = 4.0; // a streak 1 px thick
            d.data[4 * 40 + x] = 4.0; // ... 2 px thick
        }
        for y in 10..17 {
            for x in 20..27 {
                d.data[y * 40 + x] = 2.0;
            }
        }
        let b = compact_blobs(&d, 1.0, 1, 4);
        assert_eq!(b.len(), 1, "{b:?}");
        assert_eq!((b[0].x0, b[0].y0, b[0].x1, b[0].y1, b[0].area), (20, 10, 27, 17, 49));
        assert_eq!(blobs(&d, 1.0, 4).len(), 2);
    }
}
