//! Symmetric Sinkhorn for self-transport problems `OT(x, x)` (the debiasing terms of the
//! Sinkhorn divergence): the optimal potentials satisfy `f = g`, and the averaged update
//! `f <- (f + T(f)) / 2`, `T(f)_i = eps log a_i - eps LSE_j((f_j - C_ij) / eps)`, converges
//! fast where alternating updates keep a slowly decaying oscillation (Feydy et al. 2019).

use super::plan::{summarize, PlanRows};
use super::sweep::log_sweep;
use super::{Ctx, LoopState, Mode, Sinkhorn, SinkhornOutput};
use crate::error::{OtError, Result};
use crate::problem::LinearProblem;
use crate::real::Real;

impl Sinkhorn {
    /// Solves a balanced problem whose cost matrix is symmetric and whose two marginals
    /// are equal (e.g. a point cloud against itself), with the symmetric update.
    pub fn solve_symmetric<F: Real>(&self, prob: &LinearProblem<F>) -> Result<SinkhornOutput<F>> {
        crate::team::run_in_pool(prob.geom.row_blocks(), || {
            self.solve_symmetric_in_pool(prob)
        })
    }

    fn solve_symmetric_in_pool<F: Real>(
        &self,
        prob: &LinearProblem<F>,
    ) -> Result<SinkhornOutput<F>> {
        self.validate()?;
        let (n, m) = prob.geom.shape();
        if n != m || prob.a != prob.b || !prob.is_balanced() {
            return Err(OtError::InvalidParameter(
                "the symmetric solver needs a balanced square problem with equal marginals".into(),
            ));
        }
        let ctx = Ctx::new(prob, self);
        let mut st = LoopState::start(vec![F::zero(); n], Vec::new());
        let half = F::c(0.5);
        let inv = F::one() / ctx.eps;
        let mut unused_col = vec![F::zero(); n];
        while st.iterations < self.max_iterations {
            let old = st.f.clone();
            log_sweep(
                &prob.geom,
                &old,
                &mut st.f,
                |i, f, lse| half * (f + ctx.update(F::one(), ctx.log_a[i], lse)),
                &mut unused_col,
            );
            st.iterations += 1;
            // Row marginal of the symmetric plan (old, old): lse_i = eps log a_i - T_i.
            let row = (0..n).map(|i| {
                let t = st.f[i] + st.f[i] - old[i];
                let lse = ctx.eps * ctx.log_a[i] - t;
                (i, ((old[i] + lse) * inv).exp())
            });
            let err = ctx.row_error(row, &old);
            if ctx.record(&mut st, err)? {
                st.converged = true;
                st.f = old;
                break;
            }
        }
        let summary = summarize(&ctx, &st.f, &st.f, PlanRows::Potentials, self.store_plan);
        st.g = st.f.clone();
        Ok(SinkhornOutput::assemble(
            st,
            summary,
            Mode::Log,
            prob.geom.epsilon(),
        ))
    }
}
