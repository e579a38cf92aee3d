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

/// A fit of `iterations` at batch 64, whose couplings are of one network batch (64 points,
/// a fresh plan every iteration) unless `matching` says otherwise.
fn try_run(
    data: &TrainingData,
    matching: MatchingConfig,
    iterations: usize,
) -> Result<(Genot, TrainReport), GenotError> {
    let matching = MatchingConfig {
        ot_batch_size: matching.ot_batch_size.or(Some(64)),
        ..matching
    };
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
    // Solves are counted, not iterations: the warm-up's plan (iterations 1 and 2) once.
    assert_eq!(report.unconverged_batches, vec![1, 3, 4]);
}

/// A plan of `ot_batch_size` points feeds `ot_plan_reuse` iterations (by default
/// `ot_batch_size / batch_size`): a coupling is solved at the first iteration of each run
/// only (every solve stops short here, so the report lists exactly the solves).
#[test]
fn a_large_plan_is_solved_once_per_run_of_iterations() {
    let data = TrainingData::new(cloud(300, 2, 0.0, 1), cloud(300, 2, 3.0, 2));
    let short = |reuse| MatchingConfig {
        epsilon: 1e-3,
        sinkhorn_max_iterations: 3,
        ot_batch_size: Some(192),
        ot_plan_reuse: reuse,
        ..Default::default()
    };
    // Batch 64 of an OT batch of 192: 3 iterations per plan.
    let (_, report) = run(&data, short(None), 10);
    assert_eq!(report.unconverged_batches, vec![1, 4, 7, 10]);
    assert!(report.losses.iter().all(|l| l.is_finite()));
    let (_, report) = run(&data, short(Some(1)), 4);
    assert_eq!(report.unconverged_batches, vec![1, 2, 3, 4]);
    // Beyond the default the plan's sources repeat, in windows of distinct rows.
    let (_, report) = run(&data, short(Some(5)), 10);
    assert_eq!(report.unconverged_batches, vec![1, 6]);
    // U-GENOT: eta and xi regress the masses of each iteration's window.
    let unbalanced = MatchingConfig {
        tau_a: 0.9,
        tau_b: 0.9,
        ..short(None)
    };
    let (model, report) = run(&data, unbalanced, 6);
    assert_eq!(report.unconverged_batches, vec![1, 4]);
    assert_eq!(report.rescaling_losses.len(), 6);
    assert!(genot::params::check_finite(&model.weights()).is_ok());
    assert_eq!(model.config.matching.ot_plan_reuse, Some(3));
    // The defaults: 4 network batches per linear coupling, one per GW coupling.
    let training = TrainConfig {
        batch_size: 64,
        ..Default::default()
    };
    let made = |kind| {
        let m = MatchingConfig {
            kind,
            ..Default::default()
        };
        let q = if kind == Kind::Linear { 2 } else { 3 };
        let data = TrainingData::new(cloud(300, 2, 0.0, 1), cloud(300, q, 3.0, 2));
        let c = make_config(&data, m, training.clone(), Architecture::default()).unwrap();
        (c.matching.ot_batch_size, c.matching.ot_plan_reuse)
    };
    assert_eq!(made(Kind::Linear), (Some(256), Some(4)));
    assert_eq!(made(Kind::Quadratic), (Some(64), Some(1)));
    // Zero is refused, naming the setting.
    let zero = MatchingConfig {
        ot_plan_reuse: Some(0),
        ..Default::default()
    };
    let err = make_config(&data, zero, training, Architecture::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("ot_plan_reuse must be at least 1"), "{err}");
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
