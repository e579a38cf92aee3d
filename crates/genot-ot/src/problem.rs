//! Linear OT problems: a geometry plus marginal weights and the unbalancedness parameters.

use crate::error::{OtError, Result};
use crate::geometry::Geometry;
use crate::real::Real;
use ndarray::Array1;

/// A linear (Kantorovich) entropic OT problem, balanced or unbalanced.
///
/// `tau_a` and `tau_b` in (0, 1] relax the source and target marginals: `tau = 1` is a hard
/// constraint, smaller values a KL penalty of strength `rho = epsilon * tau / (1 - tau)`.
#[derive(Debug, Clone)]
pub struct LinearProblem<F: Real> {
    pub geom: Geometry<F>,
    pub a: Array1<F>,
    pub b: Array1<F>,
    pub tau_a: f64,
    pub tau_b: f64,
}

/// Checks a marginal-relaxation parameter.
pub fn validate_tau(name: &str, tau: f64) -> Result<()> {
    if tau > 0.0 && tau <= 1.0 {
        Ok(())
    } else {
        Err(OtError::InvalidParameter(format!(
            "{name} must be in (0, 1], got {tau}"
        )))
    }
}

/// Checks marginal weights: `len` entries, finite and positive.
pub(crate) fn validate_weights<F: Real>(what: &str, w: &Array1<F>, len: usize) -> Result<()> {
    if w.len() != len {
        return Err(OtError::DimensionMismatch {
            what: format!("{what} has {} entries but there are {len} points", w.len()),
        });
    }
    if let Some((i, v)) = w
        .iter()
        .enumerate()
        .find(|(_, v)| !(v.is_finite() && **v > F::zero()))
    {
        return Err(OtError::InvalidParameter(format!(
            "{what}[{i}] = {v}: weights must be finite and positive"
        )));
    }
    Ok(())
}

impl<F: Real> LinearProblem<F> {
    /// A balanced problem with uniform weights.
    pub fn new(geom: Geometry<F>) -> Self {
        let (n, m) = geom.shape();
        LinearProblem {
            geom,
            a: Array1::from_elem(n, F::c(1.0 / n as f64)),
            b: Array1::from_elem(m, F::c(1.0 / m as f64)),
            tau_a: 1.0,
            tau_b: 1.0,
        }
    }

    /// Sets the marginal weights (positive; balanced problems should have equal masses).
    pub fn with_weights(mut self, a: Array1<F>, b: Array1<F>) -> Result<Self> {
        let (n, m) = self.geom.shape();
        validate_weights("source weights", &a, n)?;
        validate_weights("target weights", &b, m)?;
        self.a = a;
        self.b = b;
        Ok(self)
    }

    /// Sets the unbalancedness parameters, each in (0, 1].
    pub fn with_tau(mut self, tau_a: f64, tau_b: f64) -> Result<Self> {
        validate_tau("tau_a", tau_a)?;
        validate_tau("tau_b", tau_b)?;
        self.tau_a = tau_a;
        self.tau_b = tau_b;
        Ok(self)
    }

    /// True when both marginals are hard constraints.
    pub fn is_balanced(&self) -> bool {
        self.tau_a == 1.0 && self.tau_b == 1.0
    }

    /// KL penalty strength of the source marginal (`inf` when balanced).
    pub fn rho_a(&self) -> f64 {
        rho(self.geom.epsilon(), self.tau_a)
    }

    /// KL penalty strength of the target marginal (`inf` when balanced).
    pub fn rho_b(&self) -> f64 {
        rho(self.geom.epsilon(), self.tau_b)
    }
}

/// `rho = eps * tau / (1 - tau)`, infinite for `tau = 1`.
pub fn rho(eps: f64, tau: f64) -> f64 {
    if tau >= 1.0 {
        f64::INFINITY
    } else {
        eps * tau / (1.0 - tau)
    }
}

/// Generalised KL divergence `sum p log(p / q) - sum p + sum q` (with `0 log 0 = 0`).
pub(crate) fn generalized_kl<F: Real>(p: &[F], q: &[F]) -> f64 {
    p.iter()
        .zip(q)
        .map(|(&p, &q)| {
            let (p, q) = (p.f64(), q.f64());
            let t = if p > 0.0 { p * (p / q).ln() } else { 0.0 };
            t - p + q
        })
        .sum()
}
