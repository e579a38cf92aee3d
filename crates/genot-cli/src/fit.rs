//! `genot fit`: train a GENOT model and write it to a model directory.

use crate::error::CliError;
use crate::io::Side;
use crate::spec::{LabelsSpec, PointsSpec};
use clap::{Args, Command, FromArgMatches};
use genot::config::Kind;
use genot::model::write_model_files;
use genot::model_dir::Staging;
use genot::train::{fit, FitOptions, Progress};
use genot::{FitSettings, GenotError, TrainingData};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Arguments of `genot fit`: the data and where the model goes, and the settings of the
/// run ([`FitSettings`], the one schema of them, flattened in). Parse them with
/// [`command`] (the flags with the schema's defaults), then [`FitArgs::resolve`] reads a
/// `--config` file under the command line's own flags.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[command(args_override_self = true, allow_negative_numbers = true)]
pub struct FitArgs {
    /// Read the settings from a TOML file (keys are the long flags, with - or _: `iterations
    /// = 2000`); flags given on the command line override it. Relative paths are relative
    /// to the file. `OUT/fit.toml` records every run's settings in this format.
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Source points, n x p: .npy, .csv[:columns], or .h5ad[:KEY] with KEY = X (the
    /// default), obsm/NAME or layers/NAME (cells.h5ad:obsm/X_pca). For fused: the features
    /// that are only comparable within the source space.
    #[arg(long, required_unless_present = "config", value_parser = PointsSpec::parser())]
    pub source: Option<PointsSpec>,
    /// Target points, m x q (same formats).
    #[arg(long, required_unless_present = "config", value_parser = PointsSpec::parser())]
    pub target: Option<PointsSpec>,
    /// Keep only the source cells of the --source .h5ad whose obs column matches:
    /// obs/COLUMN=VALUE[,VALUE...] (or != to drop them), e.g. obs/condition=control. Shared
    /// features and conditions of the source are cut to the same cells.
    #[arg(long)]
    pub source_filter: Option<String>,
    /// The same for the target cells (obs/condition=stimulated).
    #[arg(long)]
    pub target_filter: Option<String>,
    /// Model directory to write (config.json, model.safetensors, history.json, checkpoint/).
    #[arg(long, required_unless_present = "config")]
    pub out: Option<PathBuf>,
    /// Fused: source features comparable across spaces (n rows).
    #[arg(long, value_parser = PointsSpec::parser())]
    pub source_shared: Option<PointsSpec>,
    /// Fused: target features comparable across spaces (m rows).
    #[arg(long, value_parser = PointsSpec::parser())]
    pub target_shared: Option<PointsSpec>,
    /// One condition label per source row: .csv with a header (the only column or
    /// file.csv:column), file.h5ad:obs/COLUMN, or obs/COLUMN of the --source .h5ad.
    #[arg(long, value_parser = LabelsSpec::parser())]
    pub source_conditions: Option<LabelsSpec>,
    /// One condition label per target row.
    #[arg(long, value_parser = LabelsSpec::parser())]
    pub target_conditions: Option<LabelsSpec>,
    #[command(flatten)]
    #[serde(flatten)]
    pub settings: FitSettings,
    /// Continue from OUT/checkpoint (same data and settings; --iterations may grow).
    #[arg(long)]
    #[serde(skip)]
    pub resume: bool,
    /// Where to train: cpu, or wgpu / cuda (cuda:N) in builds with that feature (burn engine;
    /// the batch couplings stay on the CPU).
    #[arg(long, default_value = crate::device::CPU)]
    pub device: String,
    /// Also draw the training loss curve into OUT/loss.png.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL", default_value = "false")]
    pub plot: bool,
}

/// No data, the default settings, on the CPU: fill in what a call needs.
impl Default for FitArgs {
    fn default() -> Self {
        FitArgs {
            config: None,
            source: None,
            target: None,
            source_filter: None,
            target_filter: None,
            out: None,
            source_shared: None,
            target_shared: None,
            source_conditions: None,
            target_conditions: None,
            settings: FitSettings::default(),
            resume: false,
            device: crate::device::CPU.into(),
            plot: false,
        }
    }
}

impl FitArgs {
    /// The arguments with the `--config` file's settings filled in where the command line
    /// (`matches`, which parsed `self`) gave none; see [`crate::config_file`].
    pub fn resolve(self, matches: &clap::ArgMatches) -> Result<FitArgs, CliError> {
        crate::config_file::resolve(self, matches)
    }
}

/// The `fit` subcommand's flags, with the settings' defaults from the schema.
pub fn command(cmd: Command) -> Command {
    FitSettings::defaults_in(FitArgs::augment_args(cmd))
}

/// The arguments of `genot fit ARGS...` (no program or subcommand name in `argv`), with a
/// `--config` file read: what the binary runs, for callers that build a command line.
pub fn parse<I, T>(argv: I) -> Result<FitArgs, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command(Command::new("fit").no_binary_name(true))
        .try_get_matches_from(argv)
        .map_err(|e| CliError::Input(e.to_string()))?;
    let args = FitArgs::from_arg_matches(&matches).map_err(|e| CliError::Input(e.to_string()))?;
    args.resolve(&matches)
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
    let shown = crate::error::as_flags(&e.to_string());
    match e {
        GenotError::TooLarge(t) => CliError::Input(crate::error::too_large(&t)),
        e if e.is_bad_input() => CliError::Input(shown),
        _ => CliError::Run(shown),
    }
}

/// The help of a `--cost` flag: `what`, then every cost name with what it is.
pub fn cost_help(what: &str) -> String {
    format!("{what}: {}", genot_ot::choice::cost_help())
}

/// A path the command line or the config file must give.
fn given<'a, T>(path: &'a Option<T>, key: &str) -> Result<&'a T, CliError> {
    path.as_ref().ok_or_else(|| {
        CliError::Input(format!(
            "no --{key}: give it on the command line or as `{key}` in the --config file"
        ))
    })
}

/// Runs `genot fit` (on arguments whose `--config` is already read: [`FitArgs::resolve`]).
pub fn run(args: &FitArgs) -> Result<FitReport, CliError> {
    let settings = &args.settings;
    let (source, target, out) = (
        given(&args.source, "source")?,
        given(&args.target, "target")?,
        given(&args.out, "out")?,
    );
    let device = crate::device::parse_device(&args.device)?;
    // Pairs are checked here, after a --config file has had its say.
    for (a, b, what) in [
        (
            args.source_shared.is_some(),
            args.target_shared.is_some(),
            "shared",
        ),
        (
            args.source_conditions.is_some(),
            args.target_conditions.is_some(),
            "conditions",
        ),
    ] {
        if a != b {
            return Err(CliError::Input(format!(
                "--source-{what} and --target-{what} go together: give both (on the command line or in the --config file) or neither"
            )));
        }
    }
    match (settings.kind == Kind::Fused, args.source_shared.is_some()) {
        (true, false) => {
            return Err(CliError::Input(
                "--kind fused compares features that both spaces share: give them with --source-shared and --target-shared".into(),
            ))
        }
        (false, true) => {
            return Err(CliError::Input(format!(
                "--source-shared and --target-shared are the shared features of a fused fit: add --kind fused (this is --kind {})",
                settings.kind
            )))
        }
        _ => {}
    }
    settings.validate().map_err(genot_error)?;
    let src = Side::new(source, args.source_filter.as_deref(), "--source-filter")?;
    let tgt = Side::new(target, args.target_filter.as_deref(), "--target-filter")?;
    let mut data = TrainingData::new(
        src.points::<f32>(source, "source")?,
        tgt.points::<f32>(target, "target")?,
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
    let staging = Staging::begin(out, args.resume).map_err(genot_error)?;
    if args.resume && !staging.prepare_resume().map_err(genot_error)? {
        staging.abandon();
        return Err(CliError::Input(format!(
            "--resume: no checkpoint of an interrupted run beside '{}' and none in it",
            out.display()
        )));
    }
    let mut interrupted = false;
    let result = train_into(
        args,
        out,
        &staging,
        &data,
        config,
        &device,
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
    out: &std::path::Path,
    staging: &Staging,
    data: &TrainingData,
    config: genot::GenotConfig,
    device: &burn::tensor::Device,
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
            engine: args.settings.engine,
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
        model: out.display().to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_defaults_are_the_schemas() {
        let a = parse(["--source", "x.npy", "--target", "y.npy", "--out", "m"]).unwrap();
        assert_eq!(a.settings, FitSettings::default());
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.toml");
        std::fs::write(&empty, "").unwrap();
        let b = parse(["--config", empty.to_str().unwrap()]).unwrap();
        assert_eq!(b.settings, FitSettings::default());
        // --help shows each default, as the schema has it.
        let help = command(Command::new("fit")).render_long_help().to_string();
        let d = FitSettings::default();
        for shown in [
            format!("[default: {}]", d.lr),
            format!("[default: {}]", d.iterations),
            format!("[default: {}]", d.scale_cost),
            "[default: isotropic]".to_string(),
        ] {
            assert!(help.contains(&shown), "{shown} not in the help");
        }
        // A missing path names itself when the config file does not give it.
        let e = run(&b).unwrap_err().to_string();
        assert!(e.contains("no --source"), "{e}");
    }
}
