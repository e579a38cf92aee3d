//! The debiased Sinkhorn divergence (Feydy et al. 2019):
//! `S(x, y) = OT_eps(x, y) - (OT_eps(x, x) + OT_eps(y, y)) / 2`, with `OT_eps` the
//! regularised cost `<P, C> + eps KL(P | a b^T)` (the same quantity as OTT-JAX's
//! `reg_ot_cost` for balanced problems). The three terms share the cost scaling and the
//! absolute epsilon of the `(x, y)` geometry, so `S` is a divergence: `S(x, x) = 0`. The
//! self-terms use the symmetric solver ([`Sinkhorn::solve_symmetric`]).

use crate::cost::Cost;
use crate::error::Result;
use crate::geometry::{Epsilon, Geometry, ScaleCost};
use crate::problem::LinearProblem;
use crate::real::Real;
use crate::sinkhorn::Sinkhorn;
use ndarray::Array2;
use std::sync::Arc;

/// A Sinkhorn divergence and its three terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SinkhornDivergence {
    pub divergence: f64,
    pub ot_xy: f64,
    pub ot_xx: f64,
    pub ot_yy: f64,
    /// The absolute epsilon used (on the scaled cost).
    pub epsilon: f64,
    /// Whether all three solves converged.
    pub converged: bool,
}

/// Debiased Sinkhorn divergence between two uniform point clouds.
///
/// ```
/// use genot_ot::metrics::sinkhorn_divergence;
/// use genot_ot::prelude::*;
/// use ndarray::array;
/// use std::sync::Arc;
///
/// let x = array![[0.0f64, 0.0], [1.0, 0.0], [0.0, 1.0]];
/// let s = sinkhorn_divergence(&x, &x, Arc::new(SqEuclidean), ScaleCost::None, Epsilon::Absolute(0.1), &Sinkhorn::default()).unwrap();
/// assert!(s.divergence.abs() < 1e-6);
/// ```
pub fn sinkhorn_divergence<F: Real>(
    x: &Array2<F>,
    y: &Array2<F>,
    cost: Arc<dyn Cost<F>>,
    scale: ScaleCost,
    epsilon: Epsilon,
    solver: &Sinkhorn,
) -> Result<SinkhornDivergence> {
    let xy = Geometry::from_points(x.clone(), y.clone(), cost.clone(), scale, epsilon)?;
    let (s, eps) = (xy.scale(), xy.epsilon());
    let same = |p: &Array2<F>| {
        Geometry::from_points(
            p.clone(),
            p.clone(),
            cost.clone(),
            ScaleCost::Value(s),
            Epsilon::Absolute(eps),
        )
    };
    let o_xy = solver.solve(&LinearProblem::new(xy), None)?;
    let o_xx = solver.solve_symmetric(&LinearProblem::new(same(x)?))?;
    let o_yy = solver.solve_symmetric(&LinearProblem::new(same(y)?))?;
    Ok(SinkhornDivergence {
        divergence: o_xy.reg_ot_cost - 0.5 * (o_xx.reg_ot_cost + o_yy.reg_ot_cost),
        ot_xy: o_xy.reg_ot_cost,
        ot_xx: o_xx.reg_ot_cost,
        ot_yy: o_yy.reg_ot_cost,
        epsilon: eps,
        converged: o_xy.converged && o_xx.converged && o_yy.converged,
    })
}
