//! `genot transport`: push new source points through a fitted model.

use crate::error::CliError;
use crate::fit::genot_error;
use crate::h5ad;
use crate::io::{check_output_format, read_points, write_points_atomic, Side};
use crate::spec::{LabelsSpec, PointsSpec};
use clap::Args;
use genot::settings::TransportSettings;
use genot::{Genot, TransportOptions};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `genot transport`: the files, and how to sample ([`TransportSettings`],
/// the one schema of the sampling settings, flattened in; parse with [`command`]).
#[derive(Debug, Args)]
pub struct TransportArgs {
    /// Model directory written by `genot fit`.
    #[arg(long)]
    pub model: PathBuf,
    /// Source points in the units of the training source: .npy, .csv[:columns], or
    /// .h5ad[:KEY] (X, obsm/NAME, layers/NAME). For a fused model: the non-shared
    /// features, with --source-shared.
    #[arg(long, value_parser = PointsSpec::parser())]
    pub source: PointsSpec,
    /// Keep only the cells of the --source .h5ad whose obs column matches:
    /// obs/COLUMN=VALUE[,VALUE...] (or !=), e.g. obs/condition=control.
    #[arg(long)]
    pub source_filter: Option<String>,
    /// Fused models: the shared features of the source points.
    #[arg(long, value_parser = PointsSpec::parser())]
    pub source_shared: Option<PointsSpec>,
    /// Samples: .npy, or .csv with one row per sample (n x q with one sample, n x K x q
    /// with --samples K > 1); or COPY.h5ad[:obsm/KEY] (KEY X_genot by default) for an
    /// .h5ad --source: a copy of the source file with obsm/KEY (the sample, or the mean of
    /// K > 1 samples, whose n x K x q array goes to obsm/KEY_samples), obs/KEY_uncertainty
    /// (K > 1) and, for U-GENOT, obs/KEY_weight. The input is never overwritten.
    #[arg(long)]
    pub out: PathBuf,
    /// Conditional models: one label per source row (.csv with a header row,
    /// file.h5ad:obs/COLUMN, or obs/COLUMN of the --source .h5ad).
    #[arg(long, value_parser = LabelsSpec::parser())]
    pub conditions: Option<LabelsSpec>,
    /// Write the mean of the K samples per point (n x q, .npy).
    #[arg(long)]
    pub mean_out: Option<PathBuf>,
    /// U-GENOT models: write eta(x), the mass each source point keeps (n, .npy).
    #[arg(long)]
    pub weights_out: Option<PathBuf>,
    /// Write a per-point uncertainty (n, .npy; needs K >= 2): variance of the cosine between
    /// each sampled displacement and the mean one (same-space models), otherwise the mean
    /// per-feature variance of the samples.
    #[arg(long)]
    pub uncertainty_out: Option<PathBuf>,
    #[command(flatten)]
    pub settings: TransportSettings,
    /// Draw the source points and their samples into this PNG (first two principal
    /// components beyond two features).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// With --plot: observed target points to draw under the samples (for a fused model:
    /// the target's own features, without the shared ones).
    #[arg(long, requires = "plot", value_parser = PointsSpec::parser())]
    pub plot_target: Option<PointsSpec>,
    /// With --plot: 2 (flat) or 3 (a 3-D view of the first three components).
    #[arg(long, requires = "plot", default_value_t = PLOT_DIMS, value_parser = clap::value_parser!(u8).range(2..=3))]
    pub plot_dims: u8,
    /// With --plot: colour the points and their samples by a label, one per source row
    /// (after --source-filter): LABELS.csv[:column] or obs/COLUMN of the --source .h5ad.
    #[arg(long, requires = "plot", value_name = "LABELS", value_parser = LabelsSpec::parser())]
    pub plot_color: Option<LabelsSpec>,
    /// Where to run: cpu, or wgpu / cuda (cuda:N) in builds with that feature.
    #[arg(long, default_value = crate::device::CPU)]
    pub device: String,
}

/// The default of `--plot-dims`.
const PLOT_DIMS: u8 = 2;

/// No files, the default settings, on the CPU: fill in what a call needs.
impl Default for TransportArgs {
    fn default() -> Self {
        TransportArgs {
            model: PathBuf::new(),
            source: PointsSpec::npy(PathBuf::new()),
            source_filter: None,
            source_shared: None,
            out: PathBuf::new(),
            conditions: None,
            mean_out: None,
            weights_out: None,
            uncertainty_out: None,
            settings: TransportSettings::default(),
            plot: None,
            plot_target: None,
            plot_dims: PLOT_DIMS,
            plot_color: None,
            device: crate::device::CPU.into(),
        }
    }
}

/// The `transport` subcommand's flags, with the sampling settings' defaults from the schema.
pub fn command(cmd: clap::Command) -> clap::Command {
    TransportSettings::defaults_in(TransportArgs::augment_args(cmd))
}

/// The JSON report of `genot transport`.
#[derive(Debug, Serialize)]
pub struct TransportReport {
    pub n: usize,
    pub samples: usize,
    pub target_dim: usize,
    pub shape: Vec<usize>,
    pub solver: String,
    pub velocity_evaluations: usize,
    pub seconds: f64,
}

/// Runs `genot transport`.
pub fn run(args: &TransportArgs) -> Result<TransportReport, CliError> {
    let options = args.settings.options().map_err(genot_error)?;
    let h5ad_out = h5ad_output(args)?;
    for p in [
        h5ad_out.is_none().then_some(&args.out),
        args.mean_out.as_ref(),
        args.weights_out.as_ref(),
        args.uncertainty_out.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        check_output_format(p)?;
    }
    if let Some(p) = &args.plot {
        crate::io::check_output_dir(p)?;
    }
    let model_files = [
        args.model.join(genot::model::CONFIG_FILE),
        args.model.join(genot::model::WEIGHTS_FILE),
    ];
    let inputs: Vec<(&str, &Path)> = [
        Some(("--source", args.source.path())),
        args.source_shared
            .as_ref()
            .map(|p| ("--source-shared", p.path())),
        args.conditions
            .as_ref()
            .and_then(|p| p.path())
            .map(|p| ("--conditions", p)),
        args.plot_target
            .as_ref()
            .map(|p| ("--plot-target", p.path())),
        args.plot_color
            .as_ref()
            .and_then(|p| p.path())
            .map(|p| ("--plot-color", p)),
        Some(("--model", model_files[0].as_path())),
        Some(("--model", model_files[1].as_path())),
    ]
    .into_iter()
    .flatten()
    .collect();
    let outputs: Vec<(&str, &Path)> = [
        Some(("--out", args.out.as_path())),
        args.mean_out.as_deref().map(|p| ("--mean-out", p)),
        args.weights_out.as_deref().map(|p| ("--weights-out", p)),
        args.uncertainty_out
            .as_deref()
            .map(|p| ("--uncertainty-out", p)),
        args.plot.as_deref().map(|p| ("--plot", p)),
    ]
    .into_iter()
    .flatten()
    .collect();
    crate::io::check_distinct_paths(&inputs, &outputs)?;
    if !args.model.is_dir() {
        return Err(CliError::Input(format!(
            "model directory '{}' does not exist",
            args.model.display()
        )));
    }
    let device = crate::device::parse_device(&args.device)?;
    let model = Genot::load(&args.model, &device).map_err(|e| CliError::Input(e.to_string()))?;
    let side = Side::new(
        &args.source,
        args.source_filter.as_deref(),
        "--source-filter",
    )?;
    if h5ad_out.is_some() && side.is_filtered() {
        return Err(CliError::Input(
            "an .h5ad --out is a copy of the whole source file with one prediction per cell: with --source-filter, write .npy or .csv".into(),
        ));
    }
    let x = side.points::<f32>(&args.source, "source")?;
    let shared = match &args.source_shared {
        Some(p) => Some(side.points::<f32>(p, "source-shared")?),
        None => None,
    };
    let x = model.source_input(x, shared).map_err(genot_error)?;
    if args.weights_out.is_some() && model.eta.is_none() {
        return Err(CliError::Input(
            "--weights-out: this model is balanced (no eta); train with --tau-a/--tau-b < 1".into(),
        ));
    }
    let labels = match &args.conditions {
        Some(p) => Some(side.labels(p, "conditions")?),
        None => None,
    };
    let target = match &args.plot_target {
        Some(t) => Some(read_points::<f32>(t, "plot-target")?),
        None => None,
    };
    let colors = match &args.plot_color {
        Some(p) => {
            let labels = side.labels(p, "plot-color")?;
            crate::plot::check_labels("--plot-color", &labels, x.nrows())?;
            Some(labels)
        }
        None => None,
    };
    let mut bar = crate::progress::Progress::spinner(
        "transport",
        &format!("{} points x {} samples", x.nrows(), args.settings.samples),
    );
    let start = Instant::now();
    let out = model.transport(
        x.view(),
        labels.as_deref(),
        &TransportOptions {
            uncertainty: args.uncertainty_out.is_some(),
            ..options
        },
    );
    bar.finish();
    let out = out.map_err(genot_error)?;
    let seconds = start.elapsed().as_secs_f64();
    if let Some(p) = &args.plot {
        let source = x.slice(ndarray::s![.., model.config.source_shared_dim..]);
        crate::plot::scatter(
            &crate::plot::Scatter {
                source,
                // Fused: the target's own features (after its shared ones), as in --plot-target.
                pred: out
                    .samples
                    .slice(ndarray::s![.., .., model.config.target_shared_dim..]),
                target: target.as_ref().map(|t| t.view()),
                links: 8,
                dims: args.plot_dims.into(),
                labels: colors.as_deref(),
            },
            p,
        )?;
    }
    let (n, k, q) = out.samples.dim();
    let shape = if k == 1 { vec![n, q] } else { vec![n, k, q] };
    match &h5ad_out {
        Some((file, key)) => write_h5ad(args, file, key, &out)?,
        None if k == 1 => {
            write_points_atomic(&args.out, &out.samples.index_axis(ndarray::Axis(1), 0))?
        }
        None => write_points_atomic(&args.out, &out.samples)?,
    }
    if let Some(p) = &args.mean_out {
        write_points_atomic(p, &out.mean)?;
    }
    if let (Some(p), Some(w)) = (&args.weights_out, &out.weights) {
        write_points_atomic(p, w)?;
    }
    if let Some(p) = &args.uncertainty_out {
        write_points_atomic(p, &out.uncertainty)?;
    }
    Ok(TransportReport {
        n,
        samples: k,
        target_dim: q,
        shape,
        solver: args.settings.solver.clone(),
        velocity_evaluations: out.evaluations,
        seconds,
    })
}

/// `--out COPY.h5ad[:obsm/KEY]`: the file and the obsm name; `None` for other formats.
fn h5ad_output(args: &TransportArgs) -> Result<Option<(PathBuf, String)>, CliError> {
    let Some((file, key)) = h5ad::split_spec(&args.out) else {
        return Ok(None);
    };
    let key = match key.as_deref().map(h5ad::Key::parse) {
        None => "X_genot".to_string(),
        Some(Ok(h5ad::Key::Obsm(name))) => name,
        Some(_) => {
            return Err(CliError::Input(format!(
                "--out '{}': predictions go to obsm: write COPY.h5ad:obsm/KEY",
                args.out.display()
            )))
        }
    };
    let Some(input) = args.source.h5ad_file() else {
        return Err(CliError::Input(format!(
            "--out '{}' is an .h5ad copy of the source file: --source must be an .h5ad file",
            args.out.display()
        )));
    };
    crate::io::check_output_dir(&file)?;
    h5ad::check_not_input(input, &file).map_err(|e| CliError::Input(format!("--out: {e}")))?;
    Ok(Some((file, key)))
}

/// Writes the predictions into a copy of the source `.h5ad`.
fn write_h5ad(
    args: &TransportArgs,
    file: &Path,
    key: &str,
    out: &genot::Transported,
) -> Result<(), CliError> {
    let input = args.source.h5ad_file().expect("checked by h5ad_output");
    let k = out.samples.dim().1;
    let mut p = h5ad::Predictions::default();
    if k == 1 {
        p.obsm.push((
            key.to_string(),
            out.samples
                .index_axis(ndarray::Axis(1), 0)
                .to_owned()
                .into_dyn(),
        ));
    } else {
        p.obsm.push((key.to_string(), out.mean.clone().into_dyn()));
        p.obsm
            .push((format!("{key}_samples"), out.samples.clone().into_dyn()));
        p.obs
            .push((format!("{key}_uncertainty"), out.uncertainty.clone()));
    }
    if let Some(w) = &out.weights {
        p.obs.push((format!("{key}_weight"), w.clone()));
    }
    h5ad::write_copy(input, file, &p)
        .map_err(|e| CliError::Run(crate::error::as_flags(&e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::FromArgMatches;

    #[test]
    fn the_flags_defaults_are_the_schemas() {
        let cmd = command(clap::Command::new("transport").no_binary_name(true));
        let help = cmd.clone().render_long_help().to_string();
        let m = cmd
            .try_get_matches_from(["--model", "m", "--source", "x.npy", "--out", "y.npy"])
            .unwrap();
        let a = TransportArgs::from_arg_matches(&m).unwrap();
        let d = TransportSettings::default();
        assert_eq!(a.settings, d);
        for shown in [
            format!("[default: {}]", d.rtol),
            format!("[default: {}]", d.solver),
        ] {
            assert!(help.contains(&shown), "{shown} not in the help");
        }
        // The library's check, named by the setting.
        let bad = TransportArgs {
            settings: TransportSettings { samples: 0, ..d },
            ..TransportArgs::default()
        };
        assert!(run(&bad)
            .unwrap_err()
            .to_string()
            .contains("samples must be at least 1"));
    }
}
