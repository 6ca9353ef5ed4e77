//! DB (Differentiable Binarization) post-processing of the PP-OCR detector.
//!
//! Same steps as PaddleOCR's `DBPostProcess`, without OpenCV: threshold the probability map,
//! dilate 2x2, label 8-connected regions (instead of `findContours`: the outer contour's convex
//! hull is the same as the region's), rotating-calipers minimum-area rectangle over the convex
//! hull, mean probability inside the rectangle as the score, then "unclip". Unclipping a
//! rectangle by `d = area * ratio / perimeter` with round joins and taking the minimum-area
//! rectangle again is exactly growing both sides by `2d`, so no polygon clipper is needed.

use crate::imgops::Quad;

/// Detection parameters (PaddleOCR / RapidOCR defaults unless noted).
#[derive(Debug, Clone, Copy)]
pub struct DbParams {
    pub thresh: f32,
    pub box_thresh: f32,
    pub unclip_ratio: f32,
    pub max_candidates: usize,
}

impl Default for DbParams {
    fn default() -> Self {
        DbParams { thresh: 0.3, box_thresh: 0.5, unclip_ratio: 1.6, max_candidates: 1000 }
    }
}

/// One detected text region in source-image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetBox {
    /// Clockwise from top-left.
    pub quad: Quad,
    pub score: f32,
}

impl DetBox {
    pub fn bbox(&self) -> [f32; 4] {
        crate::imgops::quad_bbox(&self.quad)
    }
}

/// Minimum-area rectangle: centre, unit axis along the first side, side lengths.
#[derive(Debug, Clone, Copy)]
struct MinRect {
    c: [f32; 2],
    u: [f32; 2],
    w: f32,
    h: f32,
}

impl MinRect {
    fn corners(&self) -> [[f32; 2]; 4] {
        let v = [-self.u[1], self.u[0]];
        let (hw, hh) = (self.w / 2.0, self.h / 2.0);
        let p = |a: f32, b: f32| [self.c[0] + self.u[0] * a + v[0] * b, self.c[1] + self.u[1] * a + v[1] * b];
        [p(-hw, -hh), p(hw, -hh), p(hw, hh), p(-hw, hh)]
    }
}

/// Boxes from a `h`x`w` probability map, scaled to a `src_w`x`src_h` image.
pub fn boxes_from_map(prob: &[f32], w: usize, h: usize, src_w: u32, src_h: u32, p: &DbParams) -> Vec<DetBox> {
    let bin: Vec<bool> = prob.iter().map(|&v| v > p.thresh).collect();
    // 2x2 dilation, as cv2.dilate with a 2x2 kernel (anchor at its centre).
    let mut mask = bin.clone();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if !bin[i]
                && ((x > 0 && bin[i - 1]) || (y > 0 && bin[i - w]) || (x > 0 && y > 0 && bin[i - w - 1]))
            {
                mask[i] = true;
            }
        }
    }
    let (sx, sy) = (src_w as f32 / w as f32, src_h as f32 / h as f32);
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    let (mut row_min, mut row_max) = (vec![i32::MAX; h], vec![i32::MIN; h]);
    let mut touched: Vec<usize> = Vec::new();
    for start in 0..w * h {
        if !mask[start] || seen[start] {
            continue;
        }
        // Flood-fill one region, keeping each row's extreme pixels for the hull.
        touched.clear();
        seen[start] = true;
        stack.push(start);
        let mut count = 0usize;
        while let Some(i) = stack.pop() {
            count += 1;
            let (x, y) = ((i % w) as i32, (i / w) as i32);
            let yu = y as usize;
            if row_min[yu] == i32::MAX {
                touched.push(yu);
            }
            row_min[yu] = row_min[yu].min(x);
            row_max[yu] = row_max[yu].max(x);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= w as i32 || ny >= h as i32 {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        let mut pts: Vec<[f32; 2]> = Vec::with_capacity(touched.len() * 2);
        for &y in &touched {
            pts.push([row_min[y] as f32, y as f32]);
            pts.push([row_max[y] as f32, y as f32]);
            row_min[y] = i32::MAX;
            row_max[y] = i32::MIN;
        }
        if count < 4 || out.len() >= p.max_candidates {
            continue;
        }
        let hull = convex_hull(pts);
        let Some(r) = min_area_rect(&hull) else { continue };
        if r.w.min(r.h) < 3.0 {
            continue;
        }
        let score = mean_in_rect(prob, w, h, &r);
        if score < p.box_thresh {
            continue;
        }
        let d = r.w * r.h * p.unclip_ratio / (2.0 * (r.w + r.h));
        let grown = MinRect { w: r.w + 2.0 * d, h: r.h + 2.0 * d, ..r };
        if grown.w.min(grown.h) < 5.0 {
            continue;
        }
        let corners = grown
            .corners()
            .map(|[x, y]| [(x * sx).clamp(0.0, src_w as f32), (y * sy).clamp(0.0, src_h as f32)]);
        out.push(DetBox { quad: order_points(corners), score });
    }
    out
}

/// Andrew's monotone chain.
fn convex_hull(mut pts: Vec<[f32; 2]>) -> Vec<[f32; 2]> {
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let cross =
        |o: [f32; 2], a: [f32; 2], b: [f32; 2]| (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
    let mut hull: Vec<[f32; 2]> = Vec::with_capacity(pts.len() * 2);
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &[f32; 2]>> =
            if pass == 0 { Box::new(pts.iter()) } else { Box::new(pts.iter().rev()) };
        for &p in iter {
            while hull.len() >= start + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

fn min_area_rect(hull: &[[f32; 2]]) -> Option<MinRect> {
    if hull.is_empty() {
        return None;
    }
    if hull.len() < 3 {
        let (a, b) = (hull[0], *hull.last().unwrap());
        let len = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
        let u = if len > 0.0 { [(b[0] - a[0]) / len, (b[1] - a[1]) / len] } else { [1.0, 0.0] };
        return Some(MinRect { c: [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0], u, w: len, h: 0.0 });
    }
    let mut best: Option<(f32, MinRect)> = None;
    for i in 0..hull.len() {
        let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
        let len = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
        if len == 0.0 {
            continue;
        }
        let u = [(b[0] - a[0]) / len, (b[1] - a[1]) / len];
        let v = [-u[1], u[0]];
        let (mut min_u, mut max_u, mut min_v, mut max_v) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for p in hull {
            let pu = p[0] * u[0] + p[1] * u[1];
            let pv = p[0] * v[0] + p[1] * v[1];
            min_u = min_u.min(pu);
            max_u = max_u.max(pu);
            min_v = min_v.min(pv);
            max_v = max_v.max(pv);
        }
        let area = (max_u - min_u) * (max_v - min_v);
        if best.as_ref().is_none_or(|(a, _)| area < *a) {
            let (cu, cv) = ((min_u + max_u) / 2.0, (min_v + max_v) / 2.0);
            let c = [u[0] * cu + v[0] * cv, u[1] * cu + v[1] * cv];
            best = Some((area, MinRect { c, u, w: max_u - min_u, h: max_v - min_v }));
        }
    }
    best.map(|(_, r)| r)
}

fn mean_in_rect(prob: &[f32], w: usize, h: usize, r: &MinRect) -> f32 {
    let cs = r.corners();
    let x0 = cs.iter().map(|c| c[0]).fold(f32::MAX, f32::min).floor().max(0.0) as usize;
    let x1 = (cs.iter().map(|c| c[0]).fold(f32::MIN, f32::max).ceil() as usize).min(w - 1);
    let y0 = cs.iter().map(|c| c[1]).fold(f32::MAX, f32::min).floor().max(0.0) as usize;
    let y1 = (cs.iter().map(|c| c[1]).fold(f32::MIN, f32::max).ceil() as usize).min(h - 1);
    let v = [-r.u[1], r.u[0]];
    let (mut sum, mut n) = (0.0f32, 0usize);
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (dx, dy) = (x as f32 - r.c[0], y as f32 - r.c[1]);
            if (dx * r.u[0] + dy * r.u[1]).abs() <= r.w / 2.0 + 0.5
                && (dx * v[0] + dy * v[1]).abs() <= r.h / 2.0 + 0.5
            {
                sum += prob[y * w + x];
                n += 1;
            }
        }
    }
    if n == 0 {
        0.0
    } else {
        sum / n as f32
    }
}

/// Clockwise from the top-left corner (the one with the smallest x + y). Unlike PaddleOCR's
/// sort-by-x, this stays right for slanted tall boxes (a vertical code seen at an angle).
fn order_points(p: [[f32; 2]; 4]) -> Quad {
    let cross = (p[1][0] - p[0][0]) * (p[2][1] - p[1][1]) - (p[1][1] - p[0][1]) * (p[2][0] - p[1][0]);
    // In image coordinates (y down) a positive cross product is clockwise.
    let cyc = if cross >= 0.0 { p } else { [p[0], p[3], p[2], p[1]] };
    let start =
        (0..4).min_by(|&a, &b| (cyc[a][0] + cyc[a][1]).total_cmp(&(cyc[b][0] + cyc[b][1]))).unwrap_or(0);
    [cyc[start], cyc[(start + 1) % 4], cyc[(start + 2) % 4], cyc[(start + 3) % 4]]
}

/// Reading order: top to bottom, left to right within ~a line.
pub fn sort_reading_order(boxes: &mut [DetBox]) {
    boxes.sort_by(|a, b| a.quad[0][1].total_cmp(&b.quad[0][1]).then(a.quad[0][0].total_cmp(&b.quad[0][0])));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_one_rectangle_and_unclips_it() {
        let (w, h) = (64, 32);
        let mut prob = vec![0.0f32; w * h];
        for y in 10..20 {
            for x in 8..56 {
                prob[y * w + x] = 0.9;
            }
        }
        let boxes = boxes_from_map(&prob, w, h, 128, 64, &DbParams::default());
        assert_eq!(boxes.len(), 1);
        let [x0, y0, x1, y1] = boxes[0].bbox();
        assert!(x0 < 16.0 && x1 > 112.0 && y0 < 20.0 && y1 > 40.0, "{:?}", boxes[0]);
        assert!(boxes[0].score > 0.8);
    }
}
