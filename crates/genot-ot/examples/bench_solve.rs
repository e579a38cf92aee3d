//! In-process Sinkhorn timing for bench/sinkhorn_bench.py: reads two float32 .npy point
//! clouds, runs one warm-up solve (as the OTT-JAX side gets a warm-up call after jit), then
//! `REPEATS` timed solves, and prints one JSON line with the median time. Each timed solve
//! includes the cost matrix and the plan statistics, as `genot solve` reports them.
//!
//! `cargo run --release -p genot-ot --example bench_solve -- X.npy Y.npy EPS_REL THRESHOLD NORM REPEATS [MODE]`

use genot_ot::prelude::*;
use ndarray::Array2;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 7 {
        eprintln!("usage: bench_solve X.npy Y.npy EPS_REL THRESHOLD l1|l2 REPEATS [MODE]");
        std::process::exit(2);
    }
    let x: Array2<f32> = ndarray_npy::read_npy(&a[1]).expect("read X");
    let y: Array2<f32> = ndarray_npy::read_npy(&a[2]).expect("read Y");
    let eps: f64 = a[3].parse().expect("EPS_REL");
    let threshold: f64 = a[4].parse().expect("THRESHOLD");
    let norm = if a[5] == "l2" {
        ErrorNorm::L2
    } else {
        ErrorNorm::L1
    };
    let repeats: usize = a[6].parse().expect("REPEATS");
    let mode: Mode = a
        .get(7)
        .map(|s| s.parse().expect("MODE"))
        .unwrap_or_default();
    let solve = || {
        let t = Instant::now();
        let g = Geometry::from_points(
            x.clone(),
            y.clone(),
            Arc::new(SqEuclidean),
            ScaleCost::None,
            Epsilon::Relative {
                factor: eps,
                to: RelativeTo::Mean,
            },
        )
        .expect("geometry");
        let out = Sinkhorn::default()
            .with_threshold(threshold)
            .with_norm(norm)
            .with_mode(mode)
            .with_momentum(match std::env::var("MOMENTUM").ok().as_deref() {
                None | Some("adaptive") => Momentum::Adaptive,
                Some("none") => Momentum::None,
                Some(w) => Momentum::Fixed(w.parse().expect("momentum weight")),
            })
            .with_max_iterations(10_000)
            .solve(&LinearProblem::new(g), None)
            .expect("solve");
        (t.elapsed().as_secs_f64(), out)
    };
    solve();
    let mut runs: Vec<(f64, SinkhornOutput<f32>)> = (0..repeats).map(|_| solve()).collect();
    runs.sort_by(|p, q| p.0.total_cmp(&q.0));
    let (t, out) = &runs[runs.len() / 2];
    if std::env::var("TRACE").is_ok() {
        let e: Vec<String> = out.errors.iter().map(|v| format!("{v:.2e}")).collect();
        eprintln!("errors: {}", e.join(" "));
    }
    println!(
        "{{\"seconds\": {t}, \"iterations\": {}, \"converged\": {}, \"transport_cost\": {}, \"marginal_error\": {}, \"mode\": \"{:?}\"}}",
        out.iterations, out.converged, out.transport_cost, out.marginal_error, out.mode
    );
}
