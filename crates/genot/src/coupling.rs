//! The discrete coupling of one training batch (SPEC section 1, steps 2, 3 and 9): entropic
//! OT for GENOT-L, entropic (fused) Gromov-Wasserstein for GENOT-Q/F, balanced or not.
//!
//! Points are in their original units (the cost is defined there). For fused problems the
//! first `source_shared` / `target_shared` columns are the shared features: they enter the
//! cross cost, the other columns the intra-space costs.

use crate::config::{Kind, MatchingConfig};
use crate::matching::{pairs_from_plan, pairs_from_plan_rows, PairDraw, Pairs};
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

/// Largest OT batch (`n m` entries) solved on a dense cost matrix: 8192 x 8192, whose cost,
/// kernel and plan take 768 MB in float32. Larger `--ot-batch-size` couplings are solved
/// on an online geometry (costs recomputed in row blocks, memory `O((n + m) d)`) and only
/// the plan rows that the training pairs are drawn from are ever formed.
pub const DENSE_BATCH_ENTRIES: usize = 1 << 26;

/// A batch plan and its marginals, scaled so that a uniform marginal is 1 everywhere:
/// `row_mass[i] = n (P 1)_i`, `col_mass[j] = m (P^T 1)_j` (the U-GENOT regression targets).
#[derive(Debug, Clone)]
pub struct BatchPlan {
    /// The dense `n x m` plan; empty (`0 x m`) for an online batch, whose rows
    /// [`BatchPlan::rows`] forms on demand.
    pub plan: Array2<f32>,
    pub row_mass: Array1<f32>,
    pub col_mass: Array1<f32>,
    pub solve: BatchSolve,
    /// The objective the solve minimised, at the plan: the regularised OT cost (linear) or
    /// the regularised (fused) GW objective `E(T)` (quadratic and fused).
    pub objective: f64,
    /// An online batch: the plan as potentials on its online geometry.
    online: Option<Arc<OnlinePlan>>,
}

/// `P_ij = exp((f_i + g_j - C_ij) / eps)` on an online geometry.
#[derive(Debug)]
struct OnlinePlan {
    geom: Geometry<f32>,
    f: Array1<f32>,
    g: Array1<f32>,
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
            online: None,
        })
    }

    /// An online batch from its solve: potentials and marginals, no dense plan.
    fn from_potentials(
        geom: Geometry<f32>,
        out: SinkhornOutput<f32>,
        solve: BatchSolve,
    ) -> Result<Self, OtError> {
        let finite = |v: &Array1<f32>| v.iter().all(|x| x.is_finite());
        if !(finite(&out.f)
            && finite(&out.g)
            && finite(&out.row_marginal)
            && finite(&out.col_marginal))
        {
            return Err(OtError::Numerical(
                "the online batch plan has a non-finite potential or marginal".into(),
            ));
        }
        let (n, m) = geom.shape();
        Ok(BatchPlan {
            plan: Array2::zeros((0, m)),
            row_mass: &out.row_marginal * n as f32,
            col_mass: &out.col_marginal * m as f32,
            solve,
            objective: out.reg_ot_cost,
            online: Some(Arc::new(OnlinePlan {
                geom,
                f: out.f,
                g: out.g,
            })),
        })
    }

    /// Whether the plan is held as potentials on an online geometry (an OT batch above
    /// [`DENSE_BATCH_ENTRIES`]).
    pub fn is_online(&self) -> bool {
        self.online.is_some()
    }

    /// The number of source rows of the plan.
    pub fn nrows(&self) -> usize {
        self.row_mass.len()
    }

    /// Rows `rows` of the plan (any order, repeats allowed), `rows.len() x m`.
    pub fn rows(&self, rows: &[usize]) -> Array2<f32> {
        match &self.online {
            None => self.plan.select(ndarray::Axis(0), rows),
            Some(o) => {
                let mut p = o.geom.cost_rows(rows);
                let inv = 1.0 / o.geom.epsilon() as f32;
                for (mut row, &i) in p.rows_mut().into_iter().zip(rows) {
                    let fi = o.f[i];
                    for (c, &gj) in row.iter_mut().zip(o.g.iter()) {
                        *c = ((fi + gj - *c) * inv).exp();
                    }
                }
                p
            }
        }
    }

    /// Draws the network's training pairs from the plan ([`pairs_from_plan`], or
    /// [`pairs_from_plan_rows`] for an online plan).
    pub fn pairs(&self, draw: PairDraw) -> Result<Pairs, OtError> {
        if self.is_online() {
            pairs_from_plan_rows(self.row_mass.view(), |r| self.rows(r), draw)
        } else {
            pairs_from_plan(self.plan.view(), draw)
        }
    }

    /// [`BatchPlan::pairs`] from the plan's rows `part` alone (distinct rows; the draw's
    /// `sources` at most `part.len()`): the pairs of one iteration of a plan that feeds
    /// several. Returned source indices are rows of the whole plan.
    pub fn pairs_within(&self, part: &[usize], draw: PairDraw) -> Result<Pairs, OtError> {
        let mass: Array1<f32> = part.iter().map(|&i| self.row_mass[i]).collect();
        let of_part = |r: &[usize]| -> Vec<usize> { r.iter().map(|&i| part[i]).collect() };
        let mut pairs = pairs_from_plan_rows(mass.view(), |r| self.rows(&of_part(r)), draw)?;
        for s in &mut pairs.source {
            *s = part[*s];
        }
        Ok(pairs)
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
    /// Linear batches above this many `n m` entries are solved online.
    dense_limit: usize,
}

impl Coupler {
    /// From a validated configuration and the shared-feature counts.
    pub fn new(
        config: &MatchingConfig,
        source_shared: usize,
        target_shared: usize,
    ) -> crate::error::Result<Self> {
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
            dense_limit: DENSE_BATCH_ENTRIES,
        })
    }

    /// Solves linear batches of more than `entries` (`n m`) entries online instead of
    /// [`DENSE_BATCH_ENTRIES`] (for tests and memory-tight runs).
    pub fn with_dense_limit(mut self, entries: usize) -> Self {
        self.dense_limit = entries;
        self
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
                let (n, m) = (x.nrows(), y.nrows());
                if n.saturating_mul(m) > self.dense_limit {
                    return self.online_plan(x, y);
                }
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
                    prob = prob.with_fused_points(
                        x.slice(s![.., ..ss]).to_owned(),
                        y.slice(s![.., ..ts]).to_owned(),
                        &self.fused_cost,
                        self.scale,
                        self.fused_penalty,
                    )?;
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
                let gw = GromovWasserstein::new(eps)
                    .with_sinkhorn(self.sinkhorn.clone())
                    .with_max_iterations(self.gw_max_iterations)
                    .with_threshold(self.gw_threshold);
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

    /// The plan of a linear batch too large for a dense cost matrix: log-domain Sinkhorn on
    /// an online geometry, the plan kept as potentials.
    fn online_plan(&self, x: &Array2<f32>, y: &Array2<f32>) -> Result<BatchPlan, OtError> {
        let (n, m) = (x.nrows(), y.nrows());
        let cost = match &self.cost {
            CostChoice::Points(c) => c.clone(),
            CostChoice::Graph(_) => {
                return Err(OtError::Unsupported(format!(
                    "an OT batch of {n} x {m} points is solved online (above {} entries), and a graph cost needs its dense matrix: lower ot_batch_size to at most 8192",
                    self.dense_limit
                )))
            }
        };
        let geom = Geometry::online(x.clone(), y.clone(), cost, self.scale, self.epsilon)?;
        let prob = LinearProblem::new(geom.clone()).with_tau(self.tau.0, self.tau.1)?;
        let out = self
            .sinkhorn
            .clone()
            .with_mode(Mode::Online)
            .with_plan(false)
            .solve(&prob, None)?;
        let solve = BatchSolve {
            converged: out.converged,
            iterations: out.iterations,
            error: out.marginal_error,
            log_retry: false,
        };
        BatchPlan::from_potentials(geom, out, solve)
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

    /// An OT batch above the dense limit is solved online: its plan rows, marginals and the
    /// pairs drawn from them agree with the dense solve of the same batch, balanced and not.
    #[test]
    fn an_online_batch_matches_the_dense_one() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (n, d) = (300, 2);
        let x = Array2::from_shape_fn((n, d), |_| rng.random::<f32>());
        let y = Array2::from_shape_fn((n, d), |_| rng.random::<f32>() * 2.0 + 0.3);
        for tau in [1.0, 0.8] {
            let config = MatchingConfig {
                epsilon: 0.05,
                tau_a: tau,
                tau_b: tau,
                sinkhorn_threshold: 1e-6,
                sinkhorn_max_iterations: 20_000,
                ..MatchingConfig::default()
            };
            let dense = Coupler::new(&config, 0, 0).unwrap();
            let online = dense.clone().with_dense_limit(n * n - 1);
            let pd = dense.plan(&x, &y, None).unwrap();
            let po = online.plan(&x, &y, None).unwrap();
            assert!(!pd.is_online() && po.is_online() && po.plan.is_empty());
            assert!(pd.solve.converged && po.solve.converged);
            let rows = [5, 0, 299, 5];
            let (a, b) = (pd.rows(&rows), po.rows(&rows));
            assert_eq!(a.dim(), (4, n));
            let top = a.iter().cloned().fold(0.0f32, f32::max);
            for (u, v) in a.iter().zip(b.iter()) {
                assert!((u - v).abs() <= 1e-3 * top, "plan entry {u} vs {v}");
            }
            for (u, v) in pd.row_mass.iter().zip(po.row_mass.iter()) {
                assert!((u - v).abs() < 1e-3, "row mass {u} vs {v}");
            }
            let balanced = tau == 1.0;
            for joint in [false, true] {
                let (k, sources) = (3, 40);
                let draw = PairDraw {
                    balanced,
                    k,
                    joint,
                    sources,
                    seed: 11,
                };
                let (p1, p2) = (pd.pairs(draw).unwrap(), po.pairs(draw).unwrap());
                assert_eq!(p2.source.len(), sources * k);
                assert_eq!(p2.target.len(), sources * k);
                if balanced && !joint {
                    // Same rows drawn; targets agree except where rounding moves a draw
                    // across a boundary of the cumulative row.
                    assert_eq!(p1.source, p2.source);
                    let same = p1
                        .target
                        .iter()
                        .zip(&p2.target)
                        .filter(|(a, b)| a == b)
                        .count();
                    assert!(
                        same >= p1.target.len() * 95 / 100,
                        "{same} of {}",
                        p1.target.len()
                    );
                }
            }
        }
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
