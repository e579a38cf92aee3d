//! Batched ODE solvers for transport: `dx/dt = v(t, x)` from `t0` to `t1` for a batch of
//! states at once (one state per row), so the velocity field is evaluated once per stage on
//! the whole batch.
//!
//! - Fixed step: [`Solver::Euler`], [`Solver::Midpoint`], [`Solver::Rk4`] (orders 1, 2, 4).
//! - Adaptive: [`Solver::Dopri5`] (Dormand-Prince 5(4)) and [`Solver::Tsit5`] (Tsitouras
//!   5(4)), both first-same-as-last, with a PI step controller. In [`integrate`] the batch
//!   shares one step size; a step is accepted when *every* row meets the tolerance (the
//!   error norm is the largest per-row RMS of `err / (atol + rtol max(|x|, |x_new|))`), so
//!   each sample is integrated at least as accurately as it would be alone.
//!   [`adaptive_rows`] gives every row its own step size instead (what transport uses).
//!
//! ```
//! use genot::ode::{integrate, Solver};
//! use ndarray::array;
//! // dx/dt = -x: x(1) = x(0) / e.
//! let x0 = array![[1.0f64, 2.0]];
//! let (x1, stats) = integrate(|_, x| x.mapv(|v| -v), x0, 0.0, 1.0, Solver::Dopri5 { rtol: 1e-8, atol: 1e-8 }).unwrap();
//! assert!((x1[[0, 1]] - 2.0 / std::f64::consts::E).abs() < 1e-7);
//! assert!(stats.steps > 0);
//! ```

use genot_ot::real::Real;
use ndarray::{Array2, ArrayView1, Axis, Zip};
use thiserror::Error;

/// Which integrator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Solver {
    Euler {
        steps: usize,
    },
    Midpoint {
        steps: usize,
    },
    Rk4 {
        steps: usize,
    },
    /// Adaptive Dormand-Prince 5(4) ([`DOPRI5`]).
    Dopri5 {
        rtol: f64,
        atol: f64,
    },
    /// Adaptive Tsitouras 5(4) ([`TSIT5`]).
    Tsit5 {
        rtol: f64,
        atol: f64,
    },
}

impl Solver {
    /// The names [`Solver::from_name`] takes.
    pub const NAMES: [&'static str; 5] = ["dopri5", "tsit5", "euler", "midpoint", "rk4"];

    /// The solver called `name` (one of [`Solver::NAMES`]): fixed-step solvers take
    /// `steps`, the adaptive ones `rtol` and `atol`. The error names the bad setting.
    pub fn from_name(name: &str, steps: usize, rtol: f64, atol: f64) -> Result<Self, SolverError> {
        match name {
            "dopri5" | "tsit5" if !(rtol > 0.0 && atol > 0.0) => {
                Err(SolverError::Tolerances { rtol, atol })
            }
            "dopri5" => Ok(Solver::Dopri5 { rtol, atol }),
            "tsit5" => Ok(Solver::Tsit5 { rtol, atol }),
            "euler" | "midpoint" | "rk4" if steps == 0 => Err(SolverError::Steps {
                solver: name.into(),
            }),
            "euler" => Ok(Solver::Euler { steps }),
            "midpoint" => Ok(Solver::Midpoint { steps }),
            "rk4" => Ok(Solver::Rk4 { steps }),
            _ => Err(SolverError::Unknown { name: name.into() }),
        }
    }

    /// The pair and tolerances of an adaptive solver; `None` for a fixed-step one.
    pub fn adaptive(&self) -> Option<(&'static Tableau, f64, f64)> {
        match *self {
            Solver::Dopri5 { rtol, atol } => Some((&DOPRI5, rtol, atol)),
            Solver::Tsit5 { rtol, atol } => Some((&TSIT5, rtol, atol)),
            _ => None,
        }
    }
}

/// Counts of an integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OdeStats {
    /// Accepted steps.
    pub steps: usize,
    /// Rejected steps (adaptive only).
    pub rejected: usize,
    /// Evaluations of the velocity field.
    pub evaluations: usize,
}

/// Why [`Solver::from_name`] refused its settings; the message names the setting in
/// backquotes, as the transport settings spell it (the CLI shows it as its flag).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SolverError {
    /// Not one of [`Solver::NAMES`].
    #[error("unknown `solver` {name:?}: expected one of {}", Solver::NAMES.join(", "))]
    Unknown { name: String },
    /// An adaptive solver's tolerances are not both positive.
    #[error("`rtol` and `atol` must be > 0, got {rtol} and {atol}")]
    Tolerances { rtol: f64, atol: f64 },
    /// A fixed-step solver with no steps.
    #[error("`steps` must be >= 1 for {solver}")]
    Steps { solver: String },
}

/// Why an integration failed.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum OdeError {
    #[error("invalid ODE solver settings: {0}")]
    Invalid(String),
    #[error("the state became non-finite at t = {t} (row {row}): the velocity field diverges")]
    NonFinite { t: f64, row: usize },
    #[error("the adaptive solver needed more than {max} steps (stopped at t = {t}); loosen rtol/atol or use a fixed-step solver")]
    TooManySteps { max: usize, t: f64 },
    #[error("the adaptive step size fell to {h:e} at t = {t}: the problem is too stiff or the field is not smooth")]
    StepUnderflow { t: f64, h: f64 },
}

/// Most accepted + rejected steps of the adaptive solver.
pub const MAX_ADAPTIVE_STEPS: usize = 100_000;

fn check_finite<F: Real>(x: &Array2<F>, t: f64) -> Result<(), OdeError> {
    match x
        .outer_iter()
        .position(|r| r.iter().any(|v| !v.is_finite()))
    {
        Some(row) => Err(OdeError::NonFinite { t, row }),
        None => Ok(()),
    }
}

/// `x + sum_k c_k k_k` (the `c_k` already include the step size).
fn combine<F: Real>(x: &Array2<F>, terms: &[(f64, &Array2<F>)]) -> Array2<F> {
    let mut out = x.clone();
    for &(c, k) in terms {
        if c != 0.0 {
            let c = F::c(c);
            Zip::from(&mut out)
                .and(k)
                .for_each(|o, &kv| *o = *o + c * kv);
        }
    }
    out
}

/// Integrates `dx/dt = f(t, x)` from `t0` to `t1` (either direction) starting at `x0`.
pub fn integrate<F: Real>(
    mut f: impl FnMut(f64, &Array2<F>) -> Array2<F>,
    x0: Array2<F>,
    t0: f64,
    t1: f64,
    solver: Solver,
) -> Result<(Array2<F>, OdeStats), OdeError> {
    if !(t0.is_finite() && t1.is_finite()) {
        return Err(OdeError::Invalid(format!(
            "time span [{t0}, {t1}] is not finite"
        )));
    }
    check_finite(&x0, t0)?;
    let mut stats = OdeStats::default();
    let mut evaluations = 0;
    let mut eval = |t: f64, x: &Array2<F>| {
        evaluations += 1;
        f(t, x)
    };
    let fixed = |steps: usize| {
        if steps == 0 {
            Err(OdeError::Invalid(
                "a fixed-step solver needs steps >= 1".into(),
            ))
        } else {
            Ok(((t1 - t0) / steps as f64, steps))
        }
    };
    let mut x = x0;
    match solver {
        Solver::Euler { steps } | Solver::Midpoint { steps } | Solver::Rk4 { steps } => {
            let (h, steps) = fixed(steps)?;
            for s in 0..steps {
                let t = t0 + s as f64 * h;
                x = match solver {
                    Solver::Euler { .. } => {
                        let k1 = eval(t, &x);
                        combine(&x, &[(h, &k1)])
                    }
                    Solver::Midpoint { .. } => {
                        let k1 = eval(t, &x);
                        let k2 = eval(t + 0.5 * h, &combine(&x, &[(0.5 * h, &k1)]));
                        combine(&x, &[(h, &k2)])
                    }
                    _ => {
                        let k1 = eval(t, &x);
                        let k2 = eval(t + 0.5 * h, &combine(&x, &[(0.5 * h, &k1)]));
                        let k3 = eval(t + 0.5 * h, &combine(&x, &[(0.5 * h, &k2)]));
                        let k4 = eval(t + h, &combine(&x, &[(h, &k3)]));
                        combine(
                            &x,
                            &[
                                (h / 6.0, &k1),
                                (h / 3.0, &k2),
                                (h / 3.0, &k3),
                                (h / 6.0, &k4),
                            ],
                        )
                    }
                };
                check_finite(&x, t + h)?;
                stats.steps += 1;
            }
            stats.evaluations = evaluations;
            Ok((x, stats))
        }
        Solver::Dopri5 { .. } | Solver::Tsit5 { .. } => {
            let (tableau, rtol, atol) = solver.adaptive().expect("an adaptive solver");
            check_tolerances(rtol, atol)?;
            let x = adaptive(tableau, &mut eval, x, t0, t1, rtol, atol, &mut stats)?;
            stats.evaluations = evaluations;
            Ok((x, stats))
        }
    }
}

/// RMS of `err / (atol + rtol max(|x|, |y|))` over one row.
fn row_norm<E: Real, F: Real>(
    err: ArrayView1<E>,
    x: ArrayView1<F>,
    y: ArrayView1<F>,
    rtol: f64,
    atol: f64,
) -> f64 {
    let mut s = 0.0;
    for ((e, a), b) in err.iter().zip(x.iter()).zip(y.iter()) {
        let sc = atol + rtol * a.f64().abs().max(b.f64().abs());
        s += (e.f64() / sc).powi(2);
    }
    (s / err.len().max(1) as f64).sqrt()
}

/// Largest per-row [`row_norm`].
fn error_norm<F: Real>(err: &Array2<F>, x: &Array2<F>, y: &Array2<F>, rtol: f64, atol: f64) -> f64 {
    let mut worst = 0.0f64;
    for ((e, a), b) in err.outer_iter().zip(x.outer_iter()).zip(y.outer_iter()) {
        worst = worst.max(row_norm(e, a, b, rtol, atol));
    }
    worst
}

fn check_tolerances(rtol: f64, atol: f64) -> Result<(), OdeError> {
    if rtol > 0.0 && atol > 0.0 && rtol.is_finite() && atol.is_finite() {
        Ok(())
    } else {
        Err(OdeError::Invalid(format!(
            "rtol and atol must be positive, got {rtol} and {atol}"
        )))
    }
}

/// An explicit embedded Runge-Kutta pair of order 5(4) with seven stages, the last at
/// `c = 1` on the new solution (first same as last: six evaluations per accepted step).
#[derive(Debug, Clone, PartialEq)]
pub struct Tableau {
    /// The pair's name, for messages.
    pub name: &'static str,
    /// Nodes of stages 2 to 6 (stage 7 is at `c = 1`).
    pub c: [f64; 5],
    /// `a[s][j]`: the weight of stage `j + 1` in the state of stage `s + 2`; row 5 holds
    /// the 5th-order solution's weights (stage 7 is evaluated on it).
    pub a: [[f64; 6]; 6],
    /// 5th- minus 4th-order weights, stages 1 to 7 (the local error estimate).
    pub e: [f64; 7],
}

/// Dormand and Prince (1980), the pair of MATLAB's `ode45` and SciPy's `RK45`.
pub const DOPRI5: Tableau = Tableau {
    name: "dopri5",
    c: [1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0],
    a: [
        [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
        [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
        [
            19372.0 / 6561.0,
            -25360.0 / 2187.0,
            64448.0 / 6561.0,
            -212.0 / 729.0,
            0.0,
            0.0,
        ],
        [
            9017.0 / 3168.0,
            -355.0 / 33.0,
            46732.0 / 5247.0,
            49.0 / 176.0,
            -5103.0 / 18656.0,
            0.0,
        ],
        [
            35.0 / 384.0,
            0.0,
            500.0 / 1113.0,
            125.0 / 192.0,
            -2187.0 / 6784.0,
            11.0 / 84.0,
        ],
    ],
    e: [
        71.0 / 57600.0,
        0.0,
        -71.0 / 16695.0,
        71.0 / 1920.0,
        -17253.0 / 339200.0,
        22.0 / 525.0,
        -1.0 / 40.0,
    ],
};

/// Tsitouras (2011), "Runge-Kutta pairs of order 5(4) satisfying only the first column
/// simplifying assumption", Comput. Math. Appl. 62: the default of diffrax (and so of
/// OTT-JAX's GENOT transport) and of Julia's DifferentialEquations.
pub const TSIT5: Tableau = Tableau {
    name: "tsit5",
    c: [0.161, 0.327, 0.9, 0.980_025_540_904_509_7, 1.0],
    a: [
        [0.161, 0.0, 0.0, 0.0, 0.0, 0.0],
        [
            -0.008_480_655_492_356_989,
            0.335_480_655_492_357,
            0.0,
            0.0,
            0.0,
            0.0,
        ],
        [
            2.897_153_057_105_493_5,
            -6.359_448_489_975_075,
            4.362_295_432_869_581_5,
            0.0,
            0.0,
            0.0,
        ],
        [
            5.325_864_828_439_257,
            -11.748_883_564_062_828,
            7.495_539_342_889_836_5,
            -0.092_495_066_361_755_25,
            0.0,
            0.0,
        ],
        [
            5.861_455_442_946_42,
            -12.920_969_317_847_11,
            8.159_367_898_576_159,
            -0.071_584_973_281_401,
            -0.028_269_050_394_068_383,
            0.0,
        ],
        [
            0.096_460_766_818_065_23,
            0.01,
            0.479_889_650_414_499_6,
            1.379_008_574_103_742,
            -3.290_069_515_436_081,
            2.324_710_524_099_774,
        ],
    ],
    e: [
        -0.001_780_011_052_225_777,
        -0.000_816_434_459_656_746_9,
        0.007_880_878_010_261_995,
        -0.144_711_007_173_262_9,
        0.582_357_165_452_555_2,
        -0.458_082_105_929_187,
        1.0 / 66.0,
    ],
};

impl Tableau {
    /// The stage states of one step from `x` with stage slopes `k` (`k[0]` at `x`):
    /// `x + h sum_j a[s][j] k_j`, where `h` is given per row.
    fn state<F: Real>(&self, s: usize, x: &Array2<F>, k: &[Array2<F>], h: &[f64]) -> Array2<F> {
        let mut out = x.clone();
        for (j, kj) in k.iter().enumerate().take(s + 1) {
            let a = self.a[s][j];
            if a == 0.0 {
                continue;
            }
            if let [h] = h {
                let c = F::c(a * h);
                Zip::from(&mut out)
                    .and(kj)
                    .for_each(|o, &v| *o = *o + c * v);
            } else {
                for ((mut row, kr), &hr) in out.outer_iter_mut().zip(kj.outer_iter()).zip(h) {
                    let c = F::c(a * hr);
                    Zip::from(&mut row)
                        .and(&kr)
                        .for_each(|o, &v| *o = *o + c * v);
                }
            }
        }
        out
    }

    /// One step: the slopes of stages 2 to 7 (evaluated through `eval(c, state)`, with
    /// `k1` given), the new solution and the per-row error norm (RMS of
    /// `err / (atol + rtol max(|x|, |y|))`).
    #[allow(clippy::too_many_arguments)]
    fn step<F: Real>(
        &self,
        eval: &mut impl FnMut(f64, &Array2<F>) -> Array2<F>,
        x: &Array2<F>,
        k1: Array2<F>,
        h: &[f64],
        rtol: f64,
        atol: f64,
    ) -> (Array2<F>, Array2<F>, Vec<f64>) {
        let mut k = Vec::with_capacity(7);
        k.push(k1);
        for s in 0..5 {
            let state = self.state(s, x, &k, h);
            k.push(eval(self.c[s], &state));
        }
        let y = self.state(5, x, &k, h);
        k.push(eval(1.0, &y));
        // The error in f64 (the difference of two nearby solutions).
        let err = Array2::from_shape_fn(x.dim(), |(r, c)| {
            let hr = if h.len() == 1 { h[0] } else { h[r] };
            let e: f64 = self
                .e
                .iter()
                .zip(&k)
                .map(|(ej, kj)| ej * kj[[r, c]].f64())
                .sum();
            hr * e
        });
        let norms = (0..x.nrows())
            .map(|r| row_norm(err.row(r), x.row(r), y.row(r), rtol, atol))
            .collect();
        let k7 = k.pop().expect("seven stages");
        (y, k7, norms)
    }
}

/// The PI step-size factor after an accepted step with error norm `en` (Gustafsson;
/// exponents 0.7/5 and 0.4/5), never growing right after a rejection.
fn accepted_factor(en: f64, err_prev: f64, rejected_last: bool) -> f64 {
    let factor = (0.9 * en.max(1e-10).powf(-0.14) * err_prev.powf(0.08)).clamp(0.2, 10.0);
    if rejected_last {
        factor.min(1.0)
    } else {
        factor
    }
}

/// The step-size factor after a rejected step with error norm `en > 1`.
fn rejected_factor(en: f64) -> f64 {
    (0.9 * en.powf(-0.2)).max(0.2)
}

/// The starting step of Hairer, Norsett and Wanner (II.4) from the norms of the state
/// (`sx`), of its slope (`sf`) and of the slope's change over a probe step `h0` (`d2`).
fn initial_step(h0: f64, sf: f64, d2: f64, span: f64) -> f64 {
    let h1 = if sf.max(d2) <= 1e-15 {
        (h0 * 1e-3).max(1e-6)
    } else {
        (0.01 / sf.max(d2)).powf(0.2)
    };
    (100.0 * h0).min(h1).min(span.abs())
}

/// The probe step of [`initial_step`].
fn probe_step(sx: f64, sf: f64) -> f64 {
    if sx < 1e-5 || sf < 1e-5 {
        1e-6
    } else {
        0.01 * sx / sf
    }
}

#[allow(clippy::too_many_arguments)]
fn adaptive<F: Real>(
    tableau: &Tableau,
    eval: &mut impl FnMut(f64, &Array2<F>) -> Array2<F>,
    mut x: Array2<F>,
    t0: f64,
    t1: f64,
    rtol: f64,
    atol: f64,
    stats: &mut OdeStats,
) -> Result<Array2<F>, OdeError> {
    let span = t1 - t0;
    if span == 0.0 {
        return Ok(x);
    }
    let dir = span.signum();
    let mut t = t0;
    let mut k1 = eval(t, &x);
    check_finite(&k1, t)?;
    let scale = |v: &Array2<F>| error_norm(v, &x, &x, rtol, atol);
    let (sx, sf) = (scale(&x), scale(&k1));
    let h0 = probe_step(sx, sf);
    let x1 = combine(&x, &[(dir * h0, &k1)]);
    let f1 = eval(t + dir * h0, &x1);
    let diff = combine(&f1, &[(-1.0, &k1)]);
    let mut h = initial_step(h0, sf, scale(&diff) / h0, span);
    let mut err_prev = 1e-4f64;
    let mut rejected_last = false;
    while dir * (t1 - t) > 0.0 {
        if stats.steps + stats.rejected >= MAX_ADAPTIVE_STEPS {
            return Err(OdeError::TooManySteps {
                max: MAX_ADAPTIVE_STEPS,
                t,
            });
        }
        if h < 1e-12 * span.abs().max(t.abs()) {
            return Err(OdeError::StepUnderflow { t, h });
        }
        let last = h >= dir * (t1 - t);
        if last {
            h = dir * (t1 - t);
        }
        let hs = dir * h;
        let (y, k7, norms) = tableau.step(
            &mut |c, s: &Array2<F>| eval(t + c * hs, s),
            &x,
            k1.clone(),
            &[hs],
            rtol,
            atol,
        );
        let en = if norms.iter().all(|v| v.is_finite()) {
            norms.into_iter().fold(0.0f64, f64::max)
        } else {
            f64::INFINITY
        };
        if !en.is_finite() {
            // A blow-up inside the step: retry smaller, report if it persists.
            stats.rejected += 1;
            h *= 0.2;
            rejected_last = true;
            continue;
        }
        if en <= 1.0 {
            check_finite(&y, t + hs)?;
            t = if last { t1 } else { t + hs };
            x = y;
            k1 = k7;
            stats.steps += 1;
            h *= accepted_factor(en, err_prev, rejected_last);
            err_prev = en.max(1e-10);
            rejected_last = false;
        } else {
            stats.rejected += 1;
            h *= rejected_factor(en);
            rejected_last = true;
        }
    }
    Ok(x)
}

/// An adaptive 5(4) pair ([`DOPRI5`], [`TSIT5`]) with **one step size per row**: every row
/// is its own ODE `dx_i/dt = f(t_i, x_i)` (as a `vmap` of a scalar solver would treat it),
/// so a few hard rows do not force small steps on the others. Each call of `f` receives the
/// indices of the rows being advanced, their times and their states; rows that reach `t1`
/// leave the batch. `stats.steps` counts accepted row-steps of the slowest row;
/// `evaluations` counts calls.
pub fn adaptive_rows<F: Real>(
    tableau: &Tableau,
    mut f: impl FnMut(&[usize], &[f64], &Array2<F>) -> Array2<F>,
    x0: Array2<F>,
    t0: f64,
    t1: f64,
    rtol: f64,
    atol: f64,
) -> Result<(Array2<F>, OdeStats), OdeError> {
    check_tolerances(rtol, atol)?;
    if !(t0.is_finite() && t1.is_finite()) {
        return Err(OdeError::Invalid(format!(
            "time span [{t0}, {t1}] is not finite"
        )));
    }
    check_finite(&x0, t0)?;
    let n = x0.nrows();
    let mut stats = OdeStats::default();
    let span = t1 - t0;
    if span == 0.0 || n == 0 {
        return Ok((x0, stats));
    }
    let dir = span.signum();
    let mut x = x0;
    let all: Vec<usize> = (0..n).collect();
    let mut k1 = f(&all, &vec![t0; n], &x);
    stats.evaluations += 1;
    check_finite(&k1, t0)?;
    // Initial step per row, from one extra evaluation.
    let norm = |v: &Array2<F>, i: usize| row_norm(v.row(i), x.row(i), x.row(i), rtol, atol);
    let h0: Vec<f64> = (0..n)
        .map(|i| probe_step(norm(&x, i), norm(&k1, i)))
        .collect();
    let probe = euler_rows(&x, &k1, &h0, dir);
    let probe_t: Vec<f64> = (0..n).map(|i| t0 + dir * h0[i]).collect();
    let f1 = f(&all, &probe_t, &probe);
    stats.evaluations += 1;
    let diff = &f1 - &k1;
    let mut h: Vec<f64> = (0..n)
        .map(|i| initial_step(h0[i], norm(&k1, i), norm(&diff, i) / h0[i], span))
        .collect();
    let mut t = vec![t0; n];
    let mut err_prev = vec![1e-4f64; n];
    let mut rejected_last = vec![false; n];
    let mut row_steps = vec![0usize; n];
    let mut active: Vec<usize> = all;
    while !active.is_empty() {
        if stats.evaluations > 7 * MAX_ADAPTIVE_STEPS {
            return Err(OdeError::TooManySteps {
                max: MAX_ADAPTIVE_STEPS,
                t: active.iter().map(|&i| t[i]).fold(f64::INFINITY, f64::min),
            });
        }
        let hs: Vec<f64> = active
            .iter()
            .map(|&i| dir * h[i].min(dir * (t1 - t[i])))
            .collect();
        for (&i, &hi) in active.iter().zip(&hs) {
            if hi.abs() < 1e-12 * span.abs().max(t[i].abs()) {
                return Err(OdeError::StepUnderflow {
                    t: t[i],
                    h: hi.abs(),
                });
            }
        }
        let xa = x.select(Axis(0), &active);
        let ka1 = k1.select(Axis(0), &active);
        let mut eval = |c: f64, s: &Array2<F>| {
            stats.evaluations += 1;
            let times: Vec<f64> = active
                .iter()
                .zip(&hs)
                .map(|(&i, &hi)| t[i] + c * hi)
                .collect();
            f(&active, &times, s)
        };
        let (y, k7, norms) = tableau.step(&mut eval, &xa, ka1, &hs, rtol, atol);
        let mut still = Vec::with_capacity(active.len());
        for (r, &i) in active.iter().enumerate() {
            let en = norms[r];
            if !en.is_finite() {
                stats.rejected += 1;
                h[i] *= 0.2;
                rejected_last[i] = true;
                still.push(i);
            } else if en <= 1.0 {
                if y.row(r).iter().any(|v| !v.is_finite()) {
                    return Err(OdeError::NonFinite {
                        t: t[i] + hs[r],
                        row: i,
                    });
                }
                let reached =
                    (hs[r].abs() >= dir * (t1 - t[i])) || (t[i] + hs[r] - t1) * dir >= 0.0;
                t[i] = if reached { t1 } else { t[i] + hs[r] };
                x.row_mut(i).assign(&y.row(r));
                k1.row_mut(i).assign(&k7.row(r));
                row_steps[i] += 1;
                h[i] = hs[r].abs() * accepted_factor(en, err_prev[i], rejected_last[i]);
                err_prev[i] = en.max(1e-10);
                rejected_last[i] = false;
                if !reached {
                    still.push(i);
                }
            } else {
                stats.rejected += 1;
                h[i] = hs[r].abs() * rejected_factor(en);
                rejected_last[i] = true;
                still.push(i);
            }
        }
        active = still;
    }
    stats.steps = row_steps.into_iter().max().unwrap_or(0);
    Ok((x, stats))
}

/// `x + dir h_i k` row by row (the probe of the starting step).
fn euler_rows<F: Real>(x: &Array2<F>, k: &Array2<F>, h: &[f64], dir: f64) -> Array2<F> {
    let mut out = x.clone();
    for ((mut p, k), &hi) in out.outer_iter_mut().zip(k.outer_iter()).zip(h) {
        let hi = F::c(dir * hi);
        Zip::from(&mut p).and(&k).for_each(|p, &k| *p = *p + hi * k);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// dy/dt = cos(t) y, y(t) = exp(sin t).
    fn slope(t: f64, y: &Array2<f64>) -> Array2<f64> {
        y.mapv(|v| t.cos() * v)
    }

    /// `n` fixed steps of the pair's 5th-order solution over [0, 2]: the global error, and
    /// the error estimate of the first step (`atol = 1`, `rtol = 0`: the estimate itself).
    fn fixed(tableau: &Tableau, n: usize) -> (f64, f64) {
        let h = 2.0 / n as f64;
        let mut y = array![[1.0f64]];
        let mut first_estimate = None;
        for s in 0..n {
            let t = s as f64 * h;
            let k1 = slope(t, &y);
            let (next, _, norms) = tableau.step(
                &mut |c, x: &Array2<f64>| slope(t + c * h, x),
                &y,
                k1,
                &[h],
                0.0,
                1.0,
            );
            first_estimate.get_or_insert(norms[0]);
            y = next;
        }
        let exact = 2.0f64.sin().exp();
        ((y[[0, 0]] - exact).abs(), first_estimate.expect("n >= 1"))
    }

    /// Consistency: each stage's weights sum to its node, the error weights to zero.
    #[test]
    fn tableaus_are_consistent() {
        for tab in [&DOPRI5, &TSIT5] {
            let nodes = [tab.c[0], tab.c[1], tab.c[2], tab.c[3], tab.c[4], 1.0];
            for (s, &c) in nodes.iter().enumerate() {
                let sum: f64 = tab.a[s].iter().sum();
                assert!(
                    (sum - c).abs() < 1e-12,
                    "{}: stage {}: {sum} vs {c}",
                    tab.name,
                    s + 2
                );
            }
            let e: f64 = tab.e.iter().sum();
            assert!(e.abs() < 1e-12, "{}: error weights sum to {e}", tab.name);
        }
    }

    /// The solution converges at order 5 and the local error estimate shrinks as h^5.
    /// (Tsit5's leading error terms are small, so its observed order approaches 5 from
    /// above: 5.6, 5.4, 5.2 for 20 -> 40, 40 -> 80, 80 -> 160 steps.)
    #[test]
    fn both_pairs_have_order_five_with_a_fourth_order_estimate() {
        for tab in [&DOPRI5, &TSIT5] {
            let ((g1, l1), (g2, l2)) = (fixed(tab, 40), fixed(tab, 80));
            let global = (g1 / g2).log2();
            let local = (l1 / l2).log2();
            assert!(
                (global - 5.0).abs() < 0.5,
                "{}: global order {global}",
                tab.name
            );
            assert!(
                (local - 5.0).abs() < 0.5,
                "{}: estimate order {local}",
                tab.name
            );
        }
    }
}
