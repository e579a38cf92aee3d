//! Probe: time one training step of the benchmark velocity field.
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor};
use genot::velocity::VelocityFieldConfig;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let batch: usize = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(256);
    let threads: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let device = Device::flex().autodiff();
        device.seed(0);
        let cfg = VelocityFieldConfig {
            condition_dim: 2,
            target_dim: 2,
            hidden: 128,
            layers: 3,
            time_frequencies: 128,
        };
        let mut field = cfg.init(&device);
        println!("params {}", burn::module::Module::num_params(&field));
        let mut opt = AdamWConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(1e-10)
            .init();
        let mut times = vec![];
        for it in 0..60 {
            let t0 = Instant::now();
            let t = Tensor::<2>::random([batch, 1], Distribution::Uniform(0.0, 1.0), &device);
            let xt = Tensor::<2>::random([batch, 2], Distribution::Normal(0.0, 1.0), &device);
            let x = Tensor::<2>::random([batch, 2], Distribution::Normal(0.0, 1.0), &device);
            let u = Tensor::<2>::random([batch, 2], Distribution::Normal(0.0, 1.0), &device);
            let v = field.forward(t, xt, x);
            let loss = (v - u).powi_scalar(2).mean();
            let l: f32 = loss.clone().into_scalar();
            let grads = GradientsParams::from_grads(loss.backward(), &field);
            field = opt.step(1e-3, field, grads);
            if it >= 10 {
                times.push(t0.elapsed().as_secs_f64() * 1e3);
            }
            if it == 59 {
                println!("loss {l}");
            }
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "batch {batch} threads {threads}: median {:.2} ms, min {:.2}",
            times[times.len() / 2],
            times[0]
        );
    });
}
