//! End-to-end checks of GENOT training and transport against ground truth.

use burn::tensor::Device;
use genot::config::{Kind, RescalingConfig};
use genot::ode::Solver;
use genot::train::CHECKPOINT;
use genot::*;
use genot_ot::metrics::foscttm;
use genot_ot::metrics::gaussian::{cbw_uvp, EntropicGaussianOt, Gaussian};
use ndarray::{array, s, Array1, Array2, Axis};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn normal(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((n, d), || StandardNormal.sample(&mut rng))
}

/// `n` samples of `N(mean, L L^T)`.
fn gaussian_samples(mean: &Array1<f64>, l: &Array2<f64>, n: usize, seed: u64) -> Array2<f32> {
    (normal(n, mean.len(), seed).dot(&l.t()) + mean).mapv(|v| v as f32)
}

fn small_arch() -> Architecture {
    Architecture {
        hidden: 64,
        layers: 3,
        time_frequencies: 16,
        rescaling: RescalingConfig::default(),
    }
}

fn train(
    data: &TrainingData,
    matching: MatchingConfig,
    iterations: usize,
    lr: f64,
) -> (Genot, TrainReport) {
    let training = TrainConfig {
        iterations,
        batch_size: 256,
        lr,
        seed: 3,
        ..Default::default()
    };
    let config = make_config(data, matching, training, small_arch()).unwrap();
    fit(data, config, &Device::flex(), FitOptions::default()).unwrap()
}

fn rk4() -> TransportOptions {
    TransportOptions {
        samples: 1,
        solver: Solver::Rk4 { steps: 16 },
        seed: 11,
        ..TransportOptions::default()
    }
}

/// SPEC section 5: for Gaussians and squared Euclidean cost the entropic conditionals are
/// Gaussian with a closed form; generated samples at fixed test points must match them.
#[test]
fn gaussian_conditionals_match_the_closed_form() {
    for (d, bound) in [(2usize, 3.0), (4, 5.0)] {
        let a = Array1::from_iter((0..d).map(|i| i as f64 * 0.5 - 0.5));
        let b = Array1::from_iter((0..d).map(|i| 1.0 - i as f64 * 0.3));
        let la = Array2::from_shape_fn((d, d), |(i, j)| match i.cmp(&j) {
            std::cmp::Ordering::Equal => 1.0 - 0.1 * i as f64,
            std::cmp::Ordering::Greater => 0.3,
            _ => 0.0,
        });
        let lb = Array2::from_shape_fn((d, d), |(i, j)| match i.cmp(&j) {
            std::cmp::Ordering::Equal => 0.8 + 0.15 * i as f64,
            std::cmp::Ordering::Greater => -0.2,
            _ => 0.0,
        });
        let data = TrainingData::new(
            gaussian_samples(&a, &la, 8192, 1),
            gaussian_samples(&b, &lb, 8192, 2),
        );
        let matching = MatchingConfig {
            epsilon: 0.5,
            scale_cost: "none".into(),
            ..Default::default()
        };
        let (model, _) = train(&data, matching, 2000, 1e-3);
        let ga = Gaussian::new(a.clone(), la.dot(&la.t())).unwrap();
        let gb = Gaussian::new(b.clone(), lb.dot(&lb.t())).unwrap();
        let truth_ot = EntropicGaussianOt::new(ga, gb.clone(), 0.5).unwrap();
        let test = gaussian_samples(&a, &la, 6, 7);
        let out = model
            .transport(
                test.view(),
                None,
                &TransportOptions {
                    samples: 1500,
                    ..rk4()
                },
            )
            .unwrap();
        let (mut pred, mut truth) = (vec![], vec![]);
        for i in 0..test.nrows() {
            pred.push(Gaussian::from_samples(out.samples.index_axis(Axis(0), i)).unwrap());
            truth.push(
                truth_ot
                    .conditional(test.row(i).mapv(|v| v as f64).view())
                    .unwrap(),
            );
        }
        let score = cbw_uvp(&pred, &truth, &gb).unwrap();
        eprintln!("d = {d}: cBW-UVP {score:.3}%");
        assert!(score < bound, "d = {d}: cBW-UVP {score:.2}% >= {bound}%");
        // The same score for the unconditional target marks what "no coupling" would give.
        let marginal: Vec<Gaussian> = (0..test.nrows()).map(|_| gb.clone()).collect();
        let baseline = cbw_uvp(&marginal, &truth, &gb).unwrap();
        assert!(
            score < baseline / 4.0,
            "d = {d}: {score:.2}% vs ignoring the source {baseline:.2}%"
        );
    }
}

#[test]
fn save_then_load_gives_identical_predictions() {
    let data = TrainingData::new(
        gaussian_samples(&array![0.0, 0.0], &Array2::eye(2), 512, 1),
        gaussian_samples(&array![3.0, 1.0], &Array2::eye(2), 512, 2),
    );
    let (model, report) = train(&data, MatchingConfig::default(), 30, 1e-3);
    let dir = tempfile::tempdir().unwrap();
    genot::train::save_fitted(dir.path(), &model, &report).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("config.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "model files are readable by others");
    }
    let loaded = Genot::load(dir.path(), &Device::flex()).unwrap();
    assert_eq!(loaded.config, model.config);
    // The model records the engine that trained it (the native one on the CPU device).
    let by = model.config.trained_by.clone().expect("recorded");
    assert_eq!(by.engine, genot::engine::Engine::Native);
    assert_eq!(by.device, format!("{:?}", Device::flex()));
    // A model directory written before the record existed still loads, without one (its
    // manifest left out: the edited config.json no longer matches it, as it must not).
    let config = dir.path().join("config.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    json.as_object_mut()
        .unwrap()
        .remove("trained_by")
        .expect("written");
    let old_dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let f = f.unwrap().path();
        if f.is_file() && !f.ends_with("manifest.json") {
            std::fs::copy(&f, old_dir.path().join(f.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(old_dir.path().join("config.json"), json.to_string()).unwrap();
    let old = Genot::load(old_dir.path(), &Device::flex());
    assert!(
        old.as_ref().is_ok_and(|m| m.config.trained_by.is_none()),
        "{:?}",
        old.err()
    );
    let x = data.source.slice(s![..50, ..]).to_owned();
    let three = TransportOptions {
        samples: 3,
        ..rk4()
    };
    let a = model.transport(x.view(), None, &three).unwrap();
    let b = loaded.transport(x.view(), None, &three).unwrap();
    assert_eq!(a.samples, b.samples);
    // A different seed gives different samples: the comparison above is not vacuous.
    let c = loaded
        .transport(x.view(), None, &TransportOptions { seed: 12, ..three })
        .unwrap();
    assert_ne!(a.samples, c.samples);
    // A corrupted weights file is a clear error, not a panic.
    std::fs::write(dir.path().join("model.safetensors"), b"not safetensors").unwrap();
    let err = Genot::load(dir.path(), &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.safetensors"), "{err}");
}

/// A run resumed within a run of iterations that share one large plan re-solves that plan
/// and continues exactly as the uninterrupted fit (a linear plan depends on its batch only).
#[test]
fn resume_within_a_shared_plan_continues_the_loss_curve() {
    let data = resume_data();
    let matching = MatchingConfig {
        ot_batch_size: Some(512),
        ..Default::default()
    };
    let cfg = |iterations| resume_config(&data, matching.clone(), iterations);
    assert_eq!(cfg(1).matching.ot_plan_reuse, Some(4));
    let (_, full) = fit(&data, cfg(16), &Device::flex(), FitOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = |resume| FitOptions {
        checkpoint_dir: Some(dir.path().to_path_buf()),
        resume,
        ..Default::default()
    };
    // The checkpoint at 10 falls inside the run of iterations 8 to 11.
    fit(&data, cfg(10), &Device::flex(), opts(false)).unwrap();
    let (_, resumed) = fit(&data, cfg(16), &Device::flex(), opts(true)).unwrap();
    assert_eq!(resumed.resumed_from, 10);
    assert_eq!(full.losses, resumed.losses);
    // The reuse is part of the fit: a fresh plan every iteration trains on other pairs.
    let mut fresh = cfg(16);
    fresh.matching.ot_plan_reuse = Some(1);
    let (_, other) = fit(&data, fresh, &Device::flex(), FitOptions::default()).unwrap();
    assert_ne!(other.losses, full.losses);
}

/// Two Gaussian clouds of 512 points, for the resume tests.
fn resume_data() -> TrainingData {
    TrainingData::new(
        gaussian_samples(&array![0.0, 0.0], &Array2::eye(2), 512, 1),
        gaussian_samples(&array![3.0, 1.0], &Array2::eye(2), 512, 2),
    )
}

/// A fit of `iterations` on `data` at batch 128, with a checkpoint every 10 iterations.
fn resume_config(
    data: &TrainingData,
    matching: MatchingConfig,
    iterations: usize,
) -> genot::config::GenotConfig {
    let training = TrainConfig {
        iterations,
        batch_size: 128,
        lr: 1e-3,
        checkpoint_every: 10,
        seed: 5,
        ..Default::default()
    };
    make_config(data, matching, training, small_arch()).unwrap()
}

/// A checkpoint and a model written before `ot_batch_size` had a default of its own hold
/// `null` there (one network batch) and no `ot_plan_reuse`: the model loads with one batch
/// per coupling, and the checkpoint resumes with `ot_batch_size` equal to the batch size
/// (with the new default it is refused, naming the setting).
#[test]
fn an_older_checkpoint_couples_one_batch_and_resumes() {
    let data = resume_data();
    let one_batch = MatchingConfig {
        ot_batch_size: Some(128),
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let opts = |resume| FitOptions {
        checkpoint_dir: Some(dir.path().to_path_buf()),
        resume,
        ..Default::default()
    };
    let cfg = |m: &MatchingConfig, iterations| resume_config(&data, m.clone(), iterations);
    let (model, _) = fit(&data, cfg(&one_batch, 10), &Device::flex(), opts(false)).unwrap();
    // Make the files look older.
    let older = |path: &std::path::Path, at: &[&str]| {
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut m = &mut v;
        for key in at {
            m = &mut m[*key];
        }
        m["ot_batch_size"] = serde_json::Value::Null;
        m.as_object_mut().unwrap().remove("ot_plan_reuse");
        std::fs::write(path, v.to_string()).unwrap();
    };
    let state = dir.path().join(CHECKPOINT).join("state.json");
    older(&state, &["config", "matching"]);
    let saved = tempfile::tempdir().unwrap();
    model.save(saved.path()).unwrap();
    let config = saved.path().join("config.json");
    older(&config, &["matching"]);
    // (Older models had no manifest either.)
    let _ = std::fs::remove_file(saved.path().join("manifest.json"));
    let loaded = Genot::load(saved.path(), &Device::flex()).unwrap();
    assert_eq!(loaded.config.matching.ot_batch_size, Some(128));
    assert_eq!(loaded.config.matching.ot_plan_reuse, Some(1));
    // The default now couples 512 points (4 batches, all the points): refused, named.
    let err = fit(
        &data,
        cfg(&MatchingConfig::default(), 20),
        &Device::flex(),
        opts(true),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("`ot_batch_size`"), "{err}");
    let (_, resumed) = fit(&data, cfg(&one_batch, 20), &Device::flex(), opts(true)).unwrap();
    assert_eq!(resumed.resumed_from, 10);
    assert_eq!(resumed.losses.len(), 20);
}

#[test]
fn resume_continues_the_loss_curve() {
    let data = resume_data();
    let cfg = |iterations| resume_config(&data, MatchingConfig::default(), iterations);
    let (_, full) = fit(&data, cfg(30), &Device::flex(), FitOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = |resume| FitOptions {
        checkpoint_dir: Some(dir.path().to_path_buf()),
        resume,
        ..Default::default()
    };
    let (_, first) = fit(&data, cfg(20), &Device::flex(), opts(false)).unwrap();
    assert!(dir.path().join(CHECKPOINT).join("state.json").exists());
    let (_, resumed) = fit(&data, cfg(30), &Device::flex(), opts(true)).unwrap();
    assert_eq!(first.losses.len(), 20);
    assert_eq!(resumed.resumed_from, 20);
    assert_eq!(resumed.losses.len(), 30);
    for (i, (a, b)) in full.losses.iter().zip(&resumed.losses).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * a.abs().max(1.0),
            "iteration {i}: {a} vs {b}"
        );
    }
    // Other settings cannot resume this checkpoint.
    let mut other = cfg(30);
    other.matching.epsilon = 0.3;
    let err = fit(&data, other, &Device::flex(), opts(true))
        .unwrap_err()
        .to_string();
    assert!(err.contains("other data or settings"), "{err}");
    assert!(
        err.contains("`epsilon` is 0.1 in the checkpoint and 0.3 now"),
        "{err}"
    );
    // A checkpoint fitted without the moving average (the default before 2026-12-07),
    // resumed with the defaults: the error names the setting to give.
    let no_ema_dir = tempfile::tempdir().unwrap();
    let no_ema_opts = |resume| FitOptions {
        checkpoint_dir: Some(no_ema_dir.path().to_path_buf()),
        resume,
        ..Default::default()
    };
    let mut no_ema = cfg(20);
    no_ema.training.ema = None;
    fit(&data, no_ema, &Device::flex(), no_ema_opts(false)).unwrap();
    let err = fit(&data, cfg(30), &Device::flex(), no_ema_opts(true))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`ema` is unset in the checkpoint and 0.999 now"),
        "{err}"
    );
    // Only the normalisation differs (a checkpoint of an older genot): said so.
    let state = dir.path().join(CHECKPOINT).join("state.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    json["config"]["normalization"]["target_std"][0] = serde_json::json!(1.0);
    std::fs::write(&state, json.to_string()).unwrap();
    let err = fit(&data, cfg(30), &Device::flex(), opts(true))
        .unwrap_err()
        .to_string();
    assert!(err.contains("older genot"), "{err}");
}

#[test]
fn bad_input_and_diverging_training_are_clear_errors() {
    let mut x = gaussian_samples(&array![0.0, 0.0], &Array2::eye(2), 64, 1);
    let y = gaussian_samples(&array![1.0, 0.0], &Array2::eye(2), 64, 2);
    x[[7, 1]] = f32::NAN;
    let data = TrainingData::new(x.clone(), y.clone());
    let err = make_config(
        &data,
        MatchingConfig::default(),
        TrainConfig::default(),
        small_arch(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("source") && err.contains("row 7") && err.contains("column 1"),
        "{err}"
    );
    x[[7, 1]] = 0.0;
    let y3 = gaussian_samples(&array![1.0, 0.0, 0.0], &Array2::eye(3), 64, 2);
    let err = make_config(
        &TrainingData::new(x.clone(), y3),
        MatchingConfig::default(),
        TrainConfig::default(),
        small_arch(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("quadratic"), "{err}");
    // An absurd learning rate makes the loss overflow: an error, not NaN weights.
    let data = TrainingData::new(x, y);
    let config = make_config(
        &data,
        MatchingConfig::default(),
        TrainConfig {
            iterations: 200,
            batch_size: 64,
            lr: 1e30,
            ..Default::default()
        },
        small_arch(),
    )
    .unwrap();
    match fit(&data, config, &Device::flex(), FitOptions::default()) {
        Err(GenotError::NonFiniteLoss { iteration, .. }) => assert!(iteration >= 2),
        other => panic!("expected a non-finite loss error, got {other:?}"),
    }
}

#[test]
fn conditions_with_opposite_shifts_are_each_learned() {
    let n = 1024;
    let base = gaussian_samples(&array![0.0, 0.0], &Array2::eye(2), 2 * n, 1);
    let tgt = gaussian_samples(&array![0.0, 0.0], &(Array2::eye(2) * 0.5), 2 * n, 2);
    let mut target = tgt.clone();
    let mut labels = vec![];
    for i in 0..2 * n {
        let up = i < n;
        target[[i, 0]] += if up { 3.0 } else { -3.0 };
        labels.push(if up { "up" } else { "down" }.to_string());
    }
    let data = TrainingData::new(base.clone(), target).with_conditions(labels.clone(), labels);
    let (model, _) = train(&data, MatchingConfig::default(), 1500, 1e-3);
    assert_eq!(
        model.config.conditions,
        vec!["down".to_string(), "up".to_string()]
    );
    let x = base.slice(s![..200, ..]).to_owned();
    for (label, shift) in [("up", 3.0f32), ("down", -3.0)] {
        let c = vec![label.to_string(); x.nrows()];
        let out = model.transport(x.view(), Some(&c), &rk4()).unwrap();
        let mean = out.mean.mean_axis(Axis(0)).unwrap();
        eprintln!("{label}: mean {mean}");
        assert!(
            (mean[0] - shift).abs() < 0.4 && mean[1].abs() < 0.4,
            "{label}: mean {mean}"
        );
    }
    let err = model
        .transport(x.view(), None, &rk4())
        .unwrap_err()
        .to_string();
    assert!(err.contains("conditional"), "{err}");
    let unknown = vec!["sideways".to_string(); x.nrows()];
    let err = model
        .transport(x.view(), Some(&unknown), &rk4())
        .unwrap_err()
        .to_string();
    assert!(err.contains("sideways"), "{err}");
}

/// U-GENOT: a source cluster with no counterpart in the target loses its mass.
#[test]
fn unbalanced_eta_marks_the_cluster_missing_from_the_target() {
    let n = 1024;
    let mut x = gaussian_samples(&array![0.0, 0.0], &(Array2::eye(2) * 0.5), n, 1);
    for i in 0..n / 2 {
        x[[i, 0]] += 4.0;
    }
    for i in n / 2..n {
        x[[i, 0]] -= 4.0;
    }
    // The target holds only the left cluster (slightly moved).
    let y = gaussian_samples(&array![-4.0, 0.5], &(Array2::eye(2) * 0.5), n, 2);
    let matching = MatchingConfig {
        tau_a: 0.5,
        tau_b: 0.5,
        epsilon: 0.05,
        ..Default::default()
    };
    let (model, report) = train(&TrainingData::new(x.clone(), y), matching, 600, 1e-3);
    assert!(!report.rescaling_losses.is_empty());
    let eta = model.source_weights(x.view(), None).unwrap().unwrap();
    let right = eta.slice(s![..n / 2]).mean().unwrap();
    let left = eta.slice(s![n / 2..]).mean().unwrap();
    eprintln!("eta: missing cluster {right:.3}, kept cluster {left:.3}");
    assert!(right < 0.2, "eta on the missing cluster {right}");
    assert!((0.5..2.5).contains(&left), "eta on the kept cluster {left}");
    let out = model.transport(x.slice(s![..4, ..]), None, &rk4()).unwrap();
    assert!(out.weights.is_some());
}

/// GENOT-Q: a 2-D spiral to the same spiral embedded in 3-D by an orthonormal Q. The only
/// isometry of the spiral is the identity (the reflection through its plane fixes it), so
/// predictions must land near Q x.
#[test]
fn gw_maps_a_spiral_to_its_rotated_embedding() {
    let n = 1024;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let x = Array2::from_shape_fn((n, 2), |_| 0.0f32);
    let mut x = x;
    for i in 0..n {
        let u: f64 = rand::Rng::random(&mut rng);
        let r = 1.0 + 3.0 * u;
        let th = 3.0 * u * std::f64::consts::PI;
        x[[i, 0]] = (r * th.cos()) as f32;
        x[[i, 1]] = (r * th.sin()) as f32;
    }
    let q = array![
        [0.48f64, -0.6, 0.64],
        [0.8, 0.36, -0.48],
        [0.36, 0.712, 0.6032]
    ];
    // Orthonormalise the first two columns (Gram-Schmidt) to embed the plane.
    let c0 = q.column(0).to_owned() / q.column(0).dot(&q.column(0)).sqrt();
    let c1 = &q.column(1) - &(&c0 * c0.dot(&q.column(1)));
    let c1 = &c1 / c1.dot(&c1).sqrt();
    let embed = ndarray::stack![Axis(1), c0, c1]; // 3 x 2
    let y = x.mapv(|v| v as f64).dot(&embed.t()).mapv(|v| v as f32);
    let matching = MatchingConfig {
        kind: Kind::Quadratic,
        epsilon: 5e-3,
        scale_cost: "max".into(),
        warmup_iterations: 50,
        ..Default::default()
    };
    let (model, _) = train(
        &TrainingData::new(x.clone(), y.clone()),
        matching,
        500,
        1e-3,
    );
    let test: Vec<usize> = (0..n).step_by(4).collect();
    let xt = x.select(Axis(0), &test);
    let truth = y.select(Axis(0), &test);
    let out = model.transport(xt.view(), None, &rk4()).unwrap();
    let pred = out.mean.mapv(|v| v as f64);
    let score = foscttm(pred.view(), truth.mapv(|v| v as f64).view()).unwrap();
    eprintln!("spiral FOSCTTM {score:.4}");
    assert!(score < 0.1, "FOSCTTM {score}");
}

/// GENOT-F: the spiral task with the radius as a shared (comparable) feature, several
/// targets per source with per-source latent matching, EMA weights and gradient clipping.
#[test]
fn fused_gw_with_k_samples_ema_and_clipping() {
    let n = 1024;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
    let mut x = Array2::<f32>::zeros((n, 2));
    let mut radius = Array2::<f32>::zeros((n, 1));
    for i in 0..n {
        let u: f64 = rand::Rng::random(&mut rng);
        let (r, th) = (1.0 + 3.0 * u, 3.0 * u * std::f64::consts::PI);
        x[[i, 0]] = (r * th.cos()) as f32;
        x[[i, 1]] = (r * th.sin()) as f32;
        radius[[i, 0]] = r as f32;
    }
    // Target: the spiral in 3-D with its third coordinate fixed at 1.
    let y = Array2::from_shape_fn((n, 3), |(i, j)| if j < 2 { -x[[i, 1 - j]] } else { 1.0 });
    let data = TrainingData::new(x.clone(), y.clone())
        .with_shared(radius.clone(), radius.clone())
        .unwrap();
    let matching = MatchingConfig {
        kind: Kind::Fused,
        epsilon: 5e-3,
        scale_cost: "max".into(),
        warmup_iterations: 30,
        k_samples: 4,
        latent_matching: true,
        ..Default::default()
    };
    let training = TrainConfig {
        iterations: 300,
        batch_size: 128,
        lr: 1e-3,
        ema: Some(0.9),
        grad_clip: Some(10.0),
        seed: 1,
        ..Default::default()
    };
    let config = make_config(&data, matching, training, small_arch()).unwrap();
    assert_eq!((config.source_dim, config.target_dim), (3, 4));
    let (model, report) = fit(&data, config, &Device::flex(), FitOptions::default()).unwrap();
    assert_eq!(report.losses.len(), 300);
    let test: Vec<usize> = (0..n).step_by(4).collect();
    let xs = data.source.select(Axis(0), &test);
    let out = model.transport(xs.view(), None, &rk4()).unwrap();
    let truth = data.target.select(Axis(0), &test).mapv(|v| v as f64);
    let score = foscttm(out.mean.mapv(|v| v as f64).view(), truth.view()).unwrap();
    eprintln!("fused FOSCTTM {score:.4}");
    assert!(score < 0.1, "FOSCTTM {score}");
}

/// A target feature that is constant in the training data (a gene never expressed in the
/// target cells) comes back as that constant in every sample and every normalisation mode,
/// not as the network's noise around it.
#[test]
fn a_constant_target_feature_is_transported_exactly() {
    let x = normal(256, 3, 21).mapv(|v| v as f32);
    let mut y = &x + 1.0;
    y.column_mut(1).fill(3.5);
    for normalize in ["per-feature", "isotropic", "none"] {
        let training = TrainConfig {
            iterations: 30,
            batch_size: 64,
            normalize: normalize.parse().unwrap(),
            seed: 3,
            ..Default::default()
        };
        let data = TrainingData::new(x.clone(), y.clone());
        let config = make_config(&data, MatchingConfig::default(), training, small_arch()).unwrap();
        let (model, _) = fit(&data, config, &Device::flex(), FitOptions::default()).unwrap();
        let opts = TransportOptions {
            samples: 4,
            ..rk4()
        };
        let out = model.transport(x.view(), None, &opts).unwrap();
        assert!(out.samples.iter().all(|v| v.is_finite()));
        let kept = out.samples.slice(s![.., .., 1]);
        assert!(kept.iter().all(|&v| v == 3.5), "{normalize}: {kept:?}");
        // The other features still vary from sample to sample.
        let free = out.samples.slice(s![0, .., 0]);
        assert!(free.iter().any(|&v| v != free[0usize]), "{normalize}");
    }
}
