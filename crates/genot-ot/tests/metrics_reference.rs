//! Sinkhorn divergence against OTT-JAX's `sinkhorn_divergence` (fixture made by
//! tests/fixtures/make_fixtures.py), and its defining properties.

use genot_ot::metrics::sinkhorn_divergence;
use genot_ot::prelude::*;
use ndarray::Array2;
use serde_json::Value;
use std::sync::Arc;

fn arr2(v: &Value) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).unwrap();
    let (n, d) = (rows.len(), rows[0].len());
    Array2::from_shape_vec((n, d), rows.into_iter().flatten().collect()).unwrap()
}

#[test]
fn divergence_matches_ott() {
    let v: Value = serde_json::from_str(include_str!("fixtures/ott_divergence.json")).unwrap();
    let solver = Sinkhorn::default()
        .with_threshold(1e-10)
        .with_max_iterations(100_000);
    for case in v["cases"].as_array().unwrap() {
        let (x, y) = (arr2(&case["x"]), arr2(&case["y"]));
        let eps = case["epsilon"].as_f64().unwrap();
        let want = case["divergence"].as_f64().unwrap();
        let got = sinkhorn_divergence(
            &x,
            &y,
            Arc::new(SqEuclidean),
            ScaleCost::None,
            Epsilon::Absolute(eps),
            &solver,
        )
        .unwrap();
        assert!(got.converged, "eps {eps}: {got:?}");
        assert!(
            (got.divergence - want).abs() < 1e-8 * want.abs().max(1.0),
            "eps {eps}: {} vs OTT {want}",
            got.divergence
        );
    }
}

#[test]
fn divergence_is_zero_on_equal_clouds_and_grows_with_shift() {
    let x = Array2::from_shape_fn((40, 3), |(i, j)| ((i * 3 + j) as f64 * 0.77).sin());
    let s = Sinkhorn::default().with_threshold(1e-9);
    let div = |shift: f64| {
        sinkhorn_divergence(
            &x,
            &(&x + shift),
            Arc::new(SqEuclidean),
            ScaleCost::None,
            Epsilon::Absolute(0.1),
            &s,
        )
        .unwrap()
        .divergence
    };
    assert!(div(0.0).abs() < 1e-9);
    let (a, b, c) = (div(0.1), div(0.5), div(1.0));
    assert!(0.0 < a && a < b && b < c, "{a} {b} {c}");
    // A translation by t moves a cloud by exactly 3 t^2 in squared distance: the
    // divergence of a pure translation equals it (the entropic terms cancel).
    assert!((c - 3.0).abs() < 1e-6, "{c}");
}
