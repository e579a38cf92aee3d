//! Sinkhorn plans and costs against POT fixtures (tests/fixtures/make_fixtures.py), for
//! every cost, balanced and unbalanced, in log and kernel modes, f64 and f32.

use genot_ot::cost::parse_cost;
use genot_ot::prelude::*;
use ndarray::{Array1, Array2};
use serde_json::Value;

fn arr2(v: &Value) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).unwrap();
    let (n, d) = (rows.len(), rows[0].len());
    Array2::from_shape_vec((n, d), rows.into_iter().flatten().collect()).unwrap()
}

fn arr1(v: &Value) -> Array1<f64> {
    Array1::from(serde_json::from_value::<Vec<f64>>(v.clone()).unwrap())
}

fn cases() -> Vec<Value> {
    let text = include_str!("fixtures/pot_sinkhorn.json");
    let v: Value = serde_json::from_str(text).unwrap();
    v["cases"].as_array().unwrap().clone()
}

fn problem<F: Real>(case: &Value) -> LinearProblem<F> {
    let cast = |a: Array2<f64>| a.mapv(|v| F::c(v));
    let geom = Geometry::from_points(
        cast(arr2(&case["x"])),
        cast(arr2(&case["y"])),
        parse_cost::<F>(case["cost"].as_str().unwrap()).unwrap(),
        ScaleCost::Mean,
        Epsilon::Absolute(case["epsilon"].as_f64().unwrap()),
    )
    .unwrap();
    LinearProblem::new(geom)
        .with_weights(arr1(&case["a"]).mapv(F::c), arr1(&case["b"]).mapv(F::c))
        .unwrap()
        .with_tau(
            case["tau_a"].as_f64().unwrap(),
            case["tau_b"].as_f64().unwrap(),
        )
        .unwrap()
}

fn check<F: Real>(mode: Mode, tol_plan: f64, tol_cost: f64, threshold: f64) {
    for case in cases() {
        let label = format!(
            "{} tau=({}, {}) {mode:?} {}",
            case["cost"],
            case["tau_a"],
            case["tau_b"],
            F::NAME
        );
        let prob = problem::<F>(&case);
        let out = Sinkhorn::default()
            .with_mode(mode)
            .with_threshold(threshold)
            .with_max_iterations(100_000)
            .with_check_every(1)
            .with_plan(true)
            .solve(&prob, None)
            .unwrap();
        assert!(out.converged, "{label}: not converged");
        let plan = out.plan.unwrap();
        let want = arr2(&case["plan"]);
        let worst = plan
            .iter()
            .zip(want.iter())
            .map(|(p, q)| (p.f64() - q).abs())
            .fold(0.0, f64::max);
        assert!(worst < tol_plan, "{label}: plan differs by {worst}");
        let tc = case["transport_cost"].as_f64().unwrap();
        let rc = case["reg_ot_cost"].as_f64().unwrap();
        assert!(
            (out.transport_cost - tc).abs() < tol_cost * tc.abs(),
            "{label}: transport {} vs {tc}",
            out.transport_cost
        );
        assert!(
            (out.reg_ot_cost - rc).abs() < tol_cost * rc.abs().max(1e-2),
            "{label}: reg {} vs {rc}",
            out.reg_ot_cost
        );
    }
}

#[test]
fn log_mode_f64_matches_pot() {
    check::<f64>(Mode::Log, 1e-9, 1e-7, 1e-12);
}

#[test]
fn kernel_mode_f64_matches_pot() {
    check::<f64>(Mode::Kernel, 1e-9, 1e-7, 1e-12);
}

#[test]
fn online_mode_f64_matches_pot() {
    for case in cases() {
        let prob = problem::<f64>(&case);
        // Same problem through an online geometry.
        let geom = Geometry::online(
            arr2(&case["x"]),
            arr2(&case["y"]),
            parse_cost::<f64>(case["cost"].as_str().unwrap()).unwrap(),
            ScaleCost::Mean,
            Epsilon::Absolute(case["epsilon"].as_f64().unwrap()),
        )
        .unwrap();
        let online = LinearProblem { geom, ..prob };
        let out = Sinkhorn::default()
            .with_threshold(1e-12)
            .with_max_iterations(100_000)
            .with_plan(true)
            .solve(&online, None)
            .unwrap();
        assert_eq!(out.mode, Mode::Online);
        let worst = out
            .plan
            .unwrap()
            .iter()
            .zip(arr2(&case["plan"]).iter())
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f64::max);
        assert!(
            worst < 1e-9,
            "{}: online plan differs by {worst}",
            case["cost"]
        );
    }
}

#[test]
fn f32_modes_match_pot() {
    check::<f32>(Mode::Log, 2e-6, 1e-4, 1e-6);
    check::<f32>(Mode::Kernel, 2e-6, 1e-4, 1e-6);
}
