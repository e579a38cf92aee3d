//! The kernel (scaling) loop on a dense geometry, with absorption of large scalings.
//!
//! State: absorbed potentials `fh, gh`, the stabilised kernel
//! `K_ij = exp((fh_i + gh_j - C_ij) / eps)` and scalings `u, v`; the potentials are
//! `f = fh + eps log u`, `g = gh + eps log v`. Unbalanced updates are done in log space:
//! `log v_j = log b_j - tau_b log (K^T u)_j + (tau_b - 1) gh_j / eps`.

use super::momentum::Relaxation;
use super::plan::{summarize, PlanRows, PlanSummary};
use super::sweep::{kernel_sweep, log_sweep};
use super::{Ctx, LoopState};
use crate::error::Result;
use crate::real::{kernel_row, Real};
use rayon::prelude::*;

pub(crate) enum Outcome<F: Real> {
    Done(LoopState<F>, PlanSummary<F>),
    /// A scaling left the range of the float type; `state` holds the last absorbed
    /// potentials, from which log mode can continue.
    Breakdown {
        state: LoopState<F>,
        reason: String,
    },
}

/// Builds the stabilised kernel; `Err` names the overflow when an entry's exponent is at
/// or above what the float type can hold (the entry would be clamped, not exact).
fn build_kernel<F: Real>(
    c: &[F],
    m: usize,
    fh: &[F],
    gh: &[F],
    inv: F,
    k: &mut [F],
) -> std::result::Result<(), String> {
    let top = k
        .par_chunks_mut(m)
        .zip(c.par_chunks(m))
        .zip(fh.par_iter())
        .map(|((kr, cr), &fi)| kernel_row(fi, gh, cr, inv, kr))
        .reduce(F::neg_infinity, F::max);
    // NaN fails the comparison too.
    if top < F::c(F::EXP_MAX_ARG) {
        Ok(())
    } else {
        Err(format!(
            "a kernel entry overflows {}: exponent {:.3e} (epsilon {:.3e})",
            F::NAME,
            top.f64(),
            (F::one() / inv).f64()
        ))
    }
}

pub(crate) fn run<F: Real>(ctx: &Ctx<F>, mut st: LoopState<F>, warm: bool) -> Result<Outcome<F>> {
    let geom = &ctx.prob.geom;
    let (n, m) = geom.shape();
    let c = geom
        .dense()
        .expect("kernel mode runs on dense geometries")
        .as_slice()
        .expect("standard layout");
    let eps = ctx.eps;
    let inv = F::one() / eps;
    let (tau_a, tau_b) = (F::c(ctx.prob.tau_a), F::c(ctx.prob.tau_b));
    let (bal_a, bal_b) = (ctx.prob.tau_a == 1.0, ctx.prob.tau_b == 1.0);
    let (a, b) = (
        ctx.prob.a.as_slice().expect("contiguous"),
        ctx.prob.b.as_slice().expect("contiguous"),
    );

    if !warm {
        // One log-domain iteration gives potentials whose kernel rows and columns each
        // have an entry near the marginal: a safe starting point for the kernel.
        let mut lse_col = vec![F::zero(); m];
        let LoopState { f, g, .. } = &mut st;
        log_sweep(
            geom,
            g,
            f,
            |i, _, lse| ctx.update(tau_a, ctx.log_a[i], lse),
            &mut lse_col,
        );
        for (j, gj) in st.g.iter_mut().enumerate() {
            *gj = ctx.update(tau_b, ctx.log_b[j], lse_col[j]);
        }
        st.iterations += 1;
    }

    let (mut fh, mut gh) = (st.f.clone(), st.g.clone());
    let mut k = vec![F::zero(); n * m];
    if let Err(reason) = build_kernel(c, m, &fh, &gh, inv, &mut k) {
        return Ok(breakdown(st, fh, gh, reason));
    }
    let mut u = vec![F::one(); n];
    let mut v = vec![F::one(); m];
    let mut ktu = vec![F::zero(); m];
    let hi = F::c(F::ABSORB_LOG_THRESHOLD.exp());
    let lo = F::one() / hi;
    let potentials =
        |h: &[F], s: &[F]| -> Vec<F> { h.iter().zip(s).map(|(&h, &s)| h + eps * s.ln()).collect() };

    // After the log-domain start the potentials come from an update: relax at once. A warm
    // start is usually close to the answer already, and relaxing it at once overshoots
    // (measured: 40 -> 53 inner iterations over a GW solve).
    // Unbalanced updates are more fragile (the mass moves too): they wait one step.
    let mut relax = if warm || !ctx.prob.is_balanced() {
        Relaxation::new(ctx.opts.momentum)
    } else {
        Relaxation::from_solution(ctx.opts.momentum)
    };
    while st.iterations < ctx.opts.max_iterations {
        let w = F::c(relax.w());
        // Relaxation on log-scalings: u = u_old^(1 - w) u_new^w.
        let relaxed = |old: F, new: F| {
            if w == F::one() {
                new
            } else {
                old * (w * (new / old).ln()).fast_exp()
            }
        };
        let new_u = |i: usize, old: F, kv: F| {
            relaxed(
                old,
                if bal_a {
                    a[i] / kv
                } else {
                    (ctx.log_a[i] - tau_a * kv.ln() + (tau_a - F::one()) * fh[i] * inv).exp()
                },
            )
        };
        kernel_sweep(&k, m, &v, &mut u, new_u, &mut ktu);
        st.iterations += 1;
        if ctx.checks(st.iterations) {
            let g = potentials(&gh, &v);
            let col = (0..m).map(|j| (j, v[j] * ktu[j]));
            let err = ctx.col_error(col, &g);
            if !err.is_finite() {
                // Overflow in the scalings: hand over to log mode from the last absorption.
                return Ok(breakdown(
                    st,
                    fh,
                    gh,
                    format!("the marginal error became {err}"),
                ));
            }
            if ctx.record(&mut st, err)? {
                st.converged = true;
                break;
            }
            relax.observe(st.iterations, err);
        }
        for (j, vj) in v.iter_mut().enumerate() {
            *vj = relaxed(
                *vj,
                if bal_b {
                    b[j] / ktu[j]
                } else {
                    (ctx.log_b[j] - tau_b * ktu[j].ln() + (tau_b - F::one()) * gh[j] * inv).exp()
                },
            );
        }
        let bad = |s: &F| !(s.is_finite() && *s > F::zero());
        if u.iter().any(bad) || v.iter().any(bad) {
            return Ok(breakdown(
                st,
                fh,
                gh,
                "a scaling underflowed or overflowed".into(),
            ));
        }
        let out_of_range = |s: &F| *s > hi || *s < lo;
        if u.iter().any(out_of_range) || v.iter().any(out_of_range) {
            fh = potentials(&fh, &u);
            gh = potentials(&gh, &v);
            if let Err(reason) = build_kernel(c, m, &fh, &gh, inv, &mut k) {
                return Ok(breakdown(st, fh, gh, reason));
            }
            u.iter_mut().for_each(|x| *x = F::one());
            v.iter_mut().for_each(|x| *x = F::one());
        }
    }
    let (f, g) = (potentials(&fh, &u), potentials(&gh, &v));
    let rows = PlanRows::Kernel {
        k: &k,
        u: &u,
        v: &v,
    };
    let summary = summarize(ctx, &f, &g, rows, ctx.opts.store_plan);
    if let Some(what) = summary.broken() {
        return Ok(breakdown(st, fh, gh, what));
    }
    st.f = f;
    st.g = g;
    Ok(Outcome::Done(st, summary))
}

/// Hands over to log mode from the last absorbed potentials `(fh, gh)`.
fn breakdown<F: Real>(mut st: LoopState<F>, fh: Vec<F>, gh: Vec<F>, reason: String) -> Outcome<F> {
    st.f = fh;
    st.g = gh;
    Outcome::Breakdown { state: st, reason }
}
