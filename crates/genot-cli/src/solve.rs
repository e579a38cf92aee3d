//! `genot solve`: discrete entropic OT between two point clouds.

use crate::error::CliError;
use crate::io::{read_points, write_npy_atomic};
use clap::Args;
use genot_ot::cost::parse_cost;
use genot_ot::prelude::*;
use genot_ot::problem::validate_tau;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `genot solve`.
#[derive(Debug, Args)]
pub struct SolveArgs {
    /// Source points: .npy, n x d, float32 or float64 (rows are points).
    #[arg(long)]
    pub source: PathBuf,
    /// Target points: .npy, m x d.
    #[arg(long)]
    pub target: PathBuf,
    /// Ground cost: sqeuclidean (no 1/2), euclidean, pnorm:P (sum |x - y|^P), cosine.
    #[arg(long, default_value = "sqeuclidean")]
    pub cost: String,
    /// Divide the cost by its mean, median, max, nothing (none), or a given number.
    #[arg(long, default_value = "mean")]
    pub scale_cost: String,
    /// Entropic regularisation, absolute on the scaled cost (or relative with
    /// --relative-epsilon). Default: 0.05 x the standard deviation of the scaled cost.
    #[arg(long)]
    pub epsilon: Option<f64>,
    /// Read --epsilon as a multiple of the mean (or std) of the scaled cost.
    #[arg(long, num_args = 0..=1, default_missing_value = "mean", value_parser = ["mean", "std"])]
    pub relative_epsilon: Option<String>,
    /// Source marginal relaxation in (0, 1]; 1 is balanced.
    #[arg(long, default_value_t = 1.0)]
    pub tau_a: f64,
    /// Target marginal relaxation in (0, 1]; 1 is balanced.
    #[arg(long, default_value_t = 1.0)]
    pub tau_b: f64,
    /// Stop when the marginal error falls below this.
    #[arg(long, default_value_t = 1e-3)]
    pub threshold: f64,
    /// Norm of the marginal error.
    #[arg(long, default_value = "l1", value_parser = ["l1", "l2"])]
    pub norm: String,
    /// Maximum number of iterations.
    #[arg(long, default_value_t = 2000)]
    pub max_iterations: usize,
    /// auto (kernel with log fallback), log, kernel, or online (costs recomputed in blocks,
    /// memory O((n + m) d)).
    #[arg(long, default_value = "auto")]
    pub mode: String,
    /// Over-relaxation: adaptive (default), none, or a fixed weight in [1, 2).
    #[arg(long, default_value = "adaptive")]
    pub momentum: String,
    /// Compute in float64 (default float32).
    #[arg(long)]
    pub f64: bool,
    /// Write the dense n x m plan here (.npy).
    #[arg(long)]
    pub plan_out: Option<PathBuf>,
    /// Write the potentials f.npy and g.npy into this directory (created if missing).
    #[arg(long)]
    pub potentials_out: Option<PathBuf>,
}

/// The JSON report printed on stdout.
#[derive(Debug, Serialize)]
pub struct SolveReport {
    pub n: usize,
    pub m: usize,
    pub dim: usize,
    pub dtype: &'static str,
    pub cost: String,
    /// Factor the raw cost was divided by; costs below are on the scaled cost.
    pub cost_scale: f64,
    pub epsilon: f64,
    pub tau_a: f64,
    pub tau_b: f64,
    pub mode: String,
    pub iterations: usize,
    pub converged: bool,
    pub marginal_error: f64,
    pub reg_ot_cost: f64,
    pub transport_cost: f64,
    pub mass: f64,
    pub seconds: f64,
}

/// Options checked before any file is read.
struct Checked {
    scale: ScaleCost,
    epsilon: Epsilon,
    mode: Mode,
    momentum: Momentum,
    norm: ErrorNorm,
}

fn check(args: &SolveArgs) -> Result<Checked, CliError> {
    let input = CliError::Input;
    let scale: ScaleCost = args.scale_cost.parse().map_err(input)?;
    let epsilon = match (args.epsilon, args.relative_epsilon.as_deref()) {
        (Some(e), _) if !(e > 0.0 && e.is_finite()) => {
            return Err(input(format!("--epsilon must be > 0, got {e}")))
        }
        (Some(e), None) => Epsilon::Absolute(e),
        (e, Some(to)) => Epsilon::Relative {
            factor: e.unwrap_or(0.05),
            to: if to == "std" {
                RelativeTo::Std
            } else {
                RelativeTo::Mean
            },
        },
        (None, None) => Epsilon::default(),
    };
    validate_tau("--tau-a", args.tau_a).map_err(|e| input(e.to_string()))?;
    validate_tau("--tau-b", args.tau_b).map_err(|e| input(e.to_string()))?;
    if !(args.threshold > 0.0 && args.threshold.is_finite()) {
        return Err(input(format!(
            "--threshold must be > 0, got {}",
            args.threshold
        )));
    }
    let mode: Mode = args.mode.parse().map_err(input)?;
    let momentum = match args.momentum.as_str() {
        "adaptive" => Momentum::Adaptive,
        "none" => Momentum::None,
        w => match w.parse::<f64>() {
            Ok(w) if (1.0..2.0).contains(&w) => Momentum::Fixed(w),
            _ => {
                return Err(input(format!(
                    "--momentum must be adaptive, none or a number in [1, 2), got '{w}'"
                )))
            }
        },
    };
    let norm = if args.norm == "l2" {
        ErrorNorm::L2
    } else {
        ErrorNorm::L1
    };
    if let Some(dir) = &args.potentials_out {
        if dir.exists() && !dir.is_dir() {
            return Err(input(format!(
                "--potentials-out '{}' exists and is not a directory",
                dir.display()
            )));
        }
    }
    if let Some(p) = &args.plan_out {
        check_output_dir(p)?;
    }
    Ok(Checked {
        scale,
        epsilon,
        mode,
        momentum,
        norm,
    })
}

fn check_output_dir(p: &Path) -> Result<(), CliError> {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() && !d.is_dir() => Err(CliError::Input(format!(
            "cannot write '{}': directory '{}' does not exist",
            p.display(),
            d.display()
        ))),
        _ => Ok(()),
    }
}

/// Runs `genot solve`; returns the report (already written outputs on success only).
pub fn run(args: &SolveArgs) -> Result<SolveReport, CliError> {
    let checked = check(args)?;
    if args.f64 {
        run_typed::<f64>(args, checked)
    } else {
        run_typed::<f32>(args, checked)
    }
}

fn run_typed<F: Real + ndarray_npy::WritableElement>(
    args: &SolveArgs,
    c: Checked,
) -> Result<SolveReport, CliError> {
    let cost = parse_cost::<F>(&args.cost).map_err(CliError::Input)?;
    let x = read_points::<F>(&args.source, "source")?;
    let y = read_points::<F>(&args.target, "target")?;
    if x.ncols() != y.ncols() {
        return Err(CliError::Input(format!(
            "dimension mismatch: source '{}' has {} columns, target '{}' has {}",
            args.source.display(),
            x.ncols(),
            args.target.display(),
            y.ncols()
        )));
    }
    let (n, m, dim) = (x.nrows(), y.nrows(), x.ncols());
    let start = Instant::now();
    let geom = if c.mode == Mode::Online {
        Geometry::online(x, y, cost.clone(), c.scale, c.epsilon)?
    } else {
        Geometry::from_points(x, y, cost.clone(), c.scale, c.epsilon)?
    };
    let cost_scale = geom.scale();
    let prob = LinearProblem::new(geom).with_tau(args.tau_a, args.tau_b)?;
    let bar = progress_bar();
    let shown = bar.clone();
    let solver = Sinkhorn::default()
        .with_threshold(args.threshold)
        .with_max_iterations(args.max_iterations)
        .with_mode(c.mode)
        .with_momentum(c.momentum)
        .with_norm(c.norm)
        .with_plan(args.plan_out.is_some())
        .with_progress(Arc::new(move |it, err| {
            shown.set_message(format!("iteration {it}, marginal error {err:.3e}"));
        }));
    let out = solver.solve(&prob, None);
    bar.finish_and_clear();
    let out = out?;
    let seconds = start.elapsed().as_secs_f64();
    if let (Some(path), Some(plan)) = (&args.plan_out, &out.plan) {
        write_npy_atomic(path, plan)?;
    }
    if let Some(dir) = &args.potentials_out {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::Run(format!("cannot create '{}': {e}", dir.display())))?;
        write_npy_atomic(&dir.join("f.npy"), &out.f)?;
        write_npy_atomic(&dir.join("g.npy"), &out.g)?;
    }
    if !out.converged {
        eprintln!(
            "warning: Sinkhorn did not converge in {} iterations (marginal error {:.3e} > threshold {:.1e}); raise --max-iterations or --epsilon",
            out.iterations, out.marginal_error, args.threshold
        );
    }
    Ok(SolveReport {
        n,
        m,
        dim,
        dtype: F::NAME,
        cost: cost.name(),
        cost_scale,
        epsilon: out.epsilon,
        tau_a: args.tau_a,
        tau_b: args.tau_b,
        mode: format!("{:?}", out.mode).to_lowercase(),
        iterations: out.iterations,
        converged: out.converged,
        marginal_error: out.marginal_error,
        reg_ot_cost: out.reg_ot_cost,
        transport_cost: out.transport_cost,
        mass: out.mass,
        seconds,
    })
}

/// A spinner on stderr (hidden when stderr is not a terminal).
fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} sinkhorn {elapsed}: {msg}")
            .expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
