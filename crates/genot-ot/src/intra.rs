//! Intra-space costs for Gromov-Wasserstein: the `n x n` cost between the points of one
//! space, dense or as low-rank factors.
//!
//! A squared-Euclidean cost on points `x` (`n x d`) is the rank-`(d + 2)` product
//! `C = A B^T` with `A = [|x|^2, 1, -2x]` and `B = [1, |x|^2, x]`: GW never forms the
//! `n x n` matrix, and `C M` costs `O(n k (d + 2))` for an `n x k` matrix `M`.

use crate::cost::{cost_matrix, sq_norms, Cost, SqEuclidean};
use crate::error::{OtError, Result};
use crate::geometry::{median_of, validate_points, ScaleCost};
use crate::real::{sq_dot, Real};
use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, ArrayView2, Axis};
use rayon::prelude::*;
use std::sync::Arc;

#[derive(Debug, Clone)]
enum Repr<F: Real> {
    /// The scaled matrix.
    Dense(Array2<F>),
    /// `C = A B^T`, scaled (the scale is folded into `A`). `sq` holds the row-wise
    /// Khatri-Rao squares `(A o A, B o B)` with `C o C = (A o A)(B o B)^T` when the rank
    /// `r^2` is below `n` (then `(C o C) v` costs `O(n r^2)`).
    LowRank {
        a: Array2<F>,
        b: Array2<F>,
        sq: Option<(Array2<F>, Array2<F>)>,
    },
}

/// Row-wise Khatri-Rao square: row `i` of the result is `a_i (x) a_i` (length `r^2`).
fn khatri_rao_square<F: Real>(a: &Array2<F>) -> Array2<F> {
    let (n, r) = a.dim();
    Array2::from_shape_fn((n, r * r), |(i, k)| a[[i, k / r]] * a[[i, k % r]])
}

/// The cost between the points of one space, rescaled.
#[derive(Debug, Clone)]
pub struct IntraGeometry<F: Real> {
    repr: Repr<F>,
    scale: f64,
}

impl<F: Real> IntraGeometry<F> {
    /// From points and a cost. A squared-Euclidean cost uses the exact low-rank
    /// factorisation; any other cost is computed as a dense `n x n` matrix.
    pub fn from_points(x: Array2<F>, cost: Arc<dyn Cost<F>>, scale: ScaleCost) -> Result<Self> {
        validate_points("points", x.view())?;
        if cost.name() == Cost::<F>::name(&SqEuclidean) {
            let n = x.nrows();
            let d = x.ncols();
            let norms = sq_norms(x.view());
            let mut a = Array2::<F>::zeros((n, d + 2));
            let mut b = Array2::<F>::zeros((n, d + 2));
            for i in 0..n {
                a[[i, 0]] = norms[i];
                a[[i, 1]] = F::one();
                b[[i, 0]] = F::one();
                b[[i, 1]] = norms[i];
                for k in 0..d {
                    a[[i, k + 2]] = F::c(-2.0) * x[[i, k]];
                    b[[i, k + 2]] = x[[i, k]];
                }
            }
            Self::low_rank(a, b, scale)
        } else {
            let c = cost_matrix(cost.as_ref(), x.view(), x.view());
            Self::from_matrix(c, scale)
        }
    }

    /// From a precomputed square cost matrix.
    pub fn from_matrix(c: Array2<F>, scale: ScaleCost) -> Result<Self> {
        // Row blocks are read as contiguous slices.
        let mut c = c.as_standard_layout().into_owned();
        if c.nrows() != c.ncols() || c.is_empty() {
            return Err(OtError::DimensionMismatch {
                what: format!(
                    "an intra-space cost matrix must be square and non-empty, got {:?}",
                    c.dim()
                ),
            });
        }
        if let Some(((row, col), v)) = c.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(OtError::NonFiniteCost {
                row,
                col,
                value: v.f64(),
            });
        }
        // The GW linearisation assumes C = C^T (true of distances).
        let tol = 1e-6
            * c.iter()
                .fold(0.0f64, |m, v| m.max(v.f64().abs()))
                .max(f64::MIN_POSITIVE);
        if let Some(((i, k), v)) = c
            .indexed_iter()
            .find(|((i, k), v)| (v.f64() - c[[*k, *i]].f64()).abs() > tol)
        {
            return Err(OtError::InvalidParameter(format!(
                "an intra-space cost matrix must be symmetric: entry ({i}, {k}) is {v} but ({k}, {i}) is {}",
                c[[k, i]]
            )));
        }
        let n = c.len() as f64;
        let s = scale.factor(
            || c.iter().map(|v| v.f64()).sum::<f64>() / n,
            || c.iter().fold(f64::NEG_INFINITY, |m, v| m.max(v.f64())),
            || Some(median_of(&c.iter().copied().collect::<Vec<F>>())),
        )?;
        let inv = F::c(1.0 / s);
        c.mapv_inplace(|v| v * inv);
        Ok(IntraGeometry {
            repr: Repr::Dense(c),
            scale: s,
        })
    }

    /// From factors `C = A B^T` (each `n x r`).
    pub fn low_rank(mut a: Array2<F>, b: Array2<F>, scale: ScaleCost) -> Result<Self> {
        if a.dim() != b.dim() || a.nrows() == 0 {
            return Err(OtError::DimensionMismatch {
                what: format!(
                    "low-rank factors must have the same non-empty shape, got {:?} and {:?}",
                    a.dim(),
                    b.dim()
                ),
            });
        }
        let n = a.nrows();
        let geom = IntraGeometry {
            repr: Repr::LowRank {
                a: a.clone(),
                b: b.clone(),
                sq: None,
            },
            scale: 1.0,
        };
        let s = scale.factor(
            || {
                // mean(C) = (1^T A)(B^T 1) / n^2
                let sa = a.sum_axis(Axis(0));
                let sb = b.sum_axis(Axis(0));
                sa.iter()
                    .zip(sb.iter())
                    .map(|(p, q)| p.f64() * q.f64())
                    .sum::<f64>()
                    / (n * n) as f64
            },
            || geom.max_entry(),
            || None,
        )?;
        let inv = F::c(1.0 / s);
        a.mapv_inplace(|v| v * inv);
        let r = a.ncols();
        let sq = (r * r < n).then(|| (khatri_rao_square(&a), khatri_rao_square(&b)));
        Ok(IntraGeometry {
            repr: Repr::LowRank { a, b, sq },
            scale: s,
        })
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Dense(c) => c.nrows(),
            Repr::LowRank { a, .. } => a.nrows(),
        }
    }

    /// True when there are no points (never, for a constructed geometry).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The factor the raw cost was divided by.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The factors `(A, B)` of `C = A B^T` when low-rank.
    pub(crate) fn factors(&self) -> Option<(&Array2<F>, &Array2<F>)> {
        match &self.repr {
            Repr::LowRank { a, b, .. } => Some((a, b)),
            Repr::Dense(_) => None,
        }
    }

    /// True for the low-rank representation.
    pub fn is_low_rank(&self) -> bool {
        matches!(self.repr, Repr::LowRank { .. })
    }

    /// Rows `start..end` of the scaled cost, into `buf`.
    fn rows(&self, start: usize, end: usize, buf: &mut Vec<F>) {
        let n = self.len();
        buf.clear();
        buf.resize((end - start) * n, F::zero());
        match &self.repr {
            Repr::Dense(c) => buf.copy_from_slice(
                c.slice(s![start..end, ..])
                    .as_slice()
                    .expect("standard layout"),
            ),
            Repr::LowRank { a, b, .. } => {
                let mut out = ndarray::ArrayViewMut2::from_shape((end - start, n), &mut buf[..])
                    .expect("shape");
                general_mat_mul(
                    F::one(),
                    &a.slice(s![start..end, ..]),
                    &b.t(),
                    F::zero(),
                    &mut out,
                );
            }
        }
    }

    fn max_entry(&self) -> f64 {
        let n = self.len();
        let rb = (1usize << 16).div_ceil(n).clamp(1, 256);
        (0..n)
            .step_by(rb)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map_init(Vec::new, |buf, s| {
                self.rows(s, (s + rb).min(n), buf);
                buf.iter().fold(f64::NEG_INFINITY, |m, v| m.max(v.f64()))
            })
            .reduce(|| f64::NEG_INFINITY, f64::max)
    }

    /// The dense scaled matrix (computed from the factors when low-rank).
    pub fn to_dense(&self) -> Array2<F> {
        match &self.repr {
            Repr::Dense(c) => c.clone(),
            Repr::LowRank { a, b, .. } => a.dot(&b.t()),
        }
    }

    /// `C M` for an `n x k` matrix `M`.
    pub fn apply(&self, m: ArrayView2<F>) -> Array2<F> {
        match &self.repr {
            Repr::Dense(c) => c.dot(&m),
            Repr::LowRank { a, b, .. } => a.dot(&b.t().dot(&m)),
        }
    }

    /// `C^T M` for an `n x k` matrix `M`.
    pub fn apply_t(&self, m: ArrayView2<F>) -> Array2<F> {
        match &self.repr {
            Repr::Dense(c) => c.t().dot(&m),
            Repr::LowRank { a, b, .. } => b.dot(&a.t().dot(&m)),
        }
    }

    /// `M C^T` for a `k x n` matrix `M` (standard layout out).
    pub fn apply_right_t(&self, m: ArrayView2<F>) -> Array2<F> {
        match &self.repr {
            Repr::Dense(c) => m.dot(&c.t()),
            Repr::LowRank { a, b, .. } => m.dot(b).dot(&a.t()),
        }
    }

    /// `(C o C) v`, the elementwise square of the cost applied to a vector, in row blocks.
    pub fn apply_square(&self, v: &[F]) -> Array1<F> {
        if let Repr::LowRank {
            sq: Some((a2, b2)), ..
        } = &self.repr
        {
            let v = ndarray::ArrayView1::from(v);
            return a2.dot(&b2.t().dot(&v));
        }
        let n = self.len();
        let rb = (1usize << 16).div_ceil(n).clamp(1, 256);
        let mut out = Array1::<F>::zeros(n);
        out.as_slice_mut()
            .expect("contiguous")
            .par_chunks_mut(rb)
            .enumerate()
            .for_each_init(Vec::new, |buf, (k, o)| {
                let s = k * rb;
                self.rows(s, s + o.len(), buf);
                for (oi, row) in o.iter_mut().zip(buf.chunks_exact(n)) {
                    *oi = sq_dot(row, v);
                }
            });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::Euclidean;

    fn points() -> Array2<f64> {
        Array2::from_shape_fn((23, 3), |(i, j)| {
            ((i * 3 + j) as f64 * 0.61).sin() * (1.0 + j as f64)
        })
    }

    #[test]
    fn low_rank_matches_dense_operations() {
        let x = points();
        let lr =
            IntraGeometry::from_points(x.clone(), Arc::new(SqEuclidean), ScaleCost::Max).unwrap();
        assert!(lr.is_low_rank());
        let raw = cost_matrix(&SqEuclidean, x.view(), x.view());
        let dense = IntraGeometry::from_matrix(raw.clone(), ScaleCost::Max).unwrap();
        assert!((lr.scale() - dense.scale()).abs() < 1e-9 * dense.scale());
        let m = Array2::from_shape_fn((23, 4), |(i, j)| (i as f64 - j as f64 * 2.0).cos());
        let close = |p: &Array2<f64>, q: &Array2<f64>| {
            p.iter().zip(q.iter()).all(|(a, b)| (a - b).abs() < 1e-9)
        };
        assert!(close(&lr.apply(m.view()), &dense.apply(m.view())));
        assert!(close(&lr.apply_t(m.view()), &dense.apply_t(m.view())));
        assert!(close(&lr.to_dense(), &dense.to_dense()));
        let v: Vec<f64> = (0..23).map(|i| 1.0 / (1.0 + i as f64)).collect();
        let (sq_lr, sq_d) = (lr.apply_square(&v), dense.apply_square(&v));
        // A matrix in column-major order (here the transpose of a symmetric one) works too.
        let fortran =
            IntraGeometry::from_matrix(raw.clone().reversed_axes(), ScaleCost::Max).unwrap();
        assert_eq!(fortran.apply_square(&v), sq_d);
        let brute: Vec<f64> = (0..23)
            .map(|i| {
                (0..23)
                    .map(|k| (raw[[i, k]] / dense.scale()).powi(2) * v[k])
                    .sum()
            })
            .collect();
        for i in 0..23 {
            assert!((sq_lr[i] - brute[i]).abs() < 1e-9 && (sq_d[i] - brute[i]).abs() < 1e-9);
        }
        // Mean scaling through the factors.
        let lm =
            IntraGeometry::from_points(x.clone(), Arc::new(SqEuclidean), ScaleCost::Mean).unwrap();
        assert!((lm.scale() - raw.mean().unwrap()).abs() < 1e-9);
        // Other costs are dense; median needs the dense matrix.
        assert!(
            !IntraGeometry::from_points(x.clone(), Arc::new(Euclidean), ScaleCost::Median)
                .unwrap()
                .is_low_rank()
        );
        assert!(IntraGeometry::from_points(x, Arc::new(SqEuclidean), ScaleCost::Median).is_err());
    }
}
