//! Batch couplings that do not converge, or whose kernel path breaks down, do not abort
//! training (issue 13, item 1).

use burn::tensor::Device;
use genot::config::{Kind, RescalingConfig};
use genot::train::load_history;
use genot::*;
use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn cloud(n: usize, d: usize, shift: f32, seed: u64) -> Array2<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((n, d), || {
        let v: f32 = StandardNormal.sample(&mut rng);
        v + shift
    })
}

fn run(data: &TrainingData, matching: MatchingConfig, iterations: usize) -> (Genot, TrainReport) {
    try_run(data, matching, iterations).unwrap()
}

fn try_run(
    data: &TrainingData,
    matching: MatchingConfig,
    iterations: usize,
) -> Result<(Genot, TrainReport), GenotError> {
    let training = TrainConfig {
        iterations,
        batch_size: 64,
        lr: 1e-3,
        seed: 1,
        ..Default::default()
    };
    let arch = Architecture {
        hidden: 16,
        layers: 1,
        time_frequencies: 4,
        rescaling: RescalingConfig::default(),
    };
    let config = make_config(data, matching, training, arch).unwrap();
    fit(data, config, &Device::flex(), FitOptions::default())
}

#[test]
fn unconverged_batches_are_trained_on_and_recorded() {
    let data = TrainingData::new(cloud(200, 2, 0.0, 1), cloud(200, 2, 3.0, 2));
    // Linear: a small epsilon and a 3-iteration limit stop every batch short.
    let short = MatchingConfig {
        epsilon: 1e-3,
        sinkhorn_max_iterations: 3,
        ..Default::default()
    };
    let (model, report) = run(&data, short, 10);
    assert_eq!(report.unconverged_batches, (1..=10).collect::<Vec<_>>());
    assert!(report.losses.iter().all(|l| l.is_finite()));
    // The count is kept in history.json.
    let dir = tempfile::tempdir().unwrap();
    genot::train::save_fitted(dir.path(), &model, &report).unwrap();
    let back = load_history(dir.path()).unwrap().unwrap();
    assert_eq!(back.unconverged_batches, report.unconverged_batches);
    // The default limits converge on the same batches: nothing is counted.
    let (_, report) = run(&data, MatchingConfig::default(), 10);
    assert!(report.unconverged_batches.is_empty());
    // GW: one outer iteration cannot meet the objective's threshold.
    let y3 = TrainingData::new(cloud(200, 2, 0.0, 1), cloud(200, 3, 1.0, 3));
    let gw = MatchingConfig {
        kind: Kind::Quadratic,
        epsilon: 0.01,
        gw_max_iterations: 1,
        warmup_iterations: 2,
        ..Default::default()
    };
    let (_, report) = run(&y3, gw, 4);
    assert_eq!(report.unconverged_batches, vec![1, 2, 3, 4]);
}

/// A batch solve that fails in the log domain too (here epsilon 1e-30 in float32: every
/// potential difference rounds to 0 or overflows) stops the fit at its iteration with the
/// reason and what to change; a sound epsilon never needs the log-domain retry.
#[test]
fn a_broken_batch_plan_stops_the_fit_with_a_clear_error() {
    let data = TrainingData::new(cloud(200, 2, 0.0, 1), cloud(200, 2, 3.0, 2));
    let tiny = MatchingConfig {
        epsilon: 1e-30,
        scale_cost: "none".into(),
        ..Default::default()
    };
    let err = try_run(&data, tiny, 20).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, GenotError::Matching { .. }), "{text}");
    for want in ["float32", "epsilon", "log"] {
        assert!(text.contains(want), "{want:?} missing: {text}");
    }
    let (model, report) = run(&data, MatchingConfig::default(), 5);
    assert!(report.log_domain_retries.is_empty());
    assert!(genot::params::check_finite(&model.weights()).is_ok());
}
