//! The hand-written CPU velocity field against burn's: same forward pass, same gradients
//! (burn's autodiff is the independent reference), same AdamW steps.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use genot::model::{to_array, to_tensor};
use genot::native::{AdamW, NativeField};
use genot::params::{self, Weights};
use genot::velocity::{VelocityField, VelocityFieldConfig};
use ndarray::Array2;
use rand::{Rng, SeedableRng};

const CONFIG: VelocityFieldConfig = VelocityFieldConfig {
    condition_dim: 3,
    target_dim: 2,
    hidden: 16,
    layers: 2,
    time_frequencies: 4,
};

struct Batch {
    t: Vec<f32>,
    xt: Array2<f32>,
    cond: Array2<f32>,
    u: Array2<f32>,
}

fn batch(n: usize, seed: u64) -> Batch {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut m = |d: usize| Array2::from_shape_simple_fn((n, d), || rng.random_range(-2.0f32..2.0));
    let (xt, cond, u) = (m(2), m(3), m(2));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed + 1);
    Batch {
        t: (0..n).map(|_| rng.random::<f32>()).collect(),
        xt,
        cond,
        u,
    }
}

fn burn_loss(field: &VelocityField, b: &Batch, device: &Device) -> Tensor<1> {
    let n = b.t.len();
    let t = Tensor::<2>::from_data(TensorData::new(b.t.clone(), [n, 1]), device);
    let v = field.forward(
        t,
        to_tensor(b.xt.view(), device),
        to_tensor(b.cond.view(), device),
    );
    (v - to_tensor(b.u.view(), device)).powi_scalar(2).mean()
}

struct GradCollector<'a> {
    path: Vec<String>,
    grads: &'a burn::tensor::Gradients,
    out: Weights,
}

impl ModuleVisitor for GradCollector<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.into());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let g = param
            .val()
            .grad(self.grads)
            .expect("every weight has a gradient");
        let shape = g.dims().to_vec();
        let values = g.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        self.out
            .insert(self.path.join("."), params::NamedArray { shape, values });
    }
}

/// The loss's value and burn's autodiff gradient of every weight of `module`.
fn autodiff<M: Module>(loss: Tensor<1>, module: &M) -> (f32, Weights) {
    let value: f32 = loss.clone().into_scalar();
    let grads = loss.backward();
    let mut collect = GradCollector {
        path: vec![],
        grads: &grads,
        out: Weights::new(),
    };
    module.visit(&mut collect);
    (value, collect.out)
}

fn assert_close(a: &Weights, b: &Weights, tol: f32, what: &str) {
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{what}: names"
    );
    for (k, x) in a {
        let y = &b[k];
        assert_eq!(x.shape, y.shape, "{what}: {k}");
        let scale = x
            .values
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()))
            .max(1e-3);
        for (i, (p, q)) in x.values.iter().zip(&y.values).enumerate() {
            assert!((p - q).abs() <= tol * scale, "{what}: {k}[{i}] {p} vs {q}");
        }
    }
}

#[test]
fn forward_and_gradients_match_burn_autodiff() {
    let device = Device::flex().autodiff();
    let field = params::init_uniform(CONFIG.init(&device), 7);
    let native = NativeField::from_weights(CONFIG, &params::export(&field)).unwrap();
    let b = batch(33, 1);
    let burn_v = to_array(field.valid().forward(
        Tensor::<2>::from_data(TensorData::new(b.t.clone(), [33, 1]), &Device::flex()),
        to_tensor(b.xt.view(), &Device::flex()),
        to_tensor(b.cond.view(), &Device::flex()),
    ));
    let native_v = native.forward(&b.t, b.xt.view(), b.cond.view());
    let diff = (&burn_v - &native_v)
        .mapv(f32::abs)
        .fold(0.0f32, |m, &v| m.max(v));
    assert!(diff < 1e-5, "forward differs by {diff}");
    // The transport path (the condition's share computed once) gives the same velocities
    // up to rounding.
    let part = native.condition_part(b.cond.view());
    let via_part = native.forward_with_condition(&b.t, b.xt.view(), part.view());
    let diff = (&via_part - &native_v)
        .mapv(f32::abs)
        .fold(0.0f32, |m, &v| m.max(v));
    assert!(diff < 1e-6, "the transport path differs by {diff}");

    let (burn_l, burn_g) = autodiff(burn_loss(&field, &b, &device), &field);
    let (native_l, native_g) = native.gradients(&b.t, b.xt.view(), b.cond.view(), b.u.view());
    assert!(
        (burn_l - native_l).abs() < 1e-5 * burn_l.abs().max(1.0),
        "{burn_l} vs {native_l}"
    );
    assert_close(&burn_g, &native_g, 1e-4, "gradients");
    // The comparison can fail: other targets give other gradients.
    let b2 = Batch {
        u: b.u.mapv(|v| v + 1.0),
        ..batch(33, 1)
    };
    let (_, other) = native.gradients(&b2.t, b2.xt.view(), b2.cond.view(), b2.u.view());
    assert!(std::panic::catch_unwind(|| assert_close(&burn_g, &other, 1e-4, "x")).is_err());
}

#[test]
fn adamw_steps_match_burn() {
    let device = Device::flex().autodiff();
    let mut field = params::init_uniform(CONFIG.init(&device), 3);
    let mut native = NativeField::from_weights(CONFIG, &params::export(&field)).unwrap();
    let (lr, wd, eps) = (1e-2, 1e-3, 1e-8);
    let mut opt = AdamWConfig::new()
        .with_epsilon(eps)
        .with_weight_decay(wd)
        .init();
    let nopt = AdamW {
        beta1: 0.9,
        beta2: 0.999,
        epsilon: eps,
        weight_decay: wd,
        grad_clip: None,
    };
    for step in 0..5 {
        let b = batch(40, 10 + step);
        let loss = burn_loss(&field, &b, &device);
        let g = GradientsParams::from_grads(loss.backward(), &field);
        field = opt.step(lr as f64, field, g);
        native.train_step(&b.t, b.xt.view(), b.cond.view(), b.u.view(), lr, &nopt);
    }
    assert_close(
        &params::export(&field),
        &native.weights(),
        1e-4,
        "weights after 5 steps",
    );
}

/// Training with either engine gives the same loss curve; a checkpoint names its engine.
#[test]
fn both_engines_train_alike() {
    use genot::engine::Engine;
    use genot::*;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let x = Array2::from_shape_simple_fn((300, 2), || rng.random_range(-1.0f32..1.0));
    let y = x.mapv(|v| v * 0.5 + 2.0);
    let data = TrainingData::new(x, y);
    let arch = Architecture {
        hidden: 24,
        layers: 2,
        time_frequencies: 4,
        ..Default::default()
    };
    let config = make_config(
        &data,
        MatchingConfig::default(),
        TrainConfig {
            iterations: 25,
            batch_size: 100,
            lr: 1e-3,
            ..Default::default()
        },
        arch,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = |engine, resume| {
        fit(
            &data,
            config.clone(),
            &Device::flex(),
            FitOptions {
                engine,
                checkpoint_dir: Some(dir.path().into()),
                resume,
                ..Default::default()
            },
        )
    };
    let (native_model, native) = run(Engine::Native, false).unwrap();
    let (_, burn) = fit(
        &data,
        config.clone(),
        &Device::flex(),
        FitOptions {
            engine: Engine::Burn,
            ..Default::default()
        },
    )
    .unwrap();
    for (i, (a, b)) in native.losses.iter().zip(&burn.losses).enumerate() {
        assert!(
            (a - b).abs() <= 1e-3 * a.abs().max(1e-3),
            "iteration {i}: native {a}, burn {b}"
        );
    }
    // The checkpoint of the native run resumes on burn (one format for both engines): a
    // finished run resumed with the same iterations has nothing left to do and returns the
    // native model's weights.
    let (resumed, report) = run(Engine::Burn, true).unwrap();
    assert_eq!(report.losses, native.losses);
    assert_eq!(resumed.weights(), native_model.weights());
    // Older checkpoints: the native engine's file under its former name is read as is; an
    // older burn record is refused with a clear error.
    let ck = dir.path().join("checkpoint");
    let rename = |a: &str, b: &str| std::fs::rename(ck.join(a), ck.join(b)).unwrap();
    rename("velocity-state.safetensors", "velocity-native.safetensors");
    let (older, _) = run(Engine::Native, true).unwrap();
    assert_eq!(older.weights(), native_model.weights());
    rename("velocity-state.safetensors", "velocity.bpk");
    let err = run(Engine::Native, true).unwrap_err().to_string();
    assert!(err.contains("older genot") && err.contains(".bpk"), "{err}");
}

/// A U-GENOT fit stopped halfway on one engine and resumed on the other continues as the
/// uninterrupted run of the first engine (to the engines' rounding): the velocity field,
/// eta, xi and their AdamW moments all cross over.
#[test]
fn a_checkpoint_resumes_on_the_other_engine() {
    use genot::engine::Engine;
    use genot::*;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
    let x = Array2::from_shape_simple_fn((200, 2), || rng.random_range(-1.0f32..1.0));
    let y = x.mapv(|v| v * 0.7 - 1.0);
    let data = TrainingData::new(x, y);
    let config = |iterations| {
        make_config(
            &data,
            MatchingConfig {
                tau_a: 0.9,
                tau_b: 0.9,
                ..Default::default()
            },
            TrainConfig {
                iterations,
                batch_size: 64,
                lr: 1e-3,
                ..Default::default()
            },
            Architecture {
                hidden: 16,
                layers: 2,
                time_frequencies: 4,
                ..Default::default()
            },
        )
        .unwrap()
    };
    assert!(config(1).rescaling.is_some(), "U-GENOT has eta and xi");
    for (first, second) in [
        (Engine::Native, Engine::Burn),
        (Engine::Burn, Engine::Native),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let run = |iterations, engine, resume| {
            fit(
                &data,
                config(iterations),
                &Device::flex(),
                FitOptions {
                    engine,
                    checkpoint_dir: Some(dir.path().into()),
                    resume,
                    ..Default::default()
                },
            )
            .unwrap()
        };
        let (_, whole) = fit(
            &data,
            config(16),
            &Device::flex(),
            FitOptions {
                engine: first,
                ..Default::default()
            },
        )
        .unwrap();
        run(8, first, false);
        let (model, resumed) = run(16, second, true);
        assert_eq!(resumed.resumed_from, 8);
        assert_eq!(resumed.losses[..8], whole.losses[..8]);
        let close = |a: f32, b: f32| (a - b).abs() <= 2e-3 * a.abs().max(1e-3);
        for i in 8..16 {
            let (a, b) = (whole.losses[i], resumed.losses[i]);
            assert!(
                close(a, b),
                "{first:?} then {second:?}, iteration {i}: {a} vs {b}"
            );
            for k in 0..2 {
                let (a, b) = (whole.rescaling_losses[i][k], resumed.rescaling_losses[i][k]);
                assert!(
                    close(a, b),
                    "{first:?} then {second:?}, eta/xi {k} at {i}: {a} vs {b}"
                );
            }
        }
        assert!(model.eta.is_some() && model.xi.is_some());
    }
}

/// The on-device AdamW of the burn engine takes burn's own AdamW steps (gradient clipping
/// included): burn's optimizer is the independent reference of the shared rule.
#[test]
fn the_burn_engines_adamw_is_burns() {
    use burn::grad_clipping::GradientClippingConfig;
    use genot::adam::DeviceAdam;
    let device = Device::flex().autodiff();
    let mut reference = params::init_uniform(CONFIG.init(&device), 5);
    let mut ours = reference.clone();
    let (lr, wd, eps, clip) = (1e-2, 1e-3, 1e-8, 0.05);
    let mut opt = AdamWConfig::new()
        .with_epsilon(eps)
        .with_weight_decay(wd)
        .with_grad_clipping(Some(GradientClippingConfig::Norm(clip)))
        .init();
    let mut adam = DeviceAdam::new(AdamW {
        beta1: 0.9,
        beta2: 0.999,
        epsilon: eps,
        weight_decay: wd,
        grad_clip: Some(clip),
    });
    for step in 0..5 {
        let b = batch(40, 20 + step);
        let g =
            GradientsParams::from_grads(burn_loss(&reference, &b, &device).backward(), &reference);
        reference = opt.step(lr, reference, g);
        let g = GradientsParams::from_grads(burn_loss(&ours, &b, &device).backward(), &ours);
        ours = adam.step(ours, g, lr);
    }
    assert_close(
        &params::export(&reference),
        &params::export(&ours),
        1e-4,
        "weights after 5 clipped steps",
    );
    // The clipping acts: without it the steps differ.
    let mut free = DeviceAdam::new(AdamW {
        grad_clip: None,
        ..AdamW::new(&genot::TrainConfig::default())
    });
    let mut unclipped = params::init_uniform(CONFIG.init(&device), 5);
    for step in 0..5 {
        let b = batch(40, 20 + step);
        let g =
            GradientsParams::from_grads(burn_loss(&unclipped, &b, &device).backward(), &unclipped);
        unclipped = free.step(unclipped, g, lr);
    }
    let (a, b) = (params::export(&reference), params::export(&unclipped));
    assert!(std::panic::catch_unwind(|| assert_close(&a, &b, 1e-4, "x")).is_err());
}

/// The native eta / xi against burn's autodiff: same predictions, same loss, same
/// gradients; and one native AdamW step moves the weights as the burn engine's does.
#[test]
fn native_rescaling_matches_burn_autodiff() {
    use genot::native_rescaling::NativeRescaling;
    use genot::rescaling::{plan, Rescaling};
    let device = Device::flex().autodiff();
    let net = params::init_uniform(Rescaling::new(3, 8, 2, &device), 9);
    let native = NativeRescaling::from_weights(plan(3, 8, 2), &params::export(&net)).unwrap();
    let b = batch(37, 4);
    let mass: Vec<f32> = b.u.column(0).iter().map(|v| v.abs() * 2.0).collect();
    let pred = net.forward(to_tensor(b.cond.view(), &device));
    let target = Tensor::<2>::from_data(TensorData::new(mass.clone(), [37, 1]), &device);
    let loss = (pred.clone() - target.clone()).powi_scalar(2).mean()
        + (pred.clone().mean() - target.mean()).powi_scalar(2);
    let burn_pred = to_array(pred.inner());
    let np = native.forward(b.cond.view());
    for (p, q) in burn_pred.iter().zip(&np) {
        assert!(
            (p - q).abs() <= 1e-5 * p.abs().max(1.0),
            "prediction {p} vs {q}"
        );
    }
    let (lv, burn_g) = autodiff(loss, &net);
    let (nl, ng) = native.gradients(b.cond.view(), &mass);
    assert!((lv - nl).abs() <= 1e-5 * lv.abs(), "loss {lv} vs {nl}");
    assert_close(&burn_g, &ng, 1e-4, "rescaling gradients");
    // A wrong target gives other gradients: the comparison can fail.
    let shifted: Vec<f32> = mass.iter().map(|m| m + 1.0).collect();
    let (_, other) = native.gradients(b.cond.view(), &shifted);
    assert!(std::panic::catch_unwind(|| assert_close(&burn_g, &other, 1e-4, "x")).is_err());
}

/// The native engine's in-place EMA update is the map-based update on exported weights,
/// bit for bit (every parameter found under its name, none left out).
#[test]
fn the_in_place_ema_update_is_the_named_one() {
    let device = Device::flex();
    let field = params::init_uniform(CONFIG.init(&device), 5);
    let native = NativeField::from_weights(CONFIG, &params::export(&field)).unwrap();
    let other = params::export(&params::init_uniform(CONFIG.init(&device), 6));
    let (mut by_name, mut in_place) = (other.clone(), other.clone());
    for step in [1, 2, 50] {
        params::ema_update(&mut by_name, &native.weights(), 0.99, step);
        native.blend_into(&mut in_place, params::ema_rate(0.99, step));
    }
    assert_eq!(by_name, in_place);
    // After the first (bias-corrected) update the average is the current weights (up to
    // the rounding of `e + (w - e)`), every parameter of them.
    let mut first = other.clone();
    native.blend_into(&mut first, params::ema_rate(0.99, 1));
    let current = native.weights();
    assert_eq!(first.len(), current.len());
    for (k, w) in &current {
        for (a, b) in first[k].values.iter().zip(&w.values) {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{k}: {a} vs {b}");
        }
    }
}
