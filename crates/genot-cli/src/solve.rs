//! `genot solve`: discrete entropic OT between two point clouds.

use crate::error::CliError;
use crate::io::{check_output_dir, read_points, write_npy_atomic};
use crate::progress::Progress;
use crate::spec::PointsSpec;
use clap::Args;
use genot_ot::choice::CostChoice;
use genot_ot::cost::SqEuclidean;
use genot_ot::error::ParseError;
use genot_ot::prelude::*;
use genot_ot::problem::validate_tau;
use ndarray::{Array1, Array2};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Instant;

/// Arguments of `genot solve`.
#[derive(Debug, Args)]
pub struct SolveArgs {
    /// Source points, n x d (rows are points), float32 or float64: .npy, .csv[:columns],
    /// or .h5ad[:KEY] with KEY = X (the default), obsm/NAME or layers/NAME.
    #[arg(long, value_parser = PointsSpec::parser())]
    pub source: PointsSpec,
    /// Target points, m x d: the same formats as --source.
    #[arg(long, value_parser = PointsSpec::parser())]
    pub target: PointsSpec,
    // The help lists genot_ot::choice::COSTS.
    #[arg(long, default_value = "sqeuclidean", help = crate::fit::cost_help("Ground cost"))]
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
    /// Gromov-Wasserstein: match source and target through their intra-space costs (--cost);
    /// they may have different dimensions. --epsilon is then absolute on the linearised cost
    /// (default 0.01).
    #[arg(long)]
    pub quadratic: bool,
    /// Fused GW: source features comparable with --target-shared (n rows; the formats of
    /// --source).
    #[arg(long, requires = "target_shared", requires = "quadratic", value_parser = PointsSpec::parser())]
    pub source_shared: Option<PointsSpec>,
    /// Fused GW: target features comparable with --source-shared (m rows; the formats of
    /// --source).
    #[arg(long, requires = "source_shared", requires = "quadratic", value_parser = PointsSpec::parser())]
    pub target_shared: Option<PointsSpec>,
    /// Fused GW: weight of the shared-feature cost (squared Euclidean, scaled like --scale-cost).
    #[arg(long, default_value_t = 1.0)]
    pub fused_penalty: f64,
    /// GW: stop when the objective changes by less than this, relatively.
    #[arg(long, default_value_t = 1e-3)]
    pub gw_threshold: f64,
    /// GW: maximum number of outer (linearisation) iterations.
    #[arg(long, default_value_t = 50)]
    pub max_outer_iterations: usize,
}

/// The JSON report printed on stdout.
#[derive(Debug, Serialize)]
pub struct SolveReport {
    pub n: usize,
    pub m: usize,
    pub dim: usize,
    /// Target dimension when it differs from the source's (GW).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dim_target: Option<usize>,
    pub dtype: &'static str,
    pub cost: String,
    /// Factor the raw cost was divided by; costs below are on the scaled cost.
    pub cost_scale: f64,
    pub epsilon: f64,
    pub tau_a: f64,
    pub tau_b: f64,
    /// The mode that produced the result: `log` after a fallback from `auto`'s kernel mode.
    pub mode: String,
    /// Why `auto` left kernel mode for log mode (an over- or underflow of the float type).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    pub iterations: usize,
    pub converged: bool,
    pub marginal_error: f64,
    pub reg_ot_cost: f64,
    pub transport_cost: f64,
    pub mass: f64,
    /// GW only: the square-loss GW term on the scaled costs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gw_cost: Option<f64>,
    /// GW only: linearisations solved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outer_iterations: Option<usize>,
    /// Fused GW only: the weight of the shared-feature cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fused_penalty: Option<f64>,
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
    let scale: ScaleCost = args
        .scale_cost
        .parse()
        .map_err(|e: ParseError| input(e.to_string()))?;
    let epsilon = Epsilon::from_options(args.epsilon, args.relative_epsilon.as_deref())
        .map_err(|e| input(format!("--{e}")))?;
    validate_tau("--tau-a", args.tau_a).map_err(|e| input(e.to_string()))?;
    validate_tau("--tau-b", args.tau_b).map_err(|e| input(e.to_string()))?;
    if !(args.threshold > 0.0 && args.threshold.is_finite()) {
        return Err(input(format!(
            "--threshold must be > 0, got {}",
            args.threshold
        )));
    }
    let mode: Mode = args
        .mode
        .parse()
        .map_err(|e: ParseError| input(e.to_string()))?;
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
    let potentials = args
        .potentials_out
        .as_ref()
        .map(|d| [d.join("f.npy"), d.join("g.npy")]);
    let inputs: Vec<(&str, &Path)> = [
        Some(("--source", args.source.path())),
        Some(("--target", args.target.path())),
        args.source_shared
            .as_ref()
            .map(|p| ("--source-shared", p.path())),
        args.target_shared
            .as_ref()
            .map(|p| ("--target-shared", p.path())),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut outputs: Vec<(&str, &Path)> = vec![];
    if let Some(p) = &args.plan_out {
        outputs.push(("--plan-out", p));
    }
    for p in potentials.iter().flatten() {
        outputs.push(("--potentials-out", p));
    }
    crate::io::check_distinct_paths(&inputs, &outputs)?;
    if args.quadratic {
        if args.relative_epsilon.is_some() {
            return Err(input(
                "--relative-epsilon is not available with --quadratic: give --epsilon as an absolute value on the linearised cost".into(),
            ));
        }
        if mode == Mode::Online {
            return Err(input(
                "--mode online is not available with --quadratic".into(),
            ));
        }
        if !(args.fused_penalty > 0.0 && args.fused_penalty.is_finite()) {
            return Err(input(format!(
                "--fused-penalty must be > 0, got {}",
                args.fused_penalty
            )));
        }
        if !(args.gw_threshold > 0.0 && args.gw_threshold.is_finite()) {
            return Err(input(format!(
                "--gw-threshold must be > 0, got {}",
                args.gw_threshold
            )));
        }
    }
    Ok(Checked {
        scale,
        epsilon,
        mode,
        momentum,
        norm,
    })
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

/// A finished solve: the report and the arrays that may be written.
struct Solved<F: Real> {
    report: SolveReport,
    plan: Option<Array2<F>>,
    f: Array1<F>,
    g: Array1<F>,
    /// Set when the solver did not converge: the warning to print.
    warning: Option<String>,
}

fn run_typed<F: Real + ndarray_npy::WritableElement>(
    args: &SolveArgs,
    c: Checked,
) -> Result<SolveReport, CliError> {
    let cost = CostChoice::<F>::parse(&args.cost).map_err(|e| CliError::Input(e.to_string()))?;
    let x = read_points::<F>(&args.source, "source")?;
    let y = read_points::<F>(&args.target, "target")?;
    let start = Instant::now();
    let bar = Arc::new(Mutex::new(Progress::spinner("sinkhorn", "")));
    if args.quadratic {
        for (what, p, a) in [("source", &args.source, &x), ("target", &args.target, &y)] {
            if a.nrows() < 2 {
                return Err(CliError::Input(format!(
                    "{what} file '{p}' has a single point: a quadratic (Gromov-Wasserstein) problem compares the distances within each space, which needs at least 2 points on each side"
                )));
            }
        }
    }
    let solved = if args.quadratic {
        quadratic(args, &c, cost, x, y, &bar)
    } else {
        linear(args, &c, cost, x, y, &bar)
    };
    bar.lock().expect("progress").finish();
    let mut solved = solved?;
    solved.report.seconds = start.elapsed().as_secs_f64();
    if let (Some(path), Some(plan)) = (&args.plan_out, &solved.plan) {
        write_npy_atomic(path, plan)?;
    }
    if let Some(dir) = &args.potentials_out {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::Run(format!("cannot create '{}': {e}", dir.display())))?;
        write_npy_atomic(&dir.join("f.npy"), &solved.f)?;
        write_npy_atomic(&dir.join("g.npy"), &solved.g)?;
    }
    if let Some(w) = solved.warning {
        eprintln!("warning: {w}");
    }
    Ok(solved.report)
}

fn sinkhorn_options(args: &SolveArgs, c: &Checked, bar: &Shared) -> Sinkhorn {
    let shown = bar.clone();
    Sinkhorn::default()
        .with_threshold(args.threshold)
        .with_max_iterations(args.max_iterations)
        .with_mode(c.mode)
        .with_momentum(c.momentum)
        .with_norm(c.norm)
        .with_progress(Arc::new(move |it, err| {
            if let Ok(mut p) = shown.lock() {
                p.update(
                    it as u64,
                    &format!("iteration {it}, marginal error {err:.3e}"),
                );
            }
        }))
}

fn linear<F: Real>(
    args: &SolveArgs,
    c: &Checked,
    cost: CostChoice<F>,
    x: Array2<F>,
    y: Array2<F>,
    bar: &Shared,
) -> Result<Solved<F>, CliError> {
    if x.ncols() != y.ncols() {
        return Err(CliError::Input(format!(
            "dimension mismatch: source '{}' has {} columns, target '{}' has {} (use --quadratic to match spaces of different dimensions)",
            args.source,
            x.ncols(),
            args.target,
            y.ncols()
        )));
    }
    let (n, m, dim) = (x.nrows(), y.nrows(), x.ncols());
    let geom = match (&cost, c.mode) {
        (CostChoice::Graph(_), Mode::Online) => {
            return Err(CliError::Input(
                "a graph cost is a dense matrix: --mode online is not available with it".into(),
            ))
        }
        (CostChoice::Points(p), Mode::Online) => {
            Geometry::online(x, y, p.clone(), c.scale, c.epsilon)?
        }
        _ => cost.linear(x, y, c.scale, c.epsilon)?,
    };
    let cost_scale = geom.scale();
    let prob = LinearProblem::new(geom).with_tau(args.tau_a, args.tau_b)?;
    let out = sinkhorn_options(args, c, bar)
        .with_plan(args.plan_out.is_some())
        .solve(&prob, None)?;
    let warning = (!out.converged).then(|| {
        format!(
            "Sinkhorn did not converge in {} iterations (marginal error {:.3e} > threshold {:.1e}); raise --max-iterations or --epsilon",
            out.iterations, out.marginal_error, args.threshold
        )
    });
    Ok(Solved {
        report: SolveReport {
            n,
            m,
            dim,
            dim_target: None,
            dtype: F::NAME,
            cost: cost.name(),
            cost_scale,
            epsilon: out.epsilon,
            tau_a: args.tau_a,
            tau_b: args.tau_b,
            mode: out.mode.name().to_string(),
            fallback: out.fallback,
            iterations: out.iterations,
            converged: out.converged,
            marginal_error: out.marginal_error,
            reg_ot_cost: out.reg_ot_cost,
            transport_cost: out.transport_cost,
            mass: out.mass,
            gw_cost: None,
            outer_iterations: None,
            fused_penalty: None,
            seconds: 0.0,
        },
        plan: out.plan,
        f: out.f,
        g: out.g,
        warning,
    })
}

fn quadratic<F: Real>(
    args: &SolveArgs,
    c: &Checked,
    cost: CostChoice<F>,
    x: Array2<F>,
    y: Array2<F>,
    bar: &Shared,
) -> Result<Solved<F>, CliError> {
    let (n, m, dx, dy) = (x.nrows(), y.nrows(), x.ncols(), y.ncols());
    let epsilon = match c.epsilon {
        Epsilon::Absolute(e) => e,
        _ => 0.01,
    };
    let xx = cost.intra(x, c.scale)?;
    let yy = cost.intra(y, c.scale)?;
    let cost_scale = xx.scale();
    let mut prob = QuadraticProblem::new(xx, yy).with_tau(args.tau_a, args.tau_b)?;
    let mut fused = None;
    if let (Some(sp), Some(tp)) = (&args.source_shared, &args.target_shared) {
        let xs = read_points::<F>(sp, "source-shared")?;
        let ys = read_points::<F>(tp, "target-shared")?;
        let rows = |what: &str, p: &PointsSpec, got: usize, want: usize| {
            if got == want {
                Ok(())
            } else {
                Err(CliError::Input(format!(
                    "{what} file '{p}' has {got} rows but there are {want} points"
                )))
            }
        };
        rows("source-shared", sp, xs.nrows(), n)?;
        rows("target-shared", tp, ys.nrows(), m)?;
        if xs.ncols() != ys.ncols() {
            return Err(CliError::Input(format!(
                "dimension mismatch: source-shared '{}' has {} columns, target-shared '{}' has {}",
                sp,
                xs.ncols(),
                tp,
                ys.ncols()
            )));
        }
        let sq = CostChoice::Points(Arc::new(SqEuclidean));
        prob = prob.with_fused_points(xs, ys, &sq, c.scale, args.fused_penalty)?;
        fused = Some(args.fused_penalty);
    }
    let out = GromovWasserstein::new(epsilon)
        .with_threshold(args.gw_threshold)
        .with_max_iterations(args.max_outer_iterations)
        .with_sinkhorn(sinkhorn_options(args, c, bar))
        .solve(&prob, GwInit::Product)?;
    let mut warning = None;
    if !out.converged {
        warning = Some(format!(
            "GW did not converge in {} outer iterations (objective trace ends {:?}); raise --max-outer-iterations or --epsilon",
            out.outer_iterations,
            &out.costs[out.costs.len().saturating_sub(2)..]
        ));
    } else if !out.inner_converged {
        warning =
            Some("some inner Sinkhorn solves did not converge; raise --max-iterations".into());
    }
    Ok(Solved {
        report: SolveReport {
            n,
            m,
            dim: dx,
            dim_target: Some(dy),
            dtype: F::NAME,
            cost: cost.name(),
            cost_scale,
            epsilon,
            tau_a: args.tau_a,
            tau_b: args.tau_b,
            mode: c.mode.name().to_string(),
            fallback: None,
            iterations: out.inner_iterations,
            converged: out.converged && out.inner_converged,
            marginal_error: out.marginal_error,
            reg_ot_cost: out.reg_gw_cost,
            transport_cost: out.gw_cost + 2.0 * args.fused_penalty * out.linear_cost.unwrap_or(0.0),
            mass: out.mass,
            gw_cost: Some(out.gw_cost),
            outer_iterations: Some(out.outer_iterations),
            fused_penalty: fused,
            seconds: 0.0,
        },
        plan: args.plan_out.is_some().then_some(out.plan),
        f: out.f,
        g: out.g,
        warning,
    })
}

/// The solve's progress, updated from the solver's iteration callback.
type Shared = Arc<Mutex<Progress>>;
