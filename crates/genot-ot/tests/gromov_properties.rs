//! Properties of entropic GW: invariance to isometries, recovery of a permuted and rotated
//! copy, the fused limit, initialisations and input errors.

use genot_ot::choice::CostChoice;
use genot_ot::cost::SqEuclidean;
use genot_ot::metrics::foscttm;
use genot_ot::prelude::*;
use ndarray::{array, Array2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use std::sync::Arc;

fn cloud(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    // Anisotropic, so that the cloud has no symmetry.
    Array2::from_shape_fn((n, d), |(_, k)| {
        let z: f64 = StandardNormal.sample(&mut rng);
        z * (1.0 + k as f64) + if k == 0 { 0.5 * z * z } else { 0.0 }
    })
}

fn problem(x: &Array2<f64>, y: &Array2<f64>) -> QuadraticProblem<f64> {
    QuadraticProblem::new(
        IntraGeometry::from_points(x.clone(), Arc::new(SqEuclidean), ScaleCost::Max).unwrap(),
        IntraGeometry::from_points(y.clone(), Arc::new(SqEuclidean), ScaleCost::Max).unwrap(),
    )
}

fn rotation_3d(t: f64) -> Array2<f64> {
    let (c, s) = (t.cos(), t.sin());
    array![[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]].dot(&array![
        [1.0, 0.0, 0.0],
        [0.0, c, -s],
        [0.0, s, c]
    ])
}

#[test]
fn isometries_leave_the_plan_unchanged() {
    let (x, y) = (cloud(40, 2, 1), cloud(35, 3, 2));
    let solver = GromovWasserstein::new(0.01);
    let base = solver
        .solve(&problem(&x, &y), GwInit::Product)
        .unwrap()
        .plan;
    let reflect = array![[-1.0, 0.0], [0.0, 1.0]];
    let moved_x = x.dot(&reflect) + 3.0;
    let moved_y = y.dot(&rotation_3d(0.7)) - 1.5;
    for (px, py) in [(&moved_x, &y), (&x, &moved_y), (&moved_x, &moved_y)] {
        let p = solver
            .solve(&problem(px, py), GwInit::Product)
            .unwrap()
            .plan;
        let d = p
            .iter()
            .zip(base.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            d < 1e-8 * base.iter().fold(0.0f64, |m, v| m.max(*v)),
            "plan moved by {d}"
        );
    }
}

#[test]
fn a_permuted_rotated_copy_is_matched_back() {
    let n = 60;
    let x = cloud(n, 3, 3);
    let mut perm: Vec<usize> = (0..n).collect();
    perm.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(4));
    let q = rotation_3d(1.1);
    let y = Array2::from_shape_fn((n, 3), |(i, k)| x.row(perm[i]).dot(&q.column(k)));
    let solver = GromovWasserstein::new(5e-4).with_max_iterations(200);
    let out = solver.solve(&problem(&x, &y), GwInit::Product).unwrap();
    assert!(out.converged);
    // The reported marginal error and mass are those of the returned plan.
    let l1 = |s: ndarray::Array1<f64>| s.iter().map(|v| (v - 1.0 / n as f64).abs()).sum::<f64>();
    let err = l1(out.plan.sum_axis(Axis(1))).max(l1(out.plan.sum_axis(Axis(0))));
    assert!(
        (out.marginal_error - err).abs() <= 1e-12 + 1e-9 * err,
        "{} {err}",
        out.marginal_error
    );
    assert!(out.marginal_error < 1e-3 && (out.mass - out.plan.sum()).abs() < 1e-12);
    // Barycentric projection of each x onto y, compared with its true partner.
    let proj = out.plan.dot(&y) * n as f64;
    let truth = Array2::from_shape_fn((n, 3), |(i, k)| {
        let j = perm.iter().position(|&p| p == i).unwrap();
        y[[j, k]]
    });
    let f = foscttm(proj.view(), truth.view()).unwrap();
    assert!(f < 0.01, "FOSCTTM {f}");
    // The entropic plan keeps some mass on near neighbours; far more than the 1/n of an
    // uninformed plan sits on the true pairs.
    let on_truth: f64 = (0..n).map(|j| out.plan[[perm[j], j]]).sum();
    assert!(on_truth > 0.4, "mass on the true pairing {on_truth}");
}

#[test]
fn fused_gw_with_a_large_penalty_is_the_linear_plan() {
    let (x, y) = (cloud(30, 2, 5), cloud(25, 3, 6));
    let (xs, ys) = (cloud(30, 2, 7), cloud(25, 2, 8));
    let eps = 0.05;
    let cross = Geometry::from_points(
        xs.clone(),
        ys.clone(),
        Arc::new(SqEuclidean),
        ScaleCost::Max,
        Epsilon::Absolute(1.0),
    )
    .unwrap();
    let penalty = 1e4;
    let sq = CostChoice::Points(Arc::new(SqEuclidean));
    let prob = problem(&x, &y)
        .with_fused_points(xs, ys, &sq, ScaleCost::Max, penalty)
        .unwrap();
    let gw = GromovWasserstein::new(eps * penalty)
        .solve(&prob, GwInit::Product)
        .unwrap();
    // With cost GW + penalty M and epsilon = eps x penalty, the GW part is negligible: the
    // plan is the entropic plan of M at epsilon eps.
    let lin = LinearProblem::new(cross.with_epsilon(eps).unwrap());
    let p = Sinkhorn::default()
        .with_threshold(1e-9)
        .with_plan(true)
        .solve(&lin, None)
        .unwrap()
        .plan
        .unwrap();
    let d = gw
        .plan
        .iter()
        .zip(p.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(d < 2e-4, "fused plan differs from the linear plan by {d}");
}

#[test]
fn initialisations() {
    let n = 30;
    let x = cloud(n, 2, 9);
    let y = x.dot(&array![[0.0, -1.0], [1.0, 0.0]]);
    let prob = problem(&x, &y);
    let solver = GromovWasserstein::new(1e-3);
    let matched = |plan: &Array2<f64>| {
        let proj = plan.dot(&y) * n as f64;
        foscttm(proj.view(), y.view()).unwrap()
    };
    // From the true (identity) coupling the solver stays near it.
    let identity = Array2::from_diag_elem(n, 1.0 / n as f64);
    let out = solver.solve(&prob, GwInit::Plan(identity)).unwrap();
    assert!(
        out.plan.diag().sum() > 0.3,
        "mass on the diagonal {}",
        out.plan.diag().sum()
    );
    // FOSCTTM of the barycentric projection: 0 is the identity matching, 0.5 random; the
    // entropic blur at this epsilon swaps about 1% of the orderings.
    let f = matched(&out.plan);
    assert!(f < 0.02, "FOSCTTM {f}");
    // From a linear problem: the cost between x and the rotated-back y.
    let back = y.dot(&array![[0.0, 1.0], [-1.0, 0.0]]);
    let lin = LinearProblem::new(
        Geometry::from_points(
            x.clone(),
            back,
            Arc::new(SqEuclidean),
            ScaleCost::Mean,
            Epsilon::Absolute(1e-3),
        )
        .unwrap(),
    );
    let out = solver.solve(&prob, GwInit::Linear(Box::new(lin))).unwrap();
    assert!(out.plan.diag().sum() > 0.3);
    assert!(matched(&out.plan) < 0.02);
    // Marginals hold.
    let rows = out.plan.sum_axis(Axis(1));
    assert!(rows
        .iter()
        .all(|r| (r - 1.0 / n as f64).abs() < 1e-3 / n as f64 * 10.0));
}

#[test]
fn bad_inputs_are_named() {
    let prob = problem(&cloud(10, 2, 1), &cloud(12, 3, 2));
    let e = GromovWasserstein::new(0.0)
        .solve(&prob, GwInit::Product)
        .unwrap_err();
    assert!(e.to_string().contains("epsilon"), "{e}");
    let e = GromovWasserstein::new(0.1)
        .solve(&prob, GwInit::Plan(Array2::zeros((10, 11))))
        .unwrap_err();
    assert!(e.to_string().contains("initial plan"), "{e}");
    let sq = CostChoice::Points(Arc::new(SqEuclidean));
    let e = prob
        .clone()
        .with_fused_points(cloud(10, 2, 3), cloud(11, 2, 4), &sq, ScaleCost::Max, 1.0)
        .unwrap_err();
    assert!(e.to_string().contains("10 and 11 rows"), "{e}");
    let e = prob
        .clone()
        .with_fused(Array2::from_elem((10, 12), f64::NAN), 1.0)
        .unwrap_err();
    assert!(e.to_string().contains("non-finite"), "{e}");
    let e = prob
        .clone()
        .with_fused(Array2::zeros((10, 11)), 1.0)
        .unwrap_err();
    assert!(e.to_string().contains("cross"), "{e}");
    let w = |n: usize, total: f64| ndarray::Array1::from_elem(n, total / n as f64);
    let e = prob
        .clone()
        .with_weights(w(10, 1.0), w(12, 2.0))
        .unwrap_err();
    assert!(e.to_string().contains("equal masses"), "{e}");
    assert!(prob
        .clone()
        .with_tau(0.9, 0.9)
        .unwrap()
        .with_weights(w(10, 1.0), w(12, 2.0))
        .is_ok());
    let e = prob
        .clone()
        .with_weights(w(9, 1.0), w(12, 1.0))
        .unwrap_err();
    assert!(e.to_string().contains("9 entries"), "{e}");
    let asym = array![[0.0, 1.0], [2.0, 0.0]];
    let e = IntraGeometry::from_matrix(asym, ScaleCost::None).unwrap_err();
    assert!(e.to_string().contains("symmetric"), "{e}");
}

#[test]
fn unbalanced_gw_tends_to_balanced() {
    let (x, y) = (cloud(40, 2, 11), cloud(35, 3, 12));
    let solve = |tau: f64| {
        let prob = problem(&x, &y).with_tau(tau, tau).unwrap();
        GromovWasserstein::new(0.01)
            .with_threshold(1e-7)
            .with_max_iterations(500)
            .solve(&prob, GwInit::Product)
            .unwrap()
    };
    let balanced = solve(1.0).plan;
    let peak = balanced.iter().fold(0.0f64, |m, v| m.max(*v));
    let mut last = f64::INFINITY;
    for tau in [0.9, 0.99, 0.999] {
        let out = solve(tau);
        assert!(out.converged, "tau {tau}");
        let d = out
            .plan
            .iter()
            .zip(balanced.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            d < last,
            "tau {tau}: distance {d} did not shrink from {last}"
        );
        last = d;
    }
    assert!(
        last < 0.05 * peak,
        "tau 0.999 still {last} away (plan peak {peak})"
    );
}

#[test]
fn unbalanced_gw_drops_a_cluster_without_counterpart() {
    // Source: two clusters plus a third, far one (20% of the points); target: the first two
    // clusters only, isometrically moved.
    let blob = |n: usize, c: [f64; 2], seed: u64| cloud(n, 2, seed) * 0.3 + &ndarray::arr1(&c);
    let x = ndarray::concatenate![
        Axis(0),
        blob(20, [0.0, 0.0], 1),
        blob(20, [3.0, 0.0], 2),
        blob(10, [0.0, 6.0], 3)
    ];
    let y0 = ndarray::concatenate![Axis(0), blob(20, [0.0, 0.0], 4), blob(20, [3.0, 0.0], 5)];
    let y = y0.dot(&array![[0.0, 1.0], [-1.0, 0.0]]);
    // One scale for both spaces: divided by its own max, the source (whose extent the extra
    // cluster triples) would no longer be comparable with the target.
    let common = |p: &Array2<f64>| {
        IntraGeometry::from_points(p.clone(), Arc::new(SqEuclidean), ScaleCost::Value(9.0)).unwrap()
    };
    let problem = |_: &Array2<f64>, _: &Array2<f64>| QuadraticProblem::new(common(&x), common(&y));
    let s = GromovWasserstein::new(0.01).with_max_iterations(200);
    // rho = eps tau / (1 - tau) = 0.99: destroying mass costs about as much as moving it.
    let out = s
        .solve(
            &problem(&x, &y).with_tau(0.99, 0.99).unwrap(),
            GwInit::Product,
        )
        .unwrap();
    let rows = out.plan.sum_axis(Axis(1));
    let kept = rows.slice(ndarray::s![..40]).mean().unwrap();
    let extra = rows.slice(ndarray::s![40..]).mean().unwrap();
    assert!(
        extra < 0.3 * kept,
        "mass per point: extra cluster {extra}, others {kept}"
    );
    // The balanced solution must transport it all.
    let bal = s.solve(&problem(&x, &y), GwInit::Product).unwrap();
    let extra_bal = bal
        .plan
        .sum_axis(Axis(1))
        .slice(ndarray::s![40..])
        .mean()
        .unwrap();
    assert!((extra_bal - 1.0 / 50.0).abs() < 1e-4);
    // A tiny rho makes destroying everything cheapest: a clear error, not a NaN.
    let e = s
        .solve(
            &problem(&x, &y).with_tau(0.5, 0.5).unwrap(),
            GwInit::Product,
        )
        .unwrap_err();
    assert!(e.to_string().contains("destroyed"), "{e}");
}
