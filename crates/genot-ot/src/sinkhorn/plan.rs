//! The pass after the iterations: one sweep over `P = exp((f + g - C) / eps)` for the
//! marginals, `<P, C>`, the primal regularised cost and (on request) the dense plan.

use super::Ctx;
use crate::problem::generalized_kl;
use crate::real::{axpy, dot, kernel_row, sum, Real};
use ndarray::Array2;
use rayon::prelude::*;

/// Quantities computed from the final potentials.
#[derive(Debug, Clone)]
pub struct PlanSummary<F: Real> {
    pub row_marginal: Vec<F>,
    pub col_marginal: Vec<F>,
    pub transport_cost: f64,
    pub reg_ot_cost: f64,
    pub marginal_error: f64,
    pub mass: f64,
    pub plan: Option<Array2<F>>,
    /// The largest exponent of a plan entry (from potentials), or `-inf` (from a kernel).
    pub top_exponent: F,
}

impl<F: Real> PlanSummary<F> {
    /// Why the plan cannot be trusted: an entry that overflowed the float type, or a
    /// statistic that is not finite. `None` when it is sound.
    pub fn broken(&self) -> Option<String> {
        if self.top_exponent.is_nan() {
            return Some("a plan entry is NaN".into());
        }
        if self.top_exponent >= F::c(F::EXP_MAX_ARG) {
            return Some(format!(
                "a plan entry overflows {} (exponent {:.3e})",
                F::NAME,
                self.top_exponent.f64()
            ));
        }
        let stats = [
            ("mass", self.mass),
            ("transport cost", self.transport_cost),
            ("regularised cost", self.reg_ot_cost),
            ("marginal error", self.marginal_error),
        ];
        stats
            .iter()
            .find(|(_, v)| !v.is_finite())
            .map(|(what, v)| format!("the plan's {what} is {v}"))
    }
}

/// How the rows of the plan are produced from a row of the scaled cost.
pub(crate) enum PlanRows<'a, F> {
    /// `P_ij = exp((f_i + g_j - C_ij) / eps)`.
    Potentials,
    /// `P_ij = u_i K_ij v_j` from a dense stabilised kernel (no exponentials). A stored
    /// plan is written over the kernel, which is no longer needed: no second `n x m`
    /// buffer to map (about 0.5 ms of a cold n = m = 1024 solve, bench/BENCHMARKS.md).
    Kernel {
        k: Array2<F>,
        u: &'a [F],
        v: &'a [F],
    },
}

pub(crate) fn summarize<F: Real>(
    ctx: &Ctx<F>,
    f: &[F],
    g: &[F],
    rows_from: PlanRows<F>,
    store_plan: bool,
) -> PlanSummary<F> {
    let prob = ctx.prob;
    let geom = &prob.geom;
    let (n, m) = geom.shape();
    let inv = F::one() / ctx.eps;
    let rb = geom.block_rows();
    // The plan's buffer (when stored), the kernel to read rows from (when not written
    // over), and the scalings of kernel mode.
    let (mut plan, kernel, scalings) = match rows_from {
        PlanRows::Potentials => (
            store_plan.then(|| crate::pages::zeroed_matrix(n, m)),
            None,
            None,
        ),
        PlanRows::Kernel { k, u, v } if store_plan => (Some(k), None, Some((u, v))),
        PlanRows::Kernel { k, u, v } => (None, Some(k), Some((u, v))),
    };
    let kernel = kernel
        .as_ref()
        .map(|k| k.as_slice().expect("standard layout"));
    let mut row = vec![F::zero(); n];
    // Per-row plan rows go either into the dense plan or into a scratch buffer.
    let (pc, col, top_exponent) = {
        let mut dense: Vec<Option<&mut [F]>> = match plan.as_mut() {
            Some(p) => p
                .as_slice_mut()
                .expect("standard layout")
                .chunks_mut(rb * m)
                .map(Some)
                .collect(),
            None => (0..n.div_ceil(rb)).map(|_| None).collect(),
        };
        // Per-block partial sums combined in block order (deterministic whatever the
        // scheduling).
        let parts: Vec<(f64, Vec<F>, F)> = row
            .par_chunks_mut(rb)
            .zip(dense.par_iter_mut())
            .enumerate()
            .map_init(
                || (Vec::new(), Vec::new()),
                |(buf, scratch), (b, (rows, out))| {
                    let (mut pc, mut col, mut top) =
                        (0.0f64, vec![F::zero(); m], F::neg_infinity());
                    let s = b * rb;
                    let blk = geom.block(s, s + rows.len(), buf);
                    scratch.resize(m, F::zero());
                    for (k, (ri, c)) in rows.iter_mut().zip(blk.chunks_exact(m)).enumerate() {
                        let p: &mut [F] = match out {
                            Some(o) => &mut o[k * m..(k + 1) * m],
                            None => scratch,
                        };
                        let i = s + k;
                        match (scalings, kernel) {
                            (None, _) => {
                                let t = kernel_row(f[i], g, c, inv, p);
                                // NaN wins, so that it is reported.
                                top = if t.is_nan() || t > top { t } else { top };
                            }
                            (Some((u, v)), Some(kk)) => {
                                let kr = &kk[i * m..(i + 1) * m];
                                for ((pj, &kj), &vj) in p.iter_mut().zip(kr).zip(v) {
                                    *pj = u[i] * kj * vj;
                                }
                            }
                            // The row holds the kernel's row: scaled in place.
                            (Some((u, v)), None) => {
                                for (pj, &vj) in p.iter_mut().zip(v) {
                                    *pj = u[i] * *pj * vj;
                                }
                            }
                        }
                        *ri = sum(p);
                        pc += dot(p, c).f64();
                        axpy(F::one(), p, &mut col);
                    }
                    (pc, col, top)
                },
            )
            .collect();
        parts.into_iter().fold(
            (0.0, vec![F::zero(); m], F::neg_infinity()),
            |(p1, mut c1, t1), (p2, c2, t2)| {
                axpy(F::one(), &c2, &mut c1);
                (p1 + p2, c1, if t2.is_nan() || t2 > t1 { t2 } else { t1 })
            },
        )
    };
    let eps = ctx.eps.f64();
    let mass: f64 = row.iter().map(|v| v.f64()).sum();
    let sum_a: f64 = prob.a.iter().map(|v| v.f64()).sum();
    let sum_b: f64 = prob.b.iter().map(|v| v.f64()).sum();
    let mut reg = -eps * (mass - sum_a * sum_b);
    for i in 0..n {
        reg += row[i].f64() * (f[i].f64() - eps * ctx.log_a[i].f64());
    }
    for j in 0..m {
        reg += col[j].f64() * (g[j].f64() - eps * ctx.log_b[j].f64());
    }
    let (a, b) = (
        prob.a.as_slice().expect("contiguous"),
        prob.b.as_slice().expect("contiguous"),
    );
    if prob.rho_a().is_finite() {
        reg += prob.rho_a() * generalized_kl(&row, a);
    }
    if prob.rho_b().is_finite() {
        reg += prob.rho_b() * generalized_kl(&col, b);
    }
    // The worse of the two marginals: after a column update the column error is ~0 and
    // says nothing, so both are checked.
    let marginal_error = ctx
        .col_error(col.iter().copied().enumerate(), g)
        .max(ctx.row_error(row.iter().copied().enumerate(), f));
    PlanSummary {
        row_marginal: row,
        col_marginal: col,
        transport_cost: pc,
        reg_ot_cost: reg,
        marginal_error,
        mass,
        plan,
        top_exponent,
    }
}
