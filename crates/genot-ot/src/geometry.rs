//! A geometry: where the costs come from (two point clouds and a [`Cost`], or a precomputed
//! matrix), how they are rescaled, and the absolute epsilon that results.
//!
//! A geometry is either *dense* (the scaled `n x m` cost matrix is held in memory) or
//! *online* (costs are recomputed from the points in row blocks whenever a solver needs
//! them: memory `O((n + m) d)` plus one block per thread).

use crate::cost::{cost_matrix, Cost};
use crate::error::{OtError, ParseError, Result};
use crate::real::{moments_row, Real};
use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use std::sync::Arc;

/// How the cost matrix is rescaled before solving (the scaled cost is `C / s`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ScaleCost {
    /// No rescaling.
    None,
    /// Divide by this number.
    Value(f64),
    /// Divide by the mean cost (the default, as in GENOT).
    #[default]
    Mean,
    /// Divide by the median cost (dense geometries only).
    Median,
    /// Divide by the largest cost.
    Max,
}

impl std::str::FromStr for ScaleCost {
    type Err = ParseError;
    fn from_str(s: &str) -> std::result::Result<Self, ParseError> {
        match s {
            "none" => Ok(ScaleCost::None),
            "mean" => Ok(ScaleCost::Mean),
            "median" => Ok(ScaleCost::Median),
            "max" | "max_cost" => Ok(ScaleCost::Max),
            v => match v.parse::<f64>() {
                Ok(x) if x > 0.0 && x.is_finite() => Ok(ScaleCost::Value(x)),
                Ok(x) => Err(ParseError::ScaleValue(x)),
                Err(_) => Err(ParseError::UnknownScale(v.into())),
            },
        }
    }
}

/// The name [`ScaleCost::from_str`](std::str::FromStr) reads back (`mean`, `2.5`).
impl std::fmt::Display for ScaleCost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScaleCost::None => f.write_str("none"),
            ScaleCost::Value(v) => write!(f, "{v}"),
            ScaleCost::Mean => f.write_str("mean"),
            ScaleCost::Median => f.write_str("median"),
            ScaleCost::Max => f.write_str("max"),
        }
    }
}

impl ScaleCost {
    /// The factor the raw cost is divided by, from its statistics (computed only when
    /// needed). `median` is `None` where the whole matrix is not at hand (online or
    /// low-rank costs): median scaling is then unsupported.
    pub(crate) fn factor(
        self,
        mean: impl FnOnce() -> f64,
        max: impl FnOnce() -> f64,
        median: impl FnOnce() -> Option<f64>,
    ) -> Result<f64> {
        let s = match self {
            ScaleCost::None => 1.0,
            ScaleCost::Value(v) => v,
            ScaleCost::Mean => mean(),
            ScaleCost::Max => max(),
            ScaleCost::Median => median().ok_or_else(|| {
                OtError::Unsupported(
                    "median cost scaling needs the whole cost matrix; use mean, max, none or a number"
                        .into(),
                )
            })?,
        };
        if !(s > 0.0 && s.is_finite()) {
            let by = match self {
                ScaleCost::Mean => "its mean",
                ScaleCost::Max => "its maximum",
                ScaleCost::Median => "its median",
                ScaleCost::None | ScaleCost::Value(_) => "the given factor",
            };
            let why = if s.is_finite() && s.abs() < 1e-6 {
                "the costs are all zero up to rounding: every point is the same, or a side has a single point"
            } else {
                "it must be a positive finite number"
            };
            return Err(OtError::InvalidParameter(format!(
                "cannot scale the cost by {by}, which is {s:e}: {why}; scale by none or by a number instead"
            )));
        }
        Ok(s)
    }
}

/// Which statistic of the (scaled) cost a relative epsilon multiplies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelativeTo {
    /// The mean of the scaled cost matrix.
    Mean,
    /// The standard deviation of the scaled cost matrix.
    Std,
}

/// The entropic regularisation strength.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Epsilon {
    /// Used as it is, on the scaled cost.
    Absolute(f64),
    /// `factor` times the mean or standard deviation of the scaled cost.
    Relative { factor: f64, to: RelativeTo },
}

impl Default for Epsilon {
    /// OTT's default: 5% of the standard deviation of the cost.
    fn default() -> Self {
        Epsilon::Relative {
            factor: 0.05,
            to: RelativeTo::Std,
        }
    }
}

impl Epsilon {
    /// Epsilon from an optional value and an optional `relative` target (`mean` or `std`):
    /// a value alone is absolute; with `relative` it is a factor (0.05 when missing);
    /// neither gives the default. The message names the bad value.
    ///
    /// ```
    /// use genot_ot::geometry::{Epsilon, RelativeTo};
    /// assert_eq!(Epsilon::from_options(Some(0.1), None), Ok(Epsilon::Absolute(0.1)));
    /// assert_eq!(Epsilon::from_options(None, Some("mean")), Ok(Epsilon::Relative { factor: 0.05, to: RelativeTo::Mean }));
    /// assert!(Epsilon::from_options(Some(-1.0), None).is_err());
    /// ```
    pub fn from_options(
        value: Option<f64>,
        relative: Option<&str>,
    ) -> std::result::Result<Self, ParseError> {
        if let Some(e) = value.filter(|e| !(*e > 0.0 && e.is_finite())) {
            return Err(ParseError::Epsilon(e));
        }
        let to = match relative {
            None => return Ok(value.map_or_else(Epsilon::default, Epsilon::Absolute)),
            Some("mean") => RelativeTo::Mean,
            Some("std") => RelativeTo::Std,
            Some(o) => return Err(ParseError::RelativeTo(o.into())),
        };
        Ok(Epsilon::Relative {
            factor: value.unwrap_or(0.05),
            to,
        })
    }
}

/// Summary statistics of the *unscaled* cost matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostStats {
    pub mean: f64,
    pub std: f64,
    pub max: f64,
    /// Only computed for dense geometries.
    pub median: Option<f64>,
}

/// Where the costs come from.
#[derive(Clone)]
enum Source<F: Real> {
    /// Scaled dense matrix.
    Dense(Array2<F>),
    /// Points and a cost, recomputed in blocks; `xa`, `ya` are the cost's per-point data.
    Online {
        x: Array2<F>,
        y: Array2<F>,
        xa: Vec<F>,
        ya: Vec<F>,
        cost: Arc<dyn Cost<F>>,
    },
}

/// Costs, scaling and epsilon of one linear OT problem. Build one with
/// [`Geometry::from_points`], [`Geometry::online`] or [`Geometry::from_matrix`].
///
/// ```
/// use genot_ot::geometry::{Epsilon, Geometry, ScaleCost};
/// use genot_ot::cost::SqEuclidean;
/// use ndarray::array;
/// use std::sync::Arc;
///
/// let x = array![[0.0f64, 0.0], [1.0, 0.0]];
/// let y = array![[0.0f64, 1.0], [1.0, 1.0], [2.0, 1.0]];
/// let geom = Geometry::from_points(x, y, Arc::new(SqEuclidean), ScaleCost::Mean, Epsilon::Absolute(0.1)).unwrap();
/// assert_eq!(geom.shape(), (2, 3));
/// assert!((geom.epsilon() - 0.1).abs() < 1e-12);
/// ```
#[derive(Clone)]
pub struct Geometry<F: Real> {
    source: Source<F>,
    n: usize,
    m: usize,
    /// Multiplier applied to raw costs (1 / s).
    inv_scale: F,
    scale: f64,
    epsilon: f64,
    stats: CostStats,
}

impl<F: Real> std::fmt::Debug for Geometry<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Geometry")
            .field("n", &self.n)
            .field("m", &self.m)
            .field("online", &self.is_online())
            .field("scale", &self.scale)
            .field("epsilon", &self.epsilon)
            .finish()
    }
}

/// Checks that a point cloud is non-empty and finite.
pub fn validate_points<F: Real>(what: &'static str, x: ArrayView2<F>) -> Result<()> {
    if x.nrows() == 0 || x.ncols() == 0 {
        return Err(OtError::Empty {
            what,
            rows: x.nrows(),
            cols: x.ncols(),
        });
    }
    if let Some(((row, col), _)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(OtError::NonFinite { what, row, col });
    }
    Ok(())
}

impl<F: Real> Geometry<F> {
    /// A dense geometry from two point clouds: the cost matrix is computed once.
    pub fn from_points(
        x: Array2<F>,
        y: Array2<F>,
        cost: Arc<dyn Cost<F>>,
        scale: ScaleCost,
        epsilon: Epsilon,
    ) -> Result<Self> {
        check_pair(&x, &y)?;
        let c = cost_matrix(cost.as_ref(), x.view(), y.view());
        Self::from_matrix_unchecked(c, scale, epsilon)
    }

    /// A dense geometry from a precomputed cost matrix (rows = source points).
    pub fn from_matrix(c: Array2<F>, scale: ScaleCost, epsilon: Epsilon) -> Result<Self> {
        if c.nrows() == 0 || c.ncols() == 0 {
            return Err(OtError::Empty {
                what: "cost matrix",
                rows: c.nrows(),
                cols: c.ncols(),
            });
        }
        Self::from_matrix_unchecked(c, scale, epsilon)
    }

    fn from_matrix_unchecked(c: Array2<F>, scale: ScaleCost, epsilon: Epsilon) -> Result<Self> {
        let c = standard(c);
        let (n, m) = c.dim();
        let stats = matrix_stats(&c, scale)?;
        let mut geom = Self::unscaled(Source::Dense(c), n, m);
        geom.set_scaling(stats, scale, epsilon)?;
        let inv = geom.inv_scale;
        if let Source::Dense(c) = &mut geom.source {
            divide(c, inv);
        }
        Ok(geom)
    }

    /// A dense geometry on a matrix the crate built itself (finite by construction), with an
    /// absolute epsilon and no rescaling: skips the statistics pass. Used for the
    /// linearised problems of GW.
    pub(crate) fn from_internal_matrix(c: Array2<F>, epsilon: f64) -> Self {
        let (n, m) = c.dim();
        let mut geom = Self::unscaled(Source::Dense(c), n, m);
        geom.epsilon = epsilon;
        geom
    }

    /// A geometry on raw costs (scale 1, epsilon 1, statistics unknown), before
    /// [`Geometry::set_scaling`].
    fn unscaled(source: Source<F>, n: usize, m: usize) -> Self {
        Geometry {
            source,
            n,
            m,
            inv_scale: F::one(),
            scale: 1.0,
            epsilon: 1.0,
            stats: CostStats {
                mean: f64::NAN,
                std: f64::NAN,
                max: f64::NAN,
                median: None,
            },
        }
    }

    /// An online geometry: costs are recomputed from the points in row blocks, never
    /// stored as an `n x m` matrix. Median scaling is not available (it needs all costs).
    pub fn online(
        x: Array2<F>,
        y: Array2<F>,
        cost: Arc<dyn Cost<F>>,
        scale: ScaleCost,
        epsilon: Epsilon,
    ) -> Result<Self> {
        check_pair(&x, &y)?;
        if scale == ScaleCost::Median {
            // Fail before the statistics pass over all n x m costs.
            ScaleCost::Median.factor(|| 0.0, || 0.0, || None)?;
        }
        let (n, m) = (x.nrows(), y.nrows());
        let (xa, ya) = (cost.aux(x.view()), cost.aux(y.view()));
        let mut geom = Self::unscaled(Source::Online { x, y, xa, ya, cost }, n, m);
        // One pass over the raw costs in blocks for the statistics.
        let rb = geom.block_rows();
        let starts = geom.block_starts();
        let per_block: Vec<Result<(f64, f64, f64)>> = starts
            .par_iter()
            .map_init(Vec::new, |buf, &s| {
                let e = (s + rb).min(n);
                let blk = geom.block(s, e, buf);
                let (sum, sq, mx) = block_moments(blk);
                if !sum.is_finite() {
                    let k = blk.iter().position(|v| !v.is_finite()).unwrap_or(0);
                    return Err(OtError::NonFiniteCost {
                        row: s + k / m,
                        col: k % m,
                        value: blk[k].f64(),
                    });
                }
                Ok((sum, sq, mx))
            })
            .collect();
        let (mut sum, mut sq, mut mx) = (0.0, 0.0, f64::NEG_INFINITY);
        for r in per_block {
            let (a, b, c) = r?;
            sum += a;
            sq += b;
            mx = mx.max(c);
        }
        let count = (n * m) as f64;
        let mean = sum / count;
        let stats = CostStats {
            mean,
            std: (sq / count - mean * mean).max(0.0).sqrt(),
            max: mx,
            median: None,
        };
        geom.set_scaling(stats, scale, epsilon)?;
        Ok(geom)
    }

    /// Sets the scale factor and the absolute epsilon from the raw cost's statistics.
    fn set_scaling(&mut self, stats: CostStats, scale: ScaleCost, epsilon: Epsilon) -> Result<()> {
        let s = scale.factor(|| stats.mean, || stats.max, || stats.median)?;
        let eps = match epsilon {
            Epsilon::Absolute(e) => e,
            Epsilon::Relative { factor, to } => {
                if !(factor > 0.0 && factor.is_finite()) {
                    return Err(OtError::InvalidParameter(format!(
                        "relative epsilon must be > 0, got {factor}"
                    )));
                }
                factor
                    * match to {
                        RelativeTo::Mean => stats.mean / s,
                        RelativeTo::Std => stats.std / s,
                    }
            }
        };
        if !(eps > 0.0 && eps.is_finite()) {
            let from = match epsilon {
                Epsilon::Absolute(_) => String::new(),
                Epsilon::Relative { factor, to } => {
                    let (stat, value) = match to {
                        RelativeTo::Mean => ("mean", stats.mean / s),
                        RelativeTo::Std => ("standard deviation", stats.std / s),
                    };
                    format!(
                        " ({factor} times the {stat} of the scaled cost, which is {value:e}{}); give an absolute epsilon",
                        if value == 0.0 { ": all costs are equal" } else { "" }
                    )
                }
            };
            return Err(OtError::InvalidParameter(format!(
                "epsilon must be > 0, got {eps}{from}"
            )));
        }
        self.inv_scale = F::c(1.0 / s);
        self.scale = s;
        self.epsilon = eps;
        self.stats = stats;
        Ok(())
    }

    /// `(n, m)`: number of source and target points.
    pub fn shape(&self) -> (usize, usize) {
        (self.n, self.m)
    }
    /// The absolute epsilon used on the scaled cost.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }
    /// The factor raw costs are divided by.
    pub fn scale(&self) -> f64 {
        self.scale
    }
    /// Statistics of the raw (unscaled) cost.
    pub fn stats(&self) -> CostStats {
        self.stats
    }
    /// True when costs are recomputed from points.
    pub fn is_online(&self) -> bool {
        matches!(self.source, Source::Online { .. })
    }
    /// The scaled dense cost matrix, when held in memory.
    pub fn dense(&self) -> Option<&Array2<F>> {
        match &self.source {
            Source::Dense(c) => Some(c),
            Source::Online { .. } => None,
        }
    }
    /// A copy with another epsilon (absolute, on the scaled cost).
    pub fn with_epsilon(&self, eps: f64) -> Result<Self> {
        if !(eps > 0.0 && eps.is_finite()) {
            return Err(OtError::InvalidParameter(format!(
                "epsilon must be > 0, got {eps}"
            )));
        }
        let mut g = self.clone();
        g.epsilon = eps;
        Ok(g)
    }

    /// The number of row blocks a sweep splits the rows into: the most threads it can use.
    pub(crate) fn row_blocks(&self) -> usize {
        self.n.div_ceil(self.block_rows())
    }

    /// Rows per block handed to the solvers: about 256 K costs per block.
    pub(crate) fn block_rows(&self) -> usize {
        match self.source {
            // Small enough to split the rows over the threads, large enough to amortise
            // the per-block column merges.
            Source::Dense(_) => dense_block_rows(self.n, self.m),
            // Large blocks: the GEMM packs all of y once per block.
            Source::Online { .. } => (1usize << 20).div_ceil(self.m).clamp(16, 512),
        }
    }

    /// The scaled cost rows `start..end`, row-major: a view of the dense matrix, or
    /// computed into `buf`.
    pub(crate) fn block<'a>(&'a self, start: usize, end: usize, buf: &'a mut Vec<F>) -> &'a [F] {
        match &self.source {
            Source::Dense(c) => {
                let s = c.as_slice().expect("dense cost is standard layout");
                &s[start * self.m..end * self.m]
            }
            Source::Online { x, y, xa, ya, cost } => {
                buf.clear();
                buf.resize((end - start) * self.m, F::zero());
                let xa = if xa.is_empty() {
                    &xa[..]
                } else {
                    &xa[start..end]
                };
                cost.fill_block_aux(
                    x.slice_axis(Axis(0), (start..end).into()),
                    y.view(),
                    xa,
                    ya,
                    buf,
                );
                if self.inv_scale != F::one() {
                    let s = self.inv_scale;
                    buf.iter_mut().for_each(|v| *v = *v * s);
                }
                buf
            }
        }
    }

    /// The scaled cost rows `rows` (any order, repeats allowed), `rows.len() x m`: rows of
    /// the dense matrix, or computed from the points for an online geometry (memory
    /// `O(rows.len() m)`, never `n m`). Panics on a row index `>= n`.
    ///
    /// ```
    /// use genot_ot::prelude::*;
    /// use ndarray::array;
    /// use std::sync::Arc;
    ///
    /// let x = array![[0.0f64], [1.0], [3.0]];
    /// let y = array![[0.0f64], [2.0]];
    /// let eps = Epsilon::Absolute(0.1);
    /// let dense = Geometry::from_points(x.clone(), y.clone(), Arc::new(SqEuclidean), ScaleCost::None, eps).unwrap();
    /// let online = Geometry::online(x, y, Arc::new(SqEuclidean), ScaleCost::None, eps).unwrap();
    /// assert_eq!(dense.cost_rows(&[2, 0]), array![[9.0, 1.0], [0.0, 4.0]]);
    /// assert_eq!(online.cost_rows(&[2, 0]), dense.cost_rows(&[2, 0]));
    /// ```
    pub fn cost_rows(&self, rows: &[usize]) -> Array2<F> {
        match &self.source {
            Source::Dense(c) => c.select(Axis(0), rows),
            Source::Online { x, y, xa, ya, cost } => {
                let xs = x.select(Axis(0), rows);
                let xa: Vec<F> = if xa.is_empty() {
                    Vec::new()
                } else {
                    rows.iter().map(|&i| xa[i]).collect()
                };
                let mut buf = vec![F::zero(); rows.len() * self.m];
                cost.fill_block_aux(xs.view(), y.view(), &xa, ya, &mut buf);
                if self.inv_scale != F::one() {
                    let s = self.inv_scale;
                    buf.iter_mut().for_each(|v| *v = *v * s);
                }
                Array2::from_shape_vec((rows.len(), self.m), buf).expect("rows x m entries")
            }
        }
    }

    /// Block start indices covering `0..n`.
    pub(crate) fn block_starts(&self) -> Vec<usize> {
        (0..self.n).step_by(self.block_rows()).collect()
    }
}

/// Rows per block of the parallel passes over a dense `n x m` matrix (Sinkhorn sweeps, plan
/// statistics, GW marginals): at most 64 rows and about 256 K entries, and at least 16
/// blocks where there are enough rows, so that the threads share the work. It depends on
/// the shape only, never on the number of threads: the reductions combine one partial
/// result per block in block order, so the same input gives the same bits whatever the
/// pool size.
pub(crate) fn dense_block_rows(n: usize, m: usize) -> usize {
    n.div_ceil(16)
        .clamp(1, 64)
        .min(((1usize << 18) / m.max(1)).max(1))
}

pub(crate) fn check_pair<F: Real>(x: &Array2<F>, y: &Array2<F>) -> Result<()> {
    validate_points("source", x.view())?;
    validate_points("target", y.view())?;
    if x.ncols() != y.ncols() {
        return Err(OtError::DimensionMismatch {
            what: format!(
                "source points have {} dimensions, target points have {}",
                x.ncols(),
                y.ncols()
            ),
        });
    }
    Ok(())
}

/// Sum, sum of squares and max of a block (vectorised in chunks, accumulated in f64
/// across chunks of at most 4096 entries).
fn block_moments<F: Real>(blk: &[F]) -> (f64, f64, f64) {
    let (mut s, mut q, mut m) = (0.0, 0.0, f64::NEG_INFINITY);
    for chunk in blk.chunks(4096) {
        let (a, b, c) = moments_row(chunk);
        s += a.f64();
        q += b.f64();
        m = m.max(c.f64());
    }
    (s, q, m)
}

/// Mean, standard deviation and max of all costs (row-major, `m` columns); errors on a
/// non-finite entry.
fn moments<F: Real>(c: &[F], m: usize) -> Result<(f64, f64, f64)> {
    let per_row: Vec<(f64, f64, f64)> = c.par_chunks(m).map(block_moments).collect();
    let (mut sum, mut sq, mut mx) = (0.0, 0.0, f64::NEG_INFINITY);
    for (i, (a, b, x)) in per_row.into_iter().enumerate() {
        if !a.is_finite() || !b.is_finite() {
            let row = &c[i * m..(i + 1) * m];
            let col = row.iter().position(|v| !v.is_finite()).unwrap_or(0);
            return Err(OtError::NonFiniteCost {
                row: i,
                col,
                value: row[col].f64(),
            });
        }
        sum += a;
        sq += b;
        mx = mx.max(x);
    }
    let count = c.len() as f64;
    let mean = sum / count;
    Ok((mean, (sq / count - mean * mean).max(0.0).sqrt(), mx))
}

/// `c` in row-major (standard) layout.
pub(crate) fn standard<F: Real>(c: Array2<F>) -> Array2<F> {
    if c.is_standard_layout() {
        c
    } else {
        c.as_standard_layout().to_owned()
    }
}

/// `c *= inv` in place (nothing to do for 1).
fn divide<F: Real>(c: &mut Array2<F>, inv: F) {
    if inv != F::one() {
        c.par_mapv_inplace(|v| v * inv);
    }
}

/// The statistics of a standard-layout cost matrix that `scale` needs (the median only
/// for [`ScaleCost::Median`]); errors on a non-finite entry.
fn matrix_stats<F: Real>(c: &Array2<F>, scale: ScaleCost) -> Result<CostStats> {
    let slice = c.as_slice().expect("standard layout");
    let (mean, std, max) = moments(slice, c.ncols())?;
    let median = match scale {
        ScaleCost::Median => Some(median_of(slice)),
        _ => None,
    };
    Ok(CostStats {
        mean,
        std,
        max,
        median,
    })
}

/// A cost matrix divided by `scale` of its own statistics, and the factor: the cross cost
/// a fused GW problem adds to its linearisations (which take their epsilon from the GW
/// solver, so none is asked for here).
///
/// ```
/// use genot_ot::geometry::{scaled_matrix, ScaleCost};
/// use ndarray::array;
///
/// let (c, s) = scaled_matrix(array![[1.0, 3.0], [0.0, 4.0]], ScaleCost::Max).unwrap();
/// assert_eq!((c, s), (array![[0.25, 0.75], [0.0, 1.0]], 4.0));
/// assert!(scaled_matrix(array![[1.0, f64::NAN]], ScaleCost::None).is_err());
/// ```
pub fn scaled_matrix<F: Real>(c: Array2<F>, scale: ScaleCost) -> Result<(Array2<F>, f64)> {
    if c.is_empty() {
        return Err(OtError::Empty {
            what: "cost matrix",
            rows: c.nrows(),
            cols: c.ncols(),
        });
    }
    let mut c = standard(c);
    let stats = matrix_stats(&c, scale)?;
    let s = scale.factor(|| stats.mean, || stats.max, || stats.median)?;
    divide(&mut c, F::c(1.0 / s));
    Ok((c, s))
}

/// Median of a slice (the mean of the two middle values for an even length).
pub(crate) fn median_of<F: Real>(v: &[F]) -> f64 {
    let mut w: Vec<F> = v.to_vec();
    let k = w.len() / 2;
    let (_, hi, _) = w.select_nth_unstable_by(k, |a, b| a.partial_cmp(b).expect("finite"));
    let hi = hi.f64();
    if w.len() % 2 == 1 {
        hi
    } else {
        let lo = w[..k]
            .iter()
            .fold(f64::NEG_INFINITY, |m, &x| m.max(x.f64()));
        0.5 * (lo + hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::SqEuclidean;
    use ndarray::array;

    #[test]
    fn scaling_and_relative_epsilon() {
        let c = array![[1.0f64, 2.0, 3.0], [4.0, 5.0, 100.0]];
        let g =
            Geometry::from_matrix(c.clone(), ScaleCost::Median, Epsilon::Absolute(0.5)).unwrap();
        assert!((g.scale() - 3.5).abs() < 1e-12);
        assert!((g.dense().unwrap()[[1, 2]] - 100.0 / 3.5).abs() < 1e-12);
        let g = Geometry::from_matrix(
            c.clone(),
            ScaleCost::Max,
            Epsilon::Relative {
                factor: 0.1,
                to: RelativeTo::Mean,
            },
        )
        .unwrap();
        let mean = 115.0 / 6.0;
        assert!((g.epsilon() - 0.1 * mean / 100.0).abs() < 1e-12);
        let g = Geometry::from_matrix(
            c.clone(),
            ScaleCost::None,
            Epsilon::Relative {
                factor: 1.0,
                to: RelativeTo::Std,
            },
        )
        .unwrap();
        let var = c.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 6.0;
        assert!((g.epsilon() - var.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn online_stats_match_dense() {
        let x = Array2::from_shape_fn((37, 3), |(i, j)| ((i * 3 + j) as f64 * 0.71).sin());
        let y = Array2::from_shape_fn((29, 3), |(i, j)| ((i * 5 + j) as f64 * 0.37).cos());
        let eps = Epsilon::Relative {
            factor: 0.05,
            to: RelativeTo::Std,
        };
        let d = Geometry::from_points(
            x.clone(),
            y.clone(),
            Arc::new(SqEuclidean),
            ScaleCost::Mean,
            eps,
        )
        .unwrap();
        let o = Geometry::online(x, y, Arc::new(SqEuclidean), ScaleCost::Mean, eps).unwrap();
        assert!((d.scale() - o.scale()).abs() < 1e-12);
        assert!((d.epsilon() - o.epsilon()).abs() < 1e-12);
        let mut buf = Vec::new();
        let blk = o.block(3, 7, &mut buf).to_vec();
        let dense = d.dense().unwrap();
        for (k, v) in blk.iter().enumerate() {
            assert!((v - dense[[3 + k / 29, k % 29]]).abs() < 1e-12);
        }
    }

    #[test]
    fn bad_inputs_are_named() {
        let x = array![[0.0f64, 1.0]];
        let y = array![[0.0f64, 1.0, 2.0]];
        let e = Geometry::from_points(
            x.clone(),
            y,
            Arc::new(SqEuclidean),
            ScaleCost::Mean,
            Epsilon::Absolute(1.0),
        )
        .unwrap_err();
        assert!(e.to_string().contains("2 dimensions"), "{e}");
        let y = array![[f64::NAN, 1.0]];
        let e = Geometry::from_points(
            x.clone(),
            y,
            Arc::new(SqEuclidean),
            ScaleCost::Mean,
            Epsilon::Absolute(1.0),
        )
        .unwrap_err();
        assert_eq!(
            e,
            OtError::NonFinite {
                what: "target",
                row: 0,
                col: 0
            }
        );
        let e = Geometry::from_points(
            x.clone(),
            x.clone(),
            Arc::new(SqEuclidean),
            ScaleCost::Mean,
            Epsilon::Absolute(1.0),
        )
        .unwrap_err();
        assert!(e.to_string().contains("the costs are all zero"), "{e}");
        let e = Geometry::from_points(
            x.clone(),
            x + 1.0,
            Arc::new(SqEuclidean),
            ScaleCost::Mean,
            Epsilon::Absolute(0.0),
        )
        .unwrap_err();
        assert!(e.to_string().contains("epsilon must be > 0"), "{e}");
    }
}
