//! Probability paths and time sampling for flow matching (SPEC section 1, step 6).
//!
//! Latents `z ~ N(0, I_q)` live in the target space; the straight path
//! `x_t = (1 - t) z + t y (+ sigma eps)` has target velocity `u = y - z`; times are
//! stratified: `t_i = (U + i / N) mod (1 - t_offset)` with one uniform `U` per batch.

use genot_ot::real::Real;
use ndarray::{Array1, Array2, ArrayView2, Axis, Zip};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// The default `t_offset`, keeping times strictly below 1.
pub const T_OFFSET: f64 = 1e-5;

/// `n` stratified times in `[0, 1 - t_offset)`: one per stratum `[i / n, (i + 1) / n)`,
/// shifted together by a single uniform draw (lower variance than independent draws).
pub fn stratified_times(n: usize, rng: &mut impl Rng, t_offset: f64) -> Array1<f64> {
    let u: f64 = rng.random();
    Array1::from_iter((0..n).map(|i| (u + i as f64 / n as f64) % (1.0 - t_offset)))
}

/// `n x q` standard normal latents.
pub fn latents<F: Real>(n: usize, q: usize, rng: &mut impl Rng) -> Array2<F> {
    Array2::from_shape_simple_fn((n, q), || {
        let v: f64 = StandardNormal.sample(rng);
        F::c(v)
    })
}

/// The point `x_t` on the straight path from `z` to `y` at times `t` (one per row), with
/// optional constant noise `sigma eps`, and the target velocity `u = y - z`.
pub fn straight_path<F: Real>(
    z: ArrayView2<F>,
    y: ArrayView2<F>,
    t: &Array1<f64>,
    sigma: f64,
    rng: &mut impl Rng,
) -> (Array2<F>, Array2<F>) {
    let mut xt = Array2::<F>::zeros(z.dim());
    for ((mut row, (zr, yr)), &ti) in xt
        .axis_iter_mut(Axis(0))
        .zip(z.axis_iter(Axis(0)).zip(y.axis_iter(Axis(0))))
        .zip(t.iter())
    {
        let ti = F::c(ti);
        Zip::from(&mut row)
            .and(&zr)
            .and(&yr)
            .for_each(|x, &zv, &yv| *x = (F::one() - ti) * zv + ti * yv);
    }
    if sigma > 0.0 {
        let noise: Array2<F> = latents(z.nrows(), z.ncols(), rng);
        let s = F::c(sigma);
        Zip::from(&mut xt)
            .and(&noise)
            .for_each(|x, &e| *x = *x + s * e);
    }
    (xt, &y - &z)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::SeedableRng;

    #[test]
    fn stratified_times_cover_each_stratum_once() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for n in [1, 7, 256] {
            let t = stratified_times(n, &mut rng, T_OFFSET);
            let mut strata: Vec<usize> = t
                .iter()
                .map(|&v| ((v * n as f64) as usize).min(n - 1))
                .collect();
            strata.sort_unstable();
            assert_eq!(strata, (0..n).collect::<Vec<_>>(), "n = {n}: {t}");
            assert!(t.iter().all(|&v| (0.0..1.0 - T_OFFSET).contains(&v)));
        }
    }

    #[test]
    fn path_interpolates_and_velocity_is_the_difference() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let z = array![[0.0f64, 0.0], [1.0, -1.0]];
        let y = array![[2.0f64, 4.0], [1.0, 1.0]];
        let (xt, u) = straight_path(z.view(), y.view(), &array![0.25, 1.0], 0.0, &mut rng);
        assert_eq!(xt, array![[0.5, 1.0], [1.0, 1.0]]);
        assert_eq!(u, &y - &z);
        // Noise moves the point, not the velocity target.
        let (noisy, u2) = straight_path(z.view(), y.view(), &array![0.25, 1.0], 0.1, &mut rng);
        assert_ne!(noisy, xt);
        assert_eq!(u2, u);
    }
}
