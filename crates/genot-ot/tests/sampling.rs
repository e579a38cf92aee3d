//! Sampled pair frequencies match the plan (chi-square), and sampling is reproducible
//! from a seed whatever the number of threads.

use genot_ot::sampling::{sample_conditional, sample_joint, RowSelection};
use ndarray::{array, Array2};

/// Pearson chi-square statistic of observed counts against expected probabilities.
fn chi2(counts: &[usize], probs: &[f64]) -> (f64, usize) {
    let total: usize = counts.iter().sum();
    let mut stat = 0.0;
    let mut cells = 0;
    for (&c, &p) in counts.iter().zip(probs) {
        if p > 0.0 {
            let e = p * total as f64;
            stat += (c as f64 - e).powi(2) / e;
            cells += 1;
        } else {
            assert_eq!(c, 0, "a zero-probability cell was drawn");
        }
    }
    (stat, cells - 1)
}

/// A bound the statistic exceeds with probability far below 1e-6 under the null
/// (mean df, sd sqrt(2 df); 6 sd).
fn bound(df: usize) -> f64 {
    df as f64 + 6.0 * (2.0 * df as f64).sqrt()
}

fn plan() -> Array2<f64> {
    array![
        [0.10, 0.05, 0.00, 0.05],
        [0.02, 0.02, 0.16, 0.00],
        [0.00, 0.30, 0.05, 0.05],
        [0.05, 0.05, 0.05, 0.05]
    ]
}

#[test]
fn conditional_rows_follow_the_plan() {
    let p = plan();
    let k = 20_000;
    let s = sample_conditional(p.view(), k, RowSelection::EachOnce, 11).unwrap();
    assert_eq!(s.source, vec![0, 1, 2, 3]);
    for i in 0..4 {
        let mut counts = vec![0; 4];
        s.targets_of(i).iter().for_each(|&j| counts[j] += 1);
        let row = p.row(i);
        let probs: Vec<f64> = row.iter().map(|v| v / row.sum()).collect();
        let (stat, df) = chi2(&counts, &probs);
        assert!(stat < bound(df), "row {i}: chi2 {stat} with {df} df");
    }
}

#[test]
fn resampled_rows_follow_the_row_masses() {
    // Unbalanced-looking plan: row masses 0.2, 0.2, 0.4, 0.2 scaled by 0.7.
    let p = plan() * 0.7;
    let n = 50_000;
    let s = sample_conditional(p.view(), 1, RowSelection::Resample(n), 5).unwrap();
    let mut rows = vec![0; 4];
    s.source.iter().for_each(|&i| rows[i] += 1);
    let masses: Vec<f64> = (0..4).map(|i| p.row(i).sum() / p.sum()).collect();
    let (stat, df) = chi2(&rows, &masses);
    assert!(stat < bound(df), "rows: chi2 {stat}");
    // Joint frequencies of (row, target) follow P / sum(P).
    let mut joint = vec![0; 16];
    s.pairs().for_each(|(i, j)| joint[i * 4 + j] += 1);
    let probs: Vec<f64> = p.iter().map(|v| v / p.sum()).collect();
    let (stat, df) = chi2(&joint, &probs);
    assert!(stat < bound(df), "pairs: chi2 {stat}");
}

#[test]
fn joint_sampling_follows_the_plan() {
    let p = plan();
    let draws = sample_joint(p.view(), 60_000, 3).unwrap();
    let mut counts = vec![0; 16];
    draws.iter().for_each(|&(i, j)| counts[i * 4 + j] += 1);
    let probs: Vec<f64> = p.iter().map(|v| v / p.sum()).collect();
    let (stat, df) = chi2(&counts, &probs);
    assert!(stat < bound(df), "chi2 {stat}");
}

#[test]
fn streams_are_per_slot_and_independent_of_threads() {
    let p = Array2::from_shape_fn((64, 50), |(i, j)| 1.0 + ((i * 7 + j * 3) % 11) as f64);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                (
                    sample_conditional(p.view(), 4, RowSelection::Resample(64), 99).unwrap(),
                    sample_joint(p.view(), 200, 99).unwrap(),
                )
            })
    };
    let (a1, j1) = run(1);
    let (a2, j2) = run(2);
    assert_eq!(a1, a2);
    assert_eq!(j1, j2);
    // Different seed, different draws; identical rows get different draws.
    let other = sample_conditional(p.view(), 4, RowSelection::Resample(64), 100).unwrap();
    assert_ne!(a1.target, other.target);
    let flat = Array2::from_elem((8, 1000), 1.0);
    let s = sample_conditional(flat.view(), 8, RowSelection::EachOnce, 1).unwrap();
    assert_ne!(
        s.targets_of(0),
        s.targets_of(1),
        "rows share a random stream"
    );
}

#[test]
fn bad_plans_are_rejected() {
    let p = array![[0.5, 0.5], [0.0, 0.0]];
    let e = sample_conditional(p.view(), 1, RowSelection::EachOnce, 0).unwrap_err();
    assert!(e.to_string().contains("row 1"), "{e}");
    let p = array![[0.5, -0.1]];
    assert!(sample_joint(p.view(), 3, 0).is_err());
    assert!(sample_conditional(array![[1.0]].view(), 0, RowSelection::EachOnce, 0).is_err());
}
