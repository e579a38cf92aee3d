//! Quick timing of one Sinkhorn solve on the benchmark problem:
//! x ~ N(0, I_d), y ~ N(1, I_d), squared Euclidean, eps = 0.01 x mean cost.
//!
//! `cargo run --release --example sinkhorn_speed -- N MODE [f64]`
use genot_ot::prelude::*;
use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use std::sync::Arc;
use std::time::Instant;

fn run<F: Real>(n: usize, mode: Mode) {
    let d = 32;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut sample = |shift: f64| {
        Array2::from_shape_fn((n, d), |_| {
            let z: f64 = StandardNormal.sample(&mut rng);
            F::c(z + shift)
        })
    };
    let (x, y) = (sample(0.0), sample(1.0));
    let eps = Epsilon::Relative {
        factor: 0.01,
        to: RelativeTo::Mean,
    };
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    for rep in 0..reps {
        let t = Instant::now();
        let geom = if mode == Mode::Online {
            Geometry::online(
                x.clone(),
                y.clone(),
                Arc::new(SqEuclidean),
                ScaleCost::None,
                eps,
            )
        } else {
            Geometry::from_points(
                x.clone(),
                y.clone(),
                Arc::new(SqEuclidean),
                ScaleCost::None,
                eps,
            )
        }
        .unwrap();
        let t_geom = t.elapsed().as_secs_f64();
        if std::env::var("SPLIT").is_ok() {
            let t2 = Instant::now();
            let c = genot_ot::cost::cost_matrix(&SqEuclidean, x.view(), y.view());
            println!(
                "  cost_matrix alone {:.1} ms ({})",
                t2.elapsed().as_secs_f64() * 1e3,
                c[[0, 0]]
            );
        }
        let out = Sinkhorn::default()
            .with_mode(mode)
            .with_max_iterations(
                std::env::var("MAXIT")
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(100_000),
            )
            .solve(&LinearProblem::new(geom), None)
            .unwrap();
        println!(
            "rep {rep} n={n} {} {:?}->{:?}: {:.1} ms (cost matrix {:.1} ms), {} iterations, err {:.2e}, transport {:.6}",
            F::NAME, mode, out.mode,
            t.elapsed().as_secs_f64() * 1e3, t_geom * 1e3,
            out.iterations, out.marginal_error, out.transport_cost
        );
        if std::env::var("TRACE").is_ok() {
            println!("  errors {:?}", out.errors);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(1024);
    let mode: Mode = args
        .get(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(Mode::Auto);
    if args.get(3).map(|s| s == "f64").unwrap_or(false) {
        run::<f64>(n, mode)
    } else {
        run::<f32>(n, mode)
    }
}
