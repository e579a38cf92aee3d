//! Label transfer accuracy: do predicted points land among target points of their own label?

use crate::cost::{map_cost_rows, SqEuclidean};
use crate::error::{OtError, Result};
use crate::geometry::validate_points;
use crate::real::Real;
use ndarray::ArrayView2;
use std::collections::HashMap;

/// Fraction of predicted points whose label equals the majority label of their `k` nearest
/// target points (Euclidean; ties go to the label of the nearest tied point).
///
/// ```
/// use genot_ot::metrics::label_transfer_accuracy;
/// use ndarray::array;
/// let target = array![[0.0f64], [0.1], [5.0], [5.1]];
/// let pred = array![[0.05f64], [4.9]];
/// let acc = label_transfer_accuracy(pred.view(), &[0, 1], target.view(), &[0, 0, 1, 1], 2).unwrap();
/// assert_eq!(acc, 1.0);
/// ```
pub fn label_transfer_accuracy<F: Real>(
    pred: ArrayView2<F>,
    pred_labels: &[usize],
    target: ArrayView2<F>,
    target_labels: &[usize],
    k: usize,
) -> Result<f64> {
    validate_points("predictions", pred)?;
    validate_points("targets", target)?;
    if pred.ncols() != target.ncols() {
        return Err(OtError::DimensionMismatch {
            what: format!(
                "predictions have {} dimensions, targets {}",
                pred.ncols(),
                target.ncols()
            ),
        });
    }
    if pred_labels.len() != pred.nrows() || target_labels.len() != target.nrows() {
        return Err(OtError::DimensionMismatch {
            what: format!(
                "{} labels for {} predictions and {} labels for {} targets",
                pred_labels.len(),
                pred.nrows(),
                target_labels.len(),
                target.nrows()
            ),
        });
    }
    if k == 0 || k > target.nrows() {
        return Err(OtError::InvalidParameter(format!(
            "k must be in 1..={} (the number of targets), got {k}",
            target.nrows()
        )));
    }
    let hit = map_cost_rows(&SqEuclidean, pred, target, |i, row| {
        let mut idx: Vec<usize> = (0..row.len()).collect();
        idx.select_nth_unstable_by(k - 1, |&a, &b| row[a].partial_cmp(&row[b]).expect("finite"));
        let mut near = idx[..k].to_vec();
        near.sort_by(|&a, &b| row[a].partial_cmp(&row[b]).expect("finite"));
        let mut votes: HashMap<usize, usize> = HashMap::new();
        near.iter()
            .for_each(|&j| *votes.entry(target_labels[j]).or_default() += 1);
        let top = *votes.values().max().expect("k >= 1");
        // Among the labels with the most votes, the one of the nearest point.
        let winner = near
            .iter()
            .map(|&j| target_labels[j])
            .find(|l| votes[l] == top)
            .expect("a winner");
        winner == pred_labels[i]
    });
    let hits = hit.iter().filter(|&&h| h).count();
    Ok(hits as f64 / pred.nrows() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn votes_and_ties() {
        let target = array![[0.0f64], [1.0], [2.0], [10.0]];
        let labels = [0, 1, 1, 0];
        // Point at 0.4: 3 nearest are 0 (label 0), 1 (1), 2 (1): majority 1.
        assert_eq!(
            label_transfer_accuracy(array![[0.4f64]].view(), &[1], target.view(), &labels, 3)
                .unwrap(),
            1.0
        );
        // k = 2 at 0.4: one vote each; the nearest (0, label 0) breaks the tie.
        assert_eq!(
            label_transfer_accuracy(array![[0.4f64]].view(), &[1], target.view(), &labels, 2)
                .unwrap(),
            0.0
        );
        assert!(
            label_transfer_accuracy(array![[0.4f64]].view(), &[1], target.view(), &labels, 5)
                .is_err()
        );
    }
}
