//! OT problems: a linear one (a geometry) or a quadratic one (two intra-space geometries,
//! and a cross cost for fused GW), each with marginal weights and the unbalancedness
//! parameters; [`crate::sinkhorn`] and [`crate::gromov`] solve them.

use crate::choice::CostChoice;
use crate::error::{OtError, Result};
use crate::geometry::{Geometry, ScaleCost};
use crate::intra::IntraGeometry;
use crate::real::Real;
use ndarray::{Array1, Array2};

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

/// Both relaxation parameters, checked.
fn checked_taus(tau_a: f64, tau_b: f64) -> Result<(f64, f64)> {
    validate_tau("tau_a", tau_a)?;
    validate_tau("tau_b", tau_b)?;
    Ok((tau_a, tau_b))
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
        (self.tau_a, self.tau_b) = checked_taus(tau_a, tau_b)?;
        Ok(self)
    }

    /// True when both marginals are hard constraints.
    pub fn is_balanced(&self) -> bool {
        (self.tau_a, self.tau_b) == (1.0, 1.0)
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

/// A quadratic (GW or fused GW) problem, balanced or unbalanced.
#[derive(Debug, Clone)]
pub struct QuadraticProblem<F: Real> {
    /// Cost within the source space (`n x n`).
    pub xx: IntraGeometry<F>,
    /// Cost within the target space (`m x m`).
    pub yy: IntraGeometry<F>,
    /// Scaled cross cost between shared features (`n x m`), for fused GW.
    pub xy: Option<Array2<F>>,
    /// Weight of the cross cost in the linearised problem.
    pub fused_penalty: f64,
    pub a: Array1<F>,
    pub b: Array1<F>,
    /// Marginal relaxations in (0, 1]; 1 is balanced (see the module docs).
    pub tau_a: f64,
    pub tau_b: f64,
}

impl<F: Real> QuadraticProblem<F> {
    /// Pure GW with uniform weights.
    pub fn new(xx: IntraGeometry<F>, yy: IntraGeometry<F>) -> Self {
        let (n, m) = (xx.len(), yy.len());
        QuadraticProblem {
            xx,
            yy,
            xy: None,
            fused_penalty: 0.0,
            a: Array1::from_elem(n, F::c(1.0 / n as f64)),
            b: Array1::from_elem(m, F::c(1.0 / m as f64)),
            tau_a: 1.0,
            tau_b: 1.0,
        }
    }

    /// Fused GW from the shared features of both sides: adds `fused_penalty` times the
    /// cost `cost` between `x_shared` (`n x d`) and `y_shared` (`m x d`), divided by `scale`
    /// of its statistics ([`CostChoice::cross`]). No epsilon is involved: the GW solver's
    /// applies to each linearised problem.
    ///
    /// ```
    /// use genot_ot::choice::CostChoice;
    /// use genot_ot::geometry::ScaleCost;
    /// use genot_ot::prelude::*;
    /// use ndarray::array;
    ///
    /// let x = array![[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]];
    /// let cost = CostChoice::<f64>::parse("sqeuclidean").unwrap();
    /// let prob = QuadraticProblem::new(
    ///     cost.intra(x.clone(), ScaleCost::Max).unwrap(),
    ///     cost.intra(x, ScaleCost::Max).unwrap(),
    /// )
    /// .with_fused_points(array![[0.0], [1.0], [2.0]], array![[0.0], [1.0], [2.0]], &cost, ScaleCost::Max, 1.0)
    /// .unwrap();
    /// assert_eq!(prob.xy.as_ref().unwrap()[[0, 2]], 1.0);
    /// let out = GromovWasserstein::new(0.05).solve(&prob, GwInit::Product).unwrap();
    /// assert!(out.converged && out.marginal_error < 1e-3);
    /// ```
    pub fn with_fused_points(
        self,
        x_shared: Array2<F>,
        y_shared: Array2<F>,
        cost: &CostChoice<F>,
        scale: ScaleCost,
        fused_penalty: f64,
    ) -> Result<Self> {
        let (n, m) = (self.xx.len(), self.yy.len());
        if (x_shared.nrows(), y_shared.nrows()) != (n, m) {
            return Err(OtError::DimensionMismatch {
                what: format!(
                    "the shared features have {} and {} rows but the spaces have {n} and {m} points",
                    x_shared.nrows(),
                    y_shared.nrows()
                ),
            });
        }
        // Finite already: the scaling's statistics pass refuses a non-finite cost.
        let (c, _) = cost.cross(x_shared, y_shared, scale)?;
        self.check_fused(&c, fused_penalty)?;
        Ok(self.set_fused(c, fused_penalty))
    }

    /// Fused GW: adds `fused_penalty` times the cross cost `cross` (`n x m`, already
    /// scaled as the intra-space costs are).
    pub fn with_fused(self, cross: Array2<F>, fused_penalty: f64) -> Result<Self> {
        self.check_fused(&cross, fused_penalty)?;
        if cross.iter().any(|v| !v.is_finite()) {
            return Err(OtError::InvalidParameter(
                "the cross (shared-feature) cost has a non-finite entry".into(),
            ));
        }
        Ok(self.set_fused(cross, fused_penalty))
    }

    /// The checks of a cross cost that do not read its entries: its shape and the penalty.
    fn check_fused(&self, cross: &Array2<F>, fused_penalty: f64) -> Result<()> {
        let (n, m) = (self.xx.len(), self.yy.len());
        if cross.dim() != (n, m) {
            return Err(OtError::DimensionMismatch {
                what: format!(
                    "the cross (shared-feature) cost is {:?} but the spaces have {n} and {m} points",
                    cross.dim()
                ),
            });
        }
        if !(fused_penalty > 0.0 && fused_penalty.is_finite()) {
            return Err(OtError::InvalidParameter(format!(
                "fused_penalty must be > 0, got {fused_penalty}"
            )));
        }
        Ok(())
    }

    fn set_fused(mut self, cross: Array2<F>, fused_penalty: f64) -> Self {
        self.xy = Some(crate::geometry::standard(cross));
        self.fused_penalty = fused_penalty;
        self
    }

    /// Unbalanced GW: relaxes the marginals (`tau` in (0, 1], 1 is balanced).
    pub fn with_tau(mut self, tau_a: f64, tau_b: f64) -> Result<Self> {
        (self.tau_a, self.tau_b) = checked_taus(tau_a, tau_b)?;
        Ok(self)
    }

    /// True when both marginals are hard constraints.
    pub fn is_balanced(&self) -> bool {
        (self.tau_a, self.tau_b) == (1.0, 1.0)
    }

    /// Sets the marginal weights (positive; equal masses when balanced).
    pub fn with_weights(mut self, a: Array1<F>, b: Array1<F>) -> Result<Self> {
        let (n, m) = (self.xx.len(), self.yy.len());
        validate_weights("source weights", &a, n)?;
        validate_weights("target weights", &b, m)?;
        let (sa, sb) = (a.sum().f64(), b.sum().f64());
        if self.is_balanced() && (sa - sb).abs() > 1e-6 * sa.max(sb) {
            return Err(OtError::InvalidParameter(format!(
                "balanced GW needs equal masses, got {sa} and {sb}"
            )));
        }
        self.a = a;
        self.b = b;
        Ok(self)
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
