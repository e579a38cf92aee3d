//! Over-relaxation of the Sinkhorn updates: `f <- (1 - w) f_old + w f_sinkhorn` (and the
//! same on log-scalings in kernel mode), `w` in [1, 2).
//!
//! Adaptive mode follows Lehmann, von Renesse, Sambale and Uschmajew (2021, "A note on
//! overrelaxation in the Sinkhorn algorithm"): with `theta` the linear rate of the plain
//! iteration, the best weight is `w = 2 / (1 + sqrt(1 - theta))`. `theta` is first
//! estimated from the error trace of plain iterations; since the early rate is often faster
//! than the asymptotic one, it is re-estimated every few iterations from the rate `rho`
//! observed under the current `w < w_opt` (for SOR-type iterations
//! `sqrt(rho) = (w mu + sqrt(w^2 mu^2 - 4 (w - 1))) / 2` with `theta = mu^2`, hence
//! `mu = (rho + w - 1) / (w sqrt(rho))`), and `w` only ever grows. Over-relaxation is only
//! safe in the local, linear regime: if the error grows above twice the best error seen,
//! `w` drops back to 1, and may be raised again after another plain warm-up once the
//! error is ten times below the level where it failed; after three failures it stays 1.

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
}

impl Relaxation {
    pub fn new(mode: Momentum) -> Self {
        let w = match mode {
            Momentum::Fixed(w) => w,
            _ => 1.0,
        };
        Relaxation {
            w,
            frozen: !matches!(mode, Momentum::Adaptive),
            since: 0,
            failures: 0,
            resume_below: f64::INFINITY,
            best: f64::INFINITY,
            trace: Vec::new(),
        }
    }

    /// The current relaxation weight.
    pub fn w(&self) -> f64 {
        self.w
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
        // The rate over the last WINDOW iterations, all run with the current w.
        let Some(&(it0, e0)) = self
            .trace
            .iter()
            .rev()
            .find(|(it, _)| iteration - *it >= WINDOW && *it >= self.since)
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
        let mut r = Relaxation::new(Momentum::Adaptive);
        // Plain iterations contracting by 0.9: w is set at the end of the warm-up.
        for it in 1..=WARMUP {
            r.observe(it, 0.9f64.powi(it as i32));
        }
        let want = 2.0 / (1.0 + (1.0f64 - 0.9).sqrt());
        assert!((r.w() - want).abs() < 1e-9, "{} vs {want}", r.w());
        // Under w, a plain rate theta shows as rho with sqrt(rho) = (w mu + sqrt(w^2 mu^2 -
        // 4 (w - 1))) / 2; the rho of a slower theta = 0.99 raises w to its optimum.
        let (w, mu) = (r.w(), 0.99f64.sqrt());
        let rho = ((w * mu + (w * w * mu * mu - 4.0 * (w - 1.0)).sqrt()) / 2.0).powi(2);
        let mut e = 0.9f64.powi(WARMUP as i32);
        for it in WARMUP + 1..=WARMUP + WINDOW {
            e *= rho;
            r.observe(it, e);
        }
        let want = 2.0 / (1.0 + (1.0f64 - 0.99).sqrt());
        assert!((r.w() - want).abs() < 1e-6, "{} vs {want}", r.w());
        // Growth beyond twice the best error switches it off, until the error is ten times
        // below the best seen and a new warm-up has passed.
        let fail = WARMUP + WINDOW + 1;
        r.observe(fail, 1.0);
        assert_eq!(r.w(), 1.0);
        for it in fail + 1..fail + 2 * WINDOW {
            r.observe(it, e * 0.5);
        }
        assert_eq!(r.w(), 1.0, "resumed above the resume level");
        for (k, it) in (fail + 2 * WINDOW..fail + 4 * WINDOW).enumerate() {
            r.observe(it, e * 0.01 * 0.9f64.powi(k as i32));
        }
        assert!(r.w() > 1.0, "did not resume");
        assert_eq!(Relaxation::new(Momentum::None).w(), 1.0);
        assert_eq!(Relaxation::new(Momentum::Fixed(1.5)).w(), 1.5);
    }
}
