//! Probe: time one training step of the benchmark velocity field (215,298 parameters), burn
//! Flex against the native engine, on the same batch.
//!
//! `cargo run --release -p genot --example step_probe -- [batch] [threads]`
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use genot::model::to_tensor;
use genot::native::{AdamW, NativeField};
use genot::params;
use genot::velocity::VelocityFieldConfig;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(256);
    let threads: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let cfg = VelocityFieldConfig {
        condition_dim: 2,
        target_dim: 2,
        hidden: 128,
        layers: 3,
        time_frequencies: 128,
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut m = |d: usize| Array2::from_shape_simple_fn((n, d), || rng.random_range(-2.0f32..2.0));
    let (xt, cond, u) = (m(2), m(2), m(2));
    let t: Vec<f32> = (0..n).map(|i| i as f32 / n as f32).collect();
    pool.install(|| {
        let device = Device::flex().autodiff();
        let mut field = params::init_uniform(cfg.init(&device), 0);
        let mut native = NativeField::from_weights(cfg, &params::export(&field)).unwrap();
        native.threads = threads;
        let mut opt = AdamWConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(1e-10)
            .init();
        let nopt = AdamW {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 1e-10,
            grad_clip: None,
        };
        let (mut tb, mut tn) = (vec![], vec![]);
        for it in 0..60 {
            let s = Instant::now();
            let tt = Tensor::<2>::from_data(TensorData::new(t.clone(), [n, 1]), &device);
            let v = field.forward(
                tt,
                to_tensor(xt.view(), &device),
                to_tensor(cond.view(), &device),
            );
            let loss = (v - to_tensor(u.view(), &device)).powi_scalar(2).mean();
            let _: f32 = loss.clone().into_scalar();
            let g = GradientsParams::from_grads(loss.backward(), &field);
            field = opt.step(1e-3, field, g);
            let b = s.elapsed().as_secs_f64() * 1e3;
            let s = Instant::now();
            native.train_step(&t, xt.view(), cond.view(), u.view(), 1e-3, &nopt);
            let nv = s.elapsed().as_secs_f64() * 1e3;
            if it >= 10 {
                tb.push(b);
                tn.push(nv);
            }
        }
        println!(
            "batch {n}, {threads} thread(s): burn Flex {:.2} ms/step, native {:.2} ms/step",
            median(tb),
            median(tn)
        );
    });
}
