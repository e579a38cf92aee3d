//! `genot eval`: compare predicted points with observed target points.

use crate::error::CliError;
use crate::io::Side;
use crate::spec::{LabelsSpec, PointsSpec};
use clap::Args;
use genot_ot::metrics::{
    energy_distance, foscttm, label_transfer_accuracy, median_heuristic_gamma, mmd_rbf,
    sinkhorn_divergence,
};
use genot_ot::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// Arguments of `genot eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Predicted points, one per row: .npy, .csv[:columns], or .h5ad[:KEY]
    /// (cells.h5ad:obsm/X_genot).
    #[arg(long, value_parser = PointsSpec::parser())]
    pub pred: PointsSpec,
    /// Observed target points, same dimension and formats.
    #[arg(long, value_parser = PointsSpec::parser())]
    pub target: PointsSpec,
    /// Keep only the predictions of the --pred .h5ad cells whose obs column matches
    /// (obs/COLUMN=VALUE[,VALUE...], or !=).
    #[arg(long)]
    pub pred_filter: Option<String>,
    /// Keep only the --target .h5ad cells whose obs column matches
    /// (obs/condition=stimulated).
    #[arg(long)]
    pub target_filter: Option<String>,
    /// Row i of --pred is the prediction for row i of --target: also report FOSCTTM.
    #[arg(long)]
    pub paired: bool,
    /// Labels of the predictions (.csv[:column], file.h5ad:obs/COLUMN, or obs/COLUMN of
    /// the --pred .h5ad; one per row): with --target-labels, report the k-nearest-neighbour
    /// label transfer accuracy.
    #[arg(long, requires = "target_labels", value_parser = LabelsSpec::parser())]
    pub pred_labels: Option<LabelsSpec>,
    /// Labels of the target points.
    #[arg(long, requires = "pred_labels", value_parser = LabelsSpec::parser())]
    pub target_labels: Option<LabelsSpec>,
    /// Neighbours for label transfer.
    #[arg(long, default_value_t = KNN)]
    pub knn: usize,
    /// Epsilon of the Sinkhorn divergence, absolute on the squared Euclidean cost.
    #[arg(long, default_value_t = EPSILON)]
    pub epsilon: f64,
    /// Bandwidth of the RBF kernel, exp(-gamma |x - y|^2). Default: 1 / the median squared
    /// distance between target points (median heuristic, on at most 2000 of them).
    #[arg(long)]
    pub mmd_gamma: Option<f64>,
}

/// The defaults of `--knn` and `--epsilon`.
const KNN: usize = 5;
const EPSILON: f64 = 0.1;

/// Predictions `pred` against targets `target`, every other argument at its default.
impl EvalArgs {
    pub fn new(pred: PointsSpec, target: PointsSpec) -> Self {
        EvalArgs {
            pred,
            target,
            pred_filter: None,
            target_filter: None,
            paired: false,
            pred_labels: None,
            target_labels: None,
            knn: KNN,
            epsilon: EPSILON,
            mmd_gamma: None,
        }
    }
}

/// The JSON report.
#[derive(Debug, Serialize)]
pub struct EvalReport {
    pub n_pred: usize,
    pub n_target: usize,
    pub dim: usize,
    pub sinkhorn_divergence: f64,
    pub epsilon: f64,
    pub energy_distance: f64,
    pub mmd: f64,
    pub mmd_gamma: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub foscttm: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_transfer_accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub knn: Option<usize>,
}

impl EvalReport {
    /// A two-column table for people.
    pub fn table(&self) -> String {
        let mut rows = vec![
            (
                "predictions x targets".to_string(),
                format!(
                    "{} x {} in {} dimensions",
                    self.n_pred, self.n_target, self.dim
                ),
            ),
            (
                format!("Sinkhorn divergence (eps {})", self.epsilon),
                format!("{:.6}", self.sinkhorn_divergence),
            ),
            (
                "energy distance".into(),
                format!("{:.6}", self.energy_distance),
            ),
            (
                format!("MMD^2 (gamma {:.4})", self.mmd_gamma),
                format!("{:.6}", self.mmd),
            ),
        ];
        if let Some(f) = self.foscttm {
            rows.push((
                "FOSCTTM (paired; 0 best, 0.5 random)".into(),
                format!("{f:.4}"),
            ));
        }
        if let (Some(a), Some(k)) = (self.label_transfer_accuracy, self.knn) {
            rows.push((
                format!("label transfer accuracy ({k}-NN)"),
                format!("{a:.4}"),
            ));
        }
        let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(k, v)| format!("{k:<w$}  {v}\n"))
            .collect()
    }
}

/// Maps string labels of both sides to shared integer ids.
fn encode(a: &[String], b: &[String]) -> (Vec<usize>, Vec<usize>) {
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut enc = |v: &[String]| -> Vec<usize> {
        v.iter()
            .map(|s| {
                let n = ids.len();
                *ids.entry(s.clone()).or_insert(n)
            })
            .collect()
    };
    let ea = enc(a);
    let eb = enc(b);
    (ea, eb)
}

/// Runs `genot eval`.
pub fn run(args: &EvalArgs) -> Result<EvalReport, CliError> {
    if !(args.epsilon > 0.0 && args.epsilon.is_finite()) {
        return Err(CliError::Input(format!(
            "--epsilon must be > 0, got {}",
            args.epsilon
        )));
    }
    if let Some(g) = args.mmd_gamma {
        if !(g > 0.0 && g.is_finite()) {
            return Err(CliError::Input(format!("--mmd-gamma must be > 0, got {g}")));
        }
    }
    let pred_side = Side::new(&args.pred, args.pred_filter.as_deref(), "--pred-filter")?;
    let target_side = Side::new(
        &args.target,
        args.target_filter.as_deref(),
        "--target-filter",
    )?;
    let pred = pred_side.points::<f64>(&args.pred, "pred")?;
    let target = target_side.points::<f64>(&args.target, "target")?;
    if pred.ncols() != target.ncols() {
        return Err(CliError::Input(format!(
            "dimension mismatch: pred '{}' has {} columns, target '{}' has {}",
            args.pred,
            pred.ncols(),
            args.target,
            target.ncols()
        )));
    }
    if args.paired && pred.nrows() != target.nrows() {
        return Err(CliError::Input(format!(
            "--paired needs as many predictions as targets, got {} and {}",
            pred.nrows(),
            target.nrows()
        )));
    }
    let labels = match (&args.pred_labels, &args.target_labels) {
        (Some(pl), Some(tl)) => {
            let (a, b) = (
                pred_side.labels(pl, "pred-labels")?,
                target_side.labels(tl, "target-labels")?,
            );
            let check = |what: &str, p: &LabelsSpec, got: usize, want: usize| {
                if got == want {
                    Ok(())
                } else {
                    Err(CliError::Input(format!(
                        "{what} file '{p}' has {got} labels for {want} points"
                    )))
                }
            };
            check("pred-labels", pl, a.len(), pred.nrows())?;
            check("target-labels", tl, b.len(), target.nrows())?;
            if args.knn == 0 || args.knn > target.nrows() {
                return Err(CliError::Input(format!(
                    "--knn must be in 1..={} (the number of targets), got {}",
                    target.nrows(),
                    args.knn
                )));
            }
            Some(encode(&a, &b))
        }
        _ => None,
    };
    let solver = Sinkhorn::default()
        .with_threshold(1e-4)
        .with_max_iterations(10_000);
    let div = sinkhorn_divergence(
        &pred,
        &target,
        Arc::new(SqEuclidean),
        ScaleCost::None,
        Epsilon::Absolute(args.epsilon),
        &solver,
    )?;
    let gamma = args
        .mmd_gamma
        .unwrap_or_else(|| median_heuristic_gamma(target.view()));
    Ok(EvalReport {
        n_pred: pred.nrows(),
        n_target: target.nrows(),
        dim: pred.ncols(),
        sinkhorn_divergence: div.divergence,
        epsilon: args.epsilon,
        energy_distance: energy_distance(pred.view(), target.view())?,
        mmd: mmd_rbf(pred.view(), target.view(), gamma)?,
        mmd_gamma: gamma,
        foscttm: if args.paired {
            Some(foscttm(pred.view(), target.view())?)
        } else {
            None
        },
        label_transfer_accuracy: match &labels {
            Some((a, b)) => Some(label_transfer_accuracy(
                pred.view(),
                a,
                target.view(),
                b,
                args.knn,
            )?),
            None => None,
        },
        knn: labels.as_ref().map(|_| args.knn),
    })
}
