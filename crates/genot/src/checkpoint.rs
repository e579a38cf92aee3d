//! Checkpoints: the state of an unfinished fit (weights, optimizer moments, EMA, report),
//! written atomically as one folder and read back by `--resume`.

use crate::config::GenotConfig;
use crate::error::{GenotError, Result};
use crate::history::TrainReport;
use crate::model::write_atomic;
use crate::params::{self, Weights};
use crate::trainer::Nets;
use burn::module::Module;
use burn::store::ModuleRecord;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Name of the checkpoint folder inside the checkpoint directory.
pub const CHECKPOINT: &str = "checkpoint";

#[derive(Serialize, Deserialize)]
pub(crate) struct CheckpointState {
    pub(crate) iteration: usize,
    pub(crate) config: GenotConfig,
    pub(crate) report: TrainReport,
}

fn io_err(path: &Path) -> impl Fn(String) -> GenotError + '_ {
    move |e| GenotError::file(path, e)
}

/// Writes `dir` (the checkpoint folder) atomically: a fresh folder beside it, exchanged with it.
pub(crate) fn save_checkpoint(
    dir: &Path,
    iteration: usize,
    config: &GenotConfig,
    nets: &Nets,
    ema: Option<&Weights>,
    report: &TrainReport,
) -> Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| GenotError::file(parent, format!("cannot create: {e}")))?;
    let tmp = tempfile::Builder::new()
        .prefix(".checkpoint-")
        .tempdir_in(parent)
        .map_err(|e| GenotError::file(parent, format!("cannot create a temporary folder: {e}")))?;
    let t = tmp.path();
    let rec = |name: &str, r: std::result::Result<(), burn::store::RecordError>| {
        r.map_err(|e| GenotError::file(&t.join(name), e.to_string()))
    };
    nets.velocity.save(t)?;
    if let Some([(e, eo), (x, xo)]) = &nets.rescaling {
        rec("eta.bpk", e.clone().into_record().save(t.join("eta.bpk")))?;
        rec("eta-optim.bpk", eo.save(t.join("eta-optim.bpk")))?;
        rec("xi.bpk", x.clone().into_record().save(t.join("xi.bpk")))?;
        rec("xi-optim.bpk", xo.save(t.join("xi-optim.bpk")))?;
    }
    if let Some(e) = ema {
        let b = params::to_safetensors(e).map_err(io_err(t))?;
        write_atomic(&t.join("ema.safetensors"), &b)?;
    }
    let state = CheckpointState {
        iteration,
        config: config.clone(),
        report: report.clone(),
    };
    write_atomic(
        &t.join("state.json"),
        serde_json::to_string(&state)
            .expect("serialises")
            .as_bytes(),
    )?;
    let kept = tmp.keep();
    crate::model_dir::crash_point("checkpoint");
    // One atomic exchange of the two folders: `dir` is always a whole checkpoint.
    crate::model_dir::swap_in(&kept, dir)?;
    let _ = std::fs::remove_dir_all(&kept);
    Ok(())
}

pub(crate) fn load_checkpoint(
    dir: &Path,
    config: &GenotConfig,
    nets: &mut Nets,
) -> Result<(CheckpointState, Option<Weights>)> {
    let sp = dir.join("state.json");
    let text = std::fs::read_to_string(&sp)
        .map_err(|e| GenotError::file(&sp, format!("cannot read: {e}")))?;
    let state: CheckpointState = serde_json::from_str(&text)
        .map_err(|e| GenotError::file(&sp, format!("not a checkpoint state: {e}")))?;
    let mut saved = state.config.clone();
    saved.training.iterations = config.training.iterations;
    saved.training.checkpoint_every = config.training.checkpoint_every;
    if &saved != config {
        let older = saved.normalization != config.normalization && {
            let mut same = saved.clone();
            same.normalization = config.normalization.clone();
            &same == config
        };
        if older {
            return Err(GenotError::Resume(format!("{}: the checkpoint's normalisation differs from the one computed now, with the same data and settings: it was written by an older genot (constant target features now get std 0, and the isotropic scale leaves them out); fit again without resuming", dir.display())));
        }
        return Err(GenotError::Resume(format!("{}: the checkpoint was made with other data or settings (only the number of iterations may change on resume)", dir.display())));
    }
    let load = |name: &str| {
        ModuleRecord::load(dir.join(name))
            .map_err(|e| GenotError::file(&dir.join(name), e.to_string()))
    };
    let apply =
        |name: &str, e: burn::store::RecordError| GenotError::file(&dir.join(name), e.to_string());
    nets.velocity.load(dir)?;
    if let Some([(e, eo), (x, xo)]) = nets.rescaling.take() {
        let e = e
            .try_load_record(load("eta.bpk")?)
            .map_err(|er| apply("eta.bpk", er))?;
        let eo = eo
            .load(dir.join("eta-optim.bpk"))
            .map_err(|er| apply("eta-optim.bpk", er))?;
        let x = x
            .try_load_record(load("xi.bpk")?)
            .map_err(|er| apply("xi.bpk", er))?;
        let xo = xo
            .load(dir.join("xi-optim.bpk"))
            .map_err(|er| apply("xi-optim.bpk", er))?;
        nets.rescaling = Some([(e, eo), (x, xo)]);
    }
    let ema_path = dir.join("ema.safetensors");
    let ema = if ema_path.exists() {
        Some(params::read_safetensors(&ema_path).map_err(io_err(&ema_path))?)
    } else {
        None
    };
    if state.report.losses.len() != state.iteration {
        return Err(GenotError::file(
            &sp,
            "the loss history does not match the iteration count",
        ));
    }
    Ok((state, ema))
}
