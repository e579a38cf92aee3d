//! Properties of the Sinkhorn solver: marginals, agreement between modes, f32 at small
//! epsilon, unbalanced -> balanced, reported non-convergence, warm starts, cost sources.

use genot_ot::cost::FnCost;
use genot_ot::prelude::*;
use ndarray::{Array1, Array2, Axis};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use std::sync::Arc;

fn cloud<F: Real>(n: usize, d: usize, shift: f64, seed: u64) -> Array2<F> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |(_, k)| {
        let z: f64 = StandardNormal.sample(&mut rng);
        F::c(z + shift * (k as f64 + 1.0) / d as f64)
    })
}

fn geom<F: Real>(n: usize, m: usize, eps: Epsilon) -> Geometry<F> {
    Geometry::from_points(
        cloud(n, 5, 0.0, 1),
        cloud(m, 5, 1.0, 2),
        Arc::new(SqEuclidean),
        ScaleCost::Mean,
        eps,
    )
    .unwrap()
}

fn max_abs_diff<F: Real>(p: &Array2<F>, q: &Array2<F>) -> f64 {
    p.iter()
        .zip(q.iter())
        .map(|(a, b)| (a.f64() - b.f64()).abs())
        .fold(0.0, f64::max)
}

#[test]
fn balanced_marginals_hold() {
    let prob = LinearProblem::new(geom::<f64>(200, 150, Epsilon::Absolute(0.05)));
    for mode in [Mode::Log, Mode::Kernel] {
        let out = Sinkhorn::default()
            .with_mode(mode)
            .with_threshold(1e-8)
            .with_plan(true)
            .solve(&prob, None)
            .unwrap();
        assert!(out.converged, "{mode:?}");
        let p = out.plan.unwrap();
        let rows = p.sum_axis(Axis(1));
        let cols = p.sum_axis(Axis(0));
        let row_err: f64 = (&rows - &prob.a).iter().map(|v| v.abs()).sum();
        let col_err: f64 = (&cols - &prob.b).iter().map(|v| v.abs()).sum();
        assert!(
            row_err < 1e-8 && col_err < 1e-8,
            "{mode:?}: {row_err} {col_err}"
        );
        assert!((out.mass - 1.0).abs() < 1e-8);
        assert!(out.marginal_error < 1e-8);
    }
}

/// 300 x 280 points in float32, epsilon 0.02 x the mean (scaled) cost.
fn f32_problem() -> LinearProblem<f32> {
    LinearProblem::new(geom::<f32>(
        300,
        280,
        Epsilon::Relative {
            factor: 0.02,
            to: RelativeTo::Mean,
        },
    ))
}

/// Kernel mode writes a stored plan over its kernel: the statistics are those of the solve
/// that stores none, and the plan is `exp((f_i + g_j - C_ij) / eps)` of the returned
/// potentials.
#[test]
fn a_kernel_mode_plan_written_over_the_kernel_is_the_plan_of_the_potentials() {
    let prob = f32_problem();
    let solve = |plan| {
        Sinkhorn::default()
            .with_mode(Mode::Kernel)
            .with_threshold(1e-5)
            .with_plan(plan)
            .solve(&prob, None)
            .unwrap()
    };
    let (stored, not) = (solve(true), solve(false));
    assert_eq!(stored.mode, Mode::Kernel);
    assert!(not.plan.is_none());
    for (what, a, b) in [
        ("transport cost", stored.transport_cost, not.transport_cost),
        ("regularised cost", stored.reg_ot_cost, not.reg_ot_cost),
        ("marginal error", stored.marginal_error, not.marginal_error),
        ("mass", stored.mass, not.mass),
    ] {
        assert_eq!(a, b, "{what}");
    }
    let (p, c) = (stored.plan.unwrap(), prob.geom.dense().unwrap());
    let eps = prob.geom.epsilon();
    let top = p.iter().fold(0.0f32, |m, &v| m.max(v)) as f64;
    // Relative to each entry down to 1e-6 of the largest (float32 exponents of up to ~30
    // in magnitude), relative to the largest below.
    let mut worst = 0.0f64;
    for ((i, j), &pij) in p.indexed_iter() {
        let want = ((stored.f[i].f64() + stored.g[j].f64() - c[[i, j]].f64()) / eps).exp();
        worst = worst.max((pij.f64() - want).abs() / want.max(1e-6 * top));
    }
    assert!(worst < 1e-4, "worst relative difference {worst}");
}

#[test]
fn log_and_kernel_modes_agree_in_f32() {
    let prob = f32_problem();
    let solve = |mode| {
        Sinkhorn::default()
            .with_mode(mode)
            .with_threshold(1e-5)
            .with_plan(true)
            .solve(&prob, None)
            .unwrap()
    };
    let (l, k) = (solve(Mode::Log), solve(Mode::Kernel));
    assert!(l.converged && k.converged);
    assert_eq!((l.mode, k.mode), (Mode::Log, Mode::Kernel));
    let (pl, pk) = (l.plan.unwrap(), k.plan.unwrap());
    let scale = pl.iter().fold(0.0f32, |m, v| m.max(*v)) as f64;
    assert!(
        max_abs_diff(&pl, &pk) < 1e-3 * scale,
        "plans differ by {}",
        max_abs_diff(&pl, &pk)
    );
    assert!((l.transport_cost - k.transport_cost).abs() < 1e-4 * l.transport_cost);
    assert!((l.reg_ot_cost - k.reg_ot_cost).abs() < 1e-4 * l.reg_ot_cost.abs());
}

#[test]
fn f32_log_mode_is_finite_and_accurate_at_tiny_epsilon() {
    // eps = 1e-4 x mean cost: exp(-C/eps) underflows for almost every entry in f32.
    let eps = Epsilon::Relative {
        factor: 1e-4,
        to: RelativeTo::Mean,
    };
    let (n, m) = (120, 100);
    let p32 = LinearProblem::new(geom::<f32>(n, m, eps));
    let p64 = LinearProblem::new(geom::<f64>(n, m, eps));
    let solver = Sinkhorn::default()
        .with_max_iterations(50_000)
        .with_threshold(1e-3);
    let o32 = solver
        .clone()
        .with_mode(Mode::Log)
        .solve(&p32, None)
        .unwrap();
    let o64 = solver
        .clone()
        .with_mode(Mode::Log)
        .solve(&p64, None)
        .unwrap();
    assert!(
        o32.converged,
        "f32 did not converge: {:?}",
        o32.errors.last()
    );
    assert!(o32.f.iter().chain(o32.g.iter()).all(|v| v.is_finite()));
    assert!(o32.transport_cost.is_finite() && o32.reg_ot_cost.is_finite());
    let rel = (o32.transport_cost - o64.transport_cost).abs() / o64.transport_cost;
    assert!(
        rel < 1e-3,
        "f32 {} vs f64 {}",
        o32.transport_cost,
        o64.transport_cost
    );
    // Auto mode copes too (falling back to log mode if the kernel breaks down).
    let auto = solver.solve(&p32, None).unwrap();
    assert!(auto.converged && auto.transport_cost.is_finite());
    assert!((auto.transport_cost - o64.transport_cost).abs() / o64.transport_cost < 1e-3);
}

#[test]
fn unbalanced_tends_to_balanced() {
    let g = geom::<f64>(80, 60, Epsilon::Absolute(0.05));
    let solve = |tau: f64| {
        let prob = LinearProblem::new(g.clone()).with_tau(tau, tau).unwrap();
        Sinkhorn::default()
            .with_threshold(1e-9)
            .with_max_iterations(100_000)
            .with_plan(true)
            .solve(&prob, None)
            .unwrap()
    };
    let balanced = solve(1.0).plan.unwrap();
    let mut last = f64::INFINITY;
    for tau in [0.99, 0.999, 0.9999] {
        let out = solve(tau);
        assert!(out.converged, "tau {tau}");
        let d = max_abs_diff(&out.plan.unwrap(), &balanced);
        // The deviation is O(eps / rho) = O(1 - tau): a tenfold step of 1 - tau shrinks it
        // by about ten.
        assert!(d < last / 5.0, "tau {tau}: distance {d} vs {last} before");
        last = d;
    }
    let peak = balanced.iter().fold(0.0f64, |m, v| m.max(*v));
    assert!(last < 1e-2 * peak, "{last} vs plan peak {peak}");
    // Strongly unbalanced: mass is destroyed.
    let out = solve(0.5);
    assert!(out.mass < 0.999, "mass {}", out.mass);
}

#[test]
fn non_convergence_is_reported() {
    let prob = LinearProblem::new(geom::<f32>(
        100,
        100,
        Epsilon::Relative {
            factor: 1e-3,
            to: RelativeTo::Mean,
        },
    ));
    let out = Sinkhorn::default()
        .with_max_iterations(3)
        .solve(&prob, None)
        .unwrap();
    assert!(!out.converged);
    assert_eq!(out.iterations, 3);
    assert!(out.marginal_error > 1e-3, "{}", out.marginal_error);
}

#[test]
fn warm_start_from_a_solution_converges_at_once() {
    let prob = LinearProblem::new(geom::<f64>(150, 120, Epsilon::Absolute(0.02)));
    let s = Sinkhorn::default().with_threshold(1e-6);
    let cold = s.solve(&prob, None).unwrap();
    let warm = s
        .solve(&prob, Some((cold.f.view(), cold.g.view())))
        .unwrap();
    assert!(cold.iterations > 10);
    assert!(
        warm.converged && warm.iterations <= 2,
        "{} iterations",
        warm.iterations
    );
    let bad = s.solve(&prob, Some((cold.g.view(), cold.g.view())));
    assert!(matches!(bad, Err(OtError::DimensionMismatch { .. })));
}

#[test]
fn cost_sources_agree() {
    let (x, y) = (cloud::<f64>(90, 4, 0.0, 3), cloud::<f64>(70, 4, 2.0, 4));
    let eps = Epsilon::Absolute(0.05);
    let builtin = Geometry::from_points(
        x.clone(),
        y.clone(),
        Arc::new(SqEuclidean),
        ScaleCost::Max,
        eps,
    )
    .unwrap();
    let closure = FnCost::new("sq", |a: &[f64], b: &[f64]| {
        a.iter().zip(b).map(|(u, v)| (u - v) * (u - v)).sum()
    });
    let user = Geometry::from_points(x.clone(), y.clone(), Arc::new(closure), ScaleCost::Max, eps)
        .unwrap();
    let raw = genot_ot::cost::cost_matrix(&SqEuclidean, x.view(), y.view());
    let matrix = Geometry::from_matrix(raw, ScaleCost::Max, eps).unwrap();
    let online = Geometry::online(x, y, Arc::new(SqEuclidean), ScaleCost::Max, eps).unwrap();
    let s = Sinkhorn::default().with_threshold(1e-9).with_plan(true);
    let plans: Vec<Array2<f64>> = [builtin, user, matrix, online]
        .into_iter()
        .map(|g| s.solve(&LinearProblem::new(g), None).unwrap().plan.unwrap())
        .collect();
    for p in &plans[1..] {
        assert!(max_abs_diff(&plans[0], p) < 1e-10);
    }
}

#[test]
fn online_matches_dense_across_blocks_in_f32() {
    // Several row blocks per thread, columns not a multiple of the vector width.
    let (x, y) = (cloud::<f32>(700, 8, 0.0, 5), cloud::<f32>(613, 8, 1.0, 6));
    let eps = Epsilon::Relative {
        factor: 0.01,
        to: RelativeTo::Mean,
    };
    let dense = Geometry::from_points(
        x.clone(),
        y.clone(),
        Arc::new(SqEuclidean),
        ScaleCost::Mean,
        eps,
    )
    .unwrap();
    let online = Geometry::online(x, y, Arc::new(SqEuclidean), ScaleCost::Mean, eps).unwrap();
    let s = Sinkhorn::default().with_mode(Mode::Log);
    let (d, o) = (
        s.solve(&LinearProblem::new(dense), None).unwrap(),
        s.solve(&LinearProblem::new(online), None).unwrap(),
    );
    assert_eq!(d.iterations, o.iterations);
    assert!((d.transport_cost - o.transport_cost).abs() < 1e-5 * d.transport_cost);
    let fd: Array1<f32> = d.f;
    assert!(fd.iter().zip(o.f.iter()).all(|(a, b)| (a - b).abs() < 1e-3));
}

#[test]
fn invalid_parameters_are_named() {
    let g = geom::<f64>(10, 10, Epsilon::Absolute(0.1));
    let e = LinearProblem::new(g.clone())
        .with_tau(0.0, 1.0)
        .unwrap_err();
    assert!(e.to_string().contains("tau_a must be in (0, 1]"), "{e}");
    let e = LinearProblem::new(g.clone())
        .with_tau(1.0, 1.5)
        .unwrap_err();
    assert!(e.to_string().contains("tau_b"), "{e}");
    let e = LinearProblem::new(g.clone())
        .with_weights(Array1::from_elem(10, 0.1), Array1::from_elem(9, 0.1))
        .unwrap_err();
    assert!(e.to_string().contains("9 entries"), "{e}");
    let mut w = Array1::from_elem(10, 0.1);
    w[3] = -0.1;
    let e = LinearProblem::new(g.clone())
        .with_weights(w, Array1::from_elem(10, 0.1))
        .unwrap_err();
    assert!(e.to_string().contains("source weights[3]"), "{e}");
    let e = Sinkhorn::default()
        .with_mode(Mode::Kernel)
        .solve(
            &LinearProblem::new(
                Geometry::online(
                    cloud::<f64>(5, 2, 0.0, 1),
                    cloud::<f64>(5, 2, 0.0, 2),
                    Arc::new(SqEuclidean),
                    ScaleCost::Mean,
                    Epsilon::Absolute(0.1),
                )
                .unwrap(),
            ),
            None,
        )
        .unwrap_err();
    assert!(matches!(e, OtError::Unsupported(_)));
}
