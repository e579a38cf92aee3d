//! The discrete coupling of one training batch (SPEC section 1, steps 2, 3 and 9): entropic
//! OT for GENOT-L, entropic (fused) Gromov-Wasserstein for GENOT-Q/F, balanced or not.
//!
//! Points are in their original units (the cost is defined there). For fused problems the
//! first `source_shared` / `target_shared` columns are the shared features: they enter the
//! cross cost, the other columns the intra-space costs.

use crate::config::{Kind, MatchingConfig};
use genot_ot::choice::CostChoice;
use genot_ot::cost::SqEuclidean;
use genot_ot::error::OtError;
use genot_ot::prelude::*;
use ndarray::{s, Array1, Array2};
use std::sync::Arc;

/// A batch plan and its marginals, scaled so that a uniform marginal is 1 everywhere:
/// `row_mass[i] = n (P 1)_i`, `col_mass[j] = m (P^T 1)_j` (the U-GENOT regression targets).
#[derive(Debug, Clone)]
pub struct BatchPlan {
    pub plan: Array2<f32>,
    pub row_mass: Array1<f32>,
    pub col_mass: Array1<f32>,
}

impl BatchPlan {
    fn new(plan: Array2<f32>) -> Result<Self, OtError> {
        if let Some(v) = plan.iter().find(|v| !v.is_finite()) {
            return Err(OtError::Numerical(format!(
                "the batch plan has a non-finite entry ({v})"
            )));
        }
        let (n, m) = plan.dim();
        let row_mass = plan.sum_axis(ndarray::Axis(1)) * n as f32;
        let col_mass = plan.sum_axis(ndarray::Axis(0)) * m as f32;
        Ok(BatchPlan {
            plan,
            row_mass,
            col_mass,
        })
    }
}

/// Solves batch problems as a [`MatchingConfig`] describes.
#[derive(Clone)]
pub struct Coupler {
    kind: Kind,
    cost: CostChoice<f32>,
    fused_cost: CostChoice<f32>,
    scale: ScaleCost,
    epsilon: Epsilon,
    tau: (f64, f64),
    fused_penalty: f64,
    shared: (usize, usize),
    sinkhorn: Sinkhorn,
    /// Marginal error at which each inner Sinkhorn of a batch GW solve stops: 1e-3 (as
    /// OTT's `match_quadratic`); training only samples pairs from the plan, and the
    /// standalone solver's 1e-5 made GENOT-Q iterations 1.6x slower for the same loss.
    pub gw_inner_threshold: f64,
}

impl Coupler {
    /// From a validated configuration and the shared-feature counts.
    pub fn new(
        config: &MatchingConfig,
        source_shared: usize,
        target_shared: usize,
    ) -> Result<Self, String> {
        config.validate()?;
        Ok(Coupler {
            kind: config.kind,
            cost: CostChoice::parse(&config.cost)?,
            fused_cost: CostChoice::parse(&config.fused_cost)?,
            scale: config.scale()?,
            epsilon: config.epsilon(),
            tau: (config.tau_a, config.tau_b),
            fused_penalty: config.fused_penalty,
            shared: (source_shared, target_shared),
            sinkhorn: Sinkhorn::default(),
            gw_inner_threshold: 1e-3,
        })
    }

    pub fn is_quadratic(&self) -> bool {
        self.kind != Kind::Linear
    }

    /// The plan between source batch `x` and target batch `y`. For GW, `push_forward`
    /// (the current model's image of `x`, in target units) initialises the solve from the
    /// linear problem with cost `||T(x) - y||^2` (the orientation fix); without it GW starts
    /// from the product of the marginals.
    pub fn plan(
        &self,
        x: &Array2<f32>,
        y: &Array2<f32>,
        push_forward: Option<&Array2<f32>>,
    ) -> Result<BatchPlan, OtError> {
        let (ta, tb) = self.tau;
        let plan = match self.kind {
            Kind::Linear => {
                let geom = self
                    .cost
                    .linear(x.clone(), y.clone(), self.scale, self.epsilon)?;
                let prob = LinearProblem::new(geom).with_tau(ta, tb)?;
                let out = self.sinkhorn.clone().with_plan(true).solve(&prob, None)?;
                if !out.converged {
                    return Err(OtError::Numerical(format!(
                        "the batch Sinkhorn did not converge in {} iterations (marginal error {:.2e}); raise epsilon",
                        out.iterations, out.marginal_error
                    )));
                }
                out.plan.expect("plan requested")
            }
            Kind::Quadratic | Kind::Fused => {
                let (ss, ts) = self.shared;
                let xq = x.slice(s![.., ss..]).to_owned();
                let yq = y.slice(s![.., ts..]).to_owned();
                let mut prob = QuadraticProblem::new(
                    self.cost.intra(xq, self.scale)?,
                    self.cost.intra(yq, self.scale)?,
                );
                if self.kind == Kind::Fused {
                    let cross = self.fused_cost.linear(
                        x.slice(s![.., ..ss]).to_owned(),
                        y.slice(s![.., ..ts]).to_owned(),
                        self.scale,
                        self.epsilon,
                    )?;
                    prob = prob.with_fused(&cross, self.fused_penalty)?;
                }
                let prob = prob.with_tau(ta, tb)?;
                let eps = match self.epsilon {
                    Epsilon::Absolute(e) => e,
                    Epsilon::Relative { .. } => {
                        return Err(OtError::InvalidParameter(
                            "GW needs an absolute epsilon".into(),
                        ))
                    }
                };
                let init = match push_forward {
                    None => GwInit::Product,
                    Some(tx) => {
                        let geom = Geometry::from_points(
                            tx.clone(),
                            y.clone(),
                            Arc::new(SqEuclidean),
                            ScaleCost::Mean,
                            Epsilon::Absolute(eps.max(1e-3)),
                        )?;
                        GwInit::Linear(Box::new(LinearProblem::new(geom).with_tau(ta, tb)?))
                    }
                };
                let mut gw = GromovWasserstein::new(eps);
                gw.sinkhorn = gw.sinkhorn.with_threshold(self.gw_inner_threshold);
                gw.solve(&prob, init)?.plan
            }
        };
        BatchPlan::new(plan)
    }
}
