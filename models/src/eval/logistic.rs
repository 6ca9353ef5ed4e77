//! The calibration map's fit: a small logistic regression, `P(right) = σ(w·x)`.
//!
//! Newton's method on the log-loss with a ridge penalty (a few dozen wrong reads cannot pin down
//! many weights; the penalty keeps a weight that the data barely supports near zero), and every
//! weight but the bias held at zero or above: each cue of [`crate::read::calibrate`] is built to
//! speak *for* a read, so a fit that gave one a negative weight would be fitting noise (a cue
//! whose weight goes negative is dropped and the rest fit again).

/// Ridge penalty on every weight but the bias, in units of one read's log-loss.
pub const RIDGE: f64 = 1.0;

/// Weights of `σ(w·x)` fit to `(x, right)` samples, each wrong one counting `wrong_weight` times;
/// `x[0]` is the bias input (1). No weights when there are no samples.
pub fn fit(samples: &[(&[f32], bool)], ridge: f64, wrong_weight: f64) -> Vec<f32> {
    let Some(n) = samples.first().map(|s| s.0.len()) else { return vec![] };
    let mut free: Vec<bool> = vec![true; n];
    loop {
        let w = newton(samples, &free, ridge, wrong_weight);
        let worst = (1..n).filter(|&i| free[i] && w[i] < 0.0).min_by(|&a, &b| w[a].total_cmp(&w[b]));
        match worst {
            Some(i) => free[i] = false,
            None => return w.iter().map(|&v| v as f32).collect(),
        }
    }
}

/// Newton's method with only the `free` weights moving (the others stay 0).
fn newton(samples: &[(&[f32], bool)], free: &[bool], ridge: f64, wrong_weight: f64) -> Vec<f64> {
    let n = free.len();
    let idx: Vec<usize> = (0..n).filter(|&i| free[i]).collect();
    let m = idx.len();
    let mut w = vec![0.0f64; n];
    for _ in 0..100 {
        let mut g = vec![0.0f64; m];
        let mut h = vec![vec![0.0f64; m]; m];
        for (x, right) in samples {
            let z: f64 = idx.iter().map(|&i| w[i] * x[i] as f64).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let y = *right as u8 as f64;
            let k = if *right { 1.0 } else { wrong_weight };
            let v = k * (p * (1.0 - p)).max(1e-9);
            for (a, &i) in idx.iter().enumerate() {
                g[a] += k * (p - y) * x[i] as f64;
                for (b, &j) in idx.iter().enumerate() {
                    h[a][b] += v * x[i] as f64 * x[j] as f64;
                }
            }
        }
        for (a, &i) in idx.iter().enumerate() {
            // The bias is not pulled towards 0 (only a little, to stay finite on one-class data).
            let r = if i == 0 { 1e-3 } else { ridge };
            g[a] += r * w[i];
            h[a][a] += r;
        }
        let Some(step) = solve(h, g) else { break };
        let mut size = 0.0f64;
        for (a, &i) in idx.iter().enumerate() {
            w[i] -= step[a];
            size = size.max(step[a].abs());
        }
        if size < 1e-7 {
            break;
        }
    }
    w
}

/// `a · x = b` by Gaussian elimination with partial pivoting; `None` when `a` is singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (top, below) = a.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for (i, row) in below.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[col + 1 + i] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::calibrate::apply;

    #[test]
    fn the_fit_recovers_the_rate_of_right_reads_per_cue() {
        // Cue on: 95 of 100 right; cue off: 50 of 100 right.
        let on: [f32; 2] = [1.0, 1.0];
        let off: [f32; 2] = [1.0, 0.0];
        let mut samples: Vec<(&[f32], bool)> = Vec::new();
        samples.extend((0..100).map(|i| (&on[..], i < 95)));
        samples.extend((0..100).map(|i| (&off[..], i < 50)));
        let w = fit(&samples, 0.0, 1.0);
        assert!((apply(&w, &on) - 0.95).abs() < 1e-3, "{w:?}");
        assert!((apply(&w, &off) - 0.5).abs() < 1e-3, "{w:?}");
        // Wrong reads counting 2.5 times: the odds of being right come out 2.5 times lower.
        let w = fit(&samples, 0.0, 2.5);
        let odds = |p: f32| p / (1.0 - p);
        assert!((odds(apply(&w, &on)) - 19.0 / 2.5).abs() < 0.01, "{w:?}");
        assert!((odds(apply(&w, &off)) - 1.0 / 2.5).abs() < 0.01, "{w:?}");
    }

    #[test]
    fn a_cue_that_would_lower_the_confidence_is_left_out() {
        // The second cue is on mostly for wrong reads: its weight would be negative.
        let (a, b): ([f32; 2], [f32; 2]) = ([1.0, 1.0], [1.0, 0.0]);
        let mut samples: Vec<(&[f32], bool)> = Vec::new();
        samples.extend((0..50).map(|i| (&a[..], i < 10)));
        samples.extend((0..50).map(|i| (&b[..], i < 40)));
        let w = fit(&samples, RIDGE, 1.0);
        assert_eq!(w[1], 0.0);
        // What is left is the overall rate, 50 of 100.
        assert!((apply(&w, &a) - 0.5).abs() < 0.01, "{w:?}");
    }

    #[test]
    fn no_samples_no_weights() {
        assert!(fit(&[], RIDGE, 1.0).is_empty());
    }
}
