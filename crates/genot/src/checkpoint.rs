//! Checkpoints: the state of an unfinished fit (weights, optimizer moments, EMA, report),
//! written atomically as one folder and read back by `--resume`.

use crate::config::GenotConfig;
use crate::engine::{load_state, save_state};
use crate::error::{GenotError, Result};
use crate::history::TrainReport;
use crate::model::write_atomic;
use crate::params::{self, Weights};
use crate::trainer::Nets;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Name of the checkpoint folder inside the checkpoint directory.
pub const CHECKPOINT: &str = "checkpoint";

/// The velocity field's weights and AdamW state ([`crate::adam::OptimState`]), from either
/// engine; eta's and xi's beside it.
const VELOCITY: &str = "velocity-state.safetensors";
const ETA: &str = "eta-state.safetensors";
const XI: &str = "xi-state.safetensors";
/// The native engine's name for [`VELOCITY`] before the engines shared one format.
const OLDER_NATIVE: &str = "velocity-native.safetensors";

/// A clear error for a checkpoint written by the burn engine before the engines shared one
/// format (burn records, `*.bpk`), whose optimizer state this build cannot read.
fn check_not_burn_record(dir: &Path, expected: &Path) -> Result<()> {
    if !expected.exists()
        && std::fs::read_dir(dir).is_ok_and(|mut d| {
            d.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "bpk")))
        })
    {
        return Err(GenotError::Resume(format!(
            "{}: this checkpoint was written by the burn engine of an older genot (burn records, .bpk), whose optimizer state this build cannot read; fit again without resuming",
            dir.display()
        )));
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
pub(crate) struct CheckpointState {
    pub(crate) iteration: usize,
    pub(crate) config: GenotConfig,
    pub(crate) report: TrainReport,
}

fn io_err(path: &Path) -> impl Fn(crate::params::WeightsError) -> GenotError + '_ {
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
    save_state(nets.velocity.as_ref(), &t.join(VELOCITY))?;
    if let Some([e, x]) = &nets.rescaling {
        save_state(e.as_ref(), &t.join(ETA))?;
        save_state(x.as_ref(), &t.join(XI))?;
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

/// The matching and training settings that differ between a checkpoint's configuration
/// and this run's, each as "`name` is A in the checkpoint and B now" (the names are the
/// settings schema's; an unset optional setting reads "unset"). Empty when only the data,
/// the architecture or other derived parts differ.
fn changed_settings(saved: &GenotConfig, now: &GenotConfig) -> Vec<String> {
    let shown = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => "unset".to_string(),
        Some(v) => v.to_string(),
    };
    let pairs = [
        (json(&saved.matching), json(&now.matching)),
        (json(&saved.training), json(&now.training)),
    ];
    let mut out = Vec::new();
    for (a, b) in pairs {
        for (key, va) in &a {
            if b.get(key) != Some(va) {
                out.push(format!(
                    "`{key}` is {} in the checkpoint and {} now",
                    shown(Some(va)),
                    shown(b.get(key))
                ));
            }
        }
    }
    out
}

/// A settings section as a JSON object (empty if it does not serialise to one).
fn json<T: Serialize>(section: &T) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(section) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
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
    let mut saved = state.config.clone().settled();
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
        let named = changed_settings(&saved, config);
        let which = if named.is_empty() {
            String::new()
        } else {
            format!(": {}", named.join(", "))
        };
        return Err(GenotError::Resume(format!("{}: the checkpoint was made with other data or settings{which} (only the number of iterations may change on resume: give the checkpoint's values, or fit afresh)", dir.display())));
    }
    let velocity = dir.join(VELOCITY);
    let older = dir.join(OLDER_NATIVE);
    if velocity.exists() || !older.exists() {
        check_not_burn_record(dir, &velocity)?;
        load_state(nets.velocity.as_mut(), &velocity)?;
    } else {
        // Written by the native engine before both engines shared one format: the same
        // contents under another name.
        load_state(nets.velocity.as_mut(), &older)?;
    }
    if let Some([e, x]) = nets.rescaling.as_mut() {
        for (net, name) in [(e, ETA), (x, XI)] {
            let p = dir.join(name);
            check_not_burn_record(dir, &p)?;
            load_state(net.as_mut(), &p)?;
        }
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
