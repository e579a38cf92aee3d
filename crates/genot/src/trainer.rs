//! One training iteration at a time (SPEC section 1): [`Trainer::step`] draws a batch,
//! couples it, samples the network's pairs, and takes one flow-matching step (and, for
//! U-GENOT, one step of eta and xi), with the GW orientation fix and the EMA.
//!
//! Randomness: iteration `i` draws its batch from the ChaCha stream `i + 1` of the seed and
//! its pairs, latents and times from stream `i + 1` of a derived seed; the initial weights
//! come from the seed alone. A run resumed from a checkpoint therefore continues exactly as
//! the uninterrupted run would.

use crate::checkpoint::{load_checkpoint, save_checkpoint};
use crate::config::{GenotConfig, Orientation};
use crate::coupling::{BatchPlan, BatchSolve, Coupler};
use crate::data::{ConditionGroup, TrainingData};
use crate::engine::{field_engine, rescaling_engine, Engine, FieldEngine, RescalingEngine};
use crate::error::{GenotError, Result};
use crate::flow::{latents, straight_path, stratified_times, T_OFFSET};
use crate::history::TrainReport;
use crate::matching::{match_latents_per_source, PairDraw};
use crate::model::{one_hot_append, rescaling_shapes, Genot};
use crate::ode::{integrate, Solver};
use crate::orientation;
use crate::params::{self, Weights};
use burn::tensor::Device;
use ndarray::{Array2, Axis};
use rand::seq::index::sample;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// Networks being trained, with their optimizers.
pub(crate) struct Nets {
    pub(crate) velocity: Box<dyn FieldEngine>,
    /// U-GENOT's eta and xi.
    pub(crate) rescaling: Option<[Box<dyn RescalingEngine>; 2]>,
}

/// What one [`Trainer::step`] did.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// The flow-matching loss of the step.
    pub loss: f32,
    /// How the step's batch coupling was solved.
    pub solve: BatchSolve,
}

/// A fit in progress: the networks and their optimizers, the EMA, the report so far, and
/// what every iteration reuses (the normalised data and each row's condition, the
/// coupler, the condition groups, the warm-up plan). [`crate::fit`] drives it; a caller
/// may too, one [`Trainer::step`] at a time.
pub struct Trainer<'a> {
    data: &'a TrainingData,
    config: GenotConfig,
    nets: Nets,
    ema: Option<Weights>,
    report: TrainReport,
    coupler: Coupler,
    groups: Vec<ConditionGroup>,
    group_weights: Vec<f64>,
    /// The normalised source and target rows, and each row's condition (its index in the
    /// model's labels), looked up once for the whole fit.
    source_n: Array2<f32>,
    target_n: Array2<f32>,
    source_labels: Vec<Option<usize>>,
    target_labels: Vec<Option<usize>>,
    /// GW with the orientation fix: the warm-up's length, and its plan once chosen.
    orient: bool,
    warmup: usize,
    warm_plan: Option<BatchPlan>,
    /// Points of each side that a coupling is solved on.
    ot_batch: usize,
    /// The engine asked for (recorded in the model as the one that ran on the device).
    engine: Engine,
}

impl<'a> Trainer<'a> {
    /// A fresh fit of `config` on `data` (weights initialised from the seed), training on
    /// `device` with `engine`.
    pub fn new(
        data: &'a TrainingData,
        config: GenotConfig,
        device: &Device,
        engine: Engine,
    ) -> Result<Self> {
        crate::resources::check(&crate::resources::fit_need(&config))?;
        // The initial weights, from the seed (on the host: the same for every device).
        let fresh = Genot::from_config(config.clone(), None, &Device::flex().autodiff())?.weights();
        let tc = &config.training;
        let velocity = params::under("velocity", &fresh);
        let rescaling = match rescaling_shapes(&config) {
            Some([eta, xi]) => Some([
                rescaling_engine(eta, &params::under("eta", &fresh), device, engine, tc)?,
                rescaling_engine(xi, &params::under("xi", &fresh), device, engine, tc)?,
            ]),
            None => None,
        };
        let nets = Nets {
            velocity: field_engine(config.velocity, &velocity, device, engine, tc)?,
            rescaling,
        };
        let ema = tc.ema_decay().map(|_| nets.velocity.weights());
        let coupler = Coupler::new(
            &config.matching,
            data.source_shared_dim,
            data.target_shared_dim,
        )?;
        let groups = data.condition_groups();
        let group_weights = groups.iter().map(|g| g.source.len() as f64).collect();
        let norm = &config.normalization;
        let labels = &config.conditions;
        let index = |rows: &Option<Vec<String>>, n: usize| -> Vec<Option<usize>> {
            match rows {
                Some(r) => r
                    .iter()
                    .map(|l| labels.iter().position(|k| k == l))
                    .collect(),
                None => vec![None; n],
            }
        };
        let source_n = norm.normalize_source(data.source.view());
        let target_n = norm.normalize_target(data.target.view());
        let source_labels = index(&data.source_conditions, source_n.nrows());
        let target_labels = index(&data.target_conditions, target_n.nrows());
        let m = &config.matching;
        let orient = coupler.is_quadratic() && m.orientation == Orientation::Pushforward;
        let warmup = if orient { m.warmup_iterations } else { 0 };
        let ot_batch = m.ot_batch_size.unwrap_or(tc.batch_size);
        Ok(Trainer {
            data,
            nets,
            ema,
            report: TrainReport {
                losses: vec![],
                rescaling_losses: vec![],
                unconverged_batches: vec![],
                log_domain_retries: vec![],
                orientation: None,
                resumed_from: 0,
                seconds: 0.0,
            },
            coupler,
            groups,
            group_weights,
            source_n,
            target_n,
            source_labels,
            target_labels,
            orient,
            warmup,
            warm_plan: None,
            ot_batch,
            engine,
            config,
        })
    }

    /// Continues from the checkpoint folder `dir` (same data and settings; only the number
    /// of iterations may differ). After an error the trainer may hold part of the
    /// checkpoint: start a new one.
    pub fn resume(&mut self, dir: &Path) -> Result<()> {
        let (state, ema) = load_checkpoint(dir, &self.config, &mut self.nets)?;
        // A checkpoint without an average (written before the EMA was on) starts it from
        // the weights it holds.
        self.ema = match ema {
            Some(e) => Some(e),
            None => self
                .config
                .training
                .ema_decay()
                .map(|_| self.nets.velocity.weights()),
        };
        self.report = state.report;
        self.report.resumed_from = state.iteration;
        Ok(())
    }

    /// The iterations done so far (this run and before a resume).
    pub fn iteration(&self) -> usize {
        self.report.losses.len()
    }

    /// The report so far.
    pub fn report(&self) -> &TrainReport {
        &self.report
    }

    /// Writes the state after `iteration` iterations to the checkpoint folder `dir`.
    pub fn save_checkpoint(&self, dir: &Path, iteration: usize) -> Result<()> {
        save_checkpoint(
            dir,
            iteration,
            &self.config,
            &self.nets,
            self.ema.as_ref(),
            &self.report,
        )
    }

    /// The network's condition input for source `rows` (eta's too): their normalised
    /// features and their one-hot condition.
    fn source_input(&self, rows: &[usize]) -> Array2<f32> {
        with_condition(&self.source_n, &self.source_labels, rows, &self.config)
    }

    /// The next iteration ([`Trainer::iteration`], 0-based).
    pub fn step(&mut self) -> Result<Step> {
        let it = self.iteration();
        let data = self.data;
        let tc = &self.config.training;
        let m = &self.config.matching;
        let norm = &self.config.normalization;
        let (k, q) = (m.k_samples, self.config.target_dim);
        // Batches come from stream `it + 1` of the seed, except during the GW warm-up where
        // every iteration sees the batch of iteration 0; latents, times and pairs always
        // come from a fresh stream of a derived seed.
        let mut batch_rng = ChaCha8Rng::seed_from_u64(tc.seed);
        batch_rng.set_stream(if it < self.warmup { 1 } else { it as u64 + 1 });
        let g = &self.groups[pick(&self.group_weights, &mut batch_rng)];
        let (si, ti) = batch_indices(g, self.ot_batch, &mut batch_rng);
        let mut rng = ChaCha8Rng::seed_from_u64(tc.seed ^ 0x6E07_5EED);
        rng.set_stream(it as u64 + 1);
        let x = data.source.select(Axis(0), &si);
        let y = data.target.select(Axis(0), &ti);
        // The OT batch's condition inputs: the push-forward's (GW) and eta's.
        let pushing = self.orient && it >= self.warmup;
        let batch_in = (pushing || self.nets.rescaling.is_some()).then(|| self.source_input(&si));
        let push = match &batch_in {
            Some(cond) if pushing => {
                let z: Array2<f32> = latents(si.len(), q, &mut rng);
                let velocity = &self.nets.velocity;
                let (tx, _) = integrate(
                    |t, x| velocity.velocity(t, x, cond),
                    z,
                    0.0,
                    1.0,
                    Solver::Euler { steps: 8 },
                )?;
                Some(norm.denormalize_target(tx.view()))
            }
            _ => None,
        };
        let matching_err = |source| GenotError::Matching {
            iteration: it,
            source,
        };
        let plan: BatchPlan = if it < self.warmup {
            if self.warm_plan.is_none() {
                let mut batches = vec![(x.clone(), y.clone())];
                batches.extend(orientation_candidates(data, g, self.ot_batch, tc.seed));
                let (plan, choice) =
                    orientation::choose(&self.coupler, &batches, orientation::EVALUATIONS)
                        .map_err(matching_err)?;
                self.report.orientation = Some(choice);
                self.warm_plan = Some(plan);
            }
            self.warm_plan.clone().expect("set above")
        } else {
            self.coupler
                .plan(&x, &y, push.as_ref())
                .map_err(matching_err)?
        };
        // The network's batch: `batch_size` sources of the (possibly larger) OT batch.
        let pairs = plan
            .pairs(PairDraw {
                balanced: m.is_balanced(),
                k,
                joint: m.joint,
                sources: tc.batch_size.min(si.len()),
                seed: rng.next_u64(),
            })
            .map_err(matching_err)?;
        let src_rows: Vec<usize> = pairs.source.iter().map(|&i| si[i]).collect();
        let tgt_rows: Vec<usize> = pairs.target.iter().map(|&j| ti[j]).collect();
        let cond = self.source_input(&src_rows);
        let mut ys = self.target_n.select(Axis(0), &tgt_rows);
        let mut z: Array2<f32> = latents(ys.nrows(), q, &mut rng);
        if m.latent_matching && k > 1 && !m.joint {
            let lp =
                match_latents_per_source(&z, &ys, k, 0.1, rng.next_u64()).map_err(matching_err)?;
            z = z.select(Axis(0), &lp.source);
            ys = ys.select(Axis(0), &lp.target);
            // The re-pairing stays within each source's k rows, whose condition inputs
            // are the same: `cond` stands.
        }
        let t = stratified_times(ys.nrows(), &mut rng, T_OFFSET);
        let (xt, u) = straight_path(z.view(), ys.view(), &t, 0.0, &mut rng);

        let tf: Vec<f32> = t.iter().map(|&v| v as f32).collect();
        let lv = self
            .nets
            .velocity
            .step(&tf, xt.view(), cond.view(), u.view(), tc.lr);
        if !lv.is_finite() {
            return Err(GenotError::NonFiniteLoss {
                iteration: it + 1,
                loss: lv as f64,
            });
        }

        if let Some([eta, xi]) = self.nets.rescaling.as_mut() {
            let xin = batch_in.as_ref().expect("drawn for U-GENOT above");
            let yin = with_condition(&self.target_n, &self.target_labels, &ti, &self.config);
            let mut losses = [0.0; 2];
            for ((net, input, mass), loss) in
                [(eta, xin, &plan.row_mass), (xi, &yin, &plan.col_mass)]
                    .into_iter()
                    .zip(&mut losses)
            {
                *loss = net.step(input, mass.as_slice().expect("contiguous"), tc.lr);
                if !loss.is_finite() {
                    return Err(GenotError::NonFiniteLoss {
                        iteration: it + 1,
                        loss: *loss as f64,
                    });
                }
            }
            self.report.rescaling_losses.push(losses);
        }
        if let (Some(e), Some(decay)) = (self.ema.as_mut(), tc.ema_decay()) {
            self.nets.velocity.update_ema(e, decay, it + 1);
        }
        self.report.losses.push(lv);
        let done = it + 1;
        if !plan.solve.converged {
            self.report.unconverged_batches.push(done);
        }
        if plan.solve.log_retry {
            self.report.log_domain_retries.push(done);
        }
        Ok(Step {
            loss: lv,
            solve: plan.solve,
        })
    }

    /// The fitted model (with the EMA weights when the EMA is on) and the report, after
    /// `seconds` of training in this run; `device` is the model's device.
    pub fn finish(self, device: &Device, seconds: f64) -> Result<(Genot, TrainReport)> {
        let mut report = self.report;
        report.seconds = seconds;
        let nets = self.nets;
        let mut weights = params::prefixed(
            "velocity",
            self.ema.unwrap_or_else(|| nets.velocity.weights()),
        );
        if let Some([e, x]) = &nets.rescaling {
            weights.extend(params::prefixed("eta", e.weights()));
            weights.extend(params::prefixed("xi", x.weights()));
        }
        if let Err(e) = params::check_finite(&weights) {
            return Err(GenotError::Invalid(format!(
                "training produced non-finite weights: {e}"
            )));
        }
        let mut config = self.config;
        config.trained_by = Some(crate::config::TrainedBy {
            engine: self.engine.on(device),
            device: format!("{device:?}"),
        });
        let model = Genot::from_config(config, Some(&weights), device)?;
        Ok((model, report))
    }
}

/// `rows` of the normalised points `x` with their one-hot condition (`labels`: each row's
/// index in the model's labels) appended; `x`'s rows alone for an unconditional model.
fn with_condition(
    x: &Array2<f32>,
    labels: &[Option<usize>],
    rows: &[usize],
    config: &GenotConfig,
) -> Array2<f32> {
    let picked = x.select(Axis(0), rows);
    if config.conditions.is_empty() {
        return picked;
    }
    let labels: Vec<Option<usize>> = rows.iter().map(|&i| labels[i]).collect();
    one_hot_append(picked.view(), &labels, config.conditions.len())
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
