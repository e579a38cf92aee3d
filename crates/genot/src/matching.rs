//! Turning a batch plan into training pairs (SPEC section 1, steps 4 and 5).
//!
//! [`pairs_from_plan`] samples `k` targets per source row-wise from the plan that
//! [`crate::coupling::Coupler`] computed (every source once when balanced, sources resampled
//! by the plan's row mass when unbalanced), or `n k` pairs jointly. Each draw has its own
//! random stream ([`genot_ot::sampling`]).
//!
//! [`match_latents_per_source`] re-pairs, **within each source's group of `k`**, the latent
//! noises with the targets drawn for that source (a small OT problem per source): doing it
//! across the whole batch, as a reference implementation does, mixes targets between
//! sources and breaks the conditional structure.

use genot_ot::cost::SqEuclidean;
use genot_ot::error::OtError;
use genot_ot::prelude::*;
use genot_ot::sampling::{sample_conditional, sample_joint, RowSelection};
use ndarray::{Array2, ArrayView2, Axis};
use rand::distr::{weighted::WeightedIndex, Distribution};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// Indices of training pairs: draw `d` pairs source row `source[d]` of the batch with target
/// row `target[d]`; with `k` draws per source they are grouped source by source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pairs {
    pub source: Vec<usize>,
    pub target: Vec<usize>,
}

/// Which training pairs to draw from a batch plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairDraw {
    /// A balanced plan (each source row keeps its mass) or not (rows resampled by mass).
    pub balanced: bool,
    /// Targets per source row.
    pub k: usize,
    /// Draw `(source, target)` pairs jointly from the plan instead of row by row.
    pub joint: bool,
    /// Source rows drawn (at most the plan's rows).
    pub sources: usize,
    /// Seed of the draws.
    pub seed: u64,
}

/// Draws `sources x k` training pairs from a batch plan of `n >= sources` source rows:
/// jointly, or row-wise with `sources` distinct rows drawn uniformly (balanced: all of them,
/// in order, when `sources == n`) or rows resampled by the plan's row mass (unbalanced),
/// `k` targets per chosen row, grouped source by source. With `sources < n` (an OT batch
/// larger than the network's batch) the pairs follow the large plan.
pub fn pairs_from_plan<F: Real>(plan: ArrayView2<F>, draw: PairDraw) -> Result<Pairs, OtError> {
    let n = plan.nrows();
    let d = draw.checked(n)?;
    if d.joint {
        let draws = sample_joint(plan, d.sources * d.k, d.seed)?;
        let (source, target) = draws.into_iter().unzip();
        return Ok(Pairs { source, target });
    }
    let grouped = |s: genot_ot::sampling::PairSample, rows: Option<&[usize]>| Pairs {
        source: s
            .source
            .iter()
            .flat_map(|&i| std::iter::repeat_n(rows.map_or(i, |r| r[i]), d.k))
            .collect(),
        target: s.target,
    };
    if !d.balanced {
        let s = sample_conditional(plan, d.k, RowSelection::Resample(d.sources), d.seed)?;
        return Ok(grouped(s, None));
    }
    if d.sources == n {
        let s = sample_conditional(plan, d.k, RowSelection::EachOnce, d.seed)?;
        return Ok(grouped(s, None));
    }
    let rows = uniform_rows(n, d.sources, d.seed);
    let sub = plan.select(Axis(0), &rows);
    let s = sample_conditional(sub.view(), d.k, RowSelection::EachOnce, d.seed)?;
    Ok(grouped(s, Some(&rows)))
}

impl PairDraw {
    /// The draw, checked against a plan of `n` source rows.
    fn checked(self, n: usize) -> Result<Self, OtError> {
        if self.k == 0 {
            return Err(OtError::InvalidParameter(
                "k (targets per source) must be >= 1".into(),
            ));
        }
        if self.sources == 0 || self.sources > n {
            return Err(OtError::InvalidParameter(format!(
                "cannot draw {} sources from a plan of {n} rows",
                self.sources
            )));
        }
        Ok(self)
    }
}

/// `sources` distinct rows of `n`, uniformly, sorted: the rows of a balanced plan that the
/// network's pairs come from when the OT batch is larger than the network's.
fn uniform_rows(n: usize, sources: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EC7_0125);
    let mut rows = rand::seq::index::sample(&mut rng, n, sources).into_vec();
    rows.sort_unstable();
    rows
}

/// [`pairs_from_plan`] for a plan too large to hold (an online OT batch): `row_mass` are its
/// row sums (any common scale) and `rows(r)` forms its rows `r` (`r.len() x m`). Rows are
/// chosen as [`pairs_from_plan`] chooses them: balanced, `sources` distinct rows uniformly
/// (with the same random draw, so a dense and an online plan of the same batch give the
/// same pairs up to the plan's rounding); unbalanced, `sources` rows with replacement in
/// proportion to their mass; jointly, `sources k` rows by mass and one target each. Only
/// the chosen rows are formed.
pub fn pairs_from_plan_rows(
    row_mass: ndarray::ArrayView1<f32>,
    rows: impl Fn(&[usize]) -> Array2<f32>,
    draw: PairDraw,
) -> Result<Pairs, OtError> {
    let n = row_mass.len();
    let d = draw.checked(n)?;
    let by_mass = |count: usize| -> Result<Vec<usize>, OtError> {
        let w: Vec<f64> = row_mass.iter().map(|&v| v as f64).collect();
        let dist = WeightedIndex::new(&w).map_err(|e| {
            OtError::InvalidParameter(format!("cannot resample rows of the plan: {e}"))
        })?;
        let mut rng = ChaCha8Rng::seed_from_u64(d.seed ^ 0x0DD5_0125);
        Ok((0..count).map(|_| dist.sample(&mut rng)).collect())
    };
    let chosen: Vec<usize> = if d.joint {
        by_mass(d.sources * d.k)?
    } else if d.balanced {
        uniform_rows(n, d.sources, d.seed)
    } else {
        by_mass(d.sources)?
    };
    // Each distinct row is formed once.
    let mut distinct = chosen.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let sub = rows(&distinct);
    let slot_rows: Vec<usize> = chosen
        .iter()
        .map(|i| distinct.binary_search(i).expect("a chosen row"))
        .collect();
    let per_slot = if d.joint { 1 } else { d.k };
    let picked = sub.select(Axis(0), &slot_rows);
    let s = sample_conditional(picked.view(), per_slot, RowSelection::EachOnce, d.seed)?;
    Ok(Pairs {
        source: chosen
            .iter()
            .flat_map(|&i| std::iter::repeat_n(i, per_slot))
            .collect(),
        target: s.target,
    })
}

/// Re-pairs latents with targets within each group of `k` consecutive rows (one group per
/// source): a `k x k` entropic OT problem per group (squared Euclidean, `epsilon` relative to
/// the group's mean cost), then `k` pairs drawn jointly from its plan. Returns, for every
/// draw, the row of `z` and the row of `y` to use together. Rows never leave their group.
pub fn match_latents_per_source<F: Real>(
    z: &Array2<F>,
    y: &Array2<F>,
    k: usize,
    epsilon: f64,
    seed: u64,
) -> Result<Pairs, OtError> {
    if z.dim() != y.dim() || k == 0 || !z.nrows().is_multiple_of(k) {
        return Err(OtError::DimensionMismatch {
            what: format!(
                "latents {:?} and targets {:?} must have the same shape, in groups of k = {k}",
                z.dim(),
                y.dim()
            ),
        });
    }
    let mut pairs = Pairs {
        source: Vec::with_capacity(z.nrows()),
        target: Vec::with_capacity(z.nrows()),
    };
    if k == 1 {
        pairs.source = (0..z.nrows()).collect();
        pairs.target = pairs.source.clone();
        return Ok(pairs);
    }
    let solver = Sinkhorn::default().with_plan(true);
    for (g, (zg, yg)) in z
        .axis_chunks_iter(Axis(0), k)
        .zip(y.axis_chunks_iter(Axis(0), k))
        .enumerate()
    {
        let geom = Geometry::from_points(
            zg.to_owned(),
            yg.to_owned(),
            Arc::new(SqEuclidean),
            ScaleCost::None,
            Epsilon::Relative {
                factor: epsilon,
                to: RelativeTo::Mean,
            },
        );
        // All k targets identical (zero cost) leaves nothing to match.
        let plan = match geom {
            Ok(geom) => solver
                .solve(&LinearProblem::new(geom), None)?
                .plan
                .expect("plan requested"),
            Err(OtError::InvalidParameter(_)) => {
                Array2::from_elem((k, k), F::c(1.0 / (k * k) as f64))
            }
            Err(e) => return Err(e),
        };
        let stream = seed.wrapping_add((g as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for (i, j) in sample_joint(plan.view(), k, stream)? {
            pairs.source.push(g * k + i);
            pairs.target.push(g * k + j);
        }
    }
    Ok(pairs)
}
