//! The kernel (scaling) loop on a dense geometry, with absorption of large scalings.
//!
//! State: absorbed potentials `fh, gh`, the stabilised kernel
//! `K_ij = exp((fh_i + gh_j - C_ij) / eps)` and scalings `u, v`; the potentials are
//! `f = fh + eps log u`, `g = gh + eps log v`. Unbalanced updates are done in log space:
//! `log v_j = log b_j - tau_b log (K^T u)_j + (tau_b - 1) gh_j / eps`.

use super::momentum::{relax, relax_balanced, Relaxation};
use super::plan::{summarize, PlanRows, PlanSummary};
use super::sweep::{kernel_sweep, max_sweep};
use super::{Ctx, LoopState};
use crate::error::Result;
use crate::geometry::dense_block_rows;
use crate::real::{axpy, kernel_row, Real};
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

/// A kernel entry whose exponent is at or above what the float type can hold (the entry
/// would be clamped, not exact): why kernel mode hands over to log mode.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("a kernel entry overflows {float}: exponent {exponent:.3e} (epsilon {epsilon:.3e})")]
pub(crate) struct KernelOverflow {
    /// The float type's name (`float32`).
    float: &'static str,
    /// The largest exponent `(fh_i + gh_j - C_ij) / eps`.
    exponent: f64,
    /// The absolute epsilon.
    epsilon: f64,
}

/// Builds the stabilised kernel; `Err` names the overflow when an entry's exponent is at
/// or above what the float type can hold.
fn build_kernel<F: Real>(
    c: &[F],
    m: usize,
    fh: &[F],
    gh: &[F],
    inv: F,
    k: &mut [F],
) -> std::result::Result<(), KernelOverflow> {
    let (top, _) = fill_kernel(c, m, fh, gh, inv, k, false);
    // NaN fails the comparison too.
    if top < F::c(F::EXP_MAX_ARG) {
        Ok(())
    } else {
        Err(KernelOverflow {
            float: F::NAME,
            exponent: top.f64(),
            epsilon: (F::one() / inv).f64(),
        })
    }
}

/// Writes the kernel `K_ij = exp((fh_i + gh_j - C_ij) / eps)` into `k` by fixed-length row
/// blocks. Returns the largest exponent and, when `col_sums`, the column sums of `K`
/// (empty otherwise), added per block in block order: deterministic whatever the number
/// of threads.
fn fill_kernel<F: Real>(
    c: &[F],
    m: usize,
    fh: &[F],
    gh: &[F],
    inv: F,
    k: &mut [F],
    col_sums: bool,
) -> (F, Vec<F>) {
    let rb = dense_block_rows(fh.len(), m);
    let parts: Vec<(F, Vec<F>)> = k
        .par_chunks_mut(rb * m)
        .zip(c.par_chunks(rb * m))
        .zip(fh.par_chunks(rb))
        .map(|((kb, cb), fb)| {
            let mut top = F::neg_infinity();
            let mut acc = if col_sums {
                vec![F::zero(); m]
            } else {
                Vec::new()
            };
            for ((kr, cr), &fi) in kb.chunks_exact_mut(m).zip(cb.chunks_exact(m)).zip(fb) {
                top = top.max(kernel_row(fi, gh, cr, inv, kr));
                if col_sums {
                    axpy(F::one(), kr, &mut acc);
                }
            }
            (top, acc)
        })
        .collect();
    let mut top = F::neg_infinity();
    let mut sums = if col_sums {
        vec![F::zero(); m]
    } else {
        Vec::new()
    };
    for (t, part) in &parts {
        top = top.max(*t);
        if col_sums {
            axpy(F::one(), part, &mut sums);
        }
    }
    (top, sums)
}

/// The first iteration from zero potentials, fused with the kernel build. `f` is the
/// `eps -> 0` c-transform of `g = 0` (`max` in place of `eps LSE`, no exponentials):
/// `f_i = eps log a_i + tau_a min_j C_ij`; then `g` is the exact update from that `f`,
/// `g_j = eps log b_j - tau_b eps LSE_i((f_i - C_ij) / eps)`, whose exponentials are the
/// kernel itself: with `M_j = max_i (f_i - C_ij)` the kernel is built on `fh = f`,
/// `gh_j = eps log b_j - M_j` (every entry at most `b_j`, the largest of each column exactly
/// `b_j`), its column sums give the LSE, and `v_j = exp((g_j - gh_j) / eps)` (`1 / S_j`
/// when balanced) carries the rest. One pass of `n m` exponentials in all, where a
/// log-domain iteration and a separate kernel build took three (measured at
/// n = m = 1024, d = 32: bench/BENCHMARKS.md, issue 18), from the same kind of start: no
/// row or column of the kernel begins under- or overflowed. Returns `(fh, gh, v)`; when
/// a scaling falls outside the absorption range (unbalanced, or `n` beyond about 10^5 in
/// float32) the kernel is rebuilt on the potentials themselves, with `v = 1`.
#[allow(clippy::type_complexity)]
fn cold_start<F: Real>(
    ctx: &Ctx<F>,
    c: &[F],
    m: usize,
    st: &mut LoopState<F>,
    k: &mut [F],
) -> std::result::Result<(Vec<F>, Vec<F>, Vec<F>), (Vec<F>, Vec<F>, String)> {
    let eps = ctx.eps;
    let inv = F::one() / eps;
    let (tau_a, tau_b) = (F::c(ctx.prob.tau_a), F::c(ctx.prob.tau_b));
    let mut col_max = vec![F::zero(); m];
    let LoopState { f, g, .. } = st;
    max_sweep(
        c,
        m,
        g,
        f,
        |i, mx| ctx.update(tau_a, ctx.log_a[i], mx),
        &mut col_max,
    );
    let gh: Vec<F> = col_max
        .iter()
        .zip(&ctx.log_b)
        .map(|(&mx, &lb)| eps * lb - mx)
        .collect();
    let fh = st.f.clone();
    let (_, sums) = fill_kernel(c, m, &fh, &gh, inv, k, true);
    for (j, gj) in st.g.iter_mut().enumerate() {
        // LSE_i((f_i - C_ij) / eps) * eps = M_j + eps ln(S_j / b_j).
        let lse = col_max[j] + eps * (sums[j].ln() - ctx.log_b[j]);
        *gj = ctx.update(tau_b, ctx.log_b[j], lse);
    }
    st.iterations += 1;
    let v: Vec<F> =
        st.g.iter()
            .zip(&gh)
            .map(|(&g, &h)| ((g - h) * inv).exp())
            .collect();
    let hi = F::c(F::ABSORB_LOG_THRESHOLD.exp());
    if v.iter()
        .all(|&s| s.is_finite() && s <= hi && s >= F::one() / hi)
    {
        return Ok((fh, gh, v));
    }
    let (fh, gh) = (st.f.clone(), st.g.clone());
    match build_kernel(c, m, &fh, &gh, inv, k) {
        Ok(()) => Ok((fh, gh, vec![F::one(); m])),
        Err(reason) => Err((fh, gh, reason.to_string())),
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

    let mut kernel = crate::pages::zeroed_matrix::<F>(n, m);
    let k = kernel.as_slice_mut().expect("standard layout");
    let (mut fh, mut gh, mut v) = if warm {
        let (fh, gh) = (st.f.clone(), st.g.clone());
        if let Err(reason) = build_kernel(c, m, &fh, &gh, inv, k) {
            return Ok(breakdown(st, fh, gh, reason.to_string()));
        }
        (fh, gh, vec![F::one(); m])
    } else {
        match cold_start(ctx, c, m, &mut st, k) {
            Ok(start) => start,
            Err((fh, gh, reason)) => return Ok(breakdown(st, fh, gh, reason)),
        }
    };
    let mut u = vec![F::one(); n];
    let mut ktu = vec![F::zero(); m];
    let hi = F::c(F::ABSORB_LOG_THRESHOLD.exp());
    let lo = F::one() / hi;
    let potentials =
        |h: &[F], s: &[F]| -> Vec<F> { h.iter().zip(s).map(|(&h, &s)| h + eps * s.ln()).collect() };

    // After the cold start `g` comes from an exact update: relax at once. A warm start is
    // usually close to the answer already, and relaxing it at once overshoots (measured:
    // 40 -> 53 inner iterations over a GW solve). Unbalanced updates are more fragile (the
    // mass moves too): they wait one step.
    let mut relaxation = if warm || !ctx.prob.is_balanced() {
        Relaxation::new(ctx.opts.momentum)
    } else {
        Relaxation::from_solution(ctx.opts.momentum)
    };
    while st.iterations < ctx.opts.max_iterations {
        // Relaxation on log-scalings: u = u_old^(1 - w) u_new^w.
        let w = F::c(relaxation.w());
        let new_u = |i: usize, old: F, kv: F| {
            relax(
                w,
                old,
                if bal_a {
                    a[i] / kv
                } else {
                    (ctx.log_a[i] - tau_a * kv.ln() + (tau_a - F::one()) * fh[i] * inv).exp()
                },
            )
        };
        kernel_sweep(k, m, &v, &mut u, new_u, &mut ktu);
        st.iterations += 1;
        if ctx.checks(st.iterations) {
            // The error reads `g` only when the column marginal is unbalanced.
            let g = if bal_b {
                Vec::new()
            } else {
                potentials(&gh, &v)
            };
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
            relaxation.observe(st.iterations, err);
        }
        if bal_b {
            relax_balanced(w, b, &ktu, &mut v);
        } else {
            for (j, vj) in v.iter_mut().enumerate() {
                let new =
                    (ctx.log_b[j] - tau_b * ktu[j].ln() + (tau_b - F::one()) * gh[j] * inv).exp();
                *vj = relax(w, *vj, new);
            }
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
            if let Err(reason) = build_kernel(c, m, &fh, &gh, inv, k) {
                return Ok(breakdown(st, fh, gh, reason.to_string()));
            }
            u.iter_mut().for_each(|x| *x = F::one());
            v.iter_mut().for_each(|x| *x = F::one());
        }
    }
    let (f, g) = (potentials(&fh, &u), potentials(&gh, &v));
    let rows = PlanRows::Kernel {
        k: kernel,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::SqEuclidean;
    use crate::geometry::{Epsilon, Geometry, ScaleCost};
    use crate::problem::LinearProblem;
    use crate::sinkhorn::Sinkhorn;
    use ndarray::{Array1, Array2};
    use rand::{Rng, SeedableRng};
    use std::sync::Arc;

    /// The fused cold start against the formulas it stands for, computed directly in f64:
    /// `f_i = eps log a_i + tau_a min_j C_ij`, `g_j = eps log b_j - tau_b eps LSE_i((f_i -
    /// C_ij) / eps)`, and the kernel with its scalings equal to `exp((f_i + g_j - C_ij) / eps)`.
    #[test]
    fn cold_start_is_a_c_transform_then_an_exact_update() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let (n, m, d) = (37, 23, 3);
        let x = Array2::from_shape_fn((n, d), |_| rng.random::<f64>());
        let y = Array2::from_shape_fn((m, d), |_| rng.random::<f64>() + 0.5);
        let a = Array1::from_shape_fn(n, |_| rng.random::<f64>() + 0.5);
        let b = Array1::from_shape_fn(m, |_| rng.random::<f64>() + 0.5);
        let (a, b) = (&a / a.sum(), &b / b.sum());
        for tau in [1.0, 0.7] {
            let geom = Geometry::from_points(
                x.clone(),
                y.clone(),
                Arc::new(SqEuclidean),
                ScaleCost::None,
                Epsilon::Absolute(0.05),
            )
            .unwrap();
            let c = geom.dense().unwrap().clone();
            let prob = LinearProblem::new(geom)
                .with_weights(a.clone(), b.clone())
                .unwrap()
                .with_tau(tau, tau)
                .unwrap();
            let opts = Sinkhorn::default();
            let ctx = Ctx::new(&prob, &opts);
            let mut st = LoopState::start(vec![0.0; n], vec![0.0; m]);
            let mut k = vec![0.0; n * m];
            let (fh, gh, v) =
                cold_start(&ctx, c.as_slice().unwrap(), m, &mut st, &mut k).expect("no breakdown");
            let eps = 0.05;
            for i in 0..n {
                let min = (0..m).map(|j| c[[i, j]]).fold(f64::INFINITY, f64::min);
                let want = eps * a[i].ln() + tau * min;
                assert!(
                    (st.f[i] - want).abs() < 1e-12,
                    "f[{i}] {} vs {want}",
                    st.f[i]
                );
            }
            for j in 0..m {
                let terms: Vec<f64> = (0..n).map(|i| (st.f[i] - c[[i, j]]) / eps).collect();
                let mx = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = mx + terms.iter().map(|t| (t - mx).exp()).sum::<f64>().ln();
                let want = eps * b[j].ln() - tau * eps * lse;
                assert!(
                    (st.g[j] - want).abs() < 1e-10,
                    "g[{j}] {} vs {want}",
                    st.g[j]
                );
            }
            for i in 0..n {
                for j in 0..m {
                    let direct = ((st.f[i] + st.g[j] - c[[i, j]]) / eps).exp();
                    let kernel = k[i * m + j] * v[j];
                    assert!(
                        (kernel - direct).abs() <= 1e-10 * direct.max(1e-300),
                        "P[{i},{j}] {kernel} vs {direct}"
                    );
                    let stabilised = ((fh[i] + gh[j] - c[[i, j]]) / eps).exp();
                    assert!((k[i * m + j] - stabilised).abs() <= 1e-12 * stabilised.max(1e-300));
                }
            }
            if tau == 1.0 {
                // Balanced: the columns of the start plan sum to b exactly, and every column
                // of the stabilised kernel has its largest entry equal to b_j.
                for j in 0..m {
                    let col: f64 = (0..n).map(|i| k[i * m + j] * v[j]).sum();
                    assert!(
                        (col - b[j]).abs() < 1e-12 * b[j],
                        "column {j}: {col} vs {}",
                        b[j]
                    );
                    let top = (0..n).map(|i| k[i * m + j]).fold(0.0, f64::max);
                    assert!((top - b[j]).abs() < 1e-12 * b[j]);
                }
            }
            assert_eq!(st.iterations, 1);
        }
    }
}
