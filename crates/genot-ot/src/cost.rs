//! Ground costs between points: squared Euclidean (no 1/2, as in OTT and POT), Euclidean,
//! p-norm to the p, cosine, and user closures.
//!
//! A [`Cost`] gives the cost of one pair and can fill a block of the cost matrix at once;
//! the squared Euclidean and cosine costs fill blocks with a matrix product (GEMM), so a
//! block of `r x m` costs in `d` dimensions takes one `r x d x m` product.

use crate::real::{dot, Real};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, Axis};
use std::fmt;
use std::sync::Arc;

/// A ground cost c(x, y) between two points of the same dimension.
pub trait Cost<F: Real>: Send + Sync {
    /// The cost of one pair.
    fn pair(&self, x: &[F], y: &[F]) -> F;

    /// Fills `out` (row-major, `x.nrows() x y.nrows()`) with `c(x_i, y_j)`.
    fn fill_block(&self, x: ArrayView2<F>, y: ArrayView2<F>, out: &mut [F]) {
        self.fill_block_aux(x, y, &self.aux(x), &self.aux(y), out)
    }

    /// Per-point data that [`Cost::fill_block_aux`] can reuse across blocks (for example
    /// squared norms), computed once per point cloud. Empty by default.
    fn aux(&self, _points: ArrayView2<F>) -> Vec<F> {
        Vec::new()
    }

    /// [`Cost::fill_block`] given the [`Cost::aux`] data of the rows of `x` and of `y`.
    /// The default evaluates [`Cost::pair`] on every pair.
    fn fill_block_aux(
        &self,
        x: ArrayView2<F>,
        y: ArrayView2<F>,
        _xa: &[F],
        _ya: &[F],
        out: &mut [F],
    ) {
        let m = y.nrows();
        let rows: Vec<Vec<F>> = y.outer_iter().map(|r| r.to_vec()).collect();
        for (i, xi) in x.outer_iter().enumerate() {
            let xi = xi.to_vec();
            for (j, yj) in rows.iter().enumerate() {
                out[i * m + j] = self.pair(&xi, yj);
            }
        }
    }

    /// A short name for reports (`"sqeuclidean"`, `"pnorm:1.5"`, ...).
    fn name(&self) -> String;
}

/// `||x - y||^2` (no 1/2).
#[derive(Debug, Clone, Copy, Default)]
pub struct SqEuclidean;

/// `||x - y||`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Euclidean;

/// `sum_k |x_k - y_k|^p`, the p-norm to the power p (`p >= 1`).
#[derive(Debug, Clone, Copy)]
pub struct PNorm(pub f64);

/// `1 - <x, y> / (||x|| ||y||)`; a zero vector has cosine similarity 0 with everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cosine;

/// The closure type behind [`FnCost`].
pub type CostFn<F> = dyn Fn(&[F], &[F]) -> F + Send + Sync;

/// A user-supplied cost function.
#[derive(Clone)]
pub struct FnCost<F: Real> {
    name: String,
    f: Arc<CostFn<F>>,
}

impl<F: Real> FnCost<F> {
    /// Wraps a closure as a cost.
    ///
    /// ```
    /// use genot_ot::cost::{Cost, FnCost};
    /// let l1 = FnCost::new("l1", |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| (a - b).abs()).sum());
    /// assert_eq!(l1.pair(&[0.0, 1.0], &[1.0, 3.0]), 3.0);
    /// ```
    pub fn new(name: &str, f: impl Fn(&[F], &[F]) -> F + Send + Sync + 'static) -> Self {
        FnCost {
            name: name.to_string(),
            f: Arc::new(f),
        }
    }
}

impl<F: Real> fmt::Debug for FnCost<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FnCost({})", self.name)
    }
}

impl<F: Real> Cost<F> for FnCost<F> {
    fn pair(&self, x: &[F], y: &[F]) -> F {
        (self.f)(x, y)
    }
    fn name(&self) -> String {
        format!("user:{}", self.name)
    }
}

/// Squared row norms.
pub(crate) fn sq_norms<F: Real>(x: ArrayView2<F>) -> Vec<F> {
    x.outer_iter()
        .map(|r| r.iter().fold(F::zero(), |s, &v| s + v * v))
        .collect()
}

/// `out = x y^T` (row-major, `x.nrows() x y.nrows()`).
fn gram_block<F: Real>(x: ArrayView2<F>, y: ArrayView2<F>, out: &mut [F]) {
    let mut o = ndarray::ArrayViewMut2::from_shape((x.nrows(), y.nrows()), out)
        .expect("block buffer has the block's size");
    general_mat_mul(F::one(), &x, &y.t(), F::zero(), &mut o);
}

impl<F: Real> Cost<F> for SqEuclidean {
    fn pair(&self, x: &[F], y: &[F]) -> F {
        x.iter()
            .zip(y)
            .fold(F::zero(), |s, (&a, &b)| s + (a - b) * (a - b))
    }
    fn aux(&self, points: ArrayView2<F>) -> Vec<F> {
        sq_norms(points)
    }
    /// `||x_i||^2 + ||y_j||^2 - 2 <x_i, y_j>` (clamped at 0) given the squared norms.
    fn fill_block_aux(
        &self,
        x: ArrayView2<F>,
        y: ArrayView2<F>,
        nx: &[F],
        ny: &[F],
        out: &mut [F],
    ) {
        let m = y.nrows();
        gram_block(x, y, out);
        let two = F::c(2.0);
        for (row, &xi) in out.chunks_exact_mut(m).zip(nx) {
            for (o, &yj) in row.iter_mut().zip(ny) {
                *o = (xi + yj - two * *o).max(F::zero());
            }
        }
    }
    fn name(&self) -> String {
        "sqeuclidean".into()
    }
}

impl<F: Real> Cost<F> for Euclidean {
    fn pair(&self, x: &[F], y: &[F]) -> F {
        SqEuclidean.pair(x, y).sqrt()
    }
    /// Squared norms, as for [`SqEuclidean`].
    fn aux(&self, points: ArrayView2<F>) -> Vec<F> {
        sq_norms(points)
    }
    /// The square root of the squared Euclidean block.
    fn fill_block_aux(
        &self,
        x: ArrayView2<F>,
        y: ArrayView2<F>,
        xa: &[F],
        ya: &[F],
        out: &mut [F],
    ) {
        SqEuclidean.fill_block_aux(x, y, xa, ya, out);
        out.iter_mut().for_each(|v| *v = v.sqrt());
    }
    fn name(&self) -> String {
        "euclidean".into()
    }
}

impl<F: Real> Cost<F> for PNorm {
    fn pair(&self, x: &[F], y: &[F]) -> F {
        let p = F::c(self.0);
        x.iter()
            .zip(y)
            .fold(F::zero(), |s, (&a, &b)| s + (a - b).abs().powf(p))
    }
    fn name(&self) -> String {
        format!("pnorm:{}", self.0)
    }
}

impl<F: Real> Cost<F> for Cosine {
    fn pair(&self, x: &[F], y: &[F]) -> F {
        let (nx, ny) = (dot(x, x).sqrt(), dot(y, y).sqrt());
        cosine_from(dot(x, y), nx, ny)
    }
    /// Euclidean norms.
    fn aux(&self, points: ArrayView2<F>) -> Vec<F> {
        sq_norms(points).into_iter().map(|v| v.sqrt()).collect()
    }
    fn fill_block_aux(
        &self,
        x: ArrayView2<F>,
        y: ArrayView2<F>,
        nx: &[F],
        ny: &[F],
        out: &mut [F],
    ) {
        let m = y.nrows();
        gram_block(x, y, out);
        for (row, &a) in out.chunks_exact_mut(m).zip(nx) {
            for (o, &b) in row.iter_mut().zip(ny) {
                *o = cosine_from(*o, a, b);
            }
        }
    }
    fn name(&self) -> String {
        "cosine".into()
    }
}

fn cosine_from<F: Real>(xy: F, nx: F, ny: F) -> F {
    if nx == F::zero() || ny == F::zero() {
        return F::one();
    }
    (F::one() - xy / (nx * ny)).max(F::zero())
}

/// A dense cost matrix `c(x_i, y_j)` computed in parallel row blocks.
pub fn cost_matrix<F: Real>(cost: &dyn Cost<F>, x: ArrayView2<F>, y: ArrayView2<F>) -> Array2<F> {
    use rayon::prelude::*;
    let (n, m) = (x.nrows(), y.nrows());
    let mut out = crate::pages::zeroed_matrix(n, m);
    let (xa, ya) = (cost.aux(x), cost.aux(y));
    // Blocks of a few hundred rows: large enough for an efficient GEMM (the right-hand
    // side is packed once per block), eight or more for load balance. The split depends on
    // `n` only, not on the number of threads.
    let rows_per_block = n.div_ceil(8).clamp(16, 512);
    if let Some(buf) = out.as_slice_mut() {
        buf.par_chunks_mut(rows_per_block * m.max(1))
            .enumerate()
            .for_each(|(b, chunk)| {
                let start = b * rows_per_block;
                let rows = chunk.len() / m.max(1);
                let xs = x.slice_axis(Axis(0), (start..start + rows).into());
                let xa = if xa.is_empty() {
                    &xa[..]
                } else {
                    &xa[start..start + rows]
                };
                cost.fill_block_aux(xs, y, xa, &ya, chunk);
            });
    }
    out
}

/// `f(i, row)` for every row `i` of the cost between `x` and `y` (`row[j] = c(x_i, y_j)`),
/// in order. Rows are computed in parallel blocks of about 64 K costs with the cost's
/// per-point data ([`Cost::aux`]) computed once: memory `O(block)`, never `n x m`.
pub(crate) fn map_cost_rows<F: Real, R: Send>(
    cost: &dyn Cost<F>,
    x: ArrayView2<F>,
    y: ArrayView2<F>,
    f: impl Fn(usize, &[F]) -> R + Sync,
) -> Vec<R> {
    use rayon::prelude::*;
    let (n, m) = (x.nrows(), y.nrows());
    let (xa, ya) = (cost.aux(x), cost.aux(y));
    let rows_per_block = (1usize << 16).div_ceil(m.max(1)).clamp(1, 256);
    let blocks: Vec<Vec<R>> = (0..n)
        .step_by(rows_per_block)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map_init(Vec::new, |buf, s| {
            let e = (s + rows_per_block).min(n);
            buf.clear();
            buf.resize((e - s) * m, F::zero());
            let xs = if xa.is_empty() { &xa[..] } else { &xa[s..e] };
            cost.fill_block_aux(x.slice_axis(Axis(0), (s..e).into()), y, xs, &ya, buf);
            buf.chunks_exact(m.max(1))
                .enumerate()
                .map(|(k, row)| f(s + k, row))
                .collect()
        })
        .collect();
    blocks.into_iter().flatten().collect()
}

/// Why [`parse_cost`] refused a name.
#[derive(Debug, Clone, PartialEq)]
pub enum CostNameError {
    /// Not a cost between points (the message lists those).
    Unknown(String),
    /// A known cost with a bad parameter (`pnorm:x`).
    Parameter(String),
}

impl CostNameError {
    /// True when the name is not a cost between points at all.
    pub fn is_unknown(&self) -> bool {
        matches!(self, CostNameError::Unknown(_))
    }
}

impl fmt::Display for CostNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CostNameError::Unknown(m) | CostNameError::Parameter(m) => f.write_str(m),
        }
    }
}

impl From<CostNameError> for String {
    fn from(e: CostNameError) -> String {
        e.to_string()
    }
}

/// Parses the name of a cost between points, as used on the command line: `sqeuclidean`,
/// `euclidean`, `pnorm:P`, `cosine` ([`crate::choice::COSTS`] without the graph cost).
pub fn parse_cost<F: Real>(name: &str) -> Result<Arc<dyn Cost<F>>, CostNameError> {
    match name {
        "sqeuclidean" | "sqeucl" => Ok(Arc::new(SqEuclidean)),
        "euclidean" => Ok(Arc::new(Euclidean)),
        "cosine" => Ok(Arc::new(Cosine)),
        other => {
            if let Some(p) = other.strip_prefix("pnorm:") {
                let p: f64 = p.parse().map_err(|_| {
                    CostNameError::Parameter(format!(
                        "cost '{other}': the exponent '{p}' is not a number"
                    ))
                })?;
                if !(p >= 1.0 && p.is_finite()) {
                    return Err(CostNameError::Parameter(format!(
                        "cost '{other}': the exponent must be >= 1, got {p}"
                    )));
                }
                Ok(Arc::new(PNorm(p)))
            } else {
                let points: Vec<&str> = crate::choice::COSTS
                    .iter()
                    .map(|(n, _)| *n)
                    .filter(|n| !n.starts_with("graph:"))
                    .collect();
                Err(CostNameError::Unknown(format!(
                    "unknown cost '{other}' (expected one of {})",
                    points.join(", ")
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn brute(cost: &dyn Cost<f64>, x: ArrayView2<f64>, y: ArrayView2<f64>) -> Array2<f64> {
        Array2::from_shape_fn((x.nrows(), y.nrows()), |(i, j)| {
            cost.pair(x.row(i).as_slice().unwrap(), y.row(j).as_slice().unwrap())
        })
    }

    #[test]
    fn block_paths_match_pairwise_costs() {
        let x = array![[0.0, 1.0, 2.0], [1.5, -1.0, 0.5], [0.0, 0.0, 0.0]];
        let y = array![[1.0, 1.0, 1.0], [-2.0, 0.5, 3.0]];
        let costs: Vec<Arc<dyn Cost<f64>>> = vec![
            Arc::new(SqEuclidean),
            Arc::new(Euclidean),
            Arc::new(PNorm(1.5)),
            Arc::new(Cosine),
        ];
        for c in costs {
            let fast = cost_matrix(c.as_ref(), x.view(), y.view());
            let slow = brute(c.as_ref(), x.view(), y.view());
            for (a, b) in fast.iter().zip(slow.iter()) {
                assert!((a - b).abs() < 1e-12, "{}: {a} vs {b}", c.name());
            }
        }
        // Hand values.
        assert_eq!(SqEuclidean.pair(&[0.0, 0.0], &[3.0, 4.0]), 25.0);
        assert_eq!(Euclidean.pair(&[0.0, 0.0], &[3.0, 4.0]), 5.0);
        assert_eq!(PNorm(1.0).pair(&[0.0, 0.0], &[3.0, -4.0]), 7.0);
        assert!((Cosine.pair(&[1.0f64, 0.0], &[0.0, 2.0]) - 1.0).abs() < 1e-15);
        assert!(Cosine.pair(&[1.0f64, 1.0], &[2.0, 2.0]).abs() < 1e-15);
    }

    #[test]
    fn parse_cost_names() {
        assert_eq!(parse_cost::<f32>("pnorm:3").unwrap().name(), "pnorm:3");
        assert!(!parse_cost::<f32>("pnorm:0.5").err().unwrap().is_unknown());
        let e = parse_cost::<f32>("manhattan").err().unwrap();
        assert!(
            e.is_unknown() && e.to_string().contains("unknown cost"),
            "{e}"
        );
    }
}
