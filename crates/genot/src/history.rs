//! The training report of a fit ([`TrainReport`]) and its file in a model directory
//! (`history.json`).

use crate::error::{GenotError, Result};
use crate::model::{write_model_files, Genot};
use crate::orientation::OrientationChoice;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What training produced besides the model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainReport {
    /// Flow-matching loss per iteration, from the first iteration (including those before a
    /// resume).
    pub losses: Vec<f32>,
    /// U-GENOT: eta and xi regression losses per iteration.
    pub rescaling_losses: Vec<[f32; 2]>,
    /// Iterations (1-based) that solved a batch coupling which stopped at its iteration
    /// limit; training used the plan as it stood (a plan that feeds several iterations is
    /// listed once, at the first).
    #[serde(default)]
    pub unconverged_batches: Vec<usize>,
    /// Iterations (1-based) that solved a batch Sinkhorn again in the log domain after the
    /// kernel path over- or underflowed.
    #[serde(default)]
    pub log_domain_retries: Vec<usize>,
    /// GW with the orientation fix: how the warm-up's orientation was chosen.
    #[serde(default)]
    pub orientation: Option<OrientationChoice>,
    /// Iteration the run resumed from (0 for a fresh run).
    pub resumed_from: usize,
    /// Seconds spent in this run.
    pub seconds: f64,
}

/// The file of the training report in a model directory.
pub const HISTORY_FILE: &str = "history.json";

/// Saves a fitted model (see [`Genot::save`]) and the training report ([`HISTORY_FILE`]).
pub fn save_fitted(dir: &Path, model: &Genot, report: &TrainReport) -> Result<()> {
    let staging = crate::model_dir::Staging::begin(dir, false)?;
    write_model_files(
        staging.path(),
        &model.config,
        &model.weights(),
        Some(report),
    )?;
    staging.commit()
}

/// Reads the training report that [`save_fitted`] wrote into `dir`; `None` when `dir` has
/// none (a model saved without its history).
pub fn load_history(dir: &Path) -> Result<Option<TrainReport>> {
    let path = dir.join(HISTORY_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| GenotError::file(&path, format!("cannot read the training history: {e}")))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| GenotError::file(&path, format!("not a training history: {e}")))
}
