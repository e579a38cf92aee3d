//! Entropic Gromov-Wasserstein and fused GW by mirror descent (Peyre, Cuturi and Solomon
//! 2016), balanced or unbalanced (Sejourne, Vialard and Peyre 2021, as in OTT-JAX).
//!
//! With intra-space costs `C1` (`n x n`) and `C2` (`m x m`), a plan `T` with marginals
//! `p = T 1`, `q = T^T 1`, and the square loss, the GW loss is
//! `GW(T) = sum_ijkl (C1_ik - C2_jl)^2 T_ij T_kl = <L(T), T>` with the linearisation
//! `L(T) = (C1 o C1) p 1^T + 1 ((C2 o C2) q)^T - 2 C1 T C2^T` (half the gradient, as in
//! OTT-JAX). Each outer iteration solves the entropic linear problem with cost
//! `L(T) + fused_penalty M` (`M` the cross cost between shared features, fused GW only) and
//! absolute `epsilon`, warm-started from the previous potentials. Its fixed points are the
//! stationary points of the objective reported as `reg_gw_cost`:
//!
//! `E(T) = GW(T) + 2 fused_penalty <M, T> + 2 epsilon KL(T | a b^T)`.
//!
//! Conventions of the references: OTT-JAX uses the same linearisation and epsilon; POT's
//! `entropic_gromov_wasserstein` uses twice the gradient, so POT's `epsilon` is twice ours
//! for the same fixed point; POT's fused GW with weight `alpha` on the GW term matches
//! `fused_penalty = (1 - alpha) / (2 alpha)` and `epsilon = epsilon_POT / (2 alpha)`, and its
//! objective is `alpha E(T)`.
//!
//! **Unbalanced** (`tau_a` or `tau_b` < 1, `rho = epsilon tau / (1 - tau)`): the objective is
//!
//! `E(T) = GW(T) + 2 fp m(T) <M, T> + epsilon KL2(T | a b^T) + rho_a KL2(T 1 | a) + rho_b KL2(T^T 1 | b)`
//!
//! with `m` the total mass and the quadratic divergence
//! `KL2(mu | nu) = KL(mu x mu | nu x nu) = 2 m(mu) KL(mu | nu) + (m(mu) - m(nu))^2`; for
//! balanced plans (`m = 1`) it is the `E` above. Each outer iteration minimises its bi-convex
//! relaxation in the first argument: an unbalanced entropic problem with cost
//! `L(T) + fp m(T) M + c(T)` (`c` a constant that sets the mass), `epsilon m(T)` and
//! `rho m(T)` (our unbalanced Sinkhorn, whose `KL(P | a b^T)` is the relaxation's), and
//! rescales the new plan by `sqrt(m(T) / m(T_new))`. When moving mass costs far more than
//! `rho`, the mass collapses: that is reported as an error.
//!
//! The outer loop stops when the relative change of `E` between two iterations falls below
//! `threshold`, after at least `min_iterations`.

use crate::error::{OtError, Result};
use crate::geometry::{dense_block_rows, Geometry};
pub use crate::problem::QuadraticProblem;
use crate::problem::{generalized_kl, rho, LinearProblem};
use crate::real::{axpy, dot, sum, Real};
use crate::sinkhorn::Sinkhorn;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, Axis};
use rayon::prelude::*;

impl<F: Real> QuadraticProblem<F> {
    /// The GW linearisation at `T` (without the fused term):
    /// `L_ij = u_i + v_j - 2 (C1 T C2^T)_ij` with `u = (C1 o C1) p`, `v = (C2 o C2) q`.
    /// `p` and `q` are the row and column sums of `T`.
    fn linearize(&self, t: &Array2<F>, p: &[F], q: &[F]) -> Array2<F> {
        let u = self.xx.apply_square(p);
        let v = self.yy.apply_square(q);
        let (n, m) = t.dim();
        // L starts as u_i + v_j, row by row; the product term is added by a GEMM with
        // beta = 1.
        let (us, vs) = (
            u.as_slice().expect("contiguous"),
            v.as_slice().expect("contiguous"),
        );
        let mut l = Array2::<F>::zeros((n, m));
        l.as_slice_mut()
            .expect("standard layout")
            .par_chunks_mut(m)
            .zip(us.par_iter())
            .for_each(|(row, &ui)| row.iter_mut().zip(vs).for_each(|(lij, &vj)| *lij = ui + vj));
        let minus_two = F::c(-2.0);
        match (self.xx.factors(), self.yy.factors()) {
            (Some((a1, b1)), Some((a2, b2))) => {
                // C1 T C2^T = A1 (B1^T T B2) A2^T: T is read once and L written once.
                let core = b1.t().dot(t).dot(b2);
                let left = a1.dot(&core);
                general_mat_mul(minus_two, &left, &a2.t(), F::one(), &mut l);
            }
            _ => {
                let c1t = self.xx.apply(t.view());
                let w = self.yy.apply_right_t(c1t.view());
                l.zip_mut_with(&w, |lij, &wij| *lij = *lij + minus_two * wij);
            }
        }
        l
    }
}

/// How the first plan is obtained.
#[derive(Debug, Clone)]
pub enum GwInit<F: Real> {
    /// The product of the marginals `a b^T` (the default).
    Product,
    /// A given plan (`n x m`, non-negative).
    Plan(Array2<F>),
    /// The solution of a linear problem (for GENOT's orientation fix: the cost between
    /// the model's push-forward and the targets).
    Linear(Box<LinearProblem<F>>),
}

/// Outer-loop options. Defaults as OTT-JAX: relative threshold 1e-3, 5 to 50 outer
/// iterations; but the inner Sinkhorn stops at marginal error 1e-5 (OTT: 1e-3). Inner
/// solves that accurate make the outer objective trace reliable: on the benchmark problem
/// (n = 512) 1e-3 needed 8 outer iterations and ended at a higher objective, 1e-5 needs 5
/// and ends lower than OTT-JAX, in less time (bench/BENCHMARKS.md).
///
/// ```
/// use genot_ot::prelude::*;
///
/// let gw = GromovWasserstein::new(0.01).with_threshold(1e-4).with_max_iterations(3);
/// assert_eq!((gw.epsilon(), gw.threshold(), gw.iterations()), (0.01, 1e-4, 3..=3));
/// // The order does not matter: a minimum above the maximum yields to it.
/// let gw = GromovWasserstein::new(0.01).with_max_iterations(3).with_min_iterations(10);
/// assert_eq!(gw.iterations(), 3..=3);
/// ```
#[derive(Debug, Clone)]
pub struct GromovWasserstein {
    /// Absolute epsilon of each linearised problem.
    epsilon: f64,
    threshold: f64,
    min_iterations: usize,
    max_iterations: usize,
    sinkhorn: Sinkhorn,
}

impl GromovWasserstein {
    /// Options with the given epsilon and the defaults.
    pub fn new(epsilon: f64) -> Self {
        GromovWasserstein {
            epsilon,
            threshold: 1e-3,
            min_iterations: 5,
            max_iterations: 50,
            sinkhorn: Sinkhorn::default().with_threshold(1e-5),
        }
    }

    /// Stop when the objective changes by less than `threshold` (relative) between two
    /// outer iterations.
    pub fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// At most `max` outer iterations (a minimum above it, 5 by default, yields to it).
    pub fn with_max_iterations(mut self, max: usize) -> Self {
        self.max_iterations = max;
        self
    }

    /// At least `min` outer iterations before the threshold may stop the loop.
    pub fn with_min_iterations(mut self, min: usize) -> Self {
        self.min_iterations = min;
        self
    }

    /// The Sinkhorn solver of the linearised problems (its plan is always requested).
    pub fn with_sinkhorn(mut self, sinkhorn: Sinkhorn) -> Self {
        self.sinkhorn = sinkhorn;
        self
    }

    /// The absolute epsilon of each linearised problem.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// The relative objective change that stops the outer loop.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The smallest and largest number of outer iterations (the minimum capped by the
    /// maximum, in whichever order they were set).
    pub fn iterations(&self) -> std::ops::RangeInclusive<usize> {
        self.min_iterations.min(self.max_iterations)..=self.max_iterations
    }

    /// The inner Sinkhorn solver.
    pub fn sinkhorn(&self) -> &Sinkhorn {
        &self.sinkhorn
    }
}

/// What a GW solve returns (costs on the scaled intra-space costs).
#[derive(Debug, Clone)]
pub struct GwOutput<F: Real> {
    pub plan: Array2<F>,
    /// Potentials of the last linear solve.
    pub f: Array1<F>,
    pub g: Array1<F>,
    /// `GW(T)`, the square-loss GW term.
    pub gw_cost: f64,
    /// `<M, T>` for fused GW.
    pub linear_cost: Option<f64>,
    /// `E(T)` (see the module docs).
    pub reg_gw_cost: f64,
    /// Linear solves done.
    pub outer_iterations: usize,
    /// Whether the relative change of `E` fell below the threshold.
    pub converged: bool,
    /// Whether every inner Sinkhorn converged.
    pub inner_converged: bool,
    /// Sum of the inner Sinkhorn iterations.
    pub inner_iterations: usize,
    /// `E` after each linear solve.
    pub costs: Vec<f64>,
    pub epsilon: f64,
    /// `max(|T 1 - a|_1, |T^T 1 - b|_1)`: the balanced constraint's violation (for
    /// unbalanced GW, how far the relaxation moved the marginals).
    pub marginal_error: f64,
    /// The plan's total mass.
    pub mass: f64,
}

fn finite_or_zero(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

/// `sum t log(t / (a_i b_j)) - sum t + sum a sum b`.
fn kl_to_product<F: Real>(t: &Array2<F>, a: &Array1<F>, b: &Array1<F>) -> f64 {
    let m = t.ncols();
    let ts = t.as_slice().expect("standard layout");
    // Per-row sums collected in order, then added: deterministic whatever the scheduling.
    let per_row: Vec<f64> = ts
        .par_chunks(m)
        .zip(a.as_slice().expect("contiguous").par_iter())
        .map(|(row, &ai)| {
            row.iter()
                .zip(b.iter())
                .map(|(&v, &bj)| {
                    let v = v.f64();
                    (if v > 0.0 {
                        v * (v / (ai.f64() * bj.f64())).ln()
                    } else {
                        0.0
                    }) - v
                })
                .sum::<f64>()
        })
        .collect();
    per_row.iter().sum::<f64>() + a.sum().f64() * b.sum().f64()
}

/// `sum |u_i - w_i|` in f64.
fn l1_distance<F: Real>(u: &[F], w: &Array1<F>) -> f64 {
    u.iter()
        .zip(w)
        .map(|(p, q)| (p.f64() - q.f64()).abs())
        .sum()
}

/// Row and column sums of a standard-layout matrix.
fn marginals<F: Real>(t: &Array2<F>) -> (Vec<F>, Vec<F>) {
    let m = t.ncols();
    let ts = t.as_slice().expect("standard layout");
    let rows = ts.par_chunks(m).map(sum).collect();
    // Column sums per block of rows (a fixed length), added in block order: the same bits
    // whatever the scheduling and the number of threads.
    let rb = dense_block_rows(ts.len() / m.max(1), m);
    let parts: Vec<Vec<F>> = ts
        .par_chunks(rb * m.max(1))
        .map(|blk| {
            let mut acc = vec![F::zero(); m];
            for row in blk.chunks_exact(m) {
                axpy(F::one(), row, &mut acc);
            }
            acc
        })
        .collect();
    let mut cols = vec![F::zero(); m];
    for part in &parts {
        axpy(F::one(), part, &mut cols);
    }
    (rows, cols)
}

/// `<P, Q>` (both standard layout), vectorised per row, accumulated in f64.
fn frobenius<F: Real>(p: &Array2<F>, q: &Array2<F>) -> f64 {
    let m = p.ncols();
    let (ps, qs) = (
        p.as_slice().expect("standard layout"),
        q.as_slice().expect("standard layout"),
    );
    let per_row: Vec<f64> = ps
        .par_chunks(m)
        .zip(qs.par_chunks(m))
        .map(|(a, b)| dot(a, b).f64())
        .collect();
    per_row.iter().sum()
}

impl GromovWasserstein {
    fn validate(&self) -> Result<()> {
        if !(self.epsilon > 0.0 && self.epsilon.is_finite()) {
            return Err(OtError::InvalidParameter(format!(
                "GW epsilon must be > 0, got {}",
                self.epsilon
            )));
        }
        if self.threshold.is_nan() || self.threshold <= 0.0 || self.max_iterations == 0 {
            return Err(OtError::InvalidParameter(
                "GW threshold must be > 0 and max_iterations >= 1".into(),
            ));
        }
        Ok(())
    }

    /// Solves `prob` from `init`.
    pub fn solve<F: Real>(
        &self,
        prob: &QuadraticProblem<F>,
        init: GwInit<F>,
    ) -> Result<GwOutput<F>> {
        self.validate()?;
        let (n, m) = (prob.xx.len(), prob.yy.len());
        let inner = self.sinkhorn.clone().with_plan(true);
        let mut inner_iterations = 0;
        let mut inner_converged = true;
        let mut t = match init {
            GwInit::Product => {
                let a = prob.a.view().insert_axis(Axis(1));
                let b = prob.b.view().insert_axis(Axis(0));
                &a * &b
            }
            GwInit::Plan(t) => {
                if t.dim() != (n, m) {
                    return Err(OtError::DimensionMismatch {
                        what: format!("initial plan is {:?}, the problem is {n} x {m}", t.dim()),
                    });
                }
                if t.iter().any(|v| !(v.is_finite() && *v >= F::zero())) {
                    return Err(OtError::InvalidParameter(
                        "initial plan must be finite and non-negative".into(),
                    ));
                }
                t
            }
            GwInit::Linear(lp) => {
                if lp.geom.shape() != (n, m) {
                    return Err(OtError::DimensionMismatch {
                        what: format!(
                            "initial linear problem is {:?}, the problem is {n} x {m}",
                            lp.geom.shape()
                        ),
                    });
                }
                let out = inner.solve(&lp, None)?;
                inner_iterations += out.iterations;
                inner_converged &= out.converged;
                out.plan.expect("plan requested")
            }
        };
        let balanced = prob.is_balanced();
        let (rho_a, rho_b) = (rho(self.epsilon, prob.tau_a), rho(self.epsilon, prob.tau_b));
        let mut potentials: Option<(Array1<F>, Array1<F>)> = None;
        // KL(T | a b^T) of the current plan: for balanced problems from the Sinkhorn output
        // that produced it (reg_ot_cost - transport_cost = eps KL), otherwise directly.
        let mut kl = kl_to_product(&t, &prob.a, &prob.b);
        let (mut p, mut q) = marginals(&t);
        let mut costs = Vec::new();
        let mut outer = 0;
        let mut converged = false;
        let (gw_cost, linear_cost, reg_gw_cost) = loop {
            // Balanced plans have mass 1 up to the marginal error: use 1 exactly.
            let mass = if balanced {
                1.0
            } else {
                p.iter().map(|v| v.f64()).sum::<f64>()
            };
            if mass.is_nan() || mass <= 1e-8 * prob.a.sum().f64() {
                return Err(OtError::Numerical(format!(
                    "unbalanced GW destroyed almost all mass (total {mass:e} after {outer} outer iterations): moving mass costs far more than the marginal penalty rho = epsilon tau / (1 - tau); raise tau_a/tau_b or epsilon, or rescale the costs"
                )));
            }
            let l = prob.linearize(&t, &p, &q);
            let gw = frobenius(&l, &t);
            let lin = prob.xy.as_ref().map(|mxy| frobenius(mxy, &t));
            let (mass_a, mass_b) = (prob.a.sum().f64(), prob.b.sum().f64());
            let kl_p = generalized_kl(&p, prob.a.as_slice().expect("contiguous"));
            let kl_q = generalized_kl(&q, prob.b.as_slice().expect("contiguous"));
            let quad_kl = |kl: f64, m: f64, m_ref: f64| 2.0 * m * kl + (m - m_ref).powi(2);
            let mut reg = gw
                + 2.0 * prob.fused_penalty * mass * lin.unwrap_or(0.0)
                + self.epsilon * quad_kl(kl, mass, mass_a * mass_b);
            if !balanced {
                reg += finite_or_zero(rho_a) * quad_kl(kl_p, mass, mass_a)
                    + finite_or_zero(rho_b) * quad_kl(kl_q, mass, mass_b);
            }
            if !reg.is_finite() {
                return Err(OtError::Numerical(format!(
                    "the GW objective became {reg} after {outer} outer iterations; try a larger epsilon"
                )));
            }
            if outer > 0 {
                let prev = costs.last().copied();
                costs.push(reg);
                if let Some(prev) = prev {
                    if outer >= *self.iterations().start()
                        && (reg - prev).abs() <= self.threshold * reg.abs().max(f64::MIN_POSITIVE)
                    {
                        converged = true;
                        break (gw, lin, reg);
                    }
                }
            }
            if outer >= self.max_iterations {
                break (gw, lin, reg);
            }
            // The linear problem of the relaxation F(pi, gamma) at gamma = T.
            let mut cost = l;
            let fp = F::c(prob.fused_penalty * mass);
            if let Some(mxy) = &prob.xy {
                cost.zip_mut_with(mxy, |c, &x| *c = *c + fp * x);
            }
            if !balanced {
                // The constant that the quadratic KL terms add (it sets the mass).
                let shift = finite_or_zero(rho_a) * (kl_p + mass - mass_a)
                    + finite_or_zero(rho_b) * (kl_q + mass - mass_b)
                    + self.epsilon * (kl + mass - mass_a * mass_b)
                    + prob.fused_penalty * lin.unwrap_or(0.0);
                let shift = F::c(shift);
                cost.mapv_inplace(|c| c + shift);
            }
            let lp = LinearProblem {
                geom: Geometry::from_internal_matrix(cost, self.epsilon * mass),
                a: prob.a.clone(),
                b: prob.b.clone(),
                tau_a: prob.tau_a,
                tau_b: prob.tau_b,
            };
            let warm = potentials.as_ref().map(|(f, g)| (f.view(), g.view()));
            let out = inner.solve(&lp, warm)?;
            inner_iterations += out.iterations;
            inner_converged &= out.converged;
            let mut plan = out.plan.expect("plan requested");
            (p, q) = (out.row_marginal.to_vec(), out.col_marginal.to_vec());
            if balanced {
                kl = (out.reg_ot_cost - out.transport_cost) / self.epsilon;
            } else {
                // Rescale to the mass of gamma (Sejourne et al. 2021), which makes the
                // objective decrease.
                let new_mass: f64 = p.iter().map(|v| v.f64()).sum();
                let r = F::c((mass / new_mass).sqrt());
                plan.mapv_inplace(|v| v * r);
                p.iter_mut().chain(q.iter_mut()).for_each(|v| *v = *v * r);
                kl = kl_to_product(&plan, &prob.a, &prob.b);
            }
            t = plan;
            potentials = Some((out.f, out.g));
            outer += 1;
        };
        let (f, g) = potentials.unwrap_or_else(|| (Array1::zeros(n), Array1::zeros(m)));
        Ok(GwOutput {
            plan: t,
            f,
            g,
            gw_cost,
            linear_cost,
            reg_gw_cost,
            outer_iterations: outer,
            converged,
            inner_converged,
            inner_iterations,
            costs,
            epsilon: self.epsilon,
            marginal_error: l1_distance(&p, &prob.a).max(l1_distance(&q, &prob.b)),
            mass: p.iter().map(|v| v.f64()).sum(),
        })
    }
}
