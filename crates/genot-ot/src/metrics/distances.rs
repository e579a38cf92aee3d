//! Energy distance and RBF maximum mean discrepancy, computed in row blocks (memory
//! `O(block x m)`, never `n x m`).

use crate::cost::{map_cost_rows, SqEuclidean};
use crate::error::{OtError, Result};
use crate::geometry::validate_points;
use crate::real::Real;
use ndarray::{ArrayView2, Axis};

/// Mean over all pairs of `map(||x_i - y_j||^2)`.
fn mean_over_pairs<F: Real>(
    x: ArrayView2<F>,
    y: ArrayView2<F>,
    map: impl Fn(f64) -> f64 + Sync,
) -> f64 {
    let rows = map_cost_rows(&SqEuclidean, x, y, |_, row| {
        row.iter().map(|&d| map(d.f64())).sum::<f64>()
    });
    rows.iter().sum::<f64>() / (x.nrows() * y.nrows()) as f64
}

fn check_pair<F: Real>(x: &ArrayView2<F>, y: &ArrayView2<F>) -> Result<()> {
    validate_points("first sample", x.view())?;
    validate_points("second sample", y.view())?;
    if x.ncols() != y.ncols() {
        return Err(OtError::DimensionMismatch {
            what: format!("samples have {} and {} dimensions", x.ncols(), y.ncols()),
        });
    }
    Ok(())
}

/// Energy distance `2 E||X - Y|| - E||X - X'|| - E||Y - Y'||` (V-statistics, Euclidean).
/// Zero iff the two empirical distributions coincide.
pub fn energy_distance<F: Real>(x: ArrayView2<F>, y: ArrayView2<F>) -> Result<f64> {
    check_pair(&x, &y)?;
    let d = |v: f64| v.max(0.0).sqrt();
    Ok(2.0 * mean_over_pairs(x, y, d) - mean_over_pairs(x, x, d) - mean_over_pairs(y, y, d))
}

/// Squared maximum mean discrepancy with the Gaussian kernel `exp(-gamma ||x - y||^2)`
/// (biased V-statistic: `mean k(x, x') + mean k(y, y') - 2 mean k(x, y)`).
pub fn mmd_rbf<F: Real>(x: ArrayView2<F>, y: ArrayView2<F>, gamma: f64) -> Result<f64> {
    check_pair(&x, &y)?;
    if !(gamma > 0.0 && gamma.is_finite()) {
        return Err(OtError::InvalidParameter(format!(
            "MMD gamma must be positive, got {gamma}"
        )));
    }
    let k = |v: f64| (-gamma * v).exp();
    Ok(mean_over_pairs(x, x, k) + mean_over_pairs(y, y, k) - 2.0 * mean_over_pairs(x, y, k))
}

/// The median heuristic for [`mmd_rbf`]'s bandwidth: `1 /` the median squared distance
/// between distinct points of `y` (on at most about 2000 of them, evenly spaced); 1 when
/// that median is 0.
///
/// ```
/// use ndarray::array;
/// let y = array![[0.0f64], [1.0], [3.0]]; // squared distances 1, 9, 4
/// assert_eq!(genot_ot::metrics::median_heuristic_gamma(y.view()), 0.25);
/// ```
pub fn median_heuristic_gamma<F: Real>(y: ArrayView2<F>) -> f64 {
    let step = y.nrows().div_ceil(2000).max(1);
    let sub = y.select(Axis(0), &(0..y.nrows()).step_by(step).collect::<Vec<_>>());
    let d = crate::cost::cost_matrix(&SqEuclidean, sub.view(), sub.view());
    let mut v: Vec<f64> = d
        .indexed_iter()
        .filter(|((i, j), _)| i < j)
        .map(|(_, &x)| x.f64())
        .collect();
    if v.is_empty() {
        return 1.0;
    }
    let k = v.len() / 2;
    let (_, med, _) = v.select_nth_unstable_by(k, f64::total_cmp);
    if *med > 0.0 {
        1.0 / *med
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn hand_computed_cases() {
        // One point each at distance 3: energy = 2*3 - 0 - 0.
        let x = array![[0.0f64, 0.0]];
        let y = array![[3.0f64, 0.0]];
        assert!((energy_distance(x.view(), y.view()).unwrap() - 6.0).abs() < 1e-12);
        // MMD: 1 + 1 - 2 exp(-gamma 9).
        let v = mmd_rbf(x.view(), y.view(), 0.1).unwrap();
        assert!((v - (2.0 - 2.0 * (-0.9f64).exp())).abs() < 1e-12);
        // Two points vs the same two points: both vanish.
        let z = array![[0.0f64, 1.0], [2.0, -1.0]];
        assert!(energy_distance(z.view(), z.view()).unwrap().abs() < 1e-12);
        assert!(mmd_rbf(z.view(), z.view(), 0.5).unwrap().abs() < 1e-12);
        // x = {0, 2}, y = {1}: E|X-Y| = 1, E|X-X'| = (0+2+2+0)/4 = 1, E|Y-Y'| = 0.
        let x = array![[0.0f64], [2.0]];
        let y = array![[1.0f64]];
        assert!((energy_distance(x.view(), y.view()).unwrap() - 1.0).abs() < 1e-12);
        assert!(mmd_rbf(x.view(), y.view(), 0.0).is_err());
    }
}
