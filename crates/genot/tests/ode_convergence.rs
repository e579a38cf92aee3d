//! The ODE solvers against closed-form solutions: orders of convergence of the fixed-step
//! methods, tolerance of the adaptive one, batching, and failures.

use genot::ode::{adaptive_rows, integrate, OdeError, Solver, Tableau, DOPRI5, TSIT5};
use ndarray::{array, Array2};

/// dx/dt = cos(t) x, x(t) = x(0) exp(sin t): non-autonomous, per-row initial values.
fn field(t: f64, x: &Array2<f64>) -> Array2<f64> {
    x.mapv(|v| t.cos() * v)
}

fn error(solver: Solver) -> f64 {
    let x0 = array![[1.0], [-2.0], [0.5]];
    let (x, _) = integrate(field, x0.clone(), 0.0, 2.0, solver).unwrap();
    let exact = x0.mapv(|v| v * 2.0f64.sin().exp());
    x.iter()
        .zip(exact.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

#[test]
fn fixed_step_methods_converge_at_their_order() {
    for (order, make) in [
        (1, (|n| Solver::Euler { steps: n }) as fn(usize) -> Solver),
        (2, |n| Solver::Midpoint { steps: n }),
        (4, |n| Solver::Rk4 { steps: n }),
    ] {
        let (e1, e2) = (error(make(40)), error(make(80)));
        let rate = (e1 / e2).log2();
        assert!(
            (rate - order as f64).abs() < 0.25,
            "order {order}: observed rate {rate} ({e1} -> {e2})"
        );
    }
}

/// The adaptive pair named `name` at tolerance `tol`.
fn adaptive(name: &str, tol: f64) -> Solver {
    Solver::from_name(name, 0, tol, tol).unwrap()
}

#[test]
fn adaptive_solvers_meet_their_tolerance_and_adapt() {
    for name in ["dopri5", "tsit5"] {
        adaptive_case(adaptive(name, 1e-9), adaptive(name, 1e-3));
    }
}

fn adaptive_case(tight: Solver, loose: Solver) {
    assert!(error(tight) < 1e-7, "{tight:?}: {}", error(tight));
    assert!(error(loose) < 1e-2, "{loose:?}: {}", error(loose));
    let x0 = array![[1.0]];
    let (_, s_tight) = integrate(field, x0.clone(), 0.0, 2.0, tight).unwrap();
    let (_, s_loose) = integrate(field, x0, 0.0, 2.0, loose).unwrap();
    assert!(
        s_tight.steps > 2 * s_loose.steps,
        "{s_tight:?} vs {s_loose:?}"
    );
    // First same as last: 6 evaluations per step plus the start-up ones.
    assert!(s_tight.evaluations <= 6 * (s_tight.steps + s_tight.rejected) + 3);
}

#[test]
fn batched_rows_are_independent_and_accurate() {
    // Harmonic oscillator in each row: a full period brings every state back.
    let x0 = array![[1.0, 0.0], [0.0, 2.0], [-3.0, 1.0]];
    let rot = |_: f64, x: &Array2<f64>| {
        Array2::from_shape_fn(
            x.dim(),
            |(i, j)| if j == 0 { x[[i, 1]] } else { -x[[i, 0]] },
        )
    };
    for solver in [
        Solver::Rk4 { steps: 200 },
        adaptive("dopri5", 1e-8),
        adaptive("tsit5", 1e-8),
    ] {
        let (x, _) = integrate(rot, x0.clone(), 0.0, 2.0 * std::f64::consts::PI, solver).unwrap();
        let worst = x
            .iter()
            .zip(x0.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-5, "{solver:?}: {worst}");
    }
    // The flow-matching straight path: a constant velocity is integrated exactly.
    let (x, _) = integrate(
        |_, x: &Array2<f32>| x.mapv(|_| 1.5f32),
        array![[0.0f32, 1.0]],
        0.0,
        1.0,
        Solver::Euler { steps: 3 },
    )
    .unwrap();
    assert_eq!(x, array![[1.5f32, 2.5]]);
    // Backwards in time undoes forwards.
    let x0 = array![[0.7]];
    let (x1, _) = integrate(
        field,
        x0.clone(),
        0.0,
        1.0,
        Solver::Dopri5 {
            rtol: 1e-10,
            atol: 1e-10,
        },
    )
    .unwrap();
    let (back, _) = integrate(
        field,
        x1,
        1.0,
        0.0,
        Solver::Dopri5 {
            rtol: 1e-10,
            atol: 1e-10,
        },
    )
    .unwrap();
    assert!((back[[0, 0]] - 0.7).abs() < 1e-8);
}

#[test]
fn failures_are_reported() {
    // dx/dt = x^2 from 1 blows up at t = 1.
    let blow = |_: f64, x: &Array2<f64>| x.mapv(|v| v * v);
    let e = integrate(
        blow,
        array![[1.0]],
        0.0,
        2.0,
        Solver::Dopri5 {
            rtol: 1e-6,
            atol: 1e-6,
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            OdeError::StepUnderflow { .. }
                | OdeError::TooManySteps { .. }
                | OdeError::NonFinite { .. }
        ),
        "{e:?}"
    );
    let e = integrate(blow, array![[1.0]], 0.0, 2.0, Solver::Euler { steps: 4000 }).unwrap_err();
    assert!(matches!(e, OdeError::NonFinite { row: 0, .. }), "{e:?}");
    assert!(integrate(blow, array![[1.0]], 0.0, 1.0, Solver::Rk4 { steps: 0 }).is_err());
    assert!(integrate(
        blow,
        array![[1.0]],
        0.0,
        1.0,
        Solver::Dopri5 {
            rtol: 0.0,
            atol: 1e-6
        }
    )
    .is_err());
}

/// Per-row adaptive solves: each row follows its own clock (dx/dt = cos(w_i t),
/// x = sin(w_i t) / w_i), meets the tolerance, and smooth rows are not dragged along by the
/// fast one. Both pairs.
#[test]
fn per_row_adaptive_meets_tolerance_with_row_times() {
    for tableau in [&DOPRI5, &TSIT5] {
        per_row_case(tableau);
    }
}

fn per_row_case(tableau: &Tableau) {
    let w = [0.5f64, 1.0, 3.0, 40.0];
    let x0 = ndarray::Array2::<f64>::zeros((4, 1));
    let mut calls_per_row = [0usize; 4];
    let (x, stats) = adaptive_rows(
        tableau,
        |rows, t, _x| {
            ndarray::Array2::from_shape_fn((rows.len(), 1), |(r, _)| {
                calls_per_row[rows[r]] += 1;
                (w[rows[r]] * t[r]).cos()
            })
        },
        x0,
        0.0,
        1.0,
        1e-6,
        1e-9,
    )
    .unwrap();
    for (i, &wi) in w.iter().enumerate() {
        let exact = wi.sin() / wi;
        assert!(
            (x[[i, 0]] - exact).abs() < 1e-5,
            "{}, row {i}: {} vs {exact}",
            tableau.name,
            x[[i, 0]]
        );
    }
    assert!(stats.steps > 0 && stats.evaluations > 0);
    // The slow rows needed far fewer evaluations than the fast one.
    assert!(
        calls_per_row[0] * 3 < calls_per_row[3],
        "{}: {calls_per_row:?}",
        tableau.name
    );
}
