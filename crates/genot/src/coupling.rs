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

/// How a batch solve went. A solve that stops at its iteration limit still gives a plan
/// that training uses (as OTT does); the training loop counts such batches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchSolve {
    /// Whether the solve met its threshold (for GW: the outer loop and every inner
    /// Sinkhorn).
    pub converged: bool,
    /// Sinkhorn iterations (for GW: summed over the inner solves).
    pub iterations: usize,
    /// The plan's marginal error (linear), or the last relative change of the GW objective.
    pub error: f64,
    /// Whether the solve was redone in the log domain after the kernel path broke down
    /// (over- or underflow) or gave a non-finite plan.
    pub log_retry: bool,
}

/// A batch plan and its marginals, scaled so that a uniform marginal is 1 everywhere:
/// `row_mass[i] = n (P 1)_i`, `col_mass[j] = m (P^T 1)_j` (the U-GENOT regression targets).
#[derive(Debug, Clone)]
pub struct BatchPlan {
    pub plan: Array2<f32>,
    pub row_mass: Array1<f32>,
    pub col_mass: Array1<f32>,
    pub solve: BatchSolve,
    /// The objective the solve minimised, at the plan: the regularised OT cost (linear) or
    /// the regularised (fused) GW objective `E(T)` (quadratic and fused).
    pub objective: f64,
}

impl BatchPlan {
    fn new(plan: Array2<f32>, solve: BatchSolve, objective: f64) -> Result<Self, OtError> {
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
            solve,
            objective,
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
    /// The batch Sinkhorn (linear batches, and the inner solves of GW): its threshold is
    /// 1e-3 by default for GW too (as OTT's `match_quadratic`); training only samples pairs
    /// from the plan, and the standalone GW solver's 1e-5 made GENOT-Q iterations 1.6x
    /// slower for the same loss.
    sinkhorn: Sinkhorn,
    gw_max_iterations: usize,
    gw_threshold: f64,
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
            sinkhorn: Sinkhorn::default()
                .with_threshold(config.sinkhorn_threshold)
                .with_max_iterations(config.sinkhorn_max_iterations),
            gw_max_iterations: config.gw_max_iterations,
            gw_threshold: config.gw_threshold,
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
        match self.kind {
            Kind::Linear => {
                let geom = self
                    .cost
                    .linear(x.clone(), y.clone(), self.scale, self.epsilon)?;
                let prob = LinearProblem::new(geom).with_tau(ta, tb)?;
                self.linear_plan(&prob)
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
                gw.sinkhorn = self.sinkhorn.clone();
                gw.max_iterations = self.gw_max_iterations;
                gw.min_iterations = gw.min_iterations.min(self.gw_max_iterations);
                gw.threshold = self.gw_threshold;
                let out = gw.solve(&prob, init)?;
                let error = match out.costs.as_slice() {
                    [.., a, b] => ((b - a) / a.abs().max(f64::MIN_POSITIVE)).abs(),
                    _ => 0.0,
                };
                let solve = BatchSolve {
                    converged: out.converged && out.inner_converged,
                    iterations: out.inner_iterations,
                    error,
                    log_retry: false,
                };
                BatchPlan::new(out.plan, solve, out.reg_gw_cost)
            }
        }
    }

    /// The plan of a linear batch problem: in kernel mode first (dense batches), and again
    /// in the log domain when the kernel path looks broken (an error, a non-finite plan, or,
    /// for a balanced problem, a plan whose mass is not 1: at tiny epsilons the kernel path
    /// returned plans of mass 123 without an error). When the iteration limit is reached
    /// first, the plan is used as it stands (`solve.converged` is false). Only an error or
    /// a non-finite plan in the log domain stops training.
    fn linear_plan(&self, prob: &LinearProblem<f32>) -> Result<BatchPlan, OtError> {
        let solver = self.sinkhorn.clone().with_plan(true);
        let kernel_first = solver.mode == Mode::Auto && !prob.geom.is_online();
        let out = if kernel_first {
            let first = solver.clone().with_mode(Mode::Kernel).solve(prob, None);
            let suspect = match &first {
                Err(OtError::Numerical(why)) => Some(why.clone()),
                Err(_) => None,
                Ok(out) => breakdown(out, prob.is_balanced()),
            };
            match suspect {
                None => first?,
                Some(why) => {
                    let mut out = solver.with_mode(Mode::Log).solve(prob, None).map_err(|e| {
                        OtError::Numerical(format!(
                            "{e} (solved in the log domain after the kernel path failed: {why})"
                        ))
                    })?;
                    out.fallback = Some(why);
                    out
                }
            }
        } else {
            solver.solve(prob, None)?
        };
        let solve = BatchSolve {
            converged: out.converged,
            iterations: out.iterations,
            error: out.marginal_error,
            log_retry: out.fallback.is_some(),
        };
        let plan = out.plan.expect("plan requested");
        BatchPlan::new(plan, solve, out.reg_ot_cost).map_err(|e| {
            OtError::Numerical(format!(
                "{e} in {} mode (epsilon {:e} is too small for float32 on this batch); raise epsilon",
                out.mode.name(),
                out.epsilon
            ))
        })
    }
}

/// Why a finished solve is numerically broken, if it is: a non-finite plan entry, or, for a
/// balanced problem, a plan whose mass is not 1 (which the scaling iterations cannot give
/// in exact arithmetic: the kernel or the potentials under- or overflowed).
fn breakdown(out: &SinkhornOutput<f32>, balanced: bool) -> Option<String> {
    let mode = out.mode.name();
    let plan = out.plan.as_ref().expect("plan requested");
    if let Some(v) = plan.iter().find(|v| !v.is_finite()) {
        return Some(format!("the {mode}-mode plan has a non-finite entry ({v})"));
    }
    (balanced && (out.mass - 1.0).abs() > 1e-3).then(|| {
        format!(
            "the {mode}-mode plan has mass {:.4} instead of 1 (an under- or overflow)",
            out.mass
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_plans_are_recognised() {
        let x = Array2::from_shape_fn((5, 2), |(i, j)| (i + j) as f32);
        let geom = CostChoice::<f32>::parse("sqeuclidean")
            .unwrap()
            .linear(x.clone(), x + 0.5, ScaleCost::Mean, Epsilon::Absolute(0.1))
            .unwrap();
        let balanced = LinearProblem::new(geom);
        let mut out = Sinkhorn::default()
            .with_plan(true)
            .solve(&balanced, None)
            .unwrap();
        assert_eq!(breakdown(&out, true), None);
        out.mass = 1.5;
        let why = breakdown(&out, true).unwrap();
        assert!(why.contains("mass 1.5000 instead of 1"), "{why}");
        // An unbalanced plan may have any mass.
        assert_eq!(breakdown(&out, false), None);
        out.plan.as_mut().unwrap()[[2, 3]] = f32::INFINITY;
        assert!(breakdown(&out, false)
            .unwrap()
            .contains("non-finite entry (inf)"));
    }

    #[test]
    fn a_non_finite_plan_is_an_error() {
        let solve = BatchSolve {
            converged: true,
            iterations: 1,
            error: 0.0,
            log_retry: false,
        };
        let mut plan = Array2::from_elem((2, 2), 0.25f32);
        assert!(BatchPlan::new(plan.clone(), solve, 0.0).is_ok());
        plan[[1, 0]] = f32::NAN;
        let e = BatchPlan::new(plan, solve, 0.0).unwrap_err().to_string();
        assert!(e.contains("non-finite"), "{e}");
    }
}
