//! Training data: source and target point clouds, shared features, condition labels.

use crate::config::{Normalization, Normalize};
use crate::error::{GenotError, Result};
use ndarray::{Array2, ArrayView2, Axis};
use std::collections::BTreeMap;

/// Source and target samples for fitting. For fused problems the first `source_shared_dim`
/// columns of `source` (and `target_shared_dim` of `target`) are the shared features.
#[derive(Debug, Clone)]
pub struct TrainingData {
    pub source: Array2<f32>,
    pub target: Array2<f32>,
    pub source_shared_dim: usize,
    pub target_shared_dim: usize,
    /// One label per source row (conditional training).
    pub source_conditions: Option<Vec<String>>,
    /// One label per target row.
    pub target_conditions: Option<Vec<String>>,
}

/// Fails on an empty array or a non-finite entry, naming the array, the row and the column.
pub fn check_points(what: &str, x: ArrayView2<f32>) -> Result<()> {
    if x.nrows() == 0 || x.ncols() == 0 {
        return Err(GenotError::Invalid(format!(
            "{what} is empty (shape {} x {})",
            x.nrows(),
            x.ncols()
        )));
    }
    for (r, row) in x.outer_iter().enumerate() {
        if let Some(c) = row.iter().position(|v| !v.is_finite()) {
            return Err(GenotError::Invalid(format!(
                "{what} has a non-finite value ({}) at row {r}, column {c}",
                row[c]
            )));
        }
    }
    Ok(())
}

impl TrainingData {
    /// Unconditional data without shared features.
    pub fn new(source: Array2<f32>, target: Array2<f32>) -> Self {
        TrainingData {
            source,
            target,
            source_shared_dim: 0,
            target_shared_dim: 0,
            source_conditions: None,
            target_conditions: None,
        }
    }

    /// Adds shared features in front of the source and target points (fused problems).
    pub fn with_shared(
        mut self,
        source_shared: Array2<f32>,
        target_shared: Array2<f32>,
    ) -> Result<Self> {
        for (what, s, x) in [
            ("source", &source_shared, &self.source),
            ("target", &target_shared, &self.target),
        ] {
            if s.nrows() != x.nrows() {
                return Err(GenotError::Invalid(format!(
                    "the {what} shared features have {} rows but the {what} has {}",
                    s.nrows(),
                    x.nrows()
                )));
            }
        }
        self.source_shared_dim = source_shared.ncols();
        self.target_shared_dim = target_shared.ncols();
        self.source = ndarray::concatenate![Axis(1), source_shared, self.source];
        self.target = ndarray::concatenate![Axis(1), target_shared, self.target];
        Ok(self)
    }

    /// Adds one condition label per source row and per target row.
    pub fn with_conditions(mut self, source: Vec<String>, target: Vec<String>) -> Self {
        self.source_conditions = Some(source);
        self.target_conditions = Some(target);
        self
    }

    /// Checks shapes, finiteness and labels.
    pub fn validate(&self) -> Result<()> {
        check_points("the source", self.source.view())?;
        check_points("the target", self.target.view())?;
        match (&self.source_conditions, &self.target_conditions) {
            (None, None) => {}
            (Some(s), Some(t)) => {
                if s.len() != self.source.nrows() {
                    return Err(GenotError::Invalid(format!(
                        "{} source condition labels for {} source rows",
                        s.len(),
                        self.source.nrows()
                    )));
                }
                if t.len() != self.target.nrows() {
                    return Err(GenotError::Invalid(format!(
                        "{} target condition labels for {} target rows",
                        t.len(),
                        self.target.nrows()
                    )));
                }
                if self.condition_groups().is_empty() {
                    return Err(GenotError::Invalid(
                        "no condition label occurs in both the source and the target".into(),
                    ));
                }
            }
            _ => {
                return Err(GenotError::Invalid(
                    "conditions must be given for both the source and the target".into(),
                ))
            }
        }
        Ok(())
    }

    /// The sorted condition labels present in the source.
    pub fn labels(&self) -> Vec<String> {
        let mut l: Vec<String> = self.source_conditions.clone().unwrap_or_default();
        l.sort();
        l.dedup();
        l
    }

    /// For each label found in both source and target: its source rows and target rows.
    /// Without conditions, one group with every row.
    pub fn condition_groups(&self) -> Vec<ConditionGroup> {
        let (Some(sc), Some(tc)) = (&self.source_conditions, &self.target_conditions) else {
            return vec![ConditionGroup {
                label: None,
                source: (0..self.source.nrows()).collect(),
                target: (0..self.target.nrows()).collect(),
            }];
        };
        let mut by: BTreeMap<&str, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
        for (i, c) in sc.iter().enumerate() {
            by.entry(c).or_default().0.push(i);
        }
        for (j, c) in tc.iter().enumerate() {
            if let Some(e) = by.get_mut(c.as_str()) {
                e.1.push(j);
            }
        }
        by.into_iter()
            .filter(|(_, (s, t))| !s.is_empty() && !t.is_empty())
            .map(|(l, (source, target))| ConditionGroup {
                label: Some(l.to_string()),
                source,
                target,
            })
            .collect()
    }

    /// The scaling `mode` fitted on the data: per-feature mean and standard deviation (a
    /// constant source feature gets std 1), the means and one common scale per side, or
    /// identity. In every mode a target feature that is constant in the training data gets
    /// that constant as its mean and std 0, so transport returns it exactly: the flow to a
    /// point mass has the velocity `-x / (1 - t)`, singular at `t = 1`, which a network
    /// cannot fit (it would pass its noise through, `N(0, 1)` around the constant).
    pub fn normalization(&self, mode: Normalize) -> Normalization {
        let side = |mean: &[f32], std: &[f32]| -> (Vec<f32>, Vec<f32>) {
            let mean = mean.to_vec();
            match mode {
                Normalize::PerFeature => {
                    let std = mean
                        .iter()
                        .zip(std)
                        .map(|(&m, &s)| if constant(m, s) { 1.0 } else { s })
                        .collect();
                    (mean, std)
                }
                Normalize::Isotropic => {
                    // Over the features that vary: constant ones neither shrink nor
                    // stretch the common scale.
                    let varying: Vec<f64> = mean
                        .iter()
                        .zip(std)
                        .filter(|&(&m, &s)| !constant(m, s))
                        .map(|(_, &s)| (s as f64).powi(2))
                        .collect();
                    let rms = (varying.iter().sum::<f64>() / varying.len().max(1) as f64).sqrt();
                    let scale = if rms > 1e-12 { rms as f32 } else { 1.0 };
                    (mean, vec![scale; std.len()])
                }
                Normalize::None => (vec![0.0; mean.len()], vec![1.0; std.len()]),
            }
        };
        let (mean, std) = moments(self.source.view());
        let (source_mean, source_std) = side(&mean, &std);
        let (mean, std) = moments(self.target.view());
        let (mut target_mean, mut target_std) = side(&mean, &std);
        for (j, (&m, &s)) in mean.iter().zip(&std).enumerate() {
            if constant(m, s) {
                (target_mean[j], target_std[j]) = (m, 0.0);
            }
        }
        Normalization {
            source_mean,
            source_std,
            target_mean,
            target_std,
        }
    }
}

/// Whether a feature of mean `m` and standard deviation `s` is constant (to rounding).
fn constant(m: f32, s: f32) -> bool {
    s <= 1e-12 * m.abs().max(1.0)
}

/// The rows of one condition.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionGroup {
    pub label: Option<String>,
    pub source: Vec<usize>,
    pub target: Vec<usize>,
}

fn moments(x: ArrayView2<f32>) -> (Vec<f32>, Vec<f32>) {
    let n = x.nrows() as f64;
    x.axis_iter(Axis(1))
        .map(|c| {
            let mean = c.iter().map(|&v| v as f64).sum::<f64>() / n;
            let var = c.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
            (mean as f32, var.sqrt() as f32)
        })
        .unzip()
}

impl Normalization {
    /// `(x - mean) / std` row by row.
    pub fn normalize_source(&self, x: ArrayView2<f32>) -> Array2<f32> {
        affine(x, &self.source_mean, &self.source_std, false)
    }
    pub fn normalize_target(&self, y: ArrayView2<f32>) -> Array2<f32> {
        affine(y, &self.target_mean, &self.target_std, false)
    }
    /// `mean + std y`: back to target units (the constant itself for a constant target
    /// feature, whose std is 0).
    pub fn denormalize_target(&self, y: ArrayView2<f32>) -> Array2<f32> {
        affine(y, &self.target_mean, &self.target_std, true)
    }
}

fn affine(x: ArrayView2<f32>, mean: &[f32], std: &[f32], inverse: bool) -> Array2<f32> {
    let mut out = x.to_owned();
    for mut row in out.outer_iter_mut() {
        for ((v, &m), &s) in row.iter_mut().zip(mean).zip(std) {
            *v = match (inverse, s == 0.0) {
                (true, _) => m + s * *v,
                // A constant target feature (std 0): its normalised value is 0.
                (false, true) => 0.0,
                (false, false) => (*v - m) / s,
            };
        }
    }
    out
}
