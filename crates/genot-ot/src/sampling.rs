//! Turning a transport plan into index pairs.
//!
//! - [`sample_conditional`]: GENOT's row-wise sampling. Each output slot picks a source row
//!   (every row once, or rows resampled in proportion to the row sums for unbalanced
//!   plans), then draws `k` target indices in proportion to that row.
//! - [`sample_joint`]: pairs `(i, j)` drawn in proportion to `P_ij`.
//!
//! Every slot has its **own** random stream (ChaCha8 with the slot number as stream id, all
//! from one seed): results do not depend on the number of threads, and no two slots share
//! draws (sharing one key across rows is a known bug of the original GENOT code).
//!
//! ```
//! use genot_ot::sampling::{sample_conditional, RowSelection};
//! use ndarray::array;
//!
//! let plan = array![[0.5f64, 0.0], [0.0, 0.5]];
//! let s = sample_conditional(plan.view(), 3, RowSelection::EachOnce, 7).unwrap();
//! assert_eq!(s.source, vec![0, 1]);
//! assert_eq!(s.targets_of(1), &[1, 1, 1]);
//! ```

use crate::error::{OtError, Result};
use crate::real::Real;
use ndarray::ArrayView2;
use rand::distr::{weighted::WeightedIndex, Distribution};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Which source rows the samples are drawn for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowSelection {
    /// Every row once, in order (balanced plans).
    EachOnce,
    /// `n` rows drawn with replacement in proportion to the row sums (unbalanced plans).
    Resample(usize),
}

/// Sampled pairs: `source[s]` is the row of slot `s`, `target[s * k .. (s + 1) * k]` its
/// `k` target indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairSample {
    pub source: Vec<usize>,
    pub target: Vec<usize>,
    pub k: usize,
}

impl PairSample {
    /// The `k` targets drawn for slot `s`.
    pub fn targets_of(&self, s: usize) -> &[usize] {
        &self.target[s * self.k..(s + 1) * self.k]
    }

    /// The pairs flattened: `(source, target)` for every draw, slot-major.
    pub fn pairs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.target
            .iter()
            .enumerate()
            .map(move |(t, &j)| (self.source[t / self.k], j))
    }
}

/// The random stream of one slot.
fn stream(seed: u64, id: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(id);
    rng
}

/// Stream id reserved for the choice of rows.
const ROW_STREAM: u64 = u64::MAX;

fn check_plan<F: Real>(plan: &ArrayView2<F>) -> Result<()> {
    if plan.nrows() == 0 || plan.ncols() == 0 {
        return Err(OtError::Empty {
            what: "plan",
            rows: plan.nrows(),
            cols: plan.ncols(),
        });
    }
    if let Some(((row, col), _)) = plan
        .indexed_iter()
        .find(|(_, v)| !(v.is_finite() && **v >= F::zero()))
    {
        return Err(OtError::InvalidParameter(format!(
            "plan entry ({row}, {col}) is negative or not finite"
        )));
    }
    Ok(())
}

fn row_weights<F: Real>(plan: &ArrayView2<F>, i: usize) -> Vec<f64> {
    plan.row(i).iter().map(|v| v.f64()).collect()
}

/// Row-wise conditional sampling (see the module docs).
pub fn sample_conditional<F: Real>(
    plan: ArrayView2<F>,
    k: usize,
    rows: RowSelection,
    seed: u64,
) -> Result<PairSample> {
    check_plan(&plan)?;
    if k == 0 {
        return Err(OtError::InvalidParameter(
            "k (targets per source) must be >= 1".into(),
        ));
    }
    let n = plan.nrows();
    let source: Vec<usize> = match rows {
        RowSelection::EachOnce => (0..n).collect(),
        RowSelection::Resample(count) => {
            let sums: Vec<f64> = (0..n).map(|i| row_weights(&plan, i).iter().sum()).collect();
            let dist = WeightedIndex::new(&sums).map_err(|e| {
                OtError::InvalidParameter(format!("cannot resample rows of the plan: {e}"))
            })?;
            let mut rng = stream(seed, ROW_STREAM);
            (0..count).map(|_| dist.sample(&mut rng)).collect()
        }
    };
    let target: Vec<Vec<usize>> = source
        .par_iter()
        .enumerate()
        .map(|(s, &i)| {
            let dist = WeightedIndex::new(row_weights(&plan, i)).map_err(|_| {
                OtError::InvalidParameter(format!(
                    "row {i} of the plan has no mass: cannot draw a target for it"
                ))
            })?;
            let mut rng = stream(seed, s as u64);
            Ok((0..k).map(|_| dist.sample(&mut rng)).collect())
        })
        .collect::<Result<_>>()?;
    Ok(PairSample {
        source,
        target: target.into_iter().flatten().collect(),
        k,
    })
}

/// `count` pairs `(i, j)` drawn with probability proportional to `P_ij`.
pub fn sample_joint<F: Real>(
    plan: ArrayView2<F>,
    count: usize,
    seed: u64,
) -> Result<Vec<(usize, usize)>> {
    check_plan(&plan)?;
    let m = plan.ncols();
    let mut cumulative = Vec::with_capacity(plan.len());
    let mut total = 0.0f64;
    for v in plan.iter() {
        total += v.f64();
        cumulative.push(total);
    }
    if total.is_nan() || total <= 0.0 {
        return Err(OtError::InvalidParameter("the plan has no mass".into()));
    }
    Ok((0..count)
        .into_par_iter()
        .map(|s| {
            let u: f64 = stream(seed, s as u64).random::<f64>() * total;
            let flat = cumulative
                .partition_point(|&c| c <= u)
                .min(cumulative.len() - 1);
            (flat / m, flat % m)
        })
        .collect())
}
