//! The same input gives the same bits whatever the number of threads: every parallel
//! reduction combines partial results over blocks of a fixed length, in block order.
//! Each solve runs inside its own rayon pool of 1, 2 and 4 threads.

use genot_ot::cost::SqEuclidean;
use genot_ot::prelude::*;
use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use std::sync::Arc;

fn cloud(n: usize, d: usize, shift: f32, seed: u64) -> Array2<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |_| {
        let z: f32 = StandardNormal.sample(&mut rng);
        z + shift
    })
}

/// Runs `f` in a pool of `threads` threads.
fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

fn bits(v: impl IntoIterator<Item = f32>) -> Vec<u32> {
    v.into_iter().map(f32::to_bits).collect()
}

/// Everything a Sinkhorn solve returns, as bits.
fn sinkhorn_bits(mode: Mode, tau: f64) -> (Vec<u32>, Vec<u64>, usize) {
    // Not multiples of the block length, and enough rows for many blocks.
    let (x, y) = (cloud(203, 5, 0.0, 1), cloud(157, 5, 0.7, 2));
    let geom = Geometry::from_points(
        x,
        y,
        Arc::new(SqEuclidean),
        ScaleCost::Mean,
        Epsilon::Absolute(0.05),
    )
    .unwrap();
    let prob = LinearProblem::new(geom).with_tau(tau, tau).unwrap();
    let out = Sinkhorn::default()
        .with_mode(mode)
        .with_threshold(1e-5)
        .with_plan(true)
        .solve(&prob, None)
        .unwrap();
    assert!(out.converged, "{mode:?} tau {tau}");
    let arrays = bits(
        out.f
            .iter()
            .chain(&out.g)
            .chain(&out.row_marginal)
            .chain(&out.col_marginal)
            .chain(out.plan.as_ref().unwrap())
            .copied(),
    );
    let scalars = [
        out.reg_ot_cost,
        out.transport_cost,
        out.mass,
        out.marginal_error,
    ]
    .iter()
    .map(|v| v.to_bits())
    .collect();
    (arrays, scalars, out.iterations)
}

#[test]
fn sinkhorn_is_bit_identical_for_1_2_and_4_threads() {
    for mode in [Mode::Kernel, Mode::Log] {
        for tau in [1.0, 0.8] {
            let one = in_pool(1, || sinkhorn_bits(mode, tau));
            for threads in [2, 4] {
                let other = in_pool(threads, || sinkhorn_bits(mode, tau));
                assert_eq!(
                    one.2, other.2,
                    "{mode:?} tau {tau}: iterations, {threads} threads"
                );
                assert!(
                    one.1 == other.1,
                    "{mode:?} tau {tau}: costs differ with {threads} threads"
                );
                let diff = one.0.iter().zip(&other.0).filter(|(a, b)| a != b).count();
                assert_eq!(
                    diff, 0,
                    "{mode:?} tau {tau}: {diff} values differ between 1 and {threads} threads"
                );
            }
        }
    }
}

fn gw_bits() -> (Vec<u32>, Vec<u64>) {
    let (x, y) = (cloud(150, 2, 0.0, 3), cloud(131, 3, 0.0, 4));
    let prob = QuadraticProblem::new(
        IntraGeometry::from_points(x, Arc::new(SqEuclidean), ScaleCost::Max).unwrap(),
        IntraGeometry::from_points(y, Arc::new(SqEuclidean), ScaleCost::Max).unwrap(),
    );
    let out = GromovWasserstein::new(0.01)
        .solve(&prob, GwInit::Product)
        .unwrap();
    let arrays = bits(out.plan.iter().chain(&out.f).chain(&out.g).copied());
    let scalars = [out.gw_cost, out.reg_gw_cost]
        .iter()
        .chain(&out.costs)
        .map(|v| v.to_bits())
        .collect();
    (arrays, scalars)
}

#[test]
fn gromov_wasserstein_is_bit_identical_for_1_2_and_4_threads() {
    let one = in_pool(1, gw_bits);
    for threads in [2, 4] {
        let other = in_pool(threads, gw_bits);
        assert!(one.1 == other.1, "GW costs differ with {threads} threads");
        let diff = one.0.iter().zip(&other.0).filter(|(a, b)| a != b).count();
        assert_eq!(
            diff, 0,
            "GW: {diff} values differ between 1 and {threads} threads"
        );
    }
}
