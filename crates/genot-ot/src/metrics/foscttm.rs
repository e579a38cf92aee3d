//! FOSCTTM: fraction of samples closer than the true match.

use crate::cost::{map_cost_rows, SqEuclidean};
use crate::error::{OtError, Result};
use crate::geometry::validate_points;
use crate::real::Real;
use ndarray::ArrayView2;

/// FOSCTTM between paired samples: row `i` of `x` is the true match of row `i` of `y`.
///
/// For each `i`, the fraction of the other `n - 1` points of `y` closer to `x_i` than `y_i`
/// is, and the fraction of the other points of `x` closer to `y_i` than `x_i` is (Euclidean
/// distance); the result is the mean of both over all `i`. 0 is a perfect alignment, about
/// 0.5 a random one.
///
/// ```
/// use genot_ot::metrics::foscttm;
/// use ndarray::array;
/// let x = array![[0.0f64], [1.0], [2.0]];
/// assert_eq!(foscttm(x.view(), x.view()).unwrap(), 0.0);
/// ```
pub fn foscttm<F: Real>(x: ArrayView2<F>, y: ArrayView2<F>) -> Result<f64> {
    validate_points("predictions", x)?;
    validate_points("true matches", y)?;
    if x.dim() != y.dim() {
        return Err(OtError::DimensionMismatch {
            what: format!(
                "FOSCTTM needs paired samples of the same shape, got {:?} and {:?}",
                x.dim(),
                y.dim()
            ),
        });
    }
    let n = x.nrows();
    if n < 2 {
        return Err(OtError::InvalidParameter(
            "FOSCTTM needs at least 2 paired samples".into(),
        ));
    }
    // d(x_j, y_j), the distance of each true pair.
    let own: Vec<F> = (0..n)
        .map(|j| {
            let (xj, yj) = (x.row(j), y.row(j));
            xj.iter()
                .zip(yj.iter())
                .fold(F::zero(), |s, (&a, &b)| s + (a - b) * (a - b))
        })
        .collect();
    // Row i of the cost of `a` against `b`: how many b_j (j != i) are closer to a_i than its
    // true partner b_i. The true pair is computed twice (GEMM and directly): comparing with
    // the direct value means it never counts as closer than itself.
    let closer = |a: ArrayView2<F>, b: ArrayView2<F>| -> usize {
        map_cost_rows(&SqEuclidean, a, b, |i, row| {
            row.iter()
                .enumerate()
                .filter(|&(j, &v)| j != i && v < own[i])
                .count()
        })
        .into_iter()
        .sum()
    };
    let denom = (n * (n - 1)) as f64;
    Ok(0.5 * (closer(x, y) as f64 / denom + closer(y, x) as f64 / denom))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn hand_made_cases() {
        let x = array![[0.0f64], [1.0], [2.0], [3.0]];
        assert_eq!(foscttm(x.view(), x.view()).unwrap(), 0.0);
        // Reversed pairing: y_i = x_{3-i}.
        let y = array![[3.0f64], [2.0], [1.0], [0.0]];
        // Row side: x_0 (0) true match y_0 (3), distance 3: closer are y_1 (2), y_2 (1),
        // y_3 (0) -> 3. x_1 (1) vs y_1 (2) d=1: closer y_2 (1, d=0) -> 1. x_2 (2) vs y_2 (1)
        // d=1: closer y_1 (2, d=0) -> 1. x_3 vs y_3 (0) d=3: closer y_0, y_1, y_2 -> 3.
        // Column side is symmetric here: 8 again. Total = (8/12 + 8/12) / 2.
        let v = foscttm(x.view(), y.view()).unwrap();
        assert!((v - 8.0 / 12.0).abs() < 1e-12, "{v}");
        // Shape mismatch is an error.
        assert!(foscttm(x.view(), array![[0.0f64, 1.0]].view()).is_err());
    }
}
