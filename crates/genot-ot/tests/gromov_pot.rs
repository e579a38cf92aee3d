//! Entropic GW and fused GW against POT (fixtures by tests/fixtures/make_fixtures.py), on
//! the low-rank path (squared Euclidean on points) and on dense matrices.
//!
//! The objective is stationary at the fixed point, so stopping on a relative change of
//! `tol` in it pins the plan to about `sqrt(tol)`: 1e-13 -> ~3e-7 in f64. Plan entries are
//! about 1/72 and a different fixed point would differ by O(1e-2).

use genot_ot::choice::CostChoice;
use genot_ot::cost::{cost_matrix, SqEuclidean};
use genot_ot::prelude::*;
use ndarray::Array2;
use serde_json::Value;
use std::sync::Arc;

fn arr2(v: &Value) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).unwrap();
    let (n, d) = (rows.len(), rows[0].len());
    Array2::from_shape_vec((n, d), rows.into_iter().flatten().collect()).unwrap()
}

fn cases() -> Vec<Value> {
    let v: Value = serde_json::from_str(include_str!("fixtures/pot_gromov.json")).unwrap();
    v["cases"].as_array().unwrap().clone()
}

fn intra<F: Real>(x: &Array2<f64>, low_rank: bool) -> IntraGeometry<F> {
    let x = x.mapv(F::c);
    if low_rank {
        IntraGeometry::from_points(x, Arc::new(SqEuclidean), ScaleCost::Max).unwrap()
    } else {
        let c = cost_matrix(&SqEuclidean, x.view(), x.view());
        IntraGeometry::from_matrix(c, ScaleCost::Max).unwrap()
    }
}

fn check<F: Real>(low_rank: bool, tol_plan: f64, tol_cost: f64) {
    for case in cases() {
        let label = format!(
            "{} eps {} low_rank {low_rank} {}",
            case["kind"],
            case["epsilon"],
            F::NAME
        );
        let mut prob = QuadraticProblem::new(
            intra::<F>(&arr2(&case["x"]), low_rank),
            intra::<F>(&arr2(&case["y"]), low_rank),
        );
        if case["kind"] == "fgw" {
            prob = prob
                .with_fused_points(
                    arr2(&case["xs"]).mapv(F::c),
                    arr2(&case["ys"]).mapv(F::c),
                    &CostChoice::Points(Arc::new(SqEuclidean)),
                    ScaleCost::Max,
                    case["fused_penalty"].as_f64().unwrap(),
                )
                .unwrap();
        }
        let solver = GromovWasserstein::new(case["epsilon"].as_f64().unwrap())
            .with_threshold(if F::NAME == "float64" { 1e-13 } else { 1e-7 })
            .with_max_iterations(5000)
            .with_sinkhorn(
                Sinkhorn::default()
                    .with_threshold(if F::NAME == "float64" { 1e-12 } else { 1e-6 })
                    .with_max_iterations(100_000),
            );
        let out = solver.solve(&prob, GwInit::Product).unwrap();
        assert!(
            out.converged && out.inner_converged,
            "{label}: not converged"
        );
        let want = arr2(&case["plan"]);
        let worst = out
            .plan
            .iter()
            .zip(want.iter())
            .map(|(p, q)| (p.f64() - q).abs())
            .fold(0.0, f64::max);
        assert!(worst < tol_plan, "{label}: plan differs by {worst}");
        let gw = case["gw_cost"].as_f64().unwrap();
        assert!(
            (out.gw_cost - gw).abs() < tol_cost * gw,
            "{label}: GW {} vs POT {gw}",
            out.gw_cost
        );
        if let Some(lin) = case["linear_cost"].as_f64() {
            let got = out.linear_cost.unwrap();
            assert!(
                (got - lin).abs() < tol_cost * lin,
                "{label}: <M, T> {got} vs {lin}"
            );
        }
    }
}

#[test]
fn gw_and_fused_gw_match_pot_low_rank_f64() {
    check::<f64>(true, 1e-6, 1e-6);
}

#[test]
fn gw_and_fused_gw_match_pot_dense_f64() {
    check::<f64>(false, 1e-6, 1e-6);
}

#[test]
fn gw_and_fused_gw_match_pot_f32() {
    check::<f32>(true, 3e-4, 1e-3);
}
