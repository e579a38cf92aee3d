//! In-process GW timing for bench/gw_bench.py: reads two float32 .npy point clouds (any
//! dimensions), squared-Euclidean intra costs divided by their max (low-rank path), one
//! warm-up solve, then `REPEATS` timed solves; prints one JSON line with the median time
//! and writes the last plan to PLAN_OUT.
//!
//! `cargo run --release -p genot-ot --example bench_gw -- X.npy Y.npy EPS REPEATS PLAN_OUT`

use genot_ot::cost::SqEuclidean;
use genot_ot::prelude::*;
use ndarray::Array2;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 6 {
        eprintln!("usage: bench_gw X.npy Y.npy EPS REPEATS PLAN_OUT");
        std::process::exit(2);
    }
    let x: Array2<f32> = ndarray_npy::read_npy(&a[1]).expect("read X");
    let y: Array2<f32> = ndarray_npy::read_npy(&a[2]).expect("read Y");
    let eps: f64 = a[3].parse().expect("EPS");
    let repeats: usize = a[4].parse().expect("REPEATS");
    let solve = || {
        let t = Instant::now();
        let xx = IntraGeometry::from_points(x.clone(), Arc::new(SqEuclidean), ScaleCost::Max)
            .expect("xx");
        let yy = IntraGeometry::from_points(y.clone(), Arc::new(SqEuclidean), ScaleCost::Max)
            .expect("yy");
        let mut solver = GromovWasserstein::new(eps);
        if let Ok(t) = std::env::var("GW_THRESHOLD") {
            solver = solver.with_threshold(t.parse().expect("GW_THRESHOLD"));
        }
        if let Ok(t) = std::env::var("INNER_THRESHOLD") {
            let inner = solver
                .sinkhorn()
                .clone()
                .with_threshold(t.parse().expect("INNER_THRESHOLD"));
            solver = solver.with_sinkhorn(inner);
        }
        let out = solver
            .solve(&QuadraticProblem::new(xx, yy), GwInit::Product)
            .expect("GW");
        (t.elapsed().as_secs_f64(), out)
    };
    if repeats > 1 {
        solve();
    }
    let mut runs: Vec<_> = (0..repeats).map(|_| solve()).collect();
    runs.sort_by(|p, q| p.0.total_cmp(&q.0));
    let (t, out) = &runs[runs.len() / 2];
    ndarray_npy::write_npy(&a[5], &out.plan).expect("write plan");
    println!(
        "{{\"seconds\": {t}, \"outer_iterations\": {}, \"inner_iterations\": {}, \"converged\": {}, \"gw_cost\": {}, \"reg_gw_cost\": {}}}",
        out.outer_iterations, out.inner_iterations, out.converged, out.gw_cost, out.reg_gw_cost
    );
}
