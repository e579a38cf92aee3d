//! The log-domain loop (dense or online geometry).

use super::momentum::Relaxation;
use super::sweep::log_sweep;
use super::{Ctx, LoopState};
use crate::error::Result;
use crate::real::Real;

/// Runs log-domain iterations from `st` (its potentials, iteration count and error trace)
/// until convergence or the iteration limit.
pub(crate) fn run<F: Real>(ctx: &Ctx<F>, mut st: LoopState<F>) -> Result<LoopState<F>> {
    let geom = &ctx.prob.geom;
    let (_, m) = geom.shape();
    let (tau_a, tau_b) = (F::c(ctx.prob.tau_a), F::c(ctx.prob.tau_b));
    let inv = F::one() / ctx.eps;
    let mut lse_col = vec![F::zero(); m];
    // Continuing a balanced solve after a kernel breakdown, the potentials come from updates:
    // relax at once. Not from the zero start, nor from a warm start (see kernel.rs).
    let mut relax = if st.iterations > 0 && ctx.prob.is_balanced() {
        Relaxation::from_solution(ctx.opts.momentum)
    } else {
        Relaxation::new(ctx.opts.momentum)
    };
    while st.iterations < ctx.opts.max_iterations {
        let w = F::c(relax.w());
        let relaxed = |old: F, new: F| {
            if w == F::one() {
                new
            } else {
                old + w * (new - old)
            }
        };
        let LoopState { f, g, .. } = &mut st;
        log_sweep(
            geom,
            g,
            f,
            |i, old, lse| relaxed(old, ctx.update(tau_a, ctx.log_a[i], lse)),
            &mut lse_col,
        );
        st.iterations += 1;
        if ctx.checks(st.iterations) {
            // Column marginal of the plan (f new, g current).
            let col = (0..m).map(|j| (j, ((st.g[j] + lse_col[j]) * inv).exp()));
            let err = ctx.col_error(col, &st.g);
            if ctx.record(&mut st, err)? {
                st.converged = true;
                break;
            }
            relax.observe(st.iterations, err);
        }
        for (j, gj) in st.g.iter_mut().enumerate() {
            *gj = relaxed(*gj, ctx.update(tau_b, ctx.log_b[j], lse_col[j]));
        }
    }
    Ok(st)
}
