//! Over-relaxation of the Sinkhorn updates: `f <- (1 - w) f_old + w f_sinkhorn` (and the
//! same on log-scalings in kernel mode), `w` in [1, 2).
//!
//! Adaptive mode follows Lehmann, von Renesse, Sambale and Uschmajew (2021, "A note on
//! overrelaxation in the Sinkhorn algorithm"): once the plain iteration has settled into its
//! linear rate `r` (estimated from the error trace), `w = 2 / (1 + sqrt(1 - r))`. It is
//! switched off for good if the error then grows above twice the best error seen.

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
const WARMUP: usize = 10;
const WINDOW: usize = 5;
const MAX_W: f64 = 1.9;

pub(crate) struct Relaxation {
    mode: Momentum,
    w: f64,
    decided: bool,
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
            mode,
            w,
            decided: !matches!(mode, Momentum::Adaptive),
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
            // Diverging: fall back to plain Sinkhorn for the rest of the solve.
            self.w = 1.0;
            self.decided = true;
            return;
        }
        self.trace.push((iteration, err));
        if self.decided || iteration < WARMUP {
            return;
        }
        // The check at least WINDOW iterations before this one.
        if let Some(&(it0, e0)) = self
            .trace
            .iter()
            .rev()
            .find(|(it, _)| iteration - *it >= WINDOW)
        {
            if e0 > 0.0 && err > 0.0 && err < e0 {
                let r = (err / e0).powf(1.0 / (iteration - it0) as f64).min(0.99);
                self.w = (2.0 / (1.0 + (1.0 - r).sqrt())).clamp(1.0, MAX_W);
                self.decided = true;
            }
        }
        let _ = self.mode;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_weight_from_rate() {
        let mut r = Relaxation::new(Momentum::Adaptive);
        // Error contracting by 0.9 per iteration.
        for it in 1..=12 {
            r.observe(it, 0.9f64.powi(it as i32));
        }
        let want = 2.0 / (1.0 + (1.0f64 - 0.9).sqrt());
        assert!((r.w() - want).abs() < 1e-9, "{} vs {want}", r.w());
        // Growth beyond twice the best error switches it off.
        r.observe(13, 1.0);
        assert_eq!(r.w(), 1.0);
        assert_eq!(Relaxation::new(Momentum::None).w(), 1.0);
        assert_eq!(Relaxation::new(Momentum::Fixed(1.5)).w(), 1.5);
    }
}
