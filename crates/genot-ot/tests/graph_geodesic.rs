//! Graph geodesic costs on points along a curve follow arc length (Euclidean distance
//! does not), and they plug into linear OT and GW.

use genot_ot::cost::{cost_matrix, Euclidean};
use genot_ot::graph::{graph_cost, graph_intra_cost};
use genot_ot::metrics::foscttm;
use genot_ot::prelude::*;
use ndarray::{Array1, Array2};

/// Points on the spiral r = 1 + 0.6 theta, theta in [0, 4 pi], with their arc lengths.
fn spiral(n: usize) -> (Array2<f64>, Array1<f64>) {
    let theta: Vec<f64> = (0..n)
        .map(|i| 4.0 * std::f64::consts::PI * i as f64 / (n - 1) as f64)
        .collect();
    let x = Array2::from_shape_fn((n, 2), |(i, k)| {
        let r = 1.0 + 0.6 * theta[i];
        if k == 0 {
            r * theta[i].cos()
        } else {
            r * theta[i].sin()
        }
    });
    // Arc length by fine numerical integration of sqrt(r^2 + r'^2).
    let arc: Vec<f64> = theta
        .iter()
        .map(|&t| {
            let steps = 2000;
            (0..steps)
                .map(|s| {
                    let u = t * (s as f64 + 0.5) / steps as f64;
                    let r = 1.0 + 0.6 * u;
                    (r * r + 0.36).sqrt() * t / steps as f64
                })
                .sum::<f64>()
        })
        .collect();
    (x, Array1::from(arc))
}

/// Spearman rank correlation.
fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let rank = |v: &[f64]| {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0.0; v.len()];
        idx.iter().enumerate().for_each(|(k, &i)| r[i] = k as f64);
        r
    };
    let (ra, rb) = (rank(a), rank(b));
    let n = a.len() as f64;
    let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y).powi(2)).sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

#[test]
fn geodesics_order_pairs_by_arc_length() {
    let (x, arc) = spiral(400);
    let geo = graph_intra_cost(x.view(), 6).unwrap();
    let euc = cost_matrix(&Euclidean, x.view(), x.view());
    let (mut g, mut e, mut s) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..400 {
        for j in (i + 1..400).step_by(7) {
            g.push(geo[[i, j]]);
            e.push(euc[[i, j]]);
            s.push((arc[j] - arc[i]).abs());
        }
    }
    let (rg, re) = (spearman(&g, &s), spearman(&e, &s));
    assert!(rg > 0.999, "geodesic vs arc length: Spearman {rg}");
    assert!(
        re < 0.9,
        "Euclidean distance should not follow arc length on a spiral: {re}"
    );
    // And the geodesic is close to the arc length itself (chords slightly shorten it).
    let worst = g
        .iter()
        .zip(&s)
        .filter(|(_, &a)| a > 1.0)
        .map(|(g, a)| (g - a).abs() / a)
        .fold(0.0, f64::max);
    assert!(worst < 0.02, "relative deviation from arc length {worst}");
}

#[test]
fn graph_costs_drive_linear_ot_and_gw() {
    let (x, _) = spiral(120);
    // Linear OT between two interleaved samples of the spiral: each point goes to its
    // neighbour along the curve.
    let (a, b) = (
        x.slice(ndarray::s![0..;2, ..]).to_owned(),
        x.slice(ndarray::s![1..;2, ..]).to_owned(),
    );
    let c = graph_cost(a.view(), b.view(), 5).unwrap();
    let geom = Geometry::from_matrix(c, ScaleCost::Max, Epsilon::Absolute(1e-3)).unwrap();
    let plan = Sinkhorn::default()
        .with_plan(true)
        .solve(&LinearProblem::new(geom), None)
        .unwrap()
        .plan
        .unwrap();
    let proj = plan.dot(&b) * 60.0;
    let f = foscttm(proj.view(), b.view()).unwrap();
    assert!(f < 0.02, "FOSCTTM {f}");
    // GW between the spiral and the same spiral embedded in 3-D, reversed: geodesic intra
    // costs are preserved, so GW matches the reversal back.
    let y = Array2::from_shape_fn((120, 3), |(i, k)| {
        let p = x.row(119 - i);
        [0.6 * p[0], p[1], 0.8 * p[0]][k]
    });
    let xx =
        IntraGeometry::from_matrix(graph_intra_cost(x.view(), 5).unwrap(), ScaleCost::Max).unwrap();
    let yy =
        IntraGeometry::from_matrix(graph_intra_cost(y.view(), 5).unwrap(), ScaleCost::Max).unwrap();
    let out = GromovWasserstein::new(1e-3)
        .solve(&QuadraticProblem::new(xx, yy), GwInit::Product)
        .unwrap();
    let proj = out.plan.dot(&y) * 120.0;
    let truth = Array2::from_shape_fn((120, 3), |(i, k)| y[[119 - i, k]]);
    let f = foscttm(proj.view(), truth.view()).unwrap();
    assert!(f < 0.02, "GW on geodesic costs: FOSCTTM {f}");
}
