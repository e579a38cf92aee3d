//! `Mode::Auto` falls back to log mode when the kernel iteration over- or underflows the
//! float type, and says so: the output names the mode that produced the result and the
//! reason for the fallback.

use genot_ot::cost::SqEuclidean;
use genot_ot::prelude::*;
use ndarray::{Array1, Array2};
use std::sync::Arc;

/// The points of the CLI tests (crates/genot-cli/tests/cli_solve.rs), phase-shifted.
fn problem(shift: f32, eps: f64) -> LinearProblem<f32> {
    let x = Array2::from_shape_fn((40, 3), |(i, j)| ((i * 3 + j) as f32 * 0.37 + shift).sin());
    let y = Array2::from_shape_fn((30, 3), |(i, j)| {
        ((i * 5 + j) as f32 * 0.21 + shift).cos() + 0.5
    });
    let geom = Geometry::from_points(
        x,
        y,
        Arc::new(SqEuclidean),
        ScaleCost::Mean,
        Epsilon::Absolute(eps),
    )
    .unwrap();
    LinearProblem::new(geom)
}

fn largest(plan: &Array2<f32>) -> f32 {
    plan.iter().fold(0.0f32, |m, v| m.max(*v))
}

/// A warm start whose kernel overflows f32 (exponents near 4000): auto mode must not
/// return the clamped kernel's plan but continue in log mode, which converges.
#[test]
fn auto_falls_back_to_log_mode_when_the_kernel_overflows() {
    let prob = problem(0.0, 0.05);
    let (f0, g0) = (
        Array1::from_elem(40, 100.0f32),
        Array1::from_elem(30, 100.0f32),
    );
    let solve = |mode| {
        Sinkhorn::default()
            .with_mode(mode)
            .with_plan(true)
            .solve(&prob, Some((f0.view(), g0.view())))
    };
    let out = solve(Mode::Auto).unwrap();
    assert_eq!(out.mode, Mode::Log);
    let why = out.fallback.as_deref().expect("the fallback is reported");
    assert!(why.contains("overflows float32"), "{why}");
    assert!(out.converged && out.marginal_error < 1e-3);
    let plan = out.plan.unwrap();
    assert!(plan.iter().all(|v| v.is_finite()));
    assert!(largest(&plan) <= 1.0 / 30.0 + 1e-6, "{}", largest(&plan));
    assert!((out.mass - 1.0).abs() < 1e-3);
    // The same solve in log mode from the start: the same answer.
    let log = solve(Mode::Log).unwrap();
    assert!(log.fallback.is_none());
    assert!((log.transport_cost - out.transport_cost).abs() < 1e-3 * log.transport_cost);
    // Kernel mode alone has nowhere to go: an error that names the overflow.
    let err = solve(Mode::Kernel).unwrap_err().to_string();
    assert!(err.contains("overflows float32"), "{err}");
}

/// `genot solve --epsilon 1e-10` on these points: the first kernel build overflows (its
/// entries used to be clamped to 3.4e38 and the plan reported as kernel mode's).
#[test]
fn a_tiny_epsilon_is_solved_in_log_mode_and_says_why() {
    let out = Sinkhorn::default()
        .with_plan(true)
        .solve(&problem(0.8, 1e-10), None)
        .unwrap();
    assert_eq!(out.mode, Mode::Log);
    let why = out.fallback.as_deref().expect("the fallback is reported");
    assert!(why.contains("kernel entry overflows float32"), "{why}");
    let plan = out.plan.unwrap();
    assert!(plan.iter().all(|v| v.is_finite()) && largest(&plan) <= 1.0);
    // A problem kernel mode handles: no fallback.
    let fine = Sinkhorn::default()
        .solve(&problem(0.8, 0.05), None)
        .unwrap();
    assert_eq!(fine.mode, Mode::Kernel);
    assert!(fine.fallback.is_none() && fine.converged);
}
