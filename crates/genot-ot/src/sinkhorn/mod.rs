//! The Sinkhorn solver for linear entropic OT, balanced and unbalanced.
//!
//! Conventions (as in OTT-JAX): the plan is `P_ij = exp((f_i + g_j - C_ij) / eps)` with
//! potentials `f`, `g` that include the weights; each iteration updates `g` from `f` and then
//! `f` from `g`:
//!
//! `g_j = eps log b_j - tau_b eps LSE_i((f_i - C_ij) / eps)`, and symmetrically for `f`,
//! where `tau = rho / (rho + eps)` (so `tau = 1` is balanced).
//!
//! **Unbalanced formulation.** We minimise
//! `<P, C> + eps KL(P | a b^T) + rho_a KL(P 1 | a) + rho_b KL(P^T 1 | b)` (Sejourne et al.
//! 2019; POT's `sinkhorn_unbalanced(..., reg_type="kl")`), which is also the objective OTT-JAX
//! documents and reports. OTT-JAX's own update, `tau (eps log b - LSE)`, instead solves the
//! problem with the plain entropy `-eps H(P)`: its plans carry a spurious mass factor that
//! depends on the batch size through `log n`, and its reported cost is not the one its
//! plan minimises. Balanced problems are identical in both conventions.
//!
//! The stopping criterion is the error of the column marginal, `|| P^T 1 - b~ ||` (L1 by
//! default, L2 on request) with `b~ = b exp(-(g - eps log b) / rho_b)` (just `b` when
//! balanced: at a fixed point of unbalanced Sinkhorn the column marginal equals `b~`),
//! checked every
//! `check_every` iterations, at no extra cost (it reuses the next update's reduction).
//!
//! Three modes:
//! - [`Mode::Log`]: log-domain updates, stable for any epsilon (e.g. 1e-4 times the mean
//!   cost in f32), `n m` exponentials per half-iteration.
//! - [`Mode::Kernel`]: scaling updates `u = a / K v` on a stabilised kernel
//!   `K_ij = exp((f^_i + g^_j - C_ij) / eps)`, absorbing the scalings into `f^, g^` when
//!   they leave `[e^-T, e^T]`: matrix-vector products instead of exponentials.
//! - [`Mode::Auto`] (default): kernel mode, falling back to log mode (warm-started from the
//!   last absorbed potentials) if a kernel entry, a scaling or the plan over- or underflows
//!   the float type ([`SinkhornOutput::fallback`] says why); log mode on an online
//!   geometry. [`Mode::Online`] is log mode and is what online geometries always use.
//!
//! The regularised cost reported is the primal objective
//! `<P, C> + eps KL(P | a b^T) + rho_a KL(P 1 | a) + rho_b KL(P^T 1 | b)` (generalised KL;
//! the marginal terms vanish when balanced), evaluated on the returned plan.
//!
//! ```
//! use genot_ot::prelude::*;
//! use ndarray::array;
//! use std::sync::Arc;
//!
//! let x = array![[0.0f64], [1.0], [2.0]];
//! let y = array![[0.1f64], [1.1], [2.1]];
//! let geom = Geometry::from_points(x, y, Arc::new(SqEuclidean), ScaleCost::None, Epsilon::Absolute(0.01)).unwrap();
//! let out = Sinkhorn::default().with_plan(true).solve(&LinearProblem::new(geom), None).unwrap();
//! assert!(out.converged);
//! let p = out.plan.unwrap();
//! assert!(p[[0, 0]] > 0.33 && p[[0, 1]] < 1e-6);
//! ```

mod kernel;
mod log;
mod momentum;
mod plan;
mod sweep;
mod symmetric;

use crate::error::{OtError, Result};
use crate::problem::LinearProblem;
use crate::real::Real;
use ndarray::{Array1, Array2, ArrayView1};
use std::sync::Arc;

pub use momentum::Momentum;
use plan::PlanRows;
pub use plan::PlanSummary;

/// Which Sinkhorn implementation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Kernel mode with fallback to log mode on numerical trouble (log mode when online).
    #[default]
    Auto,
    /// Log-domain updates.
    Log,
    /// Scaling updates on a stabilised kernel, with absorption.
    Kernel,
    /// Log-domain updates on costs recomputed in blocks (requires or implies an online geometry).
    Online,
}

impl Mode {
    /// The mode's name as [`std::str::FromStr`] reads it and reports print it: `auto`,
    /// `log`, `kernel` or `online`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Log => "log",
            Mode::Kernel => "kernel",
            Mode::Online => "online",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = crate::error::ParseError;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Mode::Auto),
            "log" => Ok(Mode::Log),
            "kernel" => Ok(Mode::Kernel),
            "online" => Ok(Mode::Online),
            o => Err(crate::error::ParseError::UnknownMode(o.into())),
        }
    }
}

/// The norm of the marginal error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorNorm {
    #[default]
    L1,
    L2,
}

/// Called at every convergence check with (iterations done, marginal error).
pub type ProgressFn = Arc<dyn Fn(usize, f64) + Send + Sync>;

/// Solver options. Defaults: threshold 1e-3 on the L1 column-marginal error and at most
/// 2000 iterations, as in OTT; but the error is checked after every iteration (it is a
/// by-product of the fused sweep, so checking costs `O(n + m)`, where OTT checks every 10)
/// and the updates are over-relaxed adaptively ([`Momentum::Adaptive`]; OTT's default is
/// none). Both change the iterates, not the fixed point.
#[derive(Clone)]
pub struct Sinkhorn {
    pub threshold: f64,
    pub max_iterations: usize,
    pub check_every: usize,
    pub norm: ErrorNorm,
    pub mode: Mode,
    /// Materialise the dense plan in the output.
    pub store_plan: bool,
    /// Over-relaxation of the updates.
    pub momentum: Momentum,
    pub progress: Option<ProgressFn>,
}

impl Default for Sinkhorn {
    fn default() -> Self {
        Sinkhorn {
            threshold: 1e-3,
            max_iterations: 2000,
            check_every: 1,
            norm: ErrorNorm::L1,
            mode: Mode::Auto,
            store_plan: false,
            momentum: Momentum::Adaptive,
            progress: None,
        }
    }
}

impl std::fmt::Debug for Sinkhorn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sinkhorn")
            .field("threshold", &self.threshold)
            .field("max_iterations", &self.max_iterations)
            .field("check_every", &self.check_every)
            .field("norm", &self.norm)
            .field("mode", &self.mode)
            .field("momentum", &self.momentum)
            .finish()
    }
}

/// What a Sinkhorn solve returns.
#[derive(Debug, Clone)]
pub struct SinkhornOutput<F: Real> {
    /// Source potential (includes `eps log a`).
    pub f: Array1<F>,
    /// Target potential (includes `eps log b`).
    pub g: Array1<F>,
    /// Full (g, f) iterations performed.
    pub iterations: usize,
    /// Whether the marginal error fell below the threshold.
    pub converged: bool,
    /// Column-marginal error of the returned plan.
    pub marginal_error: f64,
    /// The marginal error at each check.
    pub errors: Vec<f64>,
    /// Primal regularised objective (see the module docs), on the scaled cost.
    pub reg_ot_cost: f64,
    /// `<P, C>` on the scaled cost.
    pub transport_cost: f64,
    /// Total mass of the plan.
    pub mass: f64,
    /// Row sums `P 1` of the returned plan.
    pub row_marginal: Array1<F>,
    /// Column sums `P^T 1` of the returned plan.
    pub col_marginal: Array1<F>,
    /// The dense plan, when requested.
    pub plan: Option<Array2<F>>,
    /// The mode that produced the result (`Log` after an automatic fallback).
    pub mode: Mode,
    /// Why [`Mode::Auto`] left kernel mode for log mode (an over- or underflow), if it did.
    pub fallback: Option<String>,
    /// The absolute epsilon used.
    pub epsilon: f64,
}

/// Potentials and trace handed between the loops.
pub(crate) struct LoopState<F> {
    pub f: Vec<F>,
    pub g: Vec<F>,
    pub iterations: usize,
    pub converged: bool,
    pub errors: Vec<f64>,
}

/// The shared pieces of a solve: weights as slices, constants, the convergence check.
pub(crate) struct Ctx<'a, F: Real> {
    pub prob: &'a LinearProblem<F>,
    pub opts: &'a Sinkhorn,
    pub eps: F,
    pub log_a: Vec<F>,
    pub log_b: Vec<F>,
}

impl<'a, F: Real> Ctx<'a, F> {
    fn new(prob: &'a LinearProblem<F>, opts: &'a Sinkhorn) -> Self {
        Ctx {
            prob,
            opts,
            eps: F::c(prob.geom.epsilon()),
            log_a: prob.a.iter().map(|v| v.ln()).collect(),
            log_b: prob.b.iter().map(|v| v.ln()).collect(),
        }
    }

    /// Whether iteration `it` (0-based, before its update) checks convergence.
    pub fn checks(&self, it: usize) -> bool {
        it.is_multiple_of(self.opts.check_every.max(1))
    }

    /// Column-marginal error given the column marginal `col_j` and current `g`.
    pub fn col_error(&self, col: impl Iterator<Item = (usize, F)>, g: &[F]) -> f64 {
        self.marginal_error(col, g, &self.prob.b, self.prob.rho_b())
    }

    /// Row-marginal error given the row marginal `row_i` and current `f`.
    pub fn row_error(&self, row: impl Iterator<Item = (usize, F)>, f: &[F]) -> f64 {
        self.marginal_error(row, f, &self.prob.a, self.prob.rho_a())
    }

    /// `|| marginal - w~ ||` with `w~ = w exp(-(h - eps log w) / rho)` (`w` when balanced).
    fn marginal_error(
        &self,
        marginal: impl Iterator<Item = (usize, F)>,
        h: &[F],
        w: &Array1<F>,
        rho: f64,
    ) -> f64 {
        // `h` is read only for an unbalanced marginal (kernel mode passes none otherwise).
        debug_assert!(!rho.is_finite() || h.len() == w.len());
        let mut acc = 0.0f64;
        for (j, cj) in marginal {
            let wj = w[j].f64();
            let target = if rho.is_finite() {
                wj * (-(h[j].f64() - self.eps.f64() * wj.ln()) / rho).exp()
            } else {
                wj
            };
            let d = cj.f64() - target;
            acc += match self.opts.norm {
                ErrorNorm::L1 => d.abs(),
                ErrorNorm::L2 => d * d,
            };
        }
        match self.opts.norm {
            ErrorNorm::L1 => acc,
            ErrorNorm::L2 => acc.sqrt(),
        }
    }

    /// Records a check; returns true when converged. Errors on a non-finite error.
    pub fn record(&self, st: &mut LoopState<F>, err: f64) -> Result<bool> {
        if !err.is_finite() {
            return Err(OtError::Numerical(format!(
                "Sinkhorn diverged: the marginal error is {err} after {} iterations (epsilon {}); try a larger epsilon or mode log",
                st.iterations,
                self.eps
            )));
        }
        st.errors.push(err);
        if let Some(p) = &self.opts.progress {
            p(st.iterations, err);
        }
        Ok(err < self.opts.threshold)
    }

    /// `eps log w - tau lse`, the (un)balanced potential update.
    #[inline]
    pub fn update(&self, tau: F, log_w: F, lse: F) -> F {
        self.eps * log_w - tau * lse
    }
}

impl Sinkhorn {
    /// Sets the stopping threshold on the marginal error.
    pub fn with_threshold(mut self, t: f64) -> Self {
        self.threshold = t;
        self
    }
    /// Sets the maximum number of iterations.
    pub fn with_max_iterations(mut self, n: usize) -> Self {
        self.max_iterations = n;
        self
    }
    /// Sets the mode.
    pub fn with_mode(mut self, m: Mode) -> Self {
        self.mode = m;
        self
    }
    /// Sets the error norm.
    pub fn with_norm(mut self, n: ErrorNorm) -> Self {
        self.norm = n;
        self
    }
    /// Requests the dense plan in the output.
    pub fn with_plan(mut self, yes: bool) -> Self {
        self.store_plan = yes;
        self
    }
    /// Sets how often (in iterations) convergence is checked.
    pub fn with_check_every(mut self, k: usize) -> Self {
        self.check_every = k.max(1);
        self
    }
    /// Sets the over-relaxation.
    pub fn with_momentum(mut self, m: Momentum) -> Self {
        self.momentum = m;
        self
    }
    /// Sets a progress callback.
    pub fn with_progress(mut self, p: ProgressFn) -> Self {
        self.progress = Some(p);
        self
    }

    /// Solves `prob`, optionally warm-started from potentials `(f, g)`.
    pub fn solve<F: Real>(
        &self,
        prob: &LinearProblem<F>,
        init: Option<(ArrayView1<F>, ArrayView1<F>)>,
    ) -> Result<SinkhornOutput<F>> {
        // Run the loop on a worker of the rayon pool, with the other workers kept awake:
        // each iteration's parallel sweep is then shared with them at once, instead of
        // being injected from an outside thread that sleeps and wakes twice per iteration,
        // or left to one thread while the others wake up (see `team`).
        crate::team::run_in_pool(prob.geom.row_blocks(), || self.solve_in_pool(prob, init))
    }

    fn solve_in_pool<F: Real>(
        &self,
        prob: &LinearProblem<F>,
        init: Option<(ArrayView1<F>, ArrayView1<F>)>,
    ) -> Result<SinkhornOutput<F>> {
        self.validate()?;
        let (n, m) = prob.geom.shape();
        let (f0, g0) = match init {
            Some((f, g)) => {
                if f.len() != n || g.len() != m {
                    return Err(OtError::DimensionMismatch {
                        what: format!(
                            "warm-start potentials have lengths ({}, {}), the problem is {n} x {m}",
                            f.len(),
                            g.len()
                        ),
                    });
                }
                if f.iter().chain(g.iter()).any(|v| !v.is_finite()) {
                    return Err(OtError::InvalidParameter(
                        "warm-start potentials must be finite".into(),
                    ));
                }
                (f.to_vec(), g.to_vec())
            }
            None => (vec![F::zero(); n], vec![F::zero(); m]),
        };
        let ctx = Ctx::new(prob, self);
        let online = prob.geom.is_online();
        let start = LoopState::start(f0, g0);
        let mut fallback = None;
        let (state, mode, summary) = match (self.mode, online) {
            (Mode::Kernel, true) => return Err(OtError::Unsupported(
                "kernel mode needs a dense geometry; use log or online mode for online geometries"
                    .into(),
            )),
            (Mode::Log | Mode::Online, _) | (Mode::Auto, true) => {
                let mode = if online { Mode::Online } else { Mode::Log };
                (log::run(&ctx, start)?, mode, None)
            }
            (Mode::Kernel | Mode::Auto, false) => match kernel::run(&ctx, start, init.is_some())? {
                kernel::Outcome::Done(st, summary) => (st, Mode::Kernel, Some(summary)),
                kernel::Outcome::Breakdown { state, reason } => {
                    if self.mode == Mode::Kernel {
                        return Err(OtError::Numerical(format!(
                            "kernel-mode Sinkhorn broke down after {} iterations ({reason}); use mode log or auto",
                            state.iterations
                        )));
                    }
                    // Continue in log mode from the last absorbed potentials.
                    fallback = Some(reason);
                    (log::run(&ctx, state)?, Mode::Log, None)
                }
            },
        };
        if state.f.iter().chain(state.g.iter()).any(|v| !v.is_finite()) {
            return Err(OtError::Numerical(format!(
                "Sinkhorn produced non-finite potentials after {} iterations (epsilon {}); try a larger epsilon or mode log",
                state.iterations, ctx.eps
            )));
        }
        let summary = match summary {
            Some(s) => s,
            None => {
                let s = plan::summarize(
                    &ctx,
                    &state.f,
                    &state.g,
                    PlanRows::Potentials,
                    self.store_plan,
                );
                if let Some(what) = s.broken() {
                    let after = fallback
                        .as_deref()
                        .map(|r| format!(" (after falling back from kernel mode: {r})"))
                        .unwrap_or_default();
                    return Err(OtError::Numerical(format!(
                        "{what} in {} mode{after}: epsilon {} is too small for {}; use a larger epsilon or float64",
                        mode.name(),
                        ctx.eps,
                        F::NAME
                    )));
                }
                s
            }
        };
        let mut out = SinkhornOutput::assemble(state, summary, mode, prob.geom.epsilon());
        out.fallback = fallback;
        Ok(out)
    }
}

impl Sinkhorn {
    /// Checks the options that the builders cannot.
    fn validate(&self) -> Result<()> {
        if let Momentum::Fixed(w) = self.momentum {
            if !(1.0..2.0).contains(&w) {
                return Err(OtError::InvalidParameter(format!(
                    "momentum weight must be in [1, 2), got {w}"
                )));
            }
        }
        if self.threshold.is_nan() || self.threshold <= 0.0 {
            return Err(OtError::InvalidParameter(format!(
                "threshold must be > 0, got {}",
                self.threshold
            )));
        }
        Ok(())
    }
}

impl<F: Real> SinkhornOutput<F> {
    /// The output of a finished loop and its plan summary.
    fn assemble(state: LoopState<F>, summary: PlanSummary<F>, mode: Mode, epsilon: f64) -> Self {
        SinkhornOutput {
            f: Array1::from(state.f),
            g: Array1::from(state.g),
            iterations: state.iterations,
            converged: state.converged,
            marginal_error: summary.marginal_error,
            errors: state.errors,
            reg_ot_cost: summary.reg_ot_cost,
            transport_cost: summary.transport_cost,
            mass: summary.mass,
            row_marginal: Array1::from(summary.row_marginal),
            col_marginal: Array1::from(summary.col_marginal),
            plan: summary.plan,
            mode,
            fallback: None,
            epsilon,
        }
    }
}

impl<F> LoopState<F> {
    pub fn start(f: Vec<F>, g: Vec<F>) -> Self {
        LoopState {
            f,
            g,
            iterations: 0,
            converged: false,
            errors: Vec::new(),
        }
    }
}

/// Solves a balanced problem with uniform weights between two point clouds with default
/// options: the one-call entry point.
pub fn sinkhorn<F: Real>(geom: crate::geometry::Geometry<F>) -> Result<SinkhornOutput<F>> {
    Sinkhorn::default().solve(&LinearProblem::new(geom), None)
}
