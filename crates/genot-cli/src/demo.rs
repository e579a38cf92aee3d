//! `genot demo`: the whole workflow on a built-in synthetic task, in well under a minute on
//! two cores. Source: N(0, I_2); target: 8 Gaussians (std 0.5) on a circle of radius 5, the
//! toy task of the GENOT paper. It writes the data, fits a model (`genot fit --plot`),
//! samples held-out source points (`genot transport --plot`), scores the predictions
//! against held-out targets (`genot eval`, next to the source left as it is), and prints
//! where everything is. Each step calls the subcommand's typed `run` directly.

use crate::error::CliError;
use crate::io::write_npy_atomic;
use crate::spec::PointsSpec;
use crate::{eval, fit, transport};
use clap::Args;
use genot::settings::TransportSettings;
use genot::FitSettings;
use ndarray::{s, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `genot demo` (all optional).
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the data, the model, the predictions and the figures.
    #[arg(long, default_value = "genot-demo")]
    pub out: PathBuf,
    /// Training iterations.
    #[arg(long, default_value_t = 2000)]
    pub iterations: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Distances between held-out targets and a prediction.
#[derive(Debug, Serialize)]
pub struct Scores {
    pub sinkhorn_divergence: f64,
    pub energy_distance: f64,
    pub mmd: f64,
}

/// The JSON report of `genot demo`.
#[derive(Debug, Serialize)]
pub struct DemoReport {
    pub out: String,
    pub model: String,
    pub predictions: String,
    pub samples_shape: Vec<usize>,
    pub figures: Vec<String>,
    /// GENOT's predictions for held-out source points against held-out targets.
    pub genot: Scores,
    /// The held-out source points themselves against the same targets.
    pub source_as_is: Scores,
    pub fit_seconds: f64,
    pub seconds: f64,
}

/// `n` points of the source (first) and target (second) distributions.
fn sample(n: usize, rng: &mut ChaCha8Rng) -> (Array2<f32>, Array2<f32>) {
    let source = Array2::from_shape_simple_fn((n, 2), || rng.sample::<f32, _>(StandardNormal));
    let mut target = Array2::<f32>::zeros((n, 2));
    for mut row in target.rows_mut() {
        let angle = std::f32::consts::TAU * rng.random_range(0..8) as f32 / 8.0;
        row[0] = 5.0 * angle.cos() + 0.5 * rng.sample::<f32, _>(StandardNormal);
        row[1] = 5.0 * angle.sin() + 0.5 * rng.sample::<f32, _>(StandardNormal);
    }
    (source, target)
}

fn text(p: &Path) -> String {
    p.display().to_string()
}

fn score(pred: &Path, target: &Path) -> Result<Scores, CliError> {
    let r = eval::run(&eval::EvalArgs::new(
        PointsSpec::npy(pred),
        PointsSpec::npy(target),
    ))?;
    Ok(Scores {
        sinkhorn_divergence: r.sinkhorn_divergence,
        energy_distance: r.energy_distance,
        mmd: r.mmd,
    })
}

/// Runs `genot demo`.
pub fn run(args: &DemoArgs) -> Result<DemoReport, CliError> {
    let start = Instant::now();
    let dir = &args.out;
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Run(format!("cannot create '{}': {e}", dir.display())))?;
    let path = |f: &str| dir.join(f);
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let (source, target) = sample(2000, &mut rng);
    let (source_test, target_test) = sample(1000, &mut rng);
    write_npy_atomic(&path("source.npy"), &source)?;
    write_npy_atomic(&path("target.npy"), &target)?;
    write_npy_atomic(&path("source_test.npy"), &source_test)?;
    write_npy_atomic(&path("target_test.npy"), &target_test)?;
    write_npy_atomic(&path("source_plot.npy"), &source_test.slice(s![..200, ..]))?;

    eprintln!(
        "genot demo: 8 Gaussians from N(0, I), data in '{}'",
        dir.display()
    );
    let fitted = fit::run(&fit::FitArgs {
        source: Some(PointsSpec::npy(path("source.npy"))),
        target: Some(PointsSpec::npy(path("target.npy"))),
        out: Some(path("model")),
        settings: FitSettings {
            iterations: args.iterations,
            hidden: 128,
            lr: 1e-3,
            relative_epsilon: true,
            epsilon: Some(0.1),
            checkpoint_every: 0,
            seed: args.seed,
            ..FitSettings::default()
        },
        plot: true,
        ..fit::FitArgs::default()
    })?;
    let sampling = TransportSettings {
        seed: args.seed,
        ..TransportSettings::default()
    };
    transport::run(&transport::TransportArgs {
        model: path("model"),
        source: PointsSpec::npy(path("source_test.npy")),
        out: path("predictions.npy"),
        settings: sampling.clone(),
        ..transport::TransportArgs::default()
    })?;
    let shown = transport::run(&transport::TransportArgs {
        model: path("model"),
        source: PointsSpec::npy(path("source_plot.npy")),
        out: path("samples.npy"),
        settings: TransportSettings {
            samples: 8,
            ..sampling
        },
        plot: Some(path("transport.png")),
        plot_target: Some(PointsSpec::npy(path("target_test.npy"))),
        ..transport::TransportArgs::default()
    })?;
    let genot = score(&path("predictions.npy"), &path("target_test.npy"))?;
    let source_as_is = score(&path("source_test.npy"), &path("target_test.npy"))?;
    let report = DemoReport {
        out: text(dir),
        model: text(&path("model")),
        predictions: text(&path("predictions.npy")),
        samples_shape: shown.shape,
        figures: vec![text(&path("model/loss.png")), text(&path("transport.png"))],
        genot,
        source_as_is,
        fit_seconds: fitted.seconds,
        seconds: start.elapsed().as_secs_f64(),
    };
    eprint!("{}", report.table());
    Ok(report)
}

impl DemoReport {
    /// A summary for people (stderr).
    pub fn table(&self) -> String {
        let row = |name: &str, s: &Scores| {
            format!(
                "  {name:<26} {:>12.4} {:>12.4} {:>12.5}\n",
                s.sinkhorn_divergence, s.energy_distance, s.mmd
            )
        };
        format!(
            "\nheld-out targets vs        {:>12} {:>12} {:>12}\n{}{}\nfit {:.1} s, all {:.1} s\nmodel        {}\npredictions  {}\nfigures      {}\n",
            "Sinkhorn div", "energy dist", "MMD^2",
            row("GENOT predictions", &self.genot),
            row("source as it is", &self.source_as_is),
            self.fit_seconds,
            self.seconds,
            self.model,
            self.predictions,
            self.figures.join(", "),
        )
    }
}
