//! One training iteration at a time (SPEC section 1): [`Trainer::step`] draws a batch,
//! couples it, samples the network's pairs, and takes one flow-matching step (and, for
//! U-GENOT, one step of eta and xi), with the GW orientation fix and the EMA.
//!
//! One plan can feed several iterations (`ot_plan_reuse`, a "run" of iterations; the GW
//! warm-up is one run too): the run's first iteration draws and couples the OT batch, and
//! each of its iterations draws its pairs from its own window of the plan's rows.
//!
//! Randomness: a run starting at iteration `s` draws its OT batch from the ChaCha stream
//! `s + 1` of the seed (the warm-up's from stream 1), and iteration `i` its pairs, latents
//! and times from stream `i + 1` of a derived seed; the initial weights come from the seed
//! alone. A run resumed from a checkpoint therefore continues exactly as the uninterrupted
//! run would, with one exception: resumed inside a run of several iterations, a GW fit
//! re-solves the run's plan from the model's image under the resumed weights, not those of
//! the run's first iteration (the default GW coupling feeds one iteration, so only an
//! explicit `ot_batch_size` above the batch size meets this).

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
    /// GW with the orientation fix, and the length of its warm-up on one batch.
    orient: bool,
    warmup: usize,
    /// Points of each side that a coupling is solved on.
    ot_batch: usize,
    /// Iterations after the warm-up that draw their pairs from one plan.
    reuse: usize,
    /// The plan of the current run of iterations (the warm-up's, then each `reuse`
    /// iterations' own).
    held: Option<HeldPlan>,
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
        let ot_batch = m.ot_batch(tc.batch_size);
        let reuse = m.plan_reuse(tc.batch_size);
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
            ot_batch,
            reuse,
            held: None,
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
        self.held = None;
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

    /// The first iteration of the run of iterations that share iteration `it`'s plan (the
    /// warm-up, then runs of `reuse`).
    fn run_start(&self, it: usize) -> usize {
        if it < self.warmup {
            0
        } else {
            self.warmup + (it - self.warmup) / self.reuse * self.reuse
        }
    }

    /// Draws and couples the OT batch of the run starting at iteration `start` (iteration
    /// `it`'s run; `rng` is `it`'s pair stream, which the push-forward's latents come from
    /// when `it` is the run's first iteration).
    fn solve_run(&mut self, start: usize, it: usize, rng: &mut ChaCha8Rng) -> Result<HeldPlan> {
        let data = self.data;
        let tc = &self.config.training;
        let q = self.config.target_dim;
        let norm = &self.config.normalization;
        // The run's batch comes from stream `start + 1` of the seed (the warm-up's from
        // stream 1).
        let mut batch_rng = ChaCha8Rng::seed_from_u64(tc.seed);
        batch_rng.set_stream(start as u64 + 1);
        let g = &self.groups[pick(&self.group_weights, &mut batch_rng)];
        let (si, ti) = batch_indices(g, self.ot_batch, &mut batch_rng);
        let x = data.source.select(Axis(0), &si);
        let y = data.target.select(Axis(0), &ti);
        let matching_err = |source| GenotError::Matching {
            iteration: it,
            source,
        };
        let plan = if start < self.warmup {
            let mut batches = vec![(x, y)];
            batches.extend(orientation_candidates(data, g, self.ot_batch, tc.seed));
            let (plan, choice) =
                orientation::choose(&self.coupler, &batches, orientation::EVALUATIONS)
                    .map_err(matching_err)?;
            self.report.orientation = Some(choice);
            plan
        } else {
            // GW after the warm-up: solved from the model's image of the batch's sources.
            // A run resumed within a run of iterations re-solves its plan with the same
            // latents (but the weights of the resume).
            let push = if self.orient {
                let cond = self.source_input(&si);
                let mut own = pair_rng(tc.seed, start);
                let z: Array2<f32> = latents(si.len(), q, if it == start { rng } else { &mut own });
                let velocity = &self.nets.velocity;
                let (tx, _) = integrate(
                    |t, x| velocity.velocity(t, x, &cond),
                    z,
                    0.0,
                    1.0,
                    Solver::Euler { steps: 8 },
                )?;
                Some(norm.denormalize_target(tx.view()))
            } else {
                None
            };
            self.coupler
                .plan(&x, &y, push.as_ref())
                .map_err(matching_err)?
        };
        // A solve is counted once, at the first iteration of its run (not again when a
        // resumed run re-solves it).
        if it == start {
            if !plan.solve.converged {
                self.report.unconverged_batches.push(it + 1);
            }
            if plan.solve.log_retry {
                self.report.log_domain_retries.push(it + 1);
            }
        }
        let parts = (start >= self.warmup && self.reuse > 1).then(|| {
            let mut rng = ChaCha8Rng::seed_from_u64(tc.seed ^ 0x9A27_5EED);
            rng.set_stream(start as u64 + 1);
            let mut shuffled = |n: usize| sample(&mut rng, n, n).into_vec();
            Parts {
                rows: shuffled(si.len()),
                cols: shuffled(ti.len()),
                size: tc.batch_size,
            }
        });
        Ok(HeldPlan {
            start,
            si,
            ti,
            plan,
            parts,
        })
    }

    /// The next iteration ([`Trainer::iteration`], 0-based).
    pub fn step(&mut self) -> Result<Step> {
        let it = self.iteration();
        // Latents, times and pairs come from stream `it + 1` of a derived seed; the OT
        // batch from the stream of its run's first iteration.
        let mut rng = pair_rng(self.config.training.seed, it);
        let start = self.run_start(it);
        let held = match self.held.take() {
            Some(h) if h.start == start => h,
            _ => self.solve_run(start, it, &mut rng)?,
        };
        let result = self.train_on(&held, it, &mut rng);
        self.held = Some(held);
        result
    }

    /// Iteration `it`'s training step on pairs drawn from its run's plan `held`.
    fn train_on(&mut self, held: &HeldPlan, it: usize, rng: &mut ChaCha8Rng) -> Result<Step> {
        let tc = &self.config.training;
        let m = &self.config.matching;
        let (k, q) = (m.k_samples, self.config.target_dim);
        let matching_err = |source| GenotError::Matching {
            iteration: it,
            source,
        };
        let (si, ti, plan) = (&held.si, &held.ti, &held.plan);
        // This iteration's part of the plan's rows (and columns, for xi): all of them
        // unless the plan feeds several iterations.
        let part = held.parts.as_ref().map(|p| p.part(it - held.start));
        // The network's batch: `batch_size` sources of the (possibly larger) OT batch.
        let seed = rng.next_u64();
        let draw = |rows: usize| PairDraw {
            balanced: m.is_balanced(),
            k,
            joint: m.joint,
            sources: tc.batch_size.min(rows),
            seed,
        };
        // Balanced row-wise draws take the window's sources; unbalanced and joint draws,
        // which pick rows by their mass, draw from the whole plan every iteration (within
        // a window each would get its share of sources whatever the window's mass).
        let windowed = m.is_balanced() && !m.joint;
        let pairs = match &part {
            Some((rows, _)) if windowed => plan.pairs_within(rows, draw(rows.len())),
            _ => plan.pairs(draw(si.len())),
        }
        .map_err(matching_err)?;
        let src_rows: Vec<usize> = pairs.source.iter().map(|&i| si[i]).collect();
        let tgt_rows: Vec<usize> = pairs.target.iter().map(|&j| ti[j]).collect();
        let cond = self.source_input(&src_rows);
        let mut ys = self.target_n.select(Axis(0), &tgt_rows);
        let mut z: Array2<f32> = latents(ys.nrows(), q, rng);
        if m.latent_matching && k > 1 && !m.joint {
            let lp =
                match_latents_per_source(&z, &ys, k, 0.1, rng.next_u64()).map_err(matching_err)?;
            z = z.select(Axis(0), &lp.source);
            ys = ys.select(Axis(0), &lp.target);
            // The re-pairing stays within each source's k rows, whose condition inputs
            // are the same: `cond` stands.
        }
        let t = stratified_times(ys.nrows(), rng, T_OFFSET);
        let (xt, u) = straight_path(z.view(), ys.view(), &t, 0.0, rng);

        let tf: Vec<f32> = t.iter().map(|&v| v as f32).collect();
        let lr = tc.lr_at(it);
        let lv = self
            .nets
            .velocity
            .step(&tf, xt.view(), cond.view(), u.view(), lr);
        if !lv.is_finite() {
            return Err(GenotError::NonFiniteLoss {
                iteration: it + 1,
                loss: lv as f64,
            });
        }

        if let Some([eta, xi]) = self.nets.rescaling.as_mut() {
            // eta and xi regress the plan's row and column masses of this iteration's part.
            let (rows, cols): (Vec<usize>, Vec<usize>) = match &part {
                None => ((0..si.len()).collect(), (0..ti.len()).collect()),
                Some((r, c)) => (r.clone(), c.clone()),
            };
            let global = |idx: &[usize], of: &[usize]| -> Vec<usize> {
                idx.iter().map(|&i| of[i]).collect()
            };
            let input = |x, labels, idx: &[usize], of: &[usize]| {
                with_condition(x, labels, &global(idx, of), &self.config)
            };
            let xin = input(&self.source_n, &self.source_labels, &rows, si);
            let yin = input(&self.target_n, &self.target_labels, &cols, ti);
            let row_mass: Vec<f32> = rows.iter().map(|&i| plan.row_mass[i]).collect();
            let col_mass: Vec<f32> = cols.iter().map(|&j| plan.col_mass[j]).collect();
            let mut losses = [0.0; 2];
            for ((net, input, mass), loss) in [(eta, &xin, &row_mass), (xi, &yin, &col_mass)]
                .into_iter()
                .zip(&mut losses)
            {
                *loss = net.step(input, mass, lr);
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

/// The plan that a run of iterations draws its pairs from, with its OT batch's rows.
struct HeldPlan {
    /// The run's first iteration.
    start: usize,
    si: Vec<usize>,
    ti: Vec<usize>,
    plan: BatchPlan,
    /// How the plan's rows and columns are shared out among the run's iterations; `None`:
    /// every iteration draws from the whole plan (a run of one, and the GW warm-up).
    parts: Option<Parts>,
}

/// A random order of a plan's rows and of its columns, read in consecutive windows of
/// `size` (the network's batch size), wrapping around: iteration `r` of the run draws its
/// sources from rows window `r` (balanced row-wise draws; U-GENOT's eta and xi regress the
/// masses of rows and columns window `r`). With an OT batch of `reuse` network batches (the
/// default) the windows are disjoint and every source of the plan is used once over the
/// run; a smaller OT batch (a condition with few points) wraps around, each window still
/// of distinct rows.
struct Parts {
    rows: Vec<usize>,
    cols: Vec<usize>,
    size: usize,
}

impl Parts {
    /// Window `r`'s rows and columns, each sorted.
    fn part(&self, r: usize) -> (Vec<usize>, Vec<usize>) {
        let window = |order: &[usize]| {
            let n = order.len();
            let size = self.size.min(n);
            let mut p: Vec<usize> = (0..size).map(|i| order[(r * size + i) % n]).collect();
            p.sort_unstable();
            p
        };
        (window(&self.rows), window(&self.cols))
    }
}

/// Iteration `it`'s stream of latents, times and pairs: stream `it + 1` of a seed derived
/// from the run's.
fn pair_rng(seed: u64, it: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6E07_5EED);
    rng.set_stream(it as u64 + 1);
    rng
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

#[cfg(test)]
mod tests {
    use super::Parts;

    fn parts(n: usize, size: usize) -> Parts {
        // A fixed non-trivial order of the rows (and the columns).
        let order: Vec<usize> = (0..n).map(|i| (i * 5 + 2) % n).collect();
        Parts {
            rows: order.clone(),
            cols: order,
            size,
        }
    }

    #[test]
    fn windows_use_every_row_of_the_plan_once_over_a_run() {
        // 12 rows, windows of 4: a run of 3 iterations uses each row exactly once.
        let p = parts(12, 4);
        let mut seen: Vec<usize> = (0..3).flat_map(|r| p.part(r).0).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..12).collect::<Vec<_>>());
        let (rows, cols) = p.part(1);
        assert_eq!(rows, cols);
        // Order 2 7 0 5 | 10 3 8 1 | 6 11 4 9.
        assert_eq!(rows, vec![1, 3, 8, 10]);
    }

    #[test]
    fn windows_wrap_with_distinct_rows_when_the_plan_is_short() {
        // 6 rows, windows of 4: every window has 4 distinct rows, consecutive windows
        // continue where the last one stopped.
        let p = parts(6, 4);
        for r in 0..5 {
            let (rows, _) = p.part(r);
            let mut d = rows.clone();
            d.dedup();
            assert_eq!(d.len(), 4, "window {r}: {rows:?}");
        }
        let mut first_two: Vec<usize> = (0..2).flat_map(|r| p.part(r).0).collect();
        first_two.sort_unstable();
        first_two.dedup();
        assert_eq!(first_two.len(), 6);
        // Fewer rows than a window: all of them.
        assert_eq!(parts(3, 4).part(2).0, vec![0, 1, 2]);
    }

    /// Two iterations of a cosine run step at lr, then lr / 2 (half-way down the cosine): a
    /// constant run whose rate is halved by hand before its second step ends on the same
    /// weights, bit for bit, and one left at lr does not.
    #[test]
    fn a_cosine_schedule_steps_at_its_rates() {
        use crate::config::{LrSchedule, MatchingConfig, TrainConfig};
        use crate::configure::{make_config, Architecture};
        use crate::data::TrainingData;
        use crate::engine::Engine;
        use burn::tensor::Device;
        use ndarray::Array2;

        let grid = |n: usize, shift: f32| {
            Array2::from_shape_fn((n, 2), |(i, j)| ((i * 7 + j * 3) % 11) as f32 / 5.0 + shift)
        };
        let data = TrainingData::new(grid(64, 0.0), grid(64, 2.0));
        let trainer = |lr_schedule| {
            let training = TrainConfig {
                iterations: 2,
                batch_size: 16,
                lr: 1e-2,
                lr_schedule,
                ema: None,
                ..TrainConfig::default()
            };
            let arch = Architecture {
                hidden: 8,
                layers: 1,
                time_frequencies: 2,
                ..Architecture::default()
            };
            let config = make_config(&data, MatchingConfig::default(), training, arch).unwrap();
            super::Trainer::new(&data, config, &Device::flex(), Engine::Native).unwrap()
        };
        let weights = |t: &super::Trainer| -> Vec<Vec<f32>> {
            let w = t.nets.velocity.weights();
            w.into_values().map(|a| a.values).collect()
        };
        let (mut cosine, mut halved, mut constant) = (
            trainer(LrSchedule::Cosine),
            trainer(LrSchedule::Constant),
            trainer(LrSchedule::Constant),
        );
        for t in [&mut cosine, &mut halved, &mut constant] {
            t.step().unwrap();
        }
        // (assert! rather than assert_eq!: a failure names the step, not 300 weights.)
        assert!(
            weights(&cosine) == weights(&constant),
            "the first step is not at lr"
        );
        halved.config.training.lr = 0.5e-2;
        for t in [&mut cosine, &mut halved, &mut constant] {
            t.step().unwrap();
        }
        assert!(
            weights(&cosine) == weights(&halved),
            "the second step is not at lr / 2"
        );
        assert!(
            weights(&cosine) != weights(&constant),
            "the second step is at lr"
        );
    }
}
