//! One Sinkhorn iteration as a single pass over the cost (or kernel) rows.
//!
//! Each row block is read once: first the new source potential (or scaling) of each of its
//! rows is computed from the current target one, then, while the block is still in cache,
//! the block's contribution to the column reduction that the next target update needs is
//! accumulated. Blocks run in parallel; their column partial sums are merged in block order
//! at the end. For online geometries this also means one cost recomputation per iteration.

use crate::geometry::{dense_block_rows, Geometry};
use crate::real::{axpy, col_max_update, col_sum_exp_update, dot, max_diff, sum_exp_diff, Real};
use rayon::prelude::*;

/// Running column log-sum-exp: `sum[j] = sum exp((v - max[j]) / eps)` over the values seen.
struct ColLse<F> {
    max: Vec<F>,
    sum: Vec<F>,
}

impl<F: Real> ColLse<F> {
    fn new(m: usize) -> Self {
        ColLse {
            max: vec![F::neg_infinity(); m],
            sum: vec![F::zero(); m],
        }
    }

    fn merge(mut self, other: ColLse<F>, inv_eps: F) -> Self {
        for j in 0..self.max.len() {
            let (m1, m2) = (self.max[j], other.max[j]);
            if m2 == F::neg_infinity() {
                continue;
            }
            if m1 == F::neg_infinity() {
                self.max[j] = m2;
                self.sum[j] = other.sum[j];
                continue;
            }
            let mx = m1.max(m2);
            self.sum[j] = self.sum[j] * ((m1 - mx) * inv_eps).fast_exp()
                + other.sum[j] * ((m2 - mx) * inv_eps).fast_exp();
            self.max[j] = mx;
        }
        self
    }
}

/// Log-domain sweep. For every row, `f_i = new_f(i, f_i, eps * LSE_j((g_j - C_ij) / eps))`; then
/// `col_out_j = eps * LSE_i((f_i - C_ij) / eps)` with the new `f`.
pub(crate) fn log_sweep<F: Real>(
    geom: &Geometry<F>,
    g: &[F],
    f: &mut [F],
    new_f: impl Fn(usize, F, F) -> F + Sync,
    col_out: &mut [F],
) {
    let (_, m) = geom.shape();
    let eps = F::c(geom.epsilon());
    let inv = F::one() / eps;
    let rb = geom.block_rows();
    // One partial result per block (blocks of a fixed length, `Geometry::block_rows`),
    // combined in block order: the rounding depends neither on how rayon schedules the
    // blocks nor on the number of threads.
    let parts: Vec<ColLse<F>> = f
        .par_chunks_mut(rb)
        .enumerate()
        .map_init(Vec::new, |buf, (b, fb)| {
            let s = b * rb;
            let blk = geom.block(s, s + fb.len(), buf);
            for (k, (fi, c)) in fb.iter_mut().zip(blk.chunks_exact(m)).enumerate() {
                let mx = max_diff(g, c);
                *fi = new_f(s + k, *fi, mx + eps * sum_exp_diff(g, c, mx, inv).ln());
            }
            // Block-local column maxima keep every exponent <= 0.
            let mut local = ColLse::new(m);
            for (&fi, c) in fb.iter().zip(blk.chunks_exact(m)) {
                col_max_update(fi, c, &mut local.max);
            }
            for (&fi, c) in fb.iter().zip(blk.chunks_exact(m)) {
                col_sum_exp_update(fi, c, &local.max, inv, &mut local.sum);
            }
            local
        })
        .collect();
    let acc = parts
        .into_iter()
        .fold(ColLse::new(m), |a, b| a.merge(b, inv));
    for ((o, &mx), &s) in col_out.iter_mut().zip(&acc.max).zip(&acc.sum) {
        *o = mx + eps * s.ln();
    }
}

/// Kernel sweep over a dense row-major kernel `k` (`n x m`). For every row,
/// `u_i = new_u(i, u_i, (K v)_i)`; then `ktu = K^T u` with the new `u`.
pub(crate) fn kernel_sweep<F: Real>(
    k: &[F],
    m: usize,
    v: &[F],
    u: &mut [F],
    new_u: impl Fn(usize, F, F) -> F + Sync,
    ktu: &mut [F],
) {
    let rb = dense_block_rows(u.len(), m);
    // Per-block partial sums added in block order: blocks of a fixed length, so the
    // rounding depends neither on the scheduling nor on the number of threads.
    let parts: Vec<Vec<F>> = u
        .par_chunks_mut(rb)
        .enumerate()
        .map(|(b, ub)| {
            let s = b * rb;
            let rows = &k[s * m..(s + ub.len()) * m];
            let mut acc = vec![F::zero(); m];
            for (kk, (ui, row)) in ub.iter_mut().zip(rows.chunks_exact(m)).enumerate() {
                *ui = new_u(s + kk, *ui, dot(row, v));
                axpy(*ui, row, &mut acc);
            }
            acc
        })
        .collect();
    ktu.iter_mut().for_each(|x| *x = F::zero());
    for part in &parts {
        axpy(F::one(), part, ktu);
    }
}

/// The `eps -> 0` limit of [`log_sweep`] on a dense row-major cost `c` (`n x m`):
/// `eps LSE_j((g_j - C_ij) / eps)` is replaced by `max_j (g_j - C_ij)`, so a sweep costs
/// comparisons instead of `2 n m` exponentials. For every row,
/// `f_i = new_f(i, max_j (g_j - C_ij))`; then `col_out_j = max_i (f_i - C_ij)` with the new
/// `f`. A maximum is exact in any order, so the blocks merge without rounding.
pub(crate) fn max_sweep<F: Real>(
    c: &[F],
    m: usize,
    g: &[F],
    f: &mut [F],
    new_f: impl Fn(usize, F) -> F + Sync,
    col_out: &mut [F],
) {
    let rb = dense_block_rows(f.len(), m);
    let parts: Vec<Vec<F>> = f
        .par_chunks_mut(rb)
        .enumerate()
        .map(|(b, fb)| {
            let s = b * rb;
            let rows = &c[s * m..(s + fb.len()) * m];
            let mut local = vec![F::neg_infinity(); m];
            for (k, (fi, row)) in fb.iter_mut().zip(rows.chunks_exact(m)).enumerate() {
                *fi = new_f(s + k, max_diff(g, row));
                col_max_update(*fi, row, &mut local);
            }
            local
        })
        .collect();
    col_out.iter_mut().for_each(|o| *o = F::neg_infinity());
    for part in &parts {
        for (o, &p) in col_out.iter_mut().zip(part) {
            *o = if p > *o { p } else { *o };
        }
    }
}
