//! The floating-point types the solvers run in (`f32`, `f64`) and the vectorisable
//! slice kernels the hot loops are made of.
//!
//! Sinkhorn spends its time in exponentials and in dot products over rows of the cost
//! matrix. `f32::exp` from libm does not vectorise, and a plain `sum()` over floats cannot
//! be reordered by the compiler, so the kernels here use a branchless range-reduced
//! polynomial exponential and explicit lane accumulators. Each kernel is compiled three
//! times: a portable version, one with AVX2 + FMA and one with AVX-512F + FMA, picked at run
//! time (`is_x86_feature_detected!`), so the binary runs on any x86-64 but uses 8- or
//! 16-wide vectors where the CPU has them. The two FMA builds run the same operations in the
//! same order, so they give bit-identical results (tested); AVX-512 makes a linear GENOT
//! training step about 15% faster where Sinkhorn dominates (bench/BENCHMARKS.md).

use ndarray::LinalgScalar;
use num_traits::{Float, FromPrimitive, ToPrimitive};
use std::fmt::{Debug, Display};
use std::iter::Sum;

/// Number of independent accumulators in reductions (four AVX registers of f32): enough to
/// hide the latency of the add or FMA chain.
const LANES: usize = 32;

/// A floating-point scalar the OT engine can run in: implemented for `f32` and `f64`.
pub trait Real:
    Float
    + FromPrimitive
    + ToPrimitive
    + LinalgScalar
    + Sum
    + Send
    + Sync
    + Debug
    + Display
    + Default
    + 'static
{
    /// The name of the type, as numpy spells it (`"float32"`, `"float64"`).
    const NAME: &'static str;
    /// Threshold on |log u| above which the kernel-mode solver absorbs scalings into the
    /// potentials (the scalings then stay far from the overflow range of the type).
    const ABSORB_LOG_THRESHOLD: f64;
    /// The largest argument [`Real::fast_exp`] takes (larger ones are clamped to it): an
    /// exponent at or above it means that the exponential overflowed the type.
    const EXP_MAX_ARG: f64;
    /// Exponential accurate to a few ulp, branchless, auto-vectorisable. Arguments below
    /// the underflow limit give the smallest normal number instead of 0.
    fn fast_exp(self) -> Self;
    /// Natural logarithm accurate to a few ulp, branchless, auto-vectorisable (libm's `ln`
    /// is a call per value). Exact on the special values: `ln 0 = -inf`, `ln inf = inf`,
    /// NaN for negative and NaN arguments; subnormals are handled.
    fn fast_ln(self) -> Self;
    /// Lossy conversion from f64 (for constants).
    fn c(x: f64) -> Self {
        Self::from_f64(x).expect("constant representable")
    }
    /// Conversion to f64.
    fn f64(self) -> f64 {
        self.to_f64().unwrap_or(f64::NAN)
    }
}

impl Real for f32 {
    const NAME: &'static str = "float32";
    // 30, not less: every absorption rebuilds the kernel (n m exponentials, the price of
    // about six iterations at n = m = 1024), and at 12 the benchmark problem of
    // bench/sinkhorn_bench.py absorbed twice in 21 iterations, at 30 once (same transport
    // cost to 1e-8; issue 18). Safe in float32: scalings stay within e^30 of the kernel, so
    // products `u K v` stay far below the overflow at e^88; and an entry that underflowed
    // at the build (exponent below -87) can grow by at most e^60 before the next
    // absorption, to under e^-27 of the largest entries, which the marginals do not see.
    const ABSORB_LOG_THRESHOLD: f64 = 30.0;
    const EXP_MAX_ARG: f64 = 88.376_26;

    #[inline(always)]
    fn fast_exp(self) -> f32 {
        // exp(x) = 2^n exp(r), n = round(x / ln 2), |r| <= ln 2 / 2; Cephes expf polynomial.
        const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
        let x = self.clamp(-87.336_54, 88.376_26);
        let t = x * std::f32::consts::LOG2_E + MAGIC;
        let n_int = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
        let n = t - MAGIC;
        let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
        let mut p = 1.987_569_1e-4_f32;
        p = p * r + 1.398_2e-3;
        p = p * r + 8.333_452e-3;
        p = p * r + 4.166_579_6e-2;
        p = p * r + 1.666_666_5e-1;
        p = p * r + 0.5;
        let y = p * r * r + r + 1.0;
        let scale = f32::from_bits(((n_int + 127) as u32) << 23);
        y * scale
    }

    #[inline(always)]
    fn fast_ln(self) -> f32 {
        // x = m 2^k with m in [sqrt(1/2), sqrt(2)) (musl's reduction, on the bits), then
        // ln m = 2 atanh(s) = 2 (s + s^3 / 3 + s^5 / 5 + ...), s = (m - 1) / (m + 1),
        // |s| <= 0.1716: the terms to s^13 leave a truncation error below 1e-9.
        const SQRT_HALF: u32 = 0x3f35_04f3;
        let tiny = self < f32::MIN_POSITIVE;
        // Subnormals are scaled by 2^25 first.
        let x = if tiny { self * 33_554_432.0 } else { self };
        let ix = x.to_bits().wrapping_add(0x3f80_0000 - SQRT_HALF);
        let k = (ix >> 23) as i32 - 0x7f - if tiny { 25 } else { 0 };
        let m = f32::from_bits((ix & 0x007f_ffff) + SQRT_HALF);
        let s = (m - 1.0) / (m + 1.0);
        let z = s * s;
        let mut p = 1.0 / 13.0_f32;
        p = p * z + 1.0 / 11.0;
        p = p * z + 1.0 / 9.0;
        p = p * z + 1.0 / 7.0;
        p = p * z + 1.0 / 5.0;
        p = p * z + 1.0 / 3.0;
        let r = 2.0 * s * (p * z) + 2.0 * s + k as f32 * std::f32::consts::LN_2;
        special_ln(self, r)
    }
}

/// The exact value of `ln x` where `x` is not a positive finite number, else `r`.
#[inline(always)]
fn special_ln<F: Float>(x: F, r: F) -> F {
    let r = if x > F::zero() {
        r
    } else if x == F::zero() {
        F::neg_infinity()
    } else {
        F::nan()
    };
    if x == F::infinity() {
        x
    } else {
        r
    }
}

impl Real for f64 {
    const NAME: &'static str = "float64";
    const ABSORB_LOG_THRESHOLD: f64 = 25.0;
    const EXP_MAX_ARG: f64 = 709.0;

    #[inline(always)]
    fn fast_exp(self) -> f64 {
        const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52
        let x = self.clamp(-708.0, 709.0);
        let t = x * std::f64::consts::LOG2_E + MAGIC;
        let n_int = (t.to_bits() as i64).wrapping_sub(MAGIC.to_bits() as i64);
        let n = t - MAGIC;
        let r = x - n * 6.931_471_803_691_238e-1 - n * 1.908_214_929_270_587_7e-10_f64;
        // Taylor series to degree 12 on |r| <= 0.347: truncation error below 1e-16.
        let mut p = 1.0 / 479_001_600.0;
        p = p * r + 1.0 / 39_916_800.0;
        p = p * r + 1.0 / 3_628_800.0;
        p = p * r + 1.0 / 362_880.0;
        p = p * r + 1.0 / 40_320.0;
        p = p * r + 1.0 / 5_040.0;
        p = p * r + 1.0 / 720.0;
        p = p * r + 1.0 / 120.0;
        p = p * r + 1.0 / 24.0;
        p = p * r + 1.0 / 6.0;
        p = p * r + 0.5;
        p = p * r + 1.0;
        p = p * r + 1.0;
        let scale = f64::from_bits(((n_int + 1023) as u64) << 52);
        p * scale
    }

    #[inline(always)]
    fn fast_ln(self) -> f64 {
        // As for f32; the terms to s^27 leave a truncation error below 1e-20.
        const SQRT_HALF: u64 = 0x3fe6_a09e_667f_3bcd;
        let tiny = self < f64::MIN_POSITIVE;
        // Subnormals are scaled by 2^54 first.
        let x = if tiny {
            self * 18_014_398_509_481_984.0
        } else {
            self
        };
        let ix = x.to_bits().wrapping_add(0x3ff0_0000_0000_0000 - SQRT_HALF);
        let k = (ix >> 52) as i64 - 0x3ff - if tiny { 54 } else { 0 };
        let m = f64::from_bits((ix & 0x000f_ffff_ffff_ffff) + SQRT_HALF);
        let s = (m - 1.0) / (m + 1.0);
        let z = s * s;
        let mut p = 1.0 / 27.0_f64;
        for d in [
            25.0, 23.0, 21.0, 19.0, 17.0, 15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0,
        ] {
            p = p * z + 1.0 / d;
        }
        let r = 2.0 * s * (p * z) + 2.0 * s + k as f64 * std::f64::consts::LN_2;
        special_ln(self, r)
    }
}

#[cfg(test)]
thread_local! {
    /// The widest build the kernels may pick on this thread (2: AVX-512, 1: AVX2, 0:
    /// portable), so tests can compare the builds.
    static WIDEST: std::cell::Cell<u8> = const { std::cell::Cell::new(2) };
}

/// Whether the kernels may use the build of `level` (always, outside tests). Public for
/// [`dispatch!`] only.
#[doc(hidden)]
#[inline(always)]
#[allow(dead_code)]
pub fn allowed(level: u8) -> bool {
    #[cfg(test)]
    return WIDEST.with(|w| w.get()) >= level;
    #[cfg(not(test))]
    {
        let _ = level;
        true
    }
}

/// Generates a kernel that dispatches at run time between AVX-512F+FMA, AVX2+FMA and
/// portable builds of the same `#[inline(always)]` body, `body::<F, FMA>` (`FMA` says
/// whether the build has fused multiply-adds: see `madd`). The one dispatch macro of the
/// workspace: `genot`'s native engine builds its SiLU kernels with it too.
///
/// ```
/// use genot_ot::real::Real;
/// #[inline(always)]
/// fn twice_body<F: Real, const FMA: bool>(a: &mut [F]) -> () {
///     a.iter_mut().for_each(|v| *v = *v + *v);
/// }
/// genot_ot::dispatch!(
///     /// Doubles every value.
///     fn twice<F: Real>(a: &mut [F]) -> () => twice_body
/// );
/// let mut v = [1.0f32, 2.5];
/// twice(&mut v);
/// assert_eq!(v, [2.0, 5.0]);
/// ```
#[macro_export]
macro_rules! dispatch {
    ($(#[$doc:meta])* $vis:vis fn $name:ident<F: Real>($($arg:ident : $ty:ty),*) -> $ret:ty => $body:ident) => {
        $(#[$doc])*
        #[inline]
        $vis fn $name<F: $crate::real::Real>($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512<F: $crate::real::Real>($($arg: $ty),*) -> $ret {
                    $body::<F, true>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2<F: $crate::real::Real>($($arg: $ty),*) -> $ret {
                    $body::<F, true>($($arg),*)
                }
                if $crate::real::allowed(2) && std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU supports the features the function was compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if $crate::real::allowed(1) && std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU supports the features the function was compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body::<F, false>($($arg),*)
        }
    };
}

/// `a * b + c`, fused where the build has FMA (a fused multiply-add without hardware
/// support is a slow library call).
#[inline(always)]
fn madd<F: Real, const FMA: bool>(a: F, b: F, c: F) -> F {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[inline(always)]
fn reduce_lanes<F: Real>(acc: [F; LANES]) -> F {
    acc.iter().fold(F::zero(), |s, &v| s + v)
}

#[inline(always)]
fn dot_body<F: Real, const FMA: bool>(a: &[F], b: &[F]) -> F {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [F::zero(); LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for k in 0..LANES {
            acc[k] = madd::<F, FMA>(x[k], y[k], acc[k]);
        }
    }
    let mut s = reduce_lanes(acc);
    for (&x, &y) in ar.iter().zip(br) {
        s = s + x * y;
    }
    s
}
dispatch!(
    /// Dot product of two slices (the shorter length is used).
    pub fn dot<F: Real>(a: &[F], b: &[F]) -> F => dot_body
);

#[inline(always)]
fn sq_dot_body<F: Real, const FMA: bool>(c: &[F], v: &[F]) -> F {
    let n = c.len().min(v.len());
    let (c, v) = (&c[..n], &v[..n]);
    let mut acc = [F::zero(); LANES];
    let (cc, vc) = (c.chunks_exact(LANES), v.chunks_exact(LANES));
    let (cr, vr) = (cc.remainder(), vc.remainder());
    for (x, y) in cc.zip(vc) {
        for k in 0..LANES {
            acc[k] = madd::<F, FMA>(x[k] * x[k], y[k], acc[k]);
        }
    }
    let mut s = reduce_lanes(acc);
    for (&x, &y) in cr.iter().zip(vr) {
        s = s + x * x * y;
    }
    s
}
dispatch!(
    /// `sum_j c_j^2 v_j`.
    pub fn sq_dot<F: Real>(c: &[F], v: &[F]) -> F => sq_dot_body
);

#[inline(always)]
fn max_diff_body<F: Real, const FMA: bool>(g: &[F], c: &[F]) -> F {
    // max_j (g_j - c_j)
    let n = g.len().min(c.len());
    let (g, c) = (&g[..n], &c[..n]);
    let mut acc = [F::neg_infinity(); LANES];
    let (gc, cc) = (g.chunks_exact(LANES), c.chunks_exact(LANES));
    let (gr, cr) = (gc.remainder(), cc.remainder());
    for (x, y) in gc.zip(cc) {
        for k in 0..LANES {
            let v = x[k] - y[k];
            acc[k] = if v > acc[k] { v } else { acc[k] };
        }
    }
    let mut m = acc.iter().fold(F::neg_infinity(), |m, &v| m.max(v));
    for (&x, &y) in gr.iter().zip(cr) {
        m = m.max(x - y);
    }
    m
}
dispatch!(
    /// `max_j (g_j - c_j)`.
    pub fn max_diff<F: Real>(g: &[F], c: &[F]) -> F => max_diff_body
);

#[inline(always)]
fn sum_exp_diff_body<F: Real, const FMA: bool>(g: &[F], c: &[F], shift: F, inv_eps: F) -> F {
    // sum_j exp((g_j - c_j - shift) * inv_eps)
    let n = g.len().min(c.len());
    let (g, c) = (&g[..n], &c[..n]);
    let mut acc = [F::zero(); LANES];
    let (gc, cc) = (g.chunks_exact(LANES), c.chunks_exact(LANES));
    let (gr, cr) = (gc.remainder(), cc.remainder());
    for (x, y) in gc.zip(cc) {
        for k in 0..LANES {
            acc[k] = acc[k] + ((x[k] - y[k] - shift) * inv_eps).fast_exp();
        }
    }
    let mut s = reduce_lanes(acc);
    for (&x, &y) in gr.iter().zip(cr) {
        s = s + ((x - y - shift) * inv_eps).fast_exp();
    }
    s
}
dispatch!(
    /// `sum_j exp((g_j - c_j - shift) / eps)`, given `inv_eps = 1 / eps`.
    pub fn sum_exp_diff<F: Real>(g: &[F], c: &[F], shift: F, inv_eps: F) -> F => sum_exp_diff_body
);

#[inline(always)]
fn col_max_update_body<F: Real, const FMA: bool>(fi: F, c: &[F], m: &mut [F]) {
    // m_j = max(m_j, fi - c_j)
    for (mj, &cj) in m.iter_mut().zip(c) {
        let v = fi - cj;
        *mj = if v > *mj { v } else { *mj };
    }
}
dispatch!(
    /// `m_j = max(m_j, f_i - c_j)` for one row `c` of the cost matrix.
    pub fn col_max_update<F: Real>(fi: F, c: &[F], m: &mut [F]) -> () => col_max_update_body
);

#[inline(always)]
fn col_sum_exp_update_body<F: Real, const FMA: bool>(
    fi: F,
    c: &[F],
    m: &[F],
    inv_eps: F,
    s: &mut [F],
) {
    // s_j += exp((fi - c_j - m_j) * inv_eps)
    for ((sj, &cj), &mj) in s.iter_mut().zip(c).zip(m) {
        *sj = *sj + ((fi - cj - mj) * inv_eps).fast_exp();
    }
}
dispatch!(
    /// `s_j += exp((f_i - c_j - m_j) / eps)` for one row `c` of the cost matrix.
    pub fn col_sum_exp_update<F: Real>(fi: F, c: &[F], m: &[F], inv_eps: F, s: &mut [F]) -> () => col_sum_exp_update_body
);

#[inline(always)]
fn axpy_body<F: Real, const FMA: bool>(alpha: F, x: &[F], y: &mut [F]) {
    for (yj, &xj) in y.iter_mut().zip(x) {
        *yj = madd::<F, FMA>(alpha, xj, *yj);
    }
}
dispatch!(
    /// `y += alpha * x`.
    pub fn axpy<F: Real>(alpha: F, x: &[F], y: &mut [F]) -> () => axpy_body
);

#[inline(always)]
fn kernel_row_body<F: Real, const FMA: bool>(
    fi: F,
    g: &[F],
    c: &[F],
    inv_eps: F,
    out: &mut [F],
) -> F {
    // out_j = exp(t_j), t_j = (fi + g_j - c_j) * inv_eps; returns max_j t_j.
    let n = out.len().min(g.len()).min(c.len());
    let (out, g, c) = (&mut out[..n], &g[..n], &c[..n]);
    let mut mx = [F::neg_infinity(); LANES];
    let full = n - n % LANES;
    for s in (0..full).step_by(LANES) {
        let (o, gs, cs) = (&mut out[s..s + LANES], &g[s..s + LANES], &c[s..s + LANES]);
        for k in 0..LANES {
            let t = (fi + gs[k] - cs[k]) * inv_eps;
            mx[k] = if t > mx[k] { t } else { mx[k] };
            o[k] = t.fast_exp();
        }
    }
    let mut m = mx.iter().fold(F::neg_infinity(), |a, &b| a.max(b));
    for j in full..n {
        let t = (fi + g[j] - c[j]) * inv_eps;
        m = m.max(t);
        out[j] = t.fast_exp();
    }
    m
}
dispatch!(
    /// `out_j = exp((f_i + g_j - c_j) / eps)`: one row of a plan or of a stabilised kernel.
    /// Returns the largest exponent, `max_j (f_i + g_j - c_j) / eps`: at or above
    /// [`Real::EXP_MAX_ARG`] the exponential overflowed (and was clamped).
    pub fn kernel_row<F: Real>(fi: F, g: &[F], c: &[F], inv_eps: F, out: &mut [F]) -> F => kernel_row_body
);

#[inline(always)]
fn moments_row_body<F: Real, const FMA: bool>(x: &[F]) -> (F, F, F) {
    // (sum, sum of squares, max); NaN propagates into the sums.
    let mut s = [F::zero(); LANES];
    let mut q = [F::zero(); LANES];
    let mut m = [F::neg_infinity(); LANES];
    let chunks = x.chunks_exact(LANES);
    let rem = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            s[k] = s[k] + c[k];
            q[k] = madd::<F, FMA>(c[k], c[k], q[k]);
            m[k] = if c[k] > m[k] { c[k] } else { m[k] };
        }
    }
    let (mut ss, mut qq) = (reduce_lanes(s), reduce_lanes(q));
    let mut mm = m.iter().fold(F::neg_infinity(), |a, &b| a.max(b));
    for &v in rem {
        ss = ss + v;
        qq = qq + v * v;
        mm = mm.max(v);
    }
    (ss, qq, mm)
}
#[inline(always)]
fn sum_body<F: Real, const FMA: bool>(x: &[F]) -> F {
    let mut acc = [F::zero(); LANES];
    let chunks = x.chunks_exact(LANES);
    let rem = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            acc[k] = acc[k] + c[k];
        }
    }
    rem.iter().fold(reduce_lanes(acc), |s, &v| s + v)
}
dispatch!(
    /// Sum of a slice.
    pub fn sum<F: Real>(x: &[F]) -> F => sum_body
);

dispatch!(
    /// `(sum, sum of squares, max)` of a slice.
    pub fn moments_row<F: Real>(x: &[F]) -> (F, F, F) => moments_row_body
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_matches_std_f32() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let rel = ((x.fast_exp() as f64) - (x as f64).exp()).abs() / (x as f64).exp();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 4e-7, "worst relative error {worst}");
        assert!((-200.0f32).fast_exp() < 1.2e-38);
        assert!((0.0f32).fast_exp() == 1.0);
    }

    /// `fast_ln` against libm's `ln` over the whole positive range (subnormals included,
    /// log-spaced, with the neighbourhood of 1 where `ln` is small), and on the special
    /// values, in both types.
    #[test]
    fn fast_ln_matches_std() {
        // Error relative to |ln x|, or absolute where |ln x| < 1 (near x = 1).
        let err32 = |x: f32| {
            let (got, want) = (x.fast_ln() as f64, (x as f64).ln());
            (got - want).abs() / want.abs().max(1.0)
        };
        // Every 997th positive float32 (all binades, subnormals first).
        let mut worst = 0.0f64;
        for bits in (1..0x7f80_0000u32).step_by(997) {
            worst = worst.max(err32(f32::from_bits(bits)));
        }
        for i in -2000..2000 {
            worst = worst.max(err32(1.0 + i as f32 * 1e-4));
        }
        assert!(worst < 3e-7, "float32: worst error {worst}");
        let mut worst = 0.0f64;
        for bits in (1..0x7ff0_0000_0000_0000u64).step_by(0x7ff0_0000_0000_0000 / 3_000_000) {
            let x = f64::from_bits(bits);
            let want = x.ln();
            worst = worst.max((x.fast_ln() - want).abs() / want.abs().max(1.0));
        }
        for i in -2000..2000 {
            let x = 1.0 + i as f64 * 1e-7;
            worst = worst.max((x.fast_ln() - x.ln()).abs());
        }
        assert!(worst < 1e-15, "float64: worst error {worst}");
        assert_eq!(0.0f32.fast_ln(), f32::NEG_INFINITY);
        assert_eq!(f32::INFINITY.fast_ln(), f32::INFINITY);
        assert!((-1.0f32).fast_ln().is_nan() && f32::NAN.fast_ln().is_nan());
        assert_eq!(0.0f64.fast_ln(), f64::NEG_INFINITY);
        assert_eq!(f64::INFINITY.fast_ln(), f64::INFINITY);
        assert!((-1.0f64).fast_ln().is_nan() && f64::NAN.fast_ln().is_nan());
        assert_eq!(1.0f32.fast_ln(), 0.0);
        assert_eq!(1.0f64.fast_ln(), 0.0);
    }

    #[test]
    fn fast_exp_matches_std_f64() {
        let mut worst = 0.0f64;
        let mut x = -700.0f64;
        while x < 700.0 {
            let rel = (x.fast_exp() - x.exp()).abs() / x.exp();
            worst = worst.max(rel);
            x += 0.0913;
        }
        assert!(worst < 1e-14, "worst relative error {worst}");
    }

    #[test]
    fn kernels_match_naive_loops() {
        let g: Vec<f64> = (0..37).map(|i| (i as f64 * 0.37).sin()).collect();
        let c: Vec<f64> = (0..37).map(|i| (i as f64 * 0.11).cos() + 1.0).collect();
        let naive_dot: f64 = g.iter().zip(&c).map(|(a, b)| a * b).sum();
        assert!((dot(&g, &c) - naive_dot).abs() < 1e-12);
        let naive_max = g
            .iter()
            .zip(&c)
            .map(|(a, b)| a - b)
            .fold(f64::MIN, f64::max);
        assert_eq!(max_diff(&g, &c), naive_max);
        let naive_sum: f64 = g
            .iter()
            .zip(&c)
            .map(|(a, b)| ((a - b - 0.3) * 2.0).exp())
            .sum();
        assert!((sum_exp_diff(&g, &c, 0.3, 2.0) - naive_sum).abs() < 1e-12);
        let mut m = vec![f64::NEG_INFINITY; 37];
        col_max_update(0.5, &c, &mut m);
        assert!(m.iter().zip(&c).all(|(m, c)| *m == 0.5 - c));
    }

    /// Every kernel on every build this CPU has: the two FMA builds agree bit for bit, the
    /// portable one to rounding.
    #[test]
    fn builds_agree() {
        let n = 1000;
        let g: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        let c: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos() + 1.0).collect();
        let run = |level: u8| {
            WIDEST.with(|w| w.set(level));
            let mut out = vec![
                dot(&g, &c),
                sq_dot(&c, &g),
                max_diff(&g, &c),
                sum_exp_diff(&g, &c, 0.3, 2.0),
                sum(&g),
            ];
            let (a, b, d) = moments_row(&g);
            out.extend([a, b, d]);
            let mut m = vec![f32::NEG_INFINITY; n];
            col_max_update(0.5, &c, &mut m);
            let mut s = vec![0.0f32; n];
            col_sum_exp_update(0.2, &c, &m, 1.5, &mut s);
            let mut y = g.clone();
            axpy(0.7, &c, &mut y);
            let mut k = vec![0.0f32; n];
            let top = kernel_row(0.1, &g, &c, 3.0, &mut k);
            out.push(top);
            out.extend(m.into_iter().chain(s).chain(y).chain(k));
            WIDEST.with(|w| w.set(2));
            out
        };
        let (wide, avx2, portable) = (run(2), run(1), run(0));
        assert!(wide
            .iter()
            .zip(&avx2)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        for (i, (a, b)) in avx2.iter().zip(&portable).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * a.abs().max(1.0),
                "value {i}: {a} vs {b}"
            );
        }
    }
}
