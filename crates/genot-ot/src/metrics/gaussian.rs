//! Gaussians: the closed-form entropic OT coupling between two Gaussians, the
//! Bures-Wasserstein distance, BW-UVP and the conditional cBW-UVP.
//!
//! For `mu = N(a, A)`, `nu = N(b, B)` in the same space and the objective
//! `<C, P> + eps KL(P | mu x nu)` with `C = ||x - y||^2`, let `s = eps / 2`,
//! `D = (4 A^1/2 B A^1/2 + s^2 I)^1/2` and `Cxy = 1/2 A^1/2 D A^-1/2 - (s/2) I`. The optimal
//! coupling is Gaussian with cross-covariance `Cxy`, so
//! `y | x ~ N(b + Cxy^T A^-1 (x - a), B - Cxy^T A^-1 Cxy)` (Janati et al. 2020; Mallasto et
//! al. 2021). `tests/gaussian_closed_form.rs` checks it against a large discrete Sinkhorn
//! plan.

use crate::error::{OtError, Result};
use crate::real::Real;
use nalgebra::{DMatrix, DVector};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

/// A Gaussian `N(mean, cov)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gaussian {
    pub mean: Array1<f64>,
    pub cov: Array2<f64>,
}

fn to_na(m: &Array2<f64>) -> DMatrix<f64> {
    DMatrix::from_fn(m.nrows(), m.ncols(), |i, j| m[[i, j]])
}

fn from_na(m: &DMatrix<f64>) -> Array2<f64> {
    Array2::from_shape_fn((m.nrows(), m.ncols()), |(i, j)| m[(i, j)])
}

/// `f(S)` for a symmetric matrix through its eigendecomposition (eigenvalues clamped at 0).
fn sym_fn(s: &DMatrix<f64>, f: impl Fn(f64) -> f64) -> DMatrix<f64> {
    let sym = (s + s.transpose()) * 0.5;
    let e = sym.symmetric_eigen();
    let d = DMatrix::from_diagonal(&e.eigenvalues.map(|l| f(l.max(0.0))));
    &e.eigenvectors * d * e.eigenvectors.transpose()
}

fn sqrtm(s: &DMatrix<f64>) -> DMatrix<f64> {
    sym_fn(s, f64::sqrt)
}

impl Gaussian {
    /// Builds a Gaussian; the covariance must be square, symmetric and match the mean.
    pub fn new(mean: Array1<f64>, cov: Array2<f64>) -> Result<Self> {
        let d = mean.len();
        if cov.dim() != (d, d) {
            return Err(OtError::DimensionMismatch {
                what: format!("mean has {d} entries, covariance is {:?}", cov.dim()),
            });
        }
        let asym = (0..d)
            .flat_map(|i| (0..d).map(move |j| (i, j)))
            .map(|(i, j)| (cov[[i, j]] - cov[[j, i]]).abs())
            .fold(0.0, f64::max);
        if asym > 1e-8 * (1.0 + cov.iter().fold(0.0f64, |m, v| m.max(v.abs()))) {
            return Err(OtError::InvalidParameter(
                "covariance is not symmetric".into(),
            ));
        }
        Ok(Gaussian { mean, cov })
    }

    /// The empirical mean and covariance (divided by n - 1) of samples in rows.
    pub fn from_samples<F: Real>(x: ArrayView2<F>) -> Result<Self> {
        let n = x.nrows();
        if n < 2 {
            return Err(OtError::InvalidParameter(format!(
                "need at least 2 samples to estimate a covariance, got {n}"
            )));
        }
        let x = x.mapv(|v| v.f64());
        let mean = x.mean_axis(ndarray::Axis(0)).expect("non-empty");
        let c = &x - &mean;
        let cov = c.t().dot(&c) / (n as f64 - 1.0);
        Ok(Gaussian { mean, cov })
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Total variance `tr(cov)`.
    pub fn total_variance(&self) -> f64 {
        self.cov.diag().sum()
    }
}

/// Squared Bures-Wasserstein distance (the squared 2-Wasserstein distance between the two
/// Gaussians): `|m1 - m2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)`.
pub fn bw2(p: &Gaussian, q: &Gaussian) -> Result<f64> {
    if p.dim() != q.dim() {
        return Err(OtError::DimensionMismatch {
            what: format!("Gaussians of dimensions {} and {}", p.dim(), q.dim()),
        });
    }
    let dm = &p.mean - &q.mean;
    let (s1, s2) = (to_na(&p.cov), to_na(&q.cov));
    let r1 = sqrtm(&s1);
    let cross = sqrtm(&(&r1 * &s2 * &r1));
    Ok((dm.dot(&dm) + s1.trace() + s2.trace() - 2.0 * cross.trace()).max(0.0))
}

/// BW-UVP in percent: `100 BW^2(pred, target) / (tr(target cov) / 2)` (Korotin et al. 2021).
pub fn bw_uvp(pred: &Gaussian, target: &Gaussian) -> Result<f64> {
    Ok(100.0 * bw2(pred, target)? / (0.5 * target.total_variance()))
}

/// Conditional BW-UVP in percent: the mean over source points of
/// `BW^2(predicted conditional, true conditional)`, times `100 / (tr(target cov) / 2)`
/// (Gushchin et al. 2023).
pub fn cbw_uvp(pred: &[Gaussian], truth: &[Gaussian], target: &Gaussian) -> Result<f64> {
    if pred.len() != truth.len() || pred.is_empty() {
        return Err(OtError::DimensionMismatch {
            what: format!(
                "{} predicted conditionals for {} true ones",
                pred.len(),
                truth.len()
            ),
        });
    }
    let mut total = 0.0;
    for (p, t) in pred.iter().zip(truth) {
        total += bw2(p, t)?;
    }
    Ok(100.0 * total / pred.len() as f64 / (0.5 * target.total_variance()))
}

/// The entropic OT coupling between two Gaussians for the squared Euclidean cost.
#[derive(Debug, Clone)]
pub struct EntropicGaussianOt {
    pub source: Gaussian,
    pub target: Gaussian,
    pub epsilon: f64,
    cross: DMatrix<f64>,
    gain: DMatrix<f64>,
    cond_cov: DMatrix<f64>,
}

impl EntropicGaussianOt {
    /// Solves the problem in closed form (see the module docs). `epsilon` is absolute on the
    /// unscaled cost; the source covariance must be positive definite.
    pub fn new(source: Gaussian, target: Gaussian, epsilon: f64) -> Result<Self> {
        if source.dim() != target.dim() {
            return Err(OtError::DimensionMismatch {
                what: format!(
                    "source Gaussian has dimension {}, target {}",
                    source.dim(),
                    target.dim()
                ),
            });
        }
        if !(epsilon > 0.0 && epsilon.is_finite()) {
            return Err(OtError::InvalidParameter(format!(
                "epsilon must be > 0, got {epsilon}"
            )));
        }
        let d = source.dim();
        let (a, b) = (to_na(&source.cov), to_na(&target.cov));
        let min_eig = a.clone().symmetric_eigen().eigenvalues.min();
        if min_eig <= 0.0 {
            return Err(OtError::InvalidParameter(format!(
                "source covariance must be positive definite (smallest eigenvalue {min_eig})"
            )));
        }
        let s = epsilon / 2.0;
        let eye = DMatrix::<f64>::identity(d, d);
        let ra = sqrtm(&a);
        let ra_inv = sym_fn(&a, |l| 1.0 / l.sqrt());
        let dmat = sqrtm(&(&ra * &b * &ra * 4.0 + &eye * (s * s)));
        let cross = &ra * &dmat * &ra_inv * 0.5 - &eye * (s / 2.0);
        let a_inv = sym_fn(&a, |l| 1.0 / l);
        let gain = cross.transpose() * &a_inv;
        let cond = &b - &gain * &cross;
        let cond_cov = (&cond + cond.transpose()) * 0.5;
        Ok(EntropicGaussianOt {
            source,
            target,
            epsilon,
            cross,
            gain,
            cond_cov,
        })
    }

    /// The cross-covariance `Cov(x, y)` of the optimal coupling.
    pub fn cross_covariance(&self) -> Array2<f64> {
        from_na(&self.cross)
    }

    /// The conditional law of `y` given `x`.
    pub fn conditional(&self, x: ArrayView1<f64>) -> Result<Gaussian> {
        if x.len() != self.source.dim() {
            return Err(OtError::DimensionMismatch {
                what: format!(
                    "point has {} dimensions, the Gaussians {}",
                    x.len(),
                    self.source.dim()
                ),
            });
        }
        let dx = DVector::from_iterator(
            x.len(),
            x.iter().zip(self.source.mean.iter()).map(|(a, b)| a - b),
        );
        let shift = &self.gain * dx;
        let mean = Array1::from_iter(
            self.target
                .mean
                .iter()
                .zip(shift.iter())
                .map(|(m, s)| m + s),
        );
        Ok(Gaussian {
            mean,
            cov: from_na(&self.cond_cov),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn limits_of_the_closed_form() {
        let id = Gaussian::new(array![0.0, 0.0], Array2::eye(2)).unwrap();
        // eps -> 0 with A = B = I: the coupling is the identity map, Cxy = I.
        let g = EntropicGaussianOt::new(id.clone(), id.clone(), 1e-9).unwrap();
        let c = g.cross_covariance();
        assert!((c[[0, 0]] - 1.0).abs() < 1e-6 && c[[0, 1]].abs() < 1e-9);
        // eps -> infinity: independence, the conditional is the target marginal.
        let t = Gaussian::new(array![1.0, 2.0], array![[2.0, 0.5], [0.5, 1.0]]).unwrap();
        let g = EntropicGaussianOt::new(id, t.clone(), 1e9).unwrap();
        let cond = g.conditional(array![3.0, -1.0].view()).unwrap();
        assert!(bw2(&cond, &t).unwrap() < 1e-6);
        // 1-D: A = B = 1, s = eps/2: D = sqrt(4 + s^2), Cxy = D/2 - s/2.
        let one = Gaussian::new(array![0.0], array![[1.0]]).unwrap();
        let g = EntropicGaussianOt::new(one.clone(), one, 1.0).unwrap();
        let want = (4.0f64 + 0.25).sqrt() / 2.0 - 0.25;
        assert!((g.cross_covariance()[[0, 0]] - want).abs() < 1e-12);
    }

    #[test]
    fn bures_wasserstein_closed_cases() {
        let p = Gaussian::new(array![0.0, 0.0], Array2::eye(2)).unwrap();
        let q = Gaussian::new(array![3.0, 4.0], Array2::eye(2) * 4.0).unwrap();
        // |dm|^2 = 25; tr(I + 4I - 2 (4I)^1/2) = 2 + 8 - 8 = 2.
        assert!((bw2(&p, &q).unwrap() - 27.0).abs() < 1e-9);
        assert!((bw_uvp(&p, &q).unwrap() - 100.0 * 27.0 / 4.0).abs() < 1e-9);
        assert!(bw2(&q, &q).unwrap() < 1e-9);
        assert!(cbw_uvp(std::slice::from_ref(&p), std::slice::from_ref(&p), &q).unwrap() < 1e-9);
        assert!(Gaussian::new(array![0.0], array![[1.0, 0.0]]).is_err());
    }
}
