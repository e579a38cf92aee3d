//! The training loop (SPEC section 1): batch coupling, pair sampling, flow matching with
//! AdamW, U-GENOT re-weighting networks, the GW orientation fix, EMA, gradient clipping,
//! progress, checkpoints and resume.
//!
//! Randomness: iteration `i` draws its batch from the ChaCha stream `i + 1` of the seed and
//! its pairs, latents and times from stream `i + 1` of a derived seed; the initial weights
//! come from the seed alone. A run resumed from a checkpoint therefore continues exactly as
//! the uninterrupted run would. Runs are bit-identical whatever the number of threads: the
//! native engine sums gradient blocks of a fixed size in a fixed order, and the OT solvers
//! reduce in blocks of a fixed length.

use crate::config::{
    GenotConfig, Kind, MatchingConfig, Orientation, RescalingConfig, TrainConfig, FORMAT_VERSION,
};
use crate::coupling::{BatchPlan, BatchSolve, Coupler};
use crate::data::{ConditionGroup, TrainingData};
use crate::engine::{burn_optimizer, Engine, FieldTrainer};
use crate::error::{GenotError, Result};
use crate::flow::{latents, straight_path, stratified_times, T_OFFSET};
use crate::matching::match_latents_per_source;
use crate::model::{one_hot_append, to_tensor, write_atomic, write_model_files, Genot};
use crate::ode::{integrate, Solver};
use crate::orientation::{self, OrientationChoice};
use crate::params::{self, Weights};
use crate::rescaling::Rescaling;
use crate::velocity::VelocityFieldConfig;
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::store::ModuleRecord;
use burn::tensor::{Device, Tensor, TensorData};
use ndarray::{Array2, Axis};
use rand::seq::index::sample;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Network sizes chosen by the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Architecture {
    pub hidden: usize,
    pub layers: usize,
    pub time_frequencies: usize,
    pub rescaling: RescalingConfig,
}

impl Default for Architecture {
    /// Width 256, 3 layers per block, 128 time frequencies (SPEC section 2, single cell).
    fn default() -> Self {
        Architecture {
            hidden: 256,
            layers: 3,
            time_frequencies: 128,
            rescaling: RescalingConfig::default(),
        }
    }
}

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

/// What training produced besides the model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainReport {
    /// Flow-matching loss per iteration, from the first iteration (including those before a
    /// resume).
    pub losses: Vec<f32>,
    /// U-GENOT: eta and xi regression losses per iteration.
    pub rescaling_losses: Vec<[f32; 2]>,
    /// Iterations (1-based) whose batch solve stopped at its iteration limit; training used
    /// the plan as it stood.
    #[serde(default)]
    pub unconverged_batches: Vec<usize>,
    /// Iterations (1-based) whose batch Sinkhorn was redone in the log domain after the
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

/// Name of the checkpoint folder inside the checkpoint directory.
pub const CHECKPOINT: &str = "checkpoint";

#[derive(Serialize, Deserialize)]
struct CheckpointState {
    iteration: usize,
    config: GenotConfig,
    report: TrainReport,
}

/// The configuration that [`fit`] will train, from the data and the user's choices.
pub fn make_config(
    data: &TrainingData,
    matching: MatchingConfig,
    training: TrainConfig,
    arch: Architecture,
) -> Result<GenotConfig> {
    data.validate()?;
    matching.validate().map_err(GenotError::Invalid)?;
    training.validate().map_err(GenotError::Invalid)?;
    if let Some(m) = matching.ot_batch_size {
        if m < training.batch_size {
            return Err(GenotError::Invalid(format!(
                "ot_batch_size ({m}) must be at least batch_size ({}): the network's pairs are drawn from the OT batch",
                training.batch_size
            )));
        }
    }
    let (p, q) = (data.source.ncols(), data.target.ncols());
    let graph = matches!(
        genot_ot::choice::CostChoice::<f32>::parse(&matching.cost),
        Ok(genot_ot::choice::CostChoice::Graph(_))
    );
    match matching.kind {
        Kind::Linear if p != q && !graph => {
            return Err(GenotError::Invalid(format!(
                "a linear problem compares source and target points, but the source has {p} features and the target {q}: use --kind quadratic (or fused) for different spaces"
            )))
        }
        Kind::Linear if p != q => {
            return Err(GenotError::Invalid(format!(
                "a graph cost joins source and target in one graph: they need the same number of features ({p} vs {q})"
            )))
        }
        Kind::Fused if data.source_shared_dim == 0 || data.target_shared_dim == 0 => {
            return Err(GenotError::Invalid(
                "a fused problem needs shared features for both source and target".into(),
            ))
        }
        Kind::Fused if data.source_shared_dim != data.target_shared_dim => {
            return Err(GenotError::Invalid(format!(
                "the shared features must have the same dimension: {} (source) vs {} (target)",
                data.source_shared_dim, data.target_shared_dim
            )))
        }
        Kind::Fused if data.source_shared_dim >= p || data.target_shared_dim >= q => {
            return Err(GenotError::Invalid(
                "a fused problem needs features besides the shared ones in both spaces".into(),
            ))
        }
        Kind::Linear | Kind::Quadratic if data.source_shared_dim + data.target_shared_dim > 0 => {
            return Err(GenotError::Invalid(
                "shared features are for fused problems (--kind fused)".into(),
            ))
        }
        _ => {}
    }
    let conditions = data.labels();
    let velocity = VelocityFieldConfig {
        condition_dim: p + conditions.len(),
        target_dim: q,
        hidden: arch.hidden,
        layers: arch.layers,
        time_frequencies: arch.time_frequencies,
    };
    velocity.validate().map_err(GenotError::Invalid)?;
    let rescaling = (!matching.is_balanced()).then_some(arch.rescaling);
    Ok(GenotConfig {
        format_version: FORMAT_VERSION,
        source_dim: p,
        target_dim: q,
        source_shared_dim: data.source_shared_dim,
        target_shared_dim: data.target_shared_dim,
        conditions,
        velocity,
        rescaling,
        normalization: data.normalization(training.normalize),
        matching,
        training,
        trained_by: None,
    })
}

/// Networks being trained, with their optimizers.
struct Nets {
    velocity: FieldTrainer,
    rescaling: Option<[(Rescaling, ModuleOptimizer); 2]>,
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
    crate::resources::check(&crate::resources::fit_need(&config))?;
    let ad = device.clone().autodiff();
    let fresh = Genot::from_config(config.clone(), None, &ad)?;
    let tc = config.training.clone();
    let mut nets = Nets {
        velocity: FieldTrainer::new(config.velocity, fresh.velocity, device, options.engine, &tc)?,
        rescaling: match (fresh.eta, fresh.xi) {
            (Some(e), Some(x)) => Some([(e, burn_optimizer(&tc)), (x, burn_optimizer(&tc))]),
            _ => None,
        },
    };
    let mut report = TrainReport {
        losses: vec![],
        rescaling_losses: vec![],
        unconverged_batches: vec![],
        log_domain_retries: vec![],
        orientation: None,
        resumed_from: 0,
        seconds: 0.0,
    };
    let mut ema: Option<Weights> = None;
    let ckpt_dir = options.checkpoint_dir.as_ref().map(|d| d.join(CHECKPOINT));
    if options.resume {
        if let Some(dir) = ckpt_dir.as_ref().filter(|d| d.join("state.json").exists()) {
            let (state, n, e) = load_checkpoint(dir, &config, nets)?;
            nets = n;
            ema = e;
            report = state.report;
            report.resumed_from = state.iteration;
        }
    }
    if ema.is_none() && tc.ema.is_some() {
        ema = Some(nets.velocity.weights());
    }
    let coupler = Coupler::new(
        &config.matching,
        data.source_shared_dim,
        data.target_shared_dim,
    )
    .map_err(GenotError::Invalid)?;
    let groups = data.condition_groups();
    let group_weights: Vec<f64> = groups.iter().map(|g| g.source.len() as f64).collect();
    let norm = &config.normalization;
    let source_n = norm.normalize_source(data.source.view());
    let target_n = norm.normalize_target(data.target.view());
    let labels = &config.conditions;
    let label_index =
        |l: &Option<String>| l.as_ref().and_then(|l| labels.iter().position(|k| k == l));
    let m = &config.matching;
    let k = m.k_samples;
    let q = config.target_dim;
    // GW with the orientation fix: a warm-up on one batch in the orientation chosen from
    // several (crate::orientation), then solves initialised from the model's image.
    let orient = coupler.is_quadratic() && m.orientation == Orientation::Pushforward;
    let warmup = if orient { m.warmup_iterations } else { 0 };
    let ot_batch = m.ot_batch_size.unwrap_or(tc.batch_size);
    let mut warm_plan: Option<BatchPlan> = None;

    for it in report.losses.len()..tc.iterations {
        if options
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
        {
            if let Some(dir) = &ckpt_dir {
                save_checkpoint(dir, it, &config, &nets, ema.as_ref(), &report)?;
            }
            return Err(GenotError::Stopped(it));
        }
        // Batches come from stream `it + 1` of the seed, except during the GW warm-up where
        // every iteration sees the batch of iteration 0; latents, times and pairs always
        // come from a fresh stream of a derived seed.
        let mut batch_rng = ChaCha8Rng::seed_from_u64(tc.seed);
        batch_rng.set_stream(if it < warmup { 1 } else { it as u64 + 1 });
        let g = &groups[pick(&group_weights, &mut batch_rng)];
        let (si, ti) = batch_indices(g, ot_batch, &mut batch_rng);
        let mut rng = ChaCha8Rng::seed_from_u64(tc.seed ^ 0x6E07_5EED);
        rng.set_stream(it as u64 + 1);
        let cidx = label_index(&g.label);
        let x = data.source.select(Axis(0), &si);
        let y = data.target.select(Axis(0), &ti);
        let push = if orient && it >= warmup {
            let cond = one_hot_append(
                source_n.select(Axis(0), &si).view(),
                &vec![cidx; si.len()],
                labels.len(),
            );
            let z: Array2<f32> = latents(si.len(), q, &mut rng);
            let (tx, _) = integrate(
                |t, x| nets.velocity.velocity(t, x, &cond),
                z,
                0.0,
                1.0,
                Solver::Euler { steps: 8 },
            )?;
            Some(norm.denormalize_target(tx.view()))
        } else {
            None
        };
        let matching_err = |source| GenotError::Matching {
            iteration: it,
            source,
        };
        let plan: BatchPlan = if it < warmup {
            if warm_plan.is_none() {
                let mut batches = vec![(x.clone(), y.clone())];
                batches.extend(orientation_candidates(data, g, ot_batch, tc.seed));
                let (plan, choice) =
                    orientation::choose(&coupler, &batches, orientation::EVALUATIONS)
                        .map_err(matching_err)?;
                report.orientation = Some(choice);
                warm_plan = Some(plan);
            }
            warm_plan.clone().expect("set above")
        } else {
            coupler.plan(&x, &y, push.as_ref()).map_err(matching_err)?
        };
        // The network's batch: `batch_size` sources of the (possibly larger) OT batch.
        let pairs = plan
            .pairs(
                m.is_balanced(),
                k,
                m.joint,
                tc.batch_size.min(si.len()),
                rng.next_u64(),
            )
            .map_err(matching_err)?;
        let src_rows: Vec<usize> = pairs.source.iter().map(|&i| si[i]).collect();
        let tgt_rows: Vec<usize> = pairs.target.iter().map(|&j| ti[j]).collect();
        let xs = source_n.select(Axis(0), &src_rows);
        let mut ys = target_n.select(Axis(0), &tgt_rows);
        let mut z: Array2<f32> = latents(ys.nrows(), q, &mut rng);
        if m.latent_matching && k > 1 && !m.joint {
            let lp =
                match_latents_per_source(&z, &ys, k, 0.1, rng.next_u64()).map_err(matching_err)?;
            z = z.select(Axis(0), &lp.source);
            ys = ys.select(Axis(0), &lp.target);
        }
        let t = stratified_times(ys.nrows(), &mut rng, T_OFFSET);
        let (xt, u) = straight_path(z.view(), ys.view(), &t, 0.0, &mut rng);
        let cond = one_hot_append(xs.view(), &vec![cidx; xs.nrows()], labels.len());

        let tf: Vec<f32> = t.iter().map(|&v| v as f32).collect();
        let lv = nets
            .velocity
            .step(&tf, xt.view(), cond.view(), u.view(), tc.lr);
        if !lv.is_finite() {
            return Err(GenotError::NonFiniteLoss {
                iteration: it + 1,
                loss: lv as f64,
            });
        }

        if let Some([(eta, eo), (xi, xo)]) = nets.rescaling.take() {
            let xin = one_hot_append(
                source_n.select(Axis(0), &si).view(),
                &vec![cidx; si.len()],
                labels.len(),
            );
            let yin = one_hot_append(
                target_n.select(Axis(0), &ti).view(),
                &vec![cidx; ti.len()],
                labels.len(),
            );
            let (eta, eo, le) = rescaling_step(
                eta,
                eo,
                &xin,
                plan.row_mass.as_slice().expect("contiguous"),
                &ad,
                tc.lr,
                it,
            )?;
            let (xi, xo, lx) = rescaling_step(
                xi,
                xo,
                &yin,
                plan.col_mass.as_slice().expect("contiguous"),
                &ad,
                tc.lr,
                it,
            )?;
            nets.rescaling = Some([(eta, eo), (xi, xo)]);
            report.rescaling_losses.push([le, lx]);
        }
        if let (Some(e), Some(decay)) = (ema.as_mut(), tc.ema) {
            params::ema_update(e, &nets.velocity.weights(), decay, it + 1);
        }
        report.losses.push(lv);
        let done = it + 1;
        if !plan.solve.converged {
            report.unconverged_batches.push(done);
        }
        if plan.solve.log_retry {
            report.log_domain_retries.push(done);
        }
        if let Some(p) = options.progress.as_mut() {
            p(&Progress {
                iteration: done,
                iterations: tc.iterations,
                loss: lv,
                seconds: started.elapsed().as_secs_f64(),
                batch_solve: plan.solve,
                unconverged_batches: report.unconverged_batches.len(),
            });
        }
        if let Some(dir) = &ckpt_dir {
            if tc.checkpoint_every > 0
                && done.is_multiple_of(tc.checkpoint_every)
                && done < tc.iterations
            {
                save_checkpoint(dir, done, &config, &nets, ema.as_ref(), &report)?;
            }
        }
    }
    if let Some(dir) = &ckpt_dir {
        save_checkpoint(dir, tc.iterations, &config, &nets, ema.as_ref(), &report)?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    let mut weights = params::prefixed("velocity", ema.unwrap_or_else(|| nets.velocity.weights()));
    if let Some([(e, _), (x, _)]) = &nets.rescaling {
        weights.extend(params::prefixed("eta", params::export(e)));
        weights.extend(params::prefixed("xi", params::export(x)));
    }
    if let Err(name) = params::check_finite(&weights) {
        return Err(GenotError::Invalid(format!(
            "training produced non-finite weights in {name}"
        )));
    }
    let mut config = config;
    config.trained_by = Some(crate::config::TrainedBy {
        engine: if options.engine.is_native(device) {
            Engine::Native
        } else {
            Engine::Burn
        },
        device: format!("{device:?}"),
    });
    let model = Genot::from_config(config, Some(&weights), device)?;
    Ok((model, report))
}

/// One regression step of eta or xi on the batch masses: mean squared error plus a penalty
/// keeping the mean prediction at the mean target (the plan's total mass).
fn rescaling_step(
    net: Rescaling,
    mut opt: ModuleOptimizer,
    input: &Array2<f32>,
    mass: &[f32],
    device: &Device,
    lr: f64,
    it: usize,
) -> Result<(Rescaling, ModuleOptimizer, f32)> {
    let n = input.nrows();
    let target = Tensor::<2>::from_data(TensorData::new(mass.to_vec(), [n, 1]), device);
    let pred = net.forward(to_tensor(input.view(), device));
    let mse = (pred.clone() - target.clone()).powi_scalar(2).mean();
    let penalty = (pred.mean() - target.mean()).powi_scalar(2);
    let loss = mse + penalty;
    let lv: f32 = loss.clone().into_scalar();
    if !lv.is_finite() {
        return Err(GenotError::NonFiniteLoss {
            iteration: it + 1,
            loss: lv as f64,
        });
    }
    let grads = GradientsParams::from_grads(loss.backward(), &net);
    let net = opt.step(lr, net, grads);
    Ok((net, opt, lv))
}

/// The batches of the orientation choice besides the warm-up batch:
/// [`orientation::CANDIDATES`] - 1 batches of the warm-up batch's group, from their own
/// random streams; none when the group fits in one batch (every one would hold the same
/// points).
fn orientation_candidates(
    data: &TrainingData,
    g: &ConditionGroup,
    batch: usize,
    seed: u64,
) -> Vec<(Array2<f32>, Array2<f32>)> {
    if g.source.len() <= batch && g.target.len() <= batch {
        return vec![];
    }
    (1..orientation::CANDIDATES as u64)
        .map(|c| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0E1E_47A7);
            rng.set_stream(c);
            let (si, ti) = batch_indices(g, batch, &mut rng);
            (
                data.source.select(Axis(0), &si),
                data.target.select(Axis(0), &ti),
            )
        })
        .collect()
}

/// Index drawn with probability proportional to `w`.
fn pick(w: &[f64], rng: &mut impl Rng) -> usize {
    if w.len() == 1 {
        return 0;
    }
    let total: f64 = w.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, &wi) in w.iter().enumerate() {
        if u < wi {
            return i;
        }
        u -= wi;
    }
    w.len() - 1
}

/// Source and target rows of one batch: `batch` of each (all of them when fewer), without
/// replacement.
fn batch_indices(g: &ConditionGroup, batch: usize, rng: &mut impl Rng) -> (Vec<usize>, Vec<usize>) {
    let mut draw = |rows: &[usize]| -> Vec<usize> {
        let b = batch.min(rows.len());
        sample(rng, rows.len(), b)
            .into_iter()
            .map(|i| rows[i])
            .collect()
    };
    let s = draw(&g.source);
    let t = draw(&g.target);
    (s, t)
}

fn io_err(path: &Path) -> impl Fn(String) -> GenotError + '_ {
    move |e| GenotError::file(path, e)
}

/// Writes `dir` (the checkpoint folder) atomically: a fresh folder beside it, exchanged with it.
fn save_checkpoint(
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

fn load_checkpoint(
    dir: &Path,
    config: &GenotConfig,
    mut nets: Nets,
) -> Result<(CheckpointState, Nets, Option<Weights>)> {
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
    Ok((state, nets, ema))
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
