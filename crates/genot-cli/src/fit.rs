//! `genot fit`: train a GENOT model and write it to a model directory.

use crate::error::CliError;
use crate::io::Side;
use clap::Args;
use genot::config::Kind;
use genot::model::write_model_files;
use genot::model_dir::Staging;
use genot::train::{fit, FitOptions, Progress};
use genot::{FitSettings, GenotError, TrainingData};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Arguments of `genot fit`.
#[derive(Debug, Clone, Args, Serialize)]
// fit.toml is written with the long flags as keys, as the README and --config read them.
#[serde(rename_all = "kebab-case")]
pub struct FitArgs {
    /// Read these flags from a TOML file (keys are the long flags: `iterations = 2000`);
    /// flags given on the command line override it. Relative paths are relative to the
    /// file. `OUT/fit.toml` records every run's settings in this format.
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Source points, n x p: .npy, .csv[:columns], or .h5ad[:KEY] with KEY = X (the
    /// default), obsm/NAME or layers/NAME (cells.h5ad:obsm/X_pca). For fused: the features
    /// that are only comparable within the source space.
    #[arg(long)]
    pub source: PathBuf,
    /// Target points, m x q (same formats).
    #[arg(long)]
    pub target: PathBuf,
    /// Keep only the source cells of the --source .h5ad whose obs column matches:
    /// obs/COLUMN=VALUE[,VALUE...] (or != to drop them), e.g. obs/condition=control. Shared
    /// features and conditions of the source are cut to the same cells.
    #[arg(long)]
    pub source_filter: Option<String>,
    /// The same for the target cells (obs/condition=stimulated).
    #[arg(long)]
    pub target_filter: Option<String>,
    /// Model directory to write (config.json, model.safetensors, history.json, checkpoint/).
    #[arg(long)]
    pub out: PathBuf,
    /// linear (same space, --cost between points), quadratic (GW on intra-space costs,
    /// any dimensions), fused (GW plus --source-shared/--target-shared features).
    #[arg(long, default_value = "linear", value_parser = ["linear", "quadratic", "fused"])]
    pub kind: String,
    /// Fused: source features comparable across spaces (n rows).
    #[arg(long, requires = "target_shared")]
    pub source_shared: Option<PathBuf>,
    /// Fused: target features comparable across spaces (m rows).
    #[arg(long, requires = "source_shared")]
    pub target_shared: Option<PathBuf>,
    // The help lists genot_ot::choice::COSTS.
    #[arg(long, default_value = "sqeuclidean", help = cost_help(
        "Cost (linear: between points; quadratic/fused: within each space)"
    ))]
    pub cost: String,
    /// Fused: weight of the shared-feature (squared Euclidean) cost.
    #[arg(long, default_value_t = 1.0)]
    pub fused_penalty: f64,
    /// Entropic regularisation, absolute on the scaled cost (default 0.1 linear, 0.01 GW).
    #[arg(long)]
    pub epsilon: Option<f64>,
    /// Linear: --epsilon is a multiple of the mean scaled cost of each batch.
    #[arg(long)]
    pub relative_epsilon: bool,
    /// Divide each batch cost by its mean, median, max, nothing (none) or a number.
    #[arg(long, default_value = "mean")]
    pub scale_cost: String,
    /// Source marginal relaxation in (0, 1]; below 1 trains U-GENOT (with eta and xi).
    #[arg(long, default_value_t = 1.0)]
    pub tau_a: f64,
    /// Target marginal relaxation in (0, 1].
    #[arg(long, default_value_t = 1.0)]
    pub tau_b: f64,
    /// Training iterations: network steps, each on one batch coupling.
    #[arg(long, default_value_t = 5000)]
    pub iterations: usize,
    /// Source points per batch (and target points per batch).
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Points of each side that each coupling is solved on (default: --batch-size); the
    /// network's --batch-size sources and their pairs are drawn from that larger plan, which
    /// shrinks the coupling's minibatch bias for the same network step. Linear couplings
    /// above 8192 points are solved online (costs recomputed, memory O(M d), slower).
    #[arg(long)]
    pub ot_batch_size: Option<usize>,
    /// AdamW learning rate (1e-3: best or tied on 3 of the 4 tasks of bench/DEFAULTS-STUDY.md).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 1e-10)]
    pub weight_decay: f64,
    /// Width of the hidden layers.
    #[arg(long, default_value_t = 256)]
    pub hidden: usize,
    /// Dense layers per block.
    #[arg(long, default_value_t = 3)]
    pub layers: usize,
    /// Time frequencies F (2F time features).
    #[arg(long, default_value_t = 128)]
    pub time_frequencies: usize,
    /// Targets drawn per source point in each batch.
    #[arg(long, default_value_t = 1)]
    pub k_samples: usize,
    /// With --k-samples > 1: re-pair each source's latents with its targets by OT.
    #[arg(long)]
    pub latent_matching: bool,
    /// Draw pairs jointly from the batch plan instead of row by row.
    #[arg(long)]
    pub joint: bool,
    /// GW: iterations on one fixed batch before GW solves start from the model's image.
    #[arg(long, default_value_t = 100)]
    pub warmup_iterations: usize,
    /// GW orientation: pushforward (the warm-up batch's plan in the orientation of lowest
    /// GW objective among 8 candidate batches, then solves from the model's image) or none
    /// (every batch from the product of its marginals, no warm-up: OTT's behaviour).
    #[arg(long, default_value = "pushforward", value_parser = ["pushforward", "none"])]
    pub orientation: String,
    /// Iteration limit of each batch Sinkhorn (linear batches and the inner solves of GW).
    /// A batch that reaches it is trained on as it stands and counted in the report.
    #[arg(long, default_value_t = 2000)]
    pub sinkhorn_max_iterations: usize,
    /// L1 marginal error at which each batch Sinkhorn stops.
    #[arg(long, default_value_t = 1e-3)]
    pub sinkhorn_threshold: f64,
    /// GW: limit on the outer iterations of each batch solve.
    #[arg(long, default_value_t = 50)]
    pub gw_max_iterations: usize,
    /// GW: relative change of the objective at which a batch solve stops.
    #[arg(long, default_value_t = 1e-3)]
    pub gw_threshold: f64,
    /// One condition label per source row: .csv with a header (the only column or
    /// file.csv:column), file.h5ad:obs/COLUMN, or obs/COLUMN of the --source .h5ad.
    #[arg(long, requires = "target_conditions")]
    pub source_conditions: Option<PathBuf>,
    /// One condition label per target row.
    #[arg(long, requires = "source_conditions")]
    pub target_conditions: Option<PathBuf>,
    /// Exponential moving average of the weights with this decay (e.g. 0.999), bias-corrected
    /// as Adam's moments are, so it never holds the initial weights.
    #[arg(long)]
    pub ema: Option<f64>,
    /// Clip each parameter's gradient to this norm.
    #[arg(long)]
    pub grad_clip: Option<f64>,
    /// Scaling of the network's input and output, fitted on the training data: per-feature
    /// (mean 0, std 1 per feature), isotropic (centred, one scale per side: keeps each
    /// space's geometry) or none.
    #[arg(long, default_value = "per-feature", value_parser = ["per-feature", "isotropic", "none"])]
    pub normalize: String,
    /// Write a checkpoint every this many iterations (0: only at the end).
    #[arg(long, default_value_t = 1000)]
    pub checkpoint_every: usize,
    /// Continue from OUT/checkpoint (same data and settings; --iterations may grow).
    #[arg(long)]
    #[serde(skip)]
    pub resume: bool,
    /// Seed of every random choice of the run (initial weights, batches, noise, times):
    /// the same data, settings and seed give the same model on any number of threads.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Velocity-field implementation on the CPU: native (hand-written kernels, the fastest)
    /// or burn (burn's autodiff on the Flex backend; the same function and weights). GPU
    /// devices always use burn.
    #[arg(long, default_value = "native", value_parser = ["native", "burn"])]
    pub engine: String,
    /// Where to train: cpu, or wgpu / cuda (cuda:N) in builds with that feature (burn engine;
    /// the batch couplings stay on the CPU).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Also draw the training loss curve into OUT/loss.png.
    #[arg(long)]
    pub plot: bool,
}

/// The JSON report of `genot fit`.
#[derive(Debug, Serialize)]
pub struct FitReport {
    pub model: String,
    pub kind: Kind,
    pub n_source: usize,
    pub n_target: usize,
    pub source_dim: usize,
    pub target_dim: usize,
    pub conditions: Vec<String>,
    pub unbalanced: bool,
    pub parameters: usize,
    pub iterations: usize,
    pub resumed_from: usize,
    /// Mean loss over the last 100 iterations (or all, when fewer).
    pub final_loss: f32,
    pub seconds: f64,
    pub ms_per_iteration: f64,
    /// Batches whose coupling stopped at its iteration limit (trained on as they stood);
    /// history.json lists their iterations.
    pub unconverged_batches: usize,
    /// Batches whose Sinkhorn was redone in the log domain after an over- or underflow.
    pub log_domain_retries: usize,
    /// GW: the orientation setting and, with pushforward, the candidate kept (0: the
    /// warm-up batch's own product-init solve) and every candidate's GW objective.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orientation: Option<serde_json::Value>,
}

pub(crate) fn genot_error(e: GenotError) -> CliError {
    match e {
        GenotError::Invalid(_) | GenotError::Ot(_) | GenotError::Resume(_) => {
            CliError::Input(e.to_string())
        }
        GenotError::TooLarge(t) => CliError::Input(crate::error::too_large(&t)),
        _ => CliError::Run(e.to_string()),
    }
}

/// The help of a `--cost` flag: `what`, then every cost name with what it is.
pub fn cost_help(what: &str) -> String {
    format!("{what}: {}", genot_ot::choice::cost_help())
}

/// Runs `genot fit`.
pub fn run(args: &FitArgs) -> Result<FitReport, CliError> {
    let kind: Kind = args.kind.parse().map_err(CliError::Input)?;
    let device = crate::device::parse_device(&args.device)?;
    match (kind == Kind::Fused, args.source_shared.is_some()) {
        (true, false) => {
            return Err(CliError::Input(
                "--kind fused compares features that both spaces share: give them with --source-shared and --target-shared".into(),
            ))
        }
        (false, true) => {
            return Err(CliError::Input(format!(
                "--source-shared and --target-shared are the shared features of a fused fit: add --kind fused (this is --kind {})",
                args.kind
            )))
        }
        _ => {}
    }
    let settings = FitSettings {
        kind,
        cost: args.cost.clone(),
        fused_penalty: args.fused_penalty,
        epsilon: args.epsilon,
        relative_epsilon: args.relative_epsilon,
        scale_cost: args.scale_cost.clone(),
        tau_a: args.tau_a,
        tau_b: args.tau_b,
        iterations: args.iterations,
        batch_size: args.batch_size,
        lr: args.lr,
        weight_decay: args.weight_decay,
        hidden: args.hidden,
        layers: args.layers,
        time_frequencies: args.time_frequencies,
        k_samples: args.k_samples,
        latent_matching: args.latent_matching,
        joint: args.joint,
        warmup_iterations: args.warmup_iterations,
        sinkhorn_max_iterations: args.sinkhorn_max_iterations,
        sinkhorn_threshold: args.sinkhorn_threshold,
        gw_max_iterations: args.gw_max_iterations,
        gw_threshold: args.gw_threshold,
        orientation: args.orientation.parse().map_err(CliError::Input)?,
        ot_batch_size: args.ot_batch_size,
        ema: args.ema,
        grad_clip: args.grad_clip,
        normalize: args.normalize.parse().map_err(CliError::Input)?,
        checkpoint_every: args.checkpoint_every,
        seed: args.seed,
        engine: args.engine.clone(),
    };
    settings.validate().map_err(genot_error)?;
    let src = Side::new(
        &args.source,
        args.source_filter.as_deref(),
        "--source-filter",
    )?;
    let tgt = Side::new(
        &args.target,
        args.target_filter.as_deref(),
        "--target-filter",
    )?;
    let mut data = TrainingData::new(
        src.points::<f32>(&args.source, "source")?,
        tgt.points::<f32>(&args.target, "target")?,
    );
    if let (Some(s), Some(t)) = (&args.source_shared, &args.target_shared) {
        data = data
            .with_shared(
                src.points::<f32>(s, "source-shared")?,
                tgt.points::<f32>(t, "target-shared")?,
            )
            .map_err(genot_error)?;
    }
    if let (Some(s), Some(t)) = (&args.source_conditions, &args.target_conditions) {
        data = data.with_conditions(
            src.labels(s, "source-conditions")?,
            tgt.labels(t, "target-conditions")?,
        );
    }
    let config = settings.config(&data).map_err(genot_error)?;
    genot::resources::check(&genot::resources::fit_need(&config))
        .map_err(|e| genot_error(e.into()))?;
    // Everything of this run goes to a staging directory beside OUT, swapped in for OUT
    // at the end: a failed or interrupted fit leaves the previous model as it was.
    let staging = Staging::begin(&args.out, args.resume).map_err(genot_error)?;
    if args.resume && !staging.prepare_resume().map_err(genot_error)? {
        staging.abandon();
        return Err(CliError::Input(format!(
            "--resume: no checkpoint of an interrupted run beside '{}' and none in it",
            args.out.display()
        )));
    }
    let mut interrupted = false;
    let result = train_into(
        args,
        &staging,
        &data,
        config,
        &device,
        &settings,
        &mut interrupted,
    );
    match &result {
        // Ctrl-C: the staging directory keeps the checkpoint for --resume; and a failed
        // attempt to resume (other settings, say) keeps the interrupted run it found.
        Err(_) if interrupted || staging.is_interrupted_run() => {}
        Err(_) => staging.abandon(),
        Ok(_) => staging.commit().map_err(genot_error)?,
    }
    result
}

/// Trains into the staging directory (settings, checkpoints, model files, figure); the
/// caller swaps it in.
fn train_into(
    args: &FitArgs,
    staging: &Staging,
    data: &TrainingData,
    config: genot::GenotConfig,
    device: &burn::tensor::Device,
    settings: &FitSettings,
    interrupted: &mut bool,
) -> Result<FitReport, CliError> {
    let dir = staging.path();
    genot::model::write_atomic(
        &dir.join("fit.toml"),
        crate::config_file::effective(args)?.as_bytes(),
    )
    .map_err(genot_error)?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C (or a failure to install the handler) falls back to the default.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }
    let mut bar = crate::progress::Progress::counter("fit", config.training.iterations as u64);
    let mut smoothed: Option<f32> = None;
    let mut warned = false;
    let mut hook = |p: &Progress| {
        if !p.batch_solve.converged && !warned {
            warned = true;
            bar.println(&format!("warning: {}", p.unconverged_warning()));
        }
        let s = smoothed.map_or(p.loss, |s| 0.98 * s + 0.02 * p.loss);
        smoothed = Some(s);
        let message = if p.iteration.is_multiple_of(10) || p.iteration == p.iterations {
            format!("loss {s:.4}")
        } else {
            String::new()
        };
        bar.update(p.iteration as u64, &message);
    };
    let parameters = config.velocity.num_params_estimate() as usize;
    let result = fit(
        data,
        config,
        device,
        FitOptions {
            checkpoint_dir: Some(dir.to_path_buf()),
            resume: args.resume,
            progress: Some(&mut hook),
            stop: Some(stop),
            engine: settings.engine().map_err(genot_error)?,
        },
    );
    bar.finish();
    let (model, report) = match result {
        Err(GenotError::Stopped(it)) => {
            *interrupted = true;
            return Err(CliError::Run(format!(
                "interrupted at iteration {it}; a checkpoint is in '{}' (the model directory is unchanged): continue with --resume",
                dir.join(genot::train::CHECKPOINT).display()
            )));
        }
        r => r.map_err(genot_error)?,
    };
    write_model_files(dir, &model.config, &model.weights(), Some(&report)).map_err(genot_error)?;
    if args.plot {
        crate::plot::loss_curve(&report.losses, &dir.join("loss.png"))?;
    }
    let c = &model.config;
    let tail = &report.losses[report.losses.len().saturating_sub(100)..];
    let run_iterations = c.training.iterations - report.resumed_from;
    Ok(FitReport {
        model: args.out.display().to_string(),
        kind: c.matching.kind,
        n_source: data.source.nrows(),
        n_target: data.target.nrows(),
        source_dim: c.source_dim,
        target_dim: c.target_dim,
        conditions: c.conditions.clone(),
        unbalanced: c.rescaling.is_some(),
        parameters,
        iterations: c.training.iterations,
        resumed_from: report.resumed_from,
        final_loss: tail.iter().sum::<f32>() / tail.len().max(1) as f32,
        seconds: report.seconds,
        ms_per_iteration: report.seconds * 1e3 / run_iterations.max(1) as f64,
        unconverged_batches: report.unconverged_batches.len(),
        log_domain_retries: report.log_domain_retries.len(),
        orientation: (c.matching.kind != Kind::Linear).then(|| {
            serde_json::json!({
                "mode": c.matching.orientation,
                "chosen": report.orientation.as_ref().map(|o| o.chosen),
                "objectives": report.orientation.as_ref().map(|o| &o.objectives),
            })
        }),
    })
}
