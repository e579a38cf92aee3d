//! A whole fit (SPEC section 1): [`fit`] runs [`Trainer::step`] for every iteration, with
//! progress, Ctrl-C, checkpoints and resume. The pieces live by job: the configuration in
//! [`crate::configure`], one iteration in [`crate::trainer`], checkpoints in
//! [`crate::checkpoint`], the report and its file in [`crate::history`].
//!
//! Runs are bit-identical whatever the number of threads: the native engine sums gradient
//! blocks of a fixed size in a fixed order, and the OT solvers reduce in blocks of a fixed
//! length. A run resumed from a checkpoint continues exactly as the uninterrupted run would
//! (see [`crate::trainer`] for the random streams).

use crate::config::GenotConfig;
use crate::coupling::BatchSolve;
use crate::data::TrainingData;
use crate::engine::Engine;
use crate::error::{GenotError, Result};
use crate::model::Genot;
use crate::trainer::Trainer;
use burn::tensor::Device;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub use crate::checkpoint::CHECKPOINT;
pub use crate::configure::{make_config, Architecture};
pub use crate::history::{load_history, save_fitted, TrainReport, HISTORY_FILE};

/// One report per iteration to the progress hook.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Iterations done (1-based).
    pub iteration: usize,
    pub iterations: usize,
    pub loss: f32,
    pub seconds: f64,
    /// How this iteration's batch coupling was solved.
    pub batch_solve: BatchSolve,
    /// Batches so far (this run and before a resume) whose solve reached its iteration limit.
    pub unconverged_batches: usize,
}

impl Progress {
    /// The warning for the first batch of a run whose coupling stopped at its iteration
    /// limit (training goes on; later ones are only counted).
    pub fn unconverged_warning(&self) -> String {
        let b = &self.batch_solve;
        format!(
            "the batch coupling of iteration {} stopped at its iteration limit ({} Sinkhorn iterations, error {:.2e}); training goes on with that plan, and the report counts such batches (unconverged_batches). Raise sinkhorn_max_iterations (or gw_max_iterations for GW) or epsilon for converged plans",
            self.iteration, b.iterations, b.error
        )
    }
}

/// Where checkpoints go and whether to start from one.
#[derive(Default)]
pub struct FitOptions<'a> {
    /// Directory for `checkpoint/` (usually the model directory).
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue from `checkpoint_dir/checkpoint` when it exists.
    pub resume: bool,
    /// Called after every iteration.
    pub progress: Option<&'a mut dyn FnMut(&Progress)>,
    /// Set to stop early: a checkpoint is written and [`GenotError::Stopped`] returned.
    pub stop: Option<Arc<AtomicBool>>,
    /// Which implementation trains the velocity field (native on the CPU by default).
    pub engine: Engine,
}

/// Trains a GENOT model on `data`. `device` is the compute device (for example
/// `Device::flex()`); autodiff is enabled on it here.
pub fn fit(
    data: &TrainingData,
    config: GenotConfig,
    device: &Device,
    mut options: FitOptions,
) -> Result<(Genot, TrainReport)> {
    let started = Instant::now();
    let iterations = config.training.iterations;
    let every = config.training.checkpoint_every;
    let mut trainer = Trainer::new(data, config, device, options.engine)?;
    let ckpt_dir = options.checkpoint_dir.as_ref().map(|d| d.join(CHECKPOINT));
    if options.resume {
        if let Some(dir) = ckpt_dir.as_ref().filter(|d| d.join("state.json").exists()) {
            trainer.resume(dir)?;
        }
    }
    for it in trainer.iteration()..iterations {
        if options
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
        {
            if let Some(dir) = &ckpt_dir {
                trainer.save_checkpoint(dir, it)?;
            }
            return Err(GenotError::Stopped(it));
        }
        let step = trainer.step()?;
        let done = it + 1;
        if let Some(p) = options.progress.as_mut() {
            p(&Progress {
                iteration: done,
                iterations,
                loss: step.loss,
                seconds: started.elapsed().as_secs_f64(),
                batch_solve: step.solve,
                unconverged_batches: trainer.report().unconverged_batches.len(),
            });
        }
        if let Some(dir) = &ckpt_dir {
            if every > 0 && done.is_multiple_of(every) && done < iterations {
                trainer.save_checkpoint(dir, done)?;
            }
        }
    }
    if let Some(dir) = &ckpt_dir {
        trainer.save_checkpoint(dir, iterations)?;
    }
    trainer.finish(device, started.elapsed().as_secs_f64())
}
