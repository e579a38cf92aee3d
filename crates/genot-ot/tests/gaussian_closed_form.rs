//! The closed-form entropic OT coupling between Gaussians (SPEC section 5) against a large
//! discrete Sinkhorn plan on samples whose empirical moments are exactly the Gaussians'.

use genot_ot::metrics::gaussian::{EntropicGaussianOt, Gaussian};
use genot_ot::prelude::*;
use ndarray::{array, Array1, Array2, Axis};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use std::sync::Arc;

/// n samples with empirical mean `mean` and covariance (divided by n) exactly `cov`.
fn exact_samples(n: usize, mean: &Array1<f64>, cov: &Array2<f64>, seed: u64) -> Array2<f64> {
    let d = mean.len();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let z = Array2::from_shape_fn((n, d), |_| StandardNormal.sample(&mut rng));
    let z = &z - &z.mean_axis(Axis(0)).unwrap();
    // Whiten with the empirical covariance, then colour with the target one.
    let emp = z.t().dot(&z) / n as f64;
    let w = chol(&emp);
    let l = chol(cov);
    let zw = solve_lower_rows(&w, &z);
    zw.dot(&l.t()) + mean
}

fn chol(a: &Array2<f64>) -> Array2<f64> {
    let d = a.nrows();
    let mut l = Array2::<f64>::zeros((d, d));
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum();
            l[[i, j]] = if i == j {
                (a[[i, i]] - s).sqrt()
            } else {
                (a[[i, j]] - s) / l[[j, j]]
            };
        }
    }
    l
}

/// Rows r of z -> L^-1 r.
fn solve_lower_rows(l: &Array2<f64>, z: &Array2<f64>) -> Array2<f64> {
    let d = l.nrows();
    let mut out = z.clone();
    for mut row in out.rows_mut() {
        for i in 0..d {
            let s: f64 = (0..i).map(|k| l[[i, k]] * row[k]).sum();
            row[i] = (row[i] - s) / l[[i, i]];
        }
    }
    out
}

#[test]
fn closed_form_matches_a_large_discrete_plan() {
    let (a, big_a) = (array![0.5, -1.0], array![[1.0, 0.3], [0.3, 0.5]]);
    let (b, big_b) = (array![2.0, 1.0], array![[0.8, -0.2], [-0.2, 1.2]]);
    let eps = 0.5;
    let n = 2500;
    let x = exact_samples(n, &a, &big_a, 1);
    let y = exact_samples(n, &b, &big_b, 2);
    let geom = Geometry::from_points(
        x.clone(),
        y.clone(),
        Arc::new(SqEuclidean),
        ScaleCost::None,
        Epsilon::Absolute(eps),
    )
    .unwrap();
    let out = Sinkhorn::default()
        .with_threshold(1e-6)
        .with_max_iterations(10_000)
        .with_plan(true)
        .solve(&LinearProblem::new(geom), None)
        .unwrap();
    assert!(out.converged);
    let p = out.plan.unwrap();

    let truth = EntropicGaussianOt::new(
        Gaussian::new(a.clone(), big_a.clone()).unwrap(),
        Gaussian::new(b.clone(), big_b.clone()).unwrap(),
        eps,
    )
    .unwrap();

    // Cross-covariance of the discrete plan.
    let xc = &x - &a;
    let yc = &y - &b;
    let cross = xc.t().dot(&p.dot(&yc));
    let want = truth.cross_covariance();
    for (c, w) in cross.iter().zip(want.iter()) {
        assert!(
            (c - w).abs() < 0.03,
            "cross-covariance {cross} vs closed form {want}"
        );
    }

    // Conditional means E[y | x_i] = sum_j P_ij y_j / a_i and the average conditional
    // covariance.
    let row = p.sum_axis(Axis(1));
    let cond_mean = p.dot(&y) / row.view().insert_axis(Axis(1));
    let mut rms = 0.0;
    let mut avg_cov = Array2::<f64>::zeros((2, 2));
    for i in 0..n {
        let g = truth.conditional(x.row(i)).unwrap();
        let d = &cond_mean.row(i) - &g.mean;
        rms += d.dot(&d);
        let dev = &y - &cond_mean.row(i);
        let w = p.row(i).to_owned() / row[i];
        let wd = &dev * &w.view().insert_axis(Axis(1));
        avg_cov = avg_cov + dev.t().dot(&wd) / n as f64;
    }
    let rms = (rms / n as f64).sqrt();
    assert!(rms < 0.06, "conditional means differ by {rms} (RMS)");
    let want_cov = truth.conditional(x.row(0)).unwrap().cov;
    for (c, w) in avg_cov.iter().zip(want_cov.iter()) {
        assert!(
            (c - w).abs() < 0.04,
            "conditional covariance {avg_cov} vs {want_cov}"
        );
    }
}
