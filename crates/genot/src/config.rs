//! Everything that defines a GENOT model and its training, as plain serialisable values.
//!
//! A model directory holds `config.json` (this, human-readable) next to
//! `model.safetensors`; the pair is enough to rebuild the networks and transport new
//! points, from Rust, the CLI or Python.

use crate::velocity::VelocityFieldConfig;
use genot_ot::error::ParseError;
use genot_ot::geometry::{Epsilon, RelativeTo, ScaleCost};
use serde::{Deserialize, Serialize};

/// Version of the model-directory format; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

/// Which GENOT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Source and target in one space, coupled by entropic OT on a cost.
    Linear,
    /// Different spaces, coupled by entropic Gromov-Wasserstein on intra-space costs.
    Quadratic,
    /// Fused GW: shared features compared across spaces plus intra-space costs.
    Fused,
}

/// The name the settings use (`linear`, `quadratic`, `fused`).
impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Linear => "linear",
            Kind::Quadratic => "quadratic",
            Kind::Fused => "fused",
        })
    }
}

/// How each batch is coupled (SPEC section 1, steps 2 to 5 and 9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchingConfig {
    pub kind: Kind,
    /// The cost: for linear, between source and target points; for quadratic and fused,
    /// within each space (`sqeuclidean`, `euclidean`, `pnorm:P`, `cosine`, `graph:K`).
    pub cost: String,
    /// The cost of the shared features (fused only).
    pub fused_cost: String,
    /// Epsilon, absolute on the rescaled cost, or a factor of its mean when `relative_epsilon`.
    pub epsilon: f64,
    pub relative_epsilon: bool,
    /// `mean`, `median`, `max`, `none` or a number the cost is divided by.
    pub scale_cost: String,
    pub tau_a: f64,
    pub tau_b: f64,
    /// Weight of the linear (shared-feature) term in fused GW (OTT's convention, > 0).
    pub fused_penalty: f64,
    /// `k`: targets drawn per source.
    pub k_samples: usize,
    /// Draw pairs jointly from the plan instead of row by row.
    pub joint: bool,
    /// With `k > 1`, re-pair each source's latents with its targets by a small OT problem.
    pub latent_matching: bool,
    /// GW orientation fix: iterations trained on one fixed batch before every GW solve is
    /// initialised from the model's push-forward (quadratic and fused only).
    pub warmup_iterations: usize,
    /// Iteration limit of each batch Sinkhorn (linear batches and the inner solves of GW).
    /// A batch that reaches it is trained on as it stands (as OTT does) and counted.
    #[serde(default = "default_sinkhorn_max_iterations")]
    pub sinkhorn_max_iterations: usize,
    /// L1 marginal error at which each batch Sinkhorn stops.
    #[serde(default = "default_sinkhorn_threshold")]
    pub sinkhorn_threshold: f64,
    /// GW: limit on the outer (linearisation) iterations of each batch solve.
    #[serde(default = "default_gw_max_iterations")]
    pub gw_max_iterations: usize,
    /// GW: relative change of the objective at which a batch solve stops.
    #[serde(default = "default_gw_threshold")]
    pub gw_threshold: f64,
    /// GW: how the orientation is fixed (models written before the setting existed used
    /// the push-forward from a one-batch warm-up).
    #[serde(default)]
    pub orientation: Orientation,
    /// Points of each side that each coupling is solved on (`None`: by default
    /// [`MatchingConfig::default_ot_batch`]); the network's pairs are drawn from that plan
    /// for `batch_size` of its sources. A configuration made for a fit holds the number.
    #[serde(default)]
    pub ot_batch_size: Option<usize>,
    /// Iterations that draw their pairs from one OT plan (`None`: `ot_batch_size /
    /// batch_size`). Iteration `r` of the plan's run draws its `batch_size` sources from
    /// the `r`-th window of a random order of the plan's rows (balanced row-wise draws;
    /// unbalanced and joint draws pick from the whole plan by mass), so that at the
    /// default every source of the plan is used once (beyond it, sources repeat): a large
    /// coupling costs one solve per run instead of one per iteration. A configuration made
    /// for a fit holds the number in effect ([`GenotConfig::settled`] fills it in for
    /// models written before the setting existed, which solved a plan every iteration).
    #[serde(default)]
    pub ot_plan_reuse: Option<usize>,
}

/// Network batches per linear OT batch by default: on the Kang held-out task, the Gaussian
/// closed form and the entropic-OT benchmark at d = 16, couplings of 4 x 256 points, each
/// feeding 4 iterations, fitted better than couplings of 256 at about the same cost per
/// iteration (bench/DEFAULTS-STUDY.md, fifth study).
pub const LINEAR_OT_BATCHES: usize = 4;

/// Largest default OT batch: the side of the largest dense coupling
/// ([`crate::coupling::DENSE_BATCH_ENTRIES`]).
const DENSE_OT_BATCH: usize = 8192;
const _: () = assert!(DENSE_OT_BATCH * DENSE_OT_BATCH == crate::coupling::DENSE_BATCH_ENTRIES);

/// OTT's defaults for the batch solves (`Sinkhorn()`: 2000 iterations, threshold 1e-3;
/// `GromovWasserstein`: 50 outer iterations, threshold 1e-3 as in `match_quadratic`).
fn default_sinkhorn_max_iterations() -> usize {
    2000
}
fn default_sinkhorn_threshold() -> f64 {
    1e-3
}
fn default_gw_max_iterations() -> usize {
    50
}
fn default_gw_threshold() -> f64 {
    1e-3
}

impl Default for MatchingConfig {
    fn default() -> Self {
        MatchingConfig {
            kind: Kind::Linear,
            cost: "sqeuclidean".into(),
            fused_cost: "sqeuclidean".into(),
            epsilon: 0.1,
            relative_epsilon: false,
            scale_cost: "mean".into(),
            tau_a: 1.0,
            tau_b: 1.0,
            fused_penalty: 1.0,
            k_samples: 1,
            joint: false,
            latent_matching: false,
            warmup_iterations: 100,
            sinkhorn_max_iterations: default_sinkhorn_max_iterations(),
            sinkhorn_threshold: default_sinkhorn_threshold(),
            gw_max_iterations: default_gw_max_iterations(),
            gw_threshold: default_gw_threshold(),
            orientation: Orientation::Pushforward,
            ot_batch_size: None,
            ot_plan_reuse: None,
        }
    }
}

impl MatchingConfig {
    pub fn is_balanced(&self) -> bool {
        self.tau_a == 1.0 && self.tau_b == 1.0
    }

    pub fn epsilon(&self) -> Epsilon {
        if self.relative_epsilon {
            Epsilon::Relative {
                factor: self.epsilon,
                to: RelativeTo::Mean,
            }
        } else {
            Epsilon::Absolute(self.epsilon)
        }
    }

    /// Points of each side of an OT batch, for a network batch of `batch_size`, in a
    /// configuration made for a fit (which holds the number; `None` there comes from a
    /// model written before the setting had a default, which coupled one network batch).
    pub fn ot_batch(&self, batch_size: usize) -> usize {
        self.ot_batch_size.unwrap_or(batch_size)
    }

    /// The OT batch when the user gives none, for data of `points` rows on its larger side:
    /// [`LINEAR_OT_BATCHES`] network batches for a linear coupling, but no more than the
    /// points there are nor than a dense coupling holds (8192); one network batch for GW
    /// (whose solves grow faster with the batch).
    pub fn default_ot_batch(&self, batch_size: usize, points: usize) -> usize {
        match self.kind {
            Kind::Linear => (LINEAR_OT_BATCHES * batch_size)
                .min(points)
                .min(DENSE_OT_BATCH)
                .max(batch_size),
            Kind::Quadratic | Kind::Fused => batch_size,
        }
    }

    /// Iterations that draw their pairs from one plan, for a network batch of `batch_size`:
    /// `ot_plan_reuse`, or by default as many as the OT batch holds network batches.
    pub fn plan_reuse(&self, batch_size: usize) -> usize {
        self.ot_plan_reuse
            .unwrap_or(self.ot_batch(batch_size) / batch_size.max(1))
            .max(1)
    }

    /// The cost scaling `scale_cost` names.
    pub fn scale(&self) -> Result<ScaleCost, ParseError> {
        self.scale_cost.parse()
    }

    /// Checks every value; the message names the setting.
    pub fn validate(&self) -> crate::error::Result<()> {
        let invalid = |m: String| Err(crate::error::GenotError::Invalid(m));
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return invalid(format!("`epsilon` must be > 0, got {}", self.epsilon));
        }
        for (name, tau) in [("tau_a", self.tau_a), ("tau_b", self.tau_b)] {
            if !(tau > 0.0 && tau <= 1.0) {
                return invalid(format!("`{name}` must be in (0, 1], got {tau}"));
            }
        }
        if self.k_samples == 0 {
            return invalid("`k_samples` must be at least 1".into());
        }
        for (name, n) in [
            ("sinkhorn_max_iterations", self.sinkhorn_max_iterations),
            ("gw_max_iterations", self.gw_max_iterations),
        ] {
            if n == 0 {
                return invalid(format!("`{name}` must be at least 1"));
            }
        }
        for (name, t) in [
            ("sinkhorn_threshold", self.sinkhorn_threshold),
            ("gw_threshold", self.gw_threshold),
        ] {
            if !(t.is_finite() && t > 0.0) {
                return invalid(format!("`{name}` must be > 0, got {t}"));
            }
        }
        self.scale()?;
        check_cost(&self.cost)?;
        if self.kind == Kind::Fused {
            check_cost(&self.fused_cost)?;
            if !(self.fused_penalty > 0.0 && self.fused_penalty.is_finite()) {
                return invalid(format!(
                    "`fused_penalty` must be > 0, got {}",
                    self.fused_penalty
                ));
            }
        }
        if self.kind != Kind::Linear && self.relative_epsilon {
            return invalid("`relative_epsilon` is for linear problems: GW's epsilon is absolute on the rescaled intra-space costs".into());
        }
        Ok(())
    }
}

/// Whether `c` names a cost.
fn check_cost(c: &str) -> Result<(), ParseError> {
    genot_ot::choice::CostChoice::<f32>::parse(c).map(|_| ())
}

/// How a GW run (quadratic, fused) fixes its orientation (see [`crate::orientation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Orientation {
    /// The warm-up trains on the evaluation batch in the orientation of lowest GW objective
    /// among several candidate batches; afterwards every GW solve starts from the model's
    /// image of its batch (the default).
    #[default]
    Pushforward,
    /// Every batch solved from the product of its marginals, no warm-up (OTT's GENOT).
    None,
}

/// How the learning rate moves over a run of `iterations` steps ([`TrainConfig::lr_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LrSchedule {
    /// `lr` at every iteration (the default).
    #[default]
    Constant,
    /// Half a cosine from `lr` at the first iteration down to 0 after the last
    /// (Loshchilov and Hutter 2017, without restarts): long runs end on small steps, which
    /// the constant rate's gradient noise never takes.
    Cosine,
}

impl LrSchedule {
    /// The rate of iteration `it` (0-based) of `iterations`, from the base rate `lr`.
    ///
    /// ```
    /// use genot::config::LrSchedule;
    /// assert_eq!(LrSchedule::Constant.at(1e-3, 70, 100), 1e-3);
    /// assert_eq!(LrSchedule::Cosine.at(1e-3, 0, 100), 1e-3);
    /// assert!((LrSchedule::Cosine.at(1e-3, 50, 100) - 0.5e-3).abs() < 1e-12);
    /// ```
    pub fn at(self, lr: f64, it: usize, iterations: usize) -> f64 {
        match self {
            LrSchedule::Constant => lr,
            LrSchedule::Cosine => {
                let done = it.min(iterations) as f64 / iterations.max(1) as f64;
                0.5 * lr * (1.0 + (std::f64::consts::PI * done).cos())
            }
        }
    }
}

/// How the network's source input and target output are scaled (fitted on the training
/// data, stored in [`Normalization`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Normalize {
    /// Each feature to mean 0 and standard deviation 1 (the default before issue 13's
    /// study, and what model directories written before this setting existed used).
    PerFeature,
    /// Centred, and one scale for all the features of a side (the root mean square of the
    /// standard deviations of those that vary): the geometry of each space is kept (the
    /// default). In every mode a constant target feature gets std 0 (it is returned
    /// exactly).
    Isotropic,
    /// The data as it is.
    None,
}

/// A name that is not a [`Normalize`] mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown normalisation {name:?}: expected per-feature, isotropic or none")]
pub struct UnknownNormalize {
    /// The name given.
    pub name: String,
}

impl Normalize {
    /// The scaling of model directories written before the setting existed.
    fn before_the_setting() -> Self {
        Normalize::PerFeature
    }
}

impl std::str::FromStr for Normalize {
    type Err = UnknownNormalize;
    /// By its setting name (`per-feature`, `isotropic`, `none`).
    fn from_str(s: &str) -> Result<Self, UnknownNormalize> {
        <Self as clap::ValueEnum>::from_str(s, false)
            .map_err(|_| UnknownNormalize { name: s.into() })
    }
}

/// Optimisation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub iterations: usize,
    /// Sources per batch (the network sees `batch_size x k_samples` pairs); the target batch
    /// has the same size.
    pub batch_size: usize,
    pub lr: f64,
    /// How the learning rate moves over the run's `iterations` (model directories and
    /// checkpoints written before this setting existed used a constant rate).
    #[serde(default)]
    pub lr_schedule: LrSchedule,
    pub weight_decay: f64,
    /// Adam's epsilon (1e-8 as PyTorch and optax; burn's default 1e-5 slows training).
    pub adam_epsilon: f64,
    /// Decay of the exponential moving average of the weights (warmed up and
    /// bias-corrected: [`crate::params::ema_update`]); the saved model uses the average
    /// when set. 0 (or `None`) keeps the last weights.
    pub ema: Option<f64>,
    /// Clip each parameter's gradient to this L2 norm.
    pub grad_clip: Option<f64>,
    pub seed: u64,
    /// Write a checkpoint every this many iterations (0: only at the end).
    pub checkpoint_every: usize,
    /// Scaling of the network's input and output (model directories written before this
    /// setting existed used per-feature scaling, and read as such).
    #[serde(default = "Normalize::before_the_setting")]
    pub normalize: Normalize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            iterations: 5000,
            batch_size: 256,
            // bench/DEFAULTS-STUDY.md (issue 13): 1e-3 against 1e-4 over 3 seeds: GW spiral
            // 0.13 vs 0.29, Gaussian BW-UVP 2.1% vs 5.2%, SNARE-seq FOSCTTM 0.150 vs
            // 0.149, Kang energy distance 21.9 vs 20.0 (seed sd 2.5-2.9).
            lr: 1e-3,
            lr_schedule: LrSchedule::Constant,
            weight_decay: 1e-10,
            adam_epsilon: 1e-8,
            // bench/DEFAULTS-STUDY.md (issue 13), 3 seeds, the average against the last
            // weights at 5000 iterations: Kang with CD14 Mono held out 7.71 vs 9.52 (energy
            // distance), Gaussian BW-UVP 0.65% vs 1.68%, GW spiral 0.018 vs 0.074, SNARE-seq
            // tied. The decay warms up ((1 + t) / (10 + t)), so short runs average their own
            // end instead of their whole course: GW spiral at 1000 iterations 0.077 vs 0.116
            // (a fixed 0.999 lost there, 0.154).
            ema: Some(0.999),
            grad_clip: None,
            seed: 0,
            checkpoint_every: 1000,
            // bench/DEFAULTS-STUDY.md (issue 13), 3 seeds against per-feature: Kang with
            // CD14 Mono held out 9.52 vs 11.77 (energy distance), GW spiral 0.116 vs 0.130,
            // Gaussian BW-UVP 2.28% vs 2.18% (within seed noise).
            normalize: Normalize::Isotropic,
        }
    }
}

impl TrainConfig {
    /// The EMA's decay when an average is kept: `ema` unless it is unset or 0 (an average of
    /// decay 0 is the last weights, so none is kept and the model is bit for bit the last
    /// weights).
    pub fn ema_decay(&self) -> Option<f64> {
        self.ema.filter(|&d| d > 0.0)
    }

    /// The learning rate of iteration `it` (0-based) of this run's `iterations`.
    pub fn lr_at(&self, it: usize) -> f64 {
        self.lr_schedule.at(self.lr, it, self.iterations)
    }

    /// Checks every value; the message names the setting.
    pub fn validate(&self) -> crate::error::Result<()> {
        let invalid = |m: String| Err(crate::error::GenotError::Invalid(m));
        if self.iterations == 0 {
            return invalid("`iterations` must be at least 1, got 0 (a model with no training step would be its random initialisation)".into());
        }
        if self.batch_size < 2 {
            return invalid(format!(
                "`batch_size` must be at least 2, got {}",
                self.batch_size
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return invalid(format!("`lr` must be > 0, got {}", self.lr));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return invalid(format!(
                "`weight_decay` must be >= 0, got {}",
                self.weight_decay
            ));
        }
        if let Some(d) = self.ema {
            if !(0.0..1.0).contains(&d) {
                return invalid(format!("`ema` decay must be in [0, 1), got {d}"));
            }
        }
        if let Some(c) = self.grad_clip {
            if !(c.is_finite() && c > 0.0) {
                return invalid(format!("`grad_clip` must be > 0, got {c}"));
            }
        }
        Ok(())
    }
}

/// Per-feature affine normalisation of the network's source input and target output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub source_mean: Vec<f32>,
    pub source_std: Vec<f32>,
    pub target_mean: Vec<f32>,
    pub target_std: Vec<f32>,
}

/// Architecture of the eta / xi networks of U-GENOT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RescalingConfig {
    pub hidden: usize,
    pub layers: usize,
}

impl Default for RescalingConfig {
    fn default() -> Self {
        RescalingConfig {
            hidden: 64,
            layers: 2,
        }
    }
}

/// The full description of a model (`config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenotConfig {
    pub format_version: u32,
    /// Source features the network sees (for fused: shared first, then the rest).
    pub source_dim: usize,
    /// Target features (for fused: shared first, then the rest).
    pub target_dim: usize,
    /// Shared (cross-space) features at the front of source and target (fused only).
    pub source_shared_dim: usize,
    pub target_shared_dim: usize,
    /// Condition labels, in the order of the one-hot input (empty: unconditional).
    pub conditions: Vec<String>,
    pub velocity: VelocityFieldConfig,
    /// Present for U-GENOT (unbalanced) models.
    pub rescaling: Option<RescalingConfig>,
    pub normalization: Normalization,
    pub matching: MatchingConfig,
    pub training: TrainConfig,
    /// Which engine trained the velocity field, and on which device (absent in models
    /// written before it was recorded, and before training).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained_by: Option<TrainedBy>,
}

impl GenotConfig {
    /// The configuration as a file holds it, with what older files leave unset made
    /// explicit: a model written before `ot_batch_size` had a default of its own holds
    /// `null` there, and coupled one network batch per iteration.
    pub fn settled(mut self) -> Self {
        let b = self.training.batch_size;
        let m = &mut self.matching;
        m.ot_batch_size = Some(m.ot_batch(b));
        m.ot_plan_reuse = Some(m.plan_reuse(b));
        self
    }
}

/// The engine and device of a fit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainedBy {
    /// `native` (the CPU engine) or `burn`.
    pub engine: crate::engine::Engine,
    /// The device, as burn prints it (`Device<Flex(Cpu)>` for the CPU).
    pub device: String,
}
