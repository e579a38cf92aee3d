use burn::tensor::Device;
use genot::*;
use genot_ot::metrics::gaussian::{cbw_uvp, EntropicGaussianOt, Gaussian};
use ndarray::{array, Array2};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn sample(mean: &[f64], chol: &Array2<f64>, n: usize, seed: u64) -> Array2<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let d = mean.len();
    let z = Array2::from_shape_simple_fn((n, d), || {
        let v: f64 = StandardNormal.sample(&mut rng);
        v
    });
    let x = z.dot(&chol.t());
    Array2::from_shape_fn((n, d), |(i, j)| (x[[i, j]] + mean[j]) as f32)
}

fn main() {
    let iters: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(2000);
    let hidden: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(64);
    let a = [1.0, -1.0];
    let la = array![[1.0, 0.0], [0.5, 0.8]];
    let b = [2.0, 0.5];
    let lb = array![[0.7, 0.0], [-0.3, 1.2]];
    let x = sample(&a, &la, 8192, 1);
    let y = sample(&b, &lb, 8192, 2);
    let data = TrainingData::new(x, y);
    let matching = MatchingConfig {
        epsilon: 0.5,
        scale_cost: "none".into(),
        ..Default::default()
    };
    let training = TrainConfig {
        iterations: iters,
        batch_size: 256,
        lr: 1e-3,
        seed: 0,
        ..Default::default()
    };
    let arch = Architecture {
        hidden,
        layers: 3,
        time_frequencies: 16,
        ..Default::default()
    };
    let config = make_config(&data, matching, training, arch).unwrap();
    let t0 = std::time::Instant::now();
    let (model, report) = fit(&data, config, &Device::flex(), FitOptions::default()).unwrap();
    let n = report.losses.len();
    println!(
        "fit {:.1}s, {:.2} ms/it, loss first {:.3} last-100 {:.3}",
        t0.elapsed().as_secs_f64(),
        t0.elapsed().as_secs_f64() * 1e3 / n as f64,
        report.losses[..10].iter().sum::<f32>() / 10.0,
        report.losses[n - 100..].iter().sum::<f32>() / 100.0
    );
    let ga = Gaussian::new(array![a[0], a[1]], la.dot(&la.t())).unwrap();
    let gb = Gaussian::new(array![b[0], b[1]], lb.dot(&lb.t())).unwrap();
    let ot = EntropicGaussianOt::new(ga.clone(), gb.clone(), 0.5).unwrap();
    let test = sample(&a, &la, 8, 7);
    let t0 = std::time::Instant::now();
    let out = model
        .transport(
            test.view(),
            None,
            &TransportOptions {
                samples: 2000,
                ..Default::default()
            },
        )
        .unwrap();
    println!(
        "transport {:.2}s ({} evals)",
        t0.elapsed().as_secs_f64(),
        out.evaluations
    );
    let mut pred = vec![];
    let mut truth = vec![];
    for i in 0..test.nrows() {
        pred.push(Gaussian::from_samples(out.samples.index_axis(ndarray::Axis(0), i)).unwrap());
        truth.push(
            ot.conditional(test.row(i).mapv(|v| v as f64).view())
                .unwrap(),
        );
    }
    println!("cBW-UVP {:.3} %", cbw_uvp(&pred, &truth, &gb).unwrap());
}
