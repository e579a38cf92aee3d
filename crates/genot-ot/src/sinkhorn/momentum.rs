//! Over-relaxation of the Sinkhorn updates: `f <- (1 - w) f_old + w f_sinkhorn` (and the
//! same on log-scalings in kernel mode), `w` in [1, 2).
//!
//! Adaptive mode follows Lehmann, von Renesse, Sambale and Uschmajew (2021, "A note on
//! overrelaxation in the Sinkhorn algorithm"): with `theta` the linear rate of the plain
//! iteration, the best weight is `w = 2 / (1 + sqrt(1 - theta))`. It starts at `w = 1.5`
//! and re-estimates `theta` every few iterations from the rate `rho`
//! observed under the current `w < w_opt` (for SOR-type iterations
//! `sqrt(rho) = (w mu + sqrt(w^2 mu^2 - 4 (w - 1))) / 2` with `theta = mu^2`, hence
//! `mu = (rho + w - 1) / (w sqrt(rho))`), and `w` only ever grows. Over-relaxation is only
//! safe in the local, linear regime: if the error grows above twice the best error seen,
//! `w` drops back to 1, and may be raised again after another plain warm-up once the
//! error is ten times below the level where it failed; after three failures it stays 1.

use crate::real::Real;

/// The relaxed scaling `old^(1 - w) new^w` (kernel mode's over-relaxation on log-scalings),
/// with the vectorisable `fast_ln` and `fast_exp`. A NaN propagates (the loop's checks
/// catch it); `fast_exp` clamps the factor of a zero or infinite ratio to the float range,
/// which the loop's range checks then see.
#[inline(always)]
pub(crate) fn relax<F: Real>(w: F, old: F, new: F) -> F {
    if w == F::one() {
        new
    } else {
        old * (w * (new / old).fast_ln()).fast_exp()
    }
}

#[inline(always)]
fn relax_balanced_body<F: Real, const FMA: bool>(w: F, b: &[F], ktu: &[F], v: &mut [F]) {
    if w == F::one() {
        for ((vj, &bj), &kj) in v.iter_mut().zip(b).zip(ktu) {
            *vj = bj / kj;
        }
    } else {
        for ((vj, &bj), &kj) in v.iter_mut().zip(b).zip(ktu) {
            *vj = relax(w, *vj, bj / kj);
        }
    }
}
crate::dispatch!(
    /// The balanced scaling update of kernel mode, relaxed: `v_j <- relax(w, v_j, b_j / ktu_j)`,
    /// in one vectorised pass (with a libm `ln` call per value, a relaxed iteration took
    /// about 30 us more than a plain one at n = m = 1024: bench/BENCHMARKS.md, issue 18).
    pub(crate) fn relax_balanced<F: Real>(w: F, b: &[F], ktu: &[F], v: &mut [F]) -> () => relax_balanced_body
);

/// How the updates are relaxed.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Momentum {
    /// Plain Sinkhorn (`w = 1`).
    None,
    /// A fixed `w` in [1, 2).
    Fixed(f64),
    /// `w` estimated from the convergence rate (the default).
    #[default]
    Adaptive,
}

/// Iterations of plain Sinkhorn before the rate is estimated, and the window used.
const WARMUP: usize = 6;
const WINDOW: usize = 3;
const MAX_W: f64 = 1.9;
const MAX_FAILURES: usize = 3;
/// Adaptive relaxation starts here rather than at 1: the rate keeps slowing while the
/// iteration leaves its nonlinear phase, so a weight estimated from the early rate lags.
/// Measured on six problems (bench/BENCHMARKS.md): 1.5 from the start cut iterations by
/// 30-40% on the benchmark problems against starting at 1, and the guard below catches the
/// problems where it is too early.
const START_W: f64 = 1.5;

pub(crate) struct Relaxation {
    w: f64,
    /// No more changes to `w` (fixed mode, or switched off after divergence).
    frozen: bool,
    /// Iteration at which `w` last changed.
    since: usize,
    /// Times relaxation made the error grow, and the error below which it may resume.
    failures: usize,
    resume_below: f64,
    best: f64,
    /// (iteration, error) of the checks so far.
    trace: Vec<(usize, f64)>,
    /// Whether the current potentials are meaningful (not the arbitrary zero start).
    started: bool,
}

impl Relaxation {
    pub fn new(mode: Momentum) -> Self {
        let w = match mode {
            Momentum::Fixed(w) => w,
            Momentum::Adaptive => START_W,
            Momentum::None => 1.0,
        };
        Relaxation {
            w,
            frozen: !matches!(mode, Momentum::Adaptive),
            since: 0,
            failures: 0,
            resume_below: f64::INFINITY,
            best: f64::INFINITY,
            trace: Vec::new(),
            started: false,
        }
    }

    /// Relaxation from potentials that already come from an update (a log-domain start, a
    /// warm start): the first update may be relaxed too.
    pub fn from_solution(mode: Momentum) -> Self {
        Relaxation {
            started: true,
            ..Self::new(mode)
        }
    }

    /// The current relaxation weight. The first update (before any error was observed) is
    /// never relaxed: relaxing towards arbitrary starting potentials overshoots by about
    /// `1 / eps` and can overflow at small epsilon.
    pub fn w(&self) -> f64 {
        if self.started || !self.trace.is_empty() || self.best < f64::INFINITY {
            self.w
        } else {
            1.0
        }
    }

    /// Feeds the error measured after `iteration` iterations.
    pub fn observe(&mut self, iteration: usize, err: f64) {
        self.best = self.best.min(err);
        if self.w != 1.0 && err > 2.0 * self.best {
            // Not in the linear regime yet (or unstable): back to plain Sinkhorn.
            self.w = 1.0;
            self.since = iteration;
            self.failures += 1;
            self.resume_below = 0.1 * self.best;
            self.frozen = self.frozen || self.failures >= MAX_FAILURES;
            return;
        }
        self.trace.push((iteration, err));
        if self.frozen
            || iteration < self.since.max(WARMUP)
            || (self.w == 1.0 && err >= self.resume_below)
        {
            return;
        }
        // The rate over the last WINDOW iterations, all run with the current w and past the
        // transient that follows a change of w.
        let settled = if self.w == 1.0 {
            self.since
        } else {
            self.since + WINDOW
        };
        let Some(&(it0, e0)) = self
            .trace
            .iter()
            .rev()
            .find(|(it, _)| iteration - *it >= WINDOW && *it >= settled)
        else {
            return;
        };
        if !(e0 > 0.0 && err > 0.0 && err < e0) {
            return;
        }
        let rho = (err / e0).powf(1.0 / (iteration - it0) as f64).min(0.999);
        let w = self.w;
        if w > 1.0 && rho <= 1.05 * (w - 1.0) {
            return; // already at (or past) the optimal regime
        }
        let mu = (rho + w - 1.0) / (w * rho.sqrt());
        let theta = (mu * mu).min(0.999);
        let best = (2.0 / (1.0 + (1.0 - theta).sqrt())).clamp(1.0, MAX_W);
        if best > self.w + 1e-3 {
            self.w = best;
            self.since = iteration;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_weight_from_rate() {
        /// The rate of the relaxed iteration for a plain rate theta = mu^2 and w < w_opt.
        fn relaxed_rate(w: f64, theta: f64) -> f64 {
            let mu = theta.sqrt();
            ((w * mu + (w * w * mu * mu - 4.0 * (w - 1.0)).sqrt()) / 2.0).powi(2)
        }
        let w_opt = |theta: f64| 2.0 / (1.0 + (1.0 - theta).sqrt());
        let mut r = Relaxation::new(Momentum::Adaptive);
        assert_eq!(
            r.w(),
            1.0,
            "the first update from a zero start is never relaxed"
        );
        assert_eq!(Relaxation::from_solution(Momentum::Adaptive).w(), START_W);
        // Under w = 1.5 the error of a problem with plain rate 0.99 contracts by
        // relaxed_rate(1.5, 0.99): w is raised to its optimum.
        let rho = relaxed_rate(START_W, 0.99);
        let mut e = 1.0;
        let mut it = 0;
        while it < WARMUP.max(2 * WINDOW) {
            it += 1;
            e *= rho;
            r.observe(it, e);
        }
        assert!(
            (r.w() - w_opt(0.99)).abs() < 1e-6,
            "{} vs {}",
            r.w(),
            w_opt(0.99)
        );
        // Growth beyond twice the best error switches it off...
        it += 1;
        r.observe(it, 3.0 * e);
        assert_eq!(r.w(), 1.0);
        let failed_at = e;
        // ...until the error is ten times below the best seen: plain iterations with rate
        // 0.9 from there give w_opt(0.9).
        let mut plain = failed_at;
        while plain * 0.9 >= 0.1 * failed_at {
            it += 1;
            plain *= 0.9;
            r.observe(it, plain);
            assert_eq!(r.w(), 1.0, "resumed above the resume level");
        }
        for _ in 0..WINDOW {
            it += 1;
            plain *= 0.9;
            r.observe(it, plain);
        }
        assert!(
            (r.w() - w_opt(0.9)).abs() < 1e-6,
            "{} vs {}",
            r.w(),
            w_opt(0.9)
        );
        assert_eq!(Relaxation::new(Momentum::None).w(), 1.0);
        let mut fixed = Relaxation::new(Momentum::Fixed(1.5));
        fixed.observe(1, 0.5);
        assert_eq!(fixed.w(), 1.5);
    }
}
