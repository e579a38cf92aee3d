//! `genot.metrics`: distances between point clouds (float64).

use crate::errors::ot_err;
use genot_ot::metrics;
use genot_ot::prelude::*;
use numpy::PyReadonlyArray2;
use pyo3::prelude::*;
use std::sync::Arc;

/// Debiased Sinkhorn divergence with the squared Euclidean cost, unscaled, absolute epsilon
/// (the quantity `genot eval` reports).
#[pyfunction]
#[pyo3(signature = (x, y, *, epsilon=0.1))]
pub fn sinkhorn_divergence(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f64>,
    y: PyReadonlyArray2<'_, f64>,
    epsilon: f64,
) -> PyResult<f64> {
    crate::ot::positive("epsilon", epsilon)?;
    let (x, y) = (x.as_array().to_owned(), y.as_array().to_owned());
    let solver = Sinkhorn::default()
        .with_threshold(1e-4)
        .with_max_iterations(10_000);
    py.detach(|| {
        metrics::sinkhorn_divergence(
            &x,
            &y,
            Arc::new(SqEuclidean),
            ScaleCost::None,
            Epsilon::Absolute(epsilon),
            &solver,
        )
    })
    .map(|d| d.divergence)
    .map_err(ot_err)
}

#[pyfunction]
pub fn energy_distance(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f64>,
    y: PyReadonlyArray2<'_, f64>,
) -> PyResult<f64> {
    let (x, y) = (x.as_array(), y.as_array());
    py.detach(|| metrics::energy_distance(x, y)).map_err(ot_err)
}

/// Squared MMD with an RBF kernel; `gamma` None takes the median heuristic on `y`.
/// Returns `(mmd, gamma)`.
#[pyfunction]
#[pyo3(signature = (x, y, *, gamma=None))]
pub fn mmd(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f64>,
    y: PyReadonlyArray2<'_, f64>,
    gamma: Option<f64>,
) -> PyResult<(f64, f64)> {
    let (x, y) = (x.as_array(), y.as_array());
    py.detach(|| {
        let g = gamma.unwrap_or_else(|| metrics::median_heuristic_gamma(y));
        metrics::mmd_rbf(x, y, g).map(|m| (m, g))
    })
    .map_err(ot_err)
}

#[pyfunction]
pub fn foscttm(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f64>,
    y: PyReadonlyArray2<'_, f64>,
) -> PyResult<f64> {
    let (x, y) = (x.as_array(), y.as_array());
    py.detach(|| metrics::foscttm(x, y)).map_err(ot_err)
}

/// Labels are integer codes shared by both sides.
#[pyfunction]
#[pyo3(signature = (pred, pred_labels, target, target_labels, *, k=5))]
pub fn label_transfer_accuracy(
    py: Python<'_>,
    pred: PyReadonlyArray2<'_, f64>,
    pred_labels: Vec<usize>,
    target: PyReadonlyArray2<'_, f64>,
    target_labels: Vec<usize>,
    k: usize,
) -> PyResult<f64> {
    let (p, t) = (pred.as_array(), target.as_array());
    py.detach(|| metrics::label_transfer_accuracy(p, &pred_labels, t, &target_labels, k))
        .map_err(ot_err)
}
