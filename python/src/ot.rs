//! Discrete entropic OT: `genot.ot.sinkhorn` and `genot.ot.gromov_wasserstein`. Results
//! come back as dicts that `genot/ot.py` wraps in result classes.

use crate::errors::{ot_err, value_err};
use genot_ot::choice::CostChoice;
use genot_ot::prelude::*;
use genot_ot::problem::validate_tau;
use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Arc;

/// `value` if it is finite and > 0, else a `ValueError` naming it.
pub fn positive(name: &str, value: f64) -> PyResult<f64> {
    if value > 0.0 && value.is_finite() {
        Ok(value)
    } else {
        Err(value_err(format!("{name} must be > 0, got {value}")))
    }
}

fn solver(threshold: f64, max_iterations: usize, mode: &str) -> PyResult<Sinkhorn> {
    positive("threshold", threshold)?;
    let mode: Mode = mode.parse().map_err(value_err)?;
    Ok(Sinkhorn::default()
        .with_threshold(threshold)
        .with_max_iterations(max_iterations)
        .with_mode(mode))
}

/// Entropic OT between the rows of `x` and `y` (weights `a`, `b`, uniform when None):
/// in float32 when `x` and `y` are float32 arrays (half the memory traffic of float64, as
/// OTT-JAX's default; `a`, `b` float32 too), else in float64 (`genot/ot.py` converts).
#[pyfunction]
#[pyo3(signature = (x, y, a=None, b=None, *, cost="sqeuclidean", epsilon=None,
    relative_epsilon=None, scale_cost="mean", tau_a=1.0, tau_b=1.0, threshold=1e-3,
    max_iterations=2000, mode="auto", norm="l1"))]
#[allow(clippy::too_many_arguments)]
pub fn sinkhorn<'py>(
    py: Python<'py>,
    x: Bound<'py, PyAny>,
    y: Bound<'py, PyAny>,
    a: Option<Bound<'py, PyAny>>,
    b: Option<Bound<'py, PyAny>>,
    cost: &str,
    epsilon: Option<f64>,
    relative_epsilon: Option<&str>,
    scale_cost: &str,
    tau_a: f64,
    tau_b: f64,
    threshold: f64,
    max_iterations: usize,
    mode: &str,
    norm: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let opts = LinearOptions {
        cost,
        epsilon,
        relative_epsilon,
        scale_cost,
        tau_a,
        tau_b,
        threshold,
        max_iterations,
        mode,
        norm,
    };
    if x.extract::<PyReadonlyArray2<f32>>().is_ok() && y.extract::<PyReadonlyArray2<f32>>().is_ok()
    {
        solve_linear::<f32>(py, &x, &y, a.as_ref(), b.as_ref(), &opts)
    } else {
        solve_linear::<f64>(py, &x, &y, a.as_ref(), b.as_ref(), &opts)
    }
}

/// The cost names every solver and `GENOT` read, each with what it is (one list, in
/// genot-ot, shared with the CLI's help).
#[pyfunction]
pub fn costs() -> Vec<(&'static str, &'static str)> {
    genot_ot::choice::COSTS.to_vec()
}

/// The keyword options of [`sinkhorn`].
struct LinearOptions<'a> {
    cost: &'a str,
    epsilon: Option<f64>,
    relative_epsilon: Option<&'a str>,
    scale_cost: &'a str,
    tau_a: f64,
    tau_b: f64,
    threshold: f64,
    max_iterations: usize,
    mode: &'a str,
    norm: &'a str,
}

fn solve_linear<'py, F: Real + numpy::Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    a: Option<&Bound<'py, PyAny>>,
    b: Option<&Bound<'py, PyAny>>,
    o: &LinearOptions,
) -> PyResult<Bound<'py, PyDict>> {
    let points = |v: &Bound<'py, PyAny>, name: &str| -> PyResult<ndarray::Array2<F>> {
        let arr: PyReadonlyArray2<F> = v
            .extract()
            .map_err(|_| value_err(format!("{name} must be a 2-D {} array", F::NAME)))?;
        Ok(arr.as_array().to_owned())
    };
    let weights = |v: &Bound<'py, PyAny>, name: &str| -> PyResult<ndarray::Array1<F>> {
        let arr: PyReadonlyArray1<F> = v
            .extract()
            .map_err(|_| value_err(format!("{name} must be a 1-D {} array", F::NAME)))?;
        Ok(arr.as_array().to_owned())
    };
    let cost = CostChoice::<F>::parse(o.cost).map_err(value_err)?;
    let scale: ScaleCost = o.scale_cost.parse().map_err(value_err)?;
    let eps = Epsilon::from_options(o.epsilon, o.relative_epsilon).map_err(value_err)?;
    let norm = match o.norm {
        "l1" => ErrorNorm::L1,
        "l2" => ErrorNorm::L2,
        other => {
            return Err(value_err(format!(
                "norm must be 'l1' or 'l2', got '{other}'"
            )))
        }
    };
    let solver = solver(o.threshold, o.max_iterations, o.mode)?
        .with_plan(true)
        .with_norm(norm);
    let (x, y) = (points(x, "x")?, points(y, "y")?);
    if x.ncols() != y.ncols() {
        return Err(value_err(format!(
            "x has {} columns and y {}: use gromov_wasserstein for different spaces",
            x.ncols(),
            y.ncols()
        )));
    }
    let weights = match (a, b) {
        (None, None) => None,
        (Some(a), Some(b)) => Some((weights(a, "a")?, weights(b, "b")?)),
        _ => return Err(value_err("give both a and b, or neither")),
    };
    let (tau_a, tau_b) = (o.tau_a, o.tau_b);
    let (out, scale) = py
        .detach(|| -> genot_ot::error::Result<_> {
            let geom = cost.linear(x, y, scale, eps)?;
            let scale = geom.scale();
            let mut prob = LinearProblem::new(geom).with_tau(tau_a, tau_b)?;
            if let Some((a, b)) = weights {
                prob = prob.with_weights(a, b)?;
            }
            Ok((solver.solve(&prob, None)?, scale))
        })
        .map_err(ot_err)?;
    let d = PyDict::new(py);
    d.set_item("plan", out.plan.map(|p| p.into_pyarray(py)))?;
    d.set_item("f", out.f.into_pyarray(py))?;
    d.set_item("g", out.g.into_pyarray(py))?;
    d.set_item("reg_ot_cost", out.reg_ot_cost)?;
    d.set_item("transport_cost", out.transport_cost)?;
    d.set_item("iterations", out.iterations)?;
    d.set_item("converged", out.converged)?;
    d.set_item("marginal_error", out.marginal_error)?;
    d.set_item("epsilon", out.epsilon)?;
    d.set_item("cost_scale", scale)?;
    d.set_item("mass", out.mass)?;
    Ok(d)
}

/// Entropic Gromov-Wasserstein between the intra-space costs of `x` and `y` (any
/// dimensions), fused with a squared-Euclidean cost between `x_shared` and `y_shared`.
#[pyfunction]
#[pyo3(signature = (x, y, *, x_shared=None, y_shared=None, fused_penalty=1.0,
    cost="sqeuclidean", epsilon=0.01, scale_cost="mean", tau_a=1.0, tau_b=1.0,
    threshold=1e-3, gw_threshold=1e-3, max_iterations=2000, max_outer_iterations=50))]
#[allow(clippy::too_many_arguments)]
pub fn gromov_wasserstein<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray2<'py, f64>,
    x_shared: Option<PyReadonlyArray2<'py, f64>>,
    y_shared: Option<PyReadonlyArray2<'py, f64>>,
    fused_penalty: f64,
    cost: &str,
    epsilon: f64,
    scale_cost: &str,
    tau_a: f64,
    tau_b: f64,
    threshold: f64,
    gw_threshold: f64,
    max_iterations: usize,
    max_outer_iterations: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let cost = CostChoice::<f64>::parse(cost).map_err(value_err)?;
    let scale: ScaleCost = scale_cost.parse().map_err(value_err)?;
    positive("epsilon", epsilon)?;
    positive("gw_threshold", gw_threshold)?;
    positive("fused_penalty", fused_penalty)?;
    validate_tau("tau_a", tau_a).map_err(ot_err)?;
    validate_tau("tau_b", tau_b).map_err(ot_err)?;
    let gw = GromovWasserstein::new(epsilon)
        .with_threshold(gw_threshold)
        .with_max_iterations(max_outer_iterations)
        .with_sinkhorn(solver(threshold, max_iterations, "auto")?);
    let (x, y) = (x.as_array().to_owned(), y.as_array().to_owned());
    let shared = match (x_shared, y_shared) {
        (None, None) => None,
        (Some(a), Some(b)) => Some((a.as_array().to_owned(), b.as_array().to_owned())),
        _ => return Err(value_err("give both x_shared and y_shared, or neither")),
    };
    let out = py
        .detach(|| -> genot_ot::error::Result<_> {
            let mut prob = QuadraticProblem::new(cost.intra(x, scale)?, cost.intra(y, scale)?)
                .with_tau(tau_a, tau_b)?;
            if let Some((xs, ys)) = shared {
                let sq = CostChoice::Points(Arc::new(SqEuclidean));
                prob = prob.with_fused_points(xs, ys, &sq, scale, fused_penalty)?;
            }
            gw.solve(&prob, GwInit::Product)
        })
        .map_err(ot_err)?;
    let d = PyDict::new(py);
    d.set_item("plan", out.plan.into_pyarray(py))?;
    d.set_item("f", out.f.into_pyarray(py))?;
    d.set_item("g", out.g.into_pyarray(py))?;
    d.set_item("gw_cost", out.gw_cost)?;
    d.set_item("linear_cost", out.linear_cost)?;
    d.set_item("reg_gw_cost", out.reg_gw_cost)?;
    d.set_item("outer_iterations", out.outer_iterations)?;
    d.set_item("iterations", out.inner_iterations)?;
    d.set_item("converged", out.converged && out.inner_converged)?;
    d.set_item("costs", out.costs)?;
    d.set_item("epsilon", out.epsilon)?;
    d.set_item("marginal_error", out.marginal_error)?;
    d.set_item("mass", out.mass)?;
    Ok(d)
}
