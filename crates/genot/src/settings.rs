//! The one schema of the user's settings: [`FitSettings`] for a training run and
//! [`TransportSettings`] for sampling. The CLI's flags are derived from them, the fit's TOML
//! file and Python's keyword arguments are read into them, with the same names, defaults
//! and checks. [`FitSettings::config`] turns them into the [`GenotConfig`] that
//! [`crate::fit`] trains.
//!
//! ```
//! use genot::settings::FitSettings;
//! let s: FitSettings = serde_json::from_str(r#"{"kind": "quadratic", "iterations": 10}"#).unwrap();
//! assert_eq!(s.epsilon(), 0.01); // the GW default
//! assert!(serde_json::from_str::<FitSettings>(r#"{"iteration": 10}"#).is_err()); // typo
//! ```

use crate::config::{
    GenotConfig, Kind, LrSchedule, MatchingConfig, Normalize, Orientation, RescalingConfig,
    TrainConfig,
};
use crate::configure::{make_config, Architecture};
use crate::data::TrainingData;
use crate::engine::Engine;
use crate::error::Result;
use crate::model::TransportOptions;
use crate::ode::Solver;
use clap::ArgAction;
use genot_ot::geometry::ScaleCost;
use serde::{Deserialize, Serialize};

/// Every setting of a training run: the one schema of them. Each field's type, check and
/// documentation is here; its default is [`FitSettings::default`]. The `genot fit` flags
/// are derived from this struct (clap, with the defaults of [`FitSettings::defaults_in`]),
/// its TOML config and `fit.toml` are this struct deserialised, and Python's `GENOT(...)`
/// sends it as JSON (`genot._genot.default_settings()` is the default).
/// Missing keys take their defaults when deserialised; unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct FitSettings {
    /// linear (same space, the cost between points), quadratic (GW on intra-space costs, any
    /// dimensions), fused (GW plus shared features compared across the spaces).
    #[arg(long, value_enum)]
    pub kind: Kind,
    // The help lists genot_ot::choice::COSTS.
    #[arg(long, help = format!(
        "Cost (linear: between points; quadratic/fused: within each space): {}",
        genot_ot::choice::cost_help()
    ))]
    pub cost: String,
    /// Fused: weight of the shared-feature (squared Euclidean) cost.
    #[arg(long)]
    pub fused_penalty: f64,
    /// Entropic regularisation, absolute on the scaled cost (default 0.1 linear, 0.01 GW).
    #[arg(long)]
    pub epsilon: Option<f64>,
    /// Linear: epsilon is a multiple of the mean scaled cost of each batch.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, value_name = "BOOL")]
    pub relative_epsilon: bool,
    /// Divide each batch cost by its mean, median, max, nothing (none) or a number.
    #[arg(long)]
    #[serde(with = "scale_text")]
    pub scale_cost: ScaleCost,
    /// Source marginal relaxation in (0, 1]; below 1 trains U-GENOT (with eta and xi).
    #[arg(long)]
    pub tau_a: f64,
    /// Target marginal relaxation in (0, 1].
    #[arg(long)]
    pub tau_b: f64,
    /// Training iterations: network steps, each on one batch coupling.
    #[arg(long)]
    pub iterations: usize,
    /// Source points per batch (and target points per batch).
    #[arg(long)]
    pub batch_size: usize,
    /// AdamW learning rate (1e-3: best or tied on 3 of the 4 tasks of bench/DEFAULTS-STUDY.md).
    #[arg(long)]
    pub lr: f64,
    /// Learning-rate schedule over the run's iterations: constant, or cosine (half a cosine
    /// from lr down to 0 at the last iteration; a resume with other --iterations follows
    /// the new run's curve).
    #[arg(long, value_enum)]
    pub lr_schedule: LrSchedule,
    /// AdamW weight decay.
    #[arg(long)]
    pub weight_decay: f64,
    /// Width of the hidden layers.
    #[arg(long)]
    pub hidden: usize,
    /// Dense layers per block.
    #[arg(long)]
    pub layers: usize,
    /// Time frequencies F (2F time features).
    #[arg(long)]
    pub time_frequencies: usize,
    /// Targets drawn per source point in each batch.
    #[arg(long)]
    pub k_samples: usize,
    /// With k_samples > 1: re-pair each source's latents with its targets by OT.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, value_name = "BOOL")]
    pub latent_matching: bool,
    /// Draw pairs jointly from the batch plan instead of row by row.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, value_name = "BOOL")]
    pub joint: bool,
    /// GW: iterations on one fixed batch before GW solves start from the model's image.
    #[arg(long)]
    pub warmup_iterations: usize,
    /// Iteration limit of each batch Sinkhorn (linear batches and the inner solves of GW).
    /// A batch that reaches it is trained on as it stands and counted in the report.
    #[arg(long)]
    pub sinkhorn_max_iterations: usize,
    /// L1 marginal error at which each batch Sinkhorn stops.
    #[arg(long)]
    pub sinkhorn_threshold: f64,
    /// GW: limit on the outer iterations of each batch solve.
    #[arg(long)]
    pub gw_max_iterations: usize,
    /// GW: relative change of the objective at which a batch solve stops.
    #[arg(long)]
    pub gw_threshold: f64,
    /// GW orientation: pushforward (the warm-up batch's plan in the orientation of lowest
    /// GW objective among 8 candidate batches, then solves from the model's image) or none
    /// (every batch from the product of its marginals, no warm-up: OTT's behaviour).
    #[arg(long, value_enum)]
    pub orientation: Orientation,
    /// Points of each side that each coupling is solved on (default: 4 x the batch size
    /// for linear couplings, at most the points there are and 8192; the batch size for
    /// GW); the network's batch of sources and
    /// their pairs are drawn from that larger plan, which shrinks the coupling's minibatch
    /// bias for the same network step. Linear couplings above 8192 points are solved
    /// online (costs recomputed, memory O(M d), slower).
    #[arg(long)]
    pub ot_batch_size: Option<usize>,
    /// Iterations that draw their pairs from one OT plan (default: ot_batch_size /
    /// batch_size, so every source of a balanced plan is used once, in disjoint random
    /// windows; beyond it sources repeat; unbalanced and joint draws pick from the whole
    /// plan by mass): a large --ot-batch-size then costs one solve per that many
    /// iterations. 1 solves a fresh plan every iteration.
    #[arg(long)]
    pub ot_plan_reuse: Option<usize>,
    /// Exponential moving average of the weights with this decay; the model keeps the
    /// average (0: the last weights). The decay warms up as min(decay, (1 + t) / (10 + t))
    /// at iteration t, so a short run averages about its last tenth, and the average is
    /// bias-corrected as Adam's moments are, so it never holds the initial weights.
    #[arg(long)]
    pub ema: Option<f64>,
    /// Clip each parameter's gradient to this norm.
    #[arg(long)]
    pub grad_clip: Option<f64>,
    /// Scaling of the network's input and output, fitted on the training data: per-feature
    /// (mean 0, std 1 per feature), isotropic (centred, one scale per side: keeps each
    /// space's geometry) or none.
    #[arg(long, value_enum)]
    pub normalize: Normalize,
    /// Write a checkpoint every this many iterations (0: only at the end).
    #[arg(long)]
    pub checkpoint_every: usize,
    /// Seed of every random choice of the run (initial weights, batches, noise, times):
    /// the same data, settings and seed give the same model on any number of threads.
    #[arg(long)]
    pub seed: u64,
    /// Velocity-field implementation on the CPU: native (hand-written kernels, the fastest)
    /// or burn (burn's autodiff on the Flex backend; the same function and weights). GPU
    /// devices always use burn.
    #[arg(long, value_enum)]
    pub engine: Engine,
}

/// `scale_cost` as its name (`"mean"`, `"2.5"`); a number is read too (`scale_cost = 2.5`
/// in a TOML file, `2.5` in JSON).
mod scale_text {
    use genot_ot::geometry::ScaleCost;
    use serde::{de, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &ScaleCost, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ScaleCost, D::Error> {
        struct Visit;
        impl de::Visitor<'_> for Visit {
            type Value = ScaleCost;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("mean, median, max, none or a positive number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ScaleCost, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ScaleCost, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ScaleCost, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ScaleCost, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(Visit)
    }
}

impl Default for FitSettings {
    fn default() -> Self {
        let a = Architecture::default();
        let v = (a.hidden, a.layers, a.time_frequencies);
        let mut s = Self::from_parts(&MatchingConfig::default(), &TrainConfig::default(), v)
            .expect("the default scale_cost is a name");
        s.epsilon = None;
        s
    }
}

impl FitSettings {
    /// The names each choice setting takes (`kind`: `linear`, `quadratic`, `fused`; ...),
    /// as the flags' possible values list them: what Python's `GENOT(...)` checks against.
    ///
    /// ```
    /// let c = genot::FitSettings::choices();
    /// assert_eq!(c["kind"], ["linear", "quadratic", "fused"]);
    /// assert_eq!(c["engine"], ["native", "burn"]);
    /// ```
    pub fn choices() -> std::collections::BTreeMap<String, Vec<String>> {
        choices_of::<FitSettings>()
    }

    /// `cmd` (a command with these settings' flags, from `FitSettings::augment_args`) with
    /// each flag's default taken from [`FitSettings::default`]: see [`defaults_in`].
    ///
    /// ```
    /// use clap::{Args, Command, FromArgMatches};
    /// use genot::FitSettings;
    /// let cmd = FitSettings::defaults_in(FitSettings::augment_args(Command::new("fit")));
    /// let m = cmd.try_get_matches_from(["fit", "--lr", "0.01", "--joint"]).unwrap();
    /// let s = FitSettings::from_arg_matches(&m).unwrap();
    /// assert_eq!((s.lr, s.joint), (0.01, true));
    /// assert_eq!(s, FitSettings { lr: 0.01, joint: true, ..FitSettings::default() });
    /// ```
    pub fn defaults_in(cmd: clap::Command) -> clap::Command {
        defaults_in::<FitSettings>(cmd)
    }
}

/// The names each choice setting of `S` takes, as its flags' possible values list them.
pub fn choices_of<S: clap::Args>() -> std::collections::BTreeMap<String, Vec<String>> {
    S::augment_args(clap::Command::new("settings"))
        .get_arguments()
        .filter(|a| a.get_action().takes_values())
        .map(|a| {
            let values = a.get_possible_values();
            let names = values.iter().map(|v| v.get_name().to_string());
            (a.get_id().to_string(), names.collect::<Vec<_>>())
        })
        // Switches take true/false, which are not a choice of names.
        .filter(|(_, names)| !names.is_empty() && names != &["true", "false"])
        .collect()
}

/// `cmd` (a command with the flags of the settings `S`) with each flag's default taken
/// from `S::default()`, so that a schema's defaults are declared once: `--help` shows them
/// and a flag not given takes them. The flags are the fields (clap's ids are the field
/// names, which are the serde keys).
pub fn defaults_in<S: Serialize + Default>(cmd: clap::Command) -> clap::Command {
    let defaults = serde_json::to_value(S::default()).expect("settings serialise");
    let serde_json::Value::Object(defaults) = defaults else {
        unreachable!("a struct serialises to an object")
    };
    defaults.into_iter().fold(cmd, |cmd, (key, value)| {
        let text = match value {
            serde_json::Value::Null => return cmd, // an optional setting: no default
            serde_json::Value::String(s) => s,
            v => v.to_string(),
        };
        cmd.mut_arg(key, |a| a.required(false).default_value(text))
    })
}

/// How a fitted model samples (`genot transport`'s flags, Python's `transport(...)`
/// keywords): the one schema of them, with [`TransportSettings::default`] the defaults.
///
/// ```
/// use genot::settings::TransportSettings;
/// let s: TransportSettings = serde_json::from_str(r#"{"solver": "euler", "steps": 8}"#).unwrap();
/// assert_eq!(s.options().unwrap().solver, genot::ode::Solver::Euler { steps: 8 });
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct TransportSettings {
    /// Samples per source point (K).
    #[arg(long)]
    pub samples: usize,
    /// ODE solver: dopri5 or tsit5 (adaptive, one step size per point), euler, midpoint,
    /// rk4 (fixed steps).
    #[arg(long, value_parser = Solver::NAMES)]
    pub solver: String,
    /// Steps of a fixed-step solver.
    #[arg(long)]
    pub steps: usize,
    /// Relative tolerance of the adaptive solvers.
    #[arg(long)]
    pub rtol: f64,
    /// Absolute tolerance of the adaptive solvers.
    #[arg(long)]
    pub atol: f64,
    /// Seed of the latent draws (each point has its own stream: the same point gets the
    /// same samples in any batch).
    #[arg(long)]
    pub seed: u64,
}

impl Default for TransportSettings {
    /// One sample, Dopri5 at rtol 1e-3 / atol 1e-6 (SPEC section 3), seed 0.
    fn default() -> Self {
        TransportSettings {
            samples: 1,
            solver: "dopri5".into(),
            steps: 20,
            rtol: 1e-3,
            atol: 1e-6,
            seed: 0,
        }
    }
}

impl TransportSettings {
    /// `cmd` with each sampling flag's default from [`TransportSettings::default`].
    pub fn defaults_in(cmd: clap::Command) -> clap::Command {
        defaults_in::<TransportSettings>(cmd)
    }

    /// The transport options (the default chunk, no uncertainty); the message names the
    /// bad setting.
    pub fn options(&self) -> Result<TransportOptions> {
        let solver = Solver::from_name(&self.solver, self.steps, self.rtol, self.atol)?;
        let options = TransportOptions {
            samples: self.samples,
            solver,
            seed: self.seed,
            chunk: TransportOptions::CHUNK,
            uncertainty: false,
        };
        options.check()?;
        Ok(options)
    }
}

impl FitSettings {
    /// The epsilon in use: the given one, or the default of the kind.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
            .unwrap_or(if self.kind == Kind::Linear { 0.1 } else { 0.01 })
    }

    pub fn matching(&self) -> MatchingConfig {
        MatchingConfig {
            kind: self.kind,
            cost: self.cost.clone(),
            epsilon: self.epsilon(),
            relative_epsilon: self.relative_epsilon,
            scale_cost: self.scale_cost.to_string(),
            tau_a: self.tau_a,
            tau_b: self.tau_b,
            fused_penalty: self.fused_penalty,
            k_samples: self.k_samples,
            joint: self.joint,
            latent_matching: self.latent_matching,
            warmup_iterations: self.warmup_iterations,
            sinkhorn_max_iterations: self.sinkhorn_max_iterations,
            sinkhorn_threshold: self.sinkhorn_threshold,
            gw_max_iterations: self.gw_max_iterations,
            gw_threshold: self.gw_threshold,
            orientation: self.orientation,
            ot_batch_size: self.ot_batch_size,
            ot_plan_reuse: self.ot_plan_reuse,
            ..MatchingConfig::default()
        }
    }

    pub fn training(&self) -> TrainConfig {
        TrainConfig {
            iterations: self.iterations,
            batch_size: self.batch_size,
            lr: self.lr,
            lr_schedule: self.lr_schedule,
            weight_decay: self.weight_decay,
            ema: self.ema,
            grad_clip: self.grad_clip,
            seed: self.seed,
            checkpoint_every: self.checkpoint_every,
            normalize: self.normalize,
            ..TrainConfig::default()
        }
    }

    pub fn architecture(&self) -> Architecture {
        Architecture {
            hidden: self.hidden,
            layers: self.layers,
            time_frequencies: self.time_frequencies,
            rescaling: RescalingConfig::default(),
        }
    }

    /// Checks the settings without data (the message names the setting).
    pub fn validate(&self) -> Result<()> {
        self.matching().validate()?;
        self.training().validate()
    }

    /// The settings that train `config` (on the engine that trained it, native when not
    /// recorded): the inverse of [`FitSettings::config`] for everything a model directory
    /// records.
    pub fn from_config(config: &GenotConfig) -> Result<Self> {
        let v = &config.velocity;
        Ok(FitSettings {
            engine: config
                .trained_by
                .as_ref()
                .map_or(Engine::Native, |t| t.engine),
            ..Self::from_parts(
                &config.matching,
                &config.training,
                (v.hidden, v.layers, v.time_frequencies),
            )?
        })
    }

    /// The settings of matching and training configurations and a network size
    /// `(hidden, layers, time_frequencies)`, on the native engine.
    fn from_parts(
        m: &MatchingConfig,
        t: &TrainConfig,
        size: (usize, usize, usize),
    ) -> Result<Self> {
        Ok(FitSettings {
            kind: m.kind,
            cost: m.cost.clone(),
            fused_penalty: m.fused_penalty,
            epsilon: Some(m.epsilon),
            relative_epsilon: m.relative_epsilon,
            scale_cost: m.scale()?,
            tau_a: m.tau_a,
            tau_b: m.tau_b,
            iterations: t.iterations,
            batch_size: t.batch_size,
            lr: t.lr,
            lr_schedule: t.lr_schedule,
            weight_decay: t.weight_decay,
            hidden: size.0,
            layers: size.1,
            time_frequencies: size.2,
            k_samples: m.k_samples,
            latent_matching: m.latent_matching,
            joint: m.joint,
            warmup_iterations: m.warmup_iterations,
            sinkhorn_max_iterations: m.sinkhorn_max_iterations,
            sinkhorn_threshold: m.sinkhorn_threshold,
            gw_max_iterations: m.gw_max_iterations,
            gw_threshold: m.gw_threshold,
            orientation: m.orientation,
            ot_batch_size: m.ot_batch_size,
            ot_plan_reuse: m.ot_plan_reuse,
            ema: t.ema,
            grad_clip: t.grad_clip,
            normalize: t.normalize,
            checkpoint_every: t.checkpoint_every,
            seed: t.seed,
            engine: Engine::Native,
        })
    }

    /// The model configuration these settings train on `data`.
    pub fn config(&self, data: &TrainingData) -> Result<GenotConfig> {
        make_config(data, self.matching(), self.training(), self.architecture())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_configs() {
        let s = FitSettings::default();
        assert_eq!(s.matching(), MatchingConfig::default());
        assert_eq!(s.training(), TrainConfig::default());
        assert_eq!(s.architecture(), Architecture::default());
    }

    #[test]
    fn config_round_trips_to_settings() {
        use ndarray::Array2;
        let data = TrainingData::new(
            Array2::from_shape_fn((8, 2), |(i, j)| (i * 2 + j) as f32),
            Array2::from_shape_fn((9, 3), |(i, j)| (i + j * 3) as f32),
        );
        let s = FitSettings {
            kind: Kind::Quadratic,
            cost: "euclidean".into(),
            epsilon: Some(0.02),
            scale_cost: ScaleCost::Max,
            tau_a: 0.9,
            iterations: 17,
            batch_size: 8,
            lr: 3e-4,
            hidden: 16,
            layers: 2,
            time_frequencies: 4,
            k_samples: 3,
            latent_matching: true,
            joint: true,
            warmup_iterations: 5,
            sinkhorn_max_iterations: 321,
            sinkhorn_threshold: 2e-4,
            gw_max_iterations: 7,
            gw_threshold: 5e-3,
            orientation: Orientation::None,
            ot_batch_size: Some(9),
            ot_plan_reuse: Some(1),
            ema: Some(0.99),
            grad_clip: Some(2.0),
            normalize: Normalize::Isotropic,
            checkpoint_every: 7,
            seed: 11,
            engine: Engine::Burn,
            ..FitSettings::default()
        };
        let mut config = s.config(&data).unwrap();
        config.trained_by = Some(crate::config::TrainedBy {
            engine: Engine::Burn,
            device: "Cpu".into(),
        });
        assert_eq!(FitSettings::from_config(&config).unwrap(), s);
    }

    #[test]
    fn normalization_modes_scale_as_documented() {
        use ndarray::Array2;
        // Source features with std 1 and 3 around means 2 and -1; target std 2 and 2.
        let x = Array2::from_shape_fn((4, 2), |(i, j)| {
            let s = if i % 2 == 0 { 1.0 } else { -1.0 };
            [2.0 + s, -1.0 + 3.0 * s][j]
        });
        let y = Array2::from_shape_fn((4, 2), |(i, _)| if i < 2 { 2.0 } else { -2.0 });
        let data = TrainingData::new(x, y);
        let norm_of = |data: &TrainingData, mode: &str| {
            let s = FitSettings {
                normalize: mode.parse().unwrap(),
                batch_size: 4,
                ..FitSettings::default()
            };
            s.config(data).unwrap().normalization
        };
        let norm = |mode: &str| norm_of(&data, mode);
        let per = norm("per-feature");
        assert_eq!(
            (per.source_mean, per.source_std),
            (vec![2.0, -1.0], vec![1.0, 3.0])
        );
        let iso = norm("isotropic");
        assert_eq!(iso.source_mean, vec![2.0, -1.0]);
        assert_eq!(iso.source_std, vec![5f32.sqrt(); 2]); // sqrt((1 + 9) / 2)
        assert_eq!(iso.target_std, vec![2.0; 2]);
        let none = norm("none");
        assert_eq!(
            (none.source_mean, none.source_std),
            (vec![0.0; 2], vec![1.0; 2])
        );
        assert!("unit".parse::<Normalize>().is_err());
        // A constant target feature: its value as the mean and std 0 in every mode (so
        // transport returns it exactly), and it leaves the isotropic scale alone.
        let mut y3 = Array2::from_elem((4, 3), 7.0f32);
        y3.slice_mut(ndarray::s![.., ..2]).assign(&data.target);
        let mut x3 = Array2::from_elem((4, 3), 1.0f32);
        x3.slice_mut(ndarray::s![.., ..2]).assign(&data.source);
        let data3 = TrainingData::new(x3, y3);
        for mode in ["per-feature", "isotropic", "none"] {
            let n = norm_of(&data3, mode);
            assert_eq!((n.target_mean[2], n.target_std[2]), (7.0, 0.0), "{mode}");
            let z = n.normalize_target(data3.target.view());
            assert!(z.column(2).iter().all(|&v| v == 0.0), "{mode}");
            let back = n.denormalize_target(Array2::from_elem((2, 3), 0.8).view());
            assert_eq!(back.column(2).to_vec(), vec![7.0, 7.0], "{mode}");
        }
        let iso3 = norm_of(&data3, "isotropic");
        assert_eq!(iso3.target_std[..2], [2.0, 2.0]);
        // Model directories written before the settings existed read as per-feature, at a
        // constant rate.
        let old: TrainConfig = serde_json::from_str(
            r#"{"iterations": 1, "batch_size": 2, "lr": 1e-3, "weight_decay": 0, "adam_epsilon": 1e-8, "ema": null, "grad_clip": null, "seed": 0, "checkpoint_every": 0}"#,
        )
        .unwrap();
        assert_eq!(old.normalize, Normalize::PerFeature);
        assert_eq!(old.lr_schedule, LrSchedule::Constant);
        assert_eq!(old.lr_at(0), old.lr_at(1));
    }

    #[test]
    fn bad_values_name_the_setting() {
        let s = FitSettings {
            tau_a: 1.5,
            ..FitSettings::default()
        };
        assert!(s.validate().unwrap_err().to_string().contains("tau_a"));
        // Names outside a choice are refused when read, naming the choices.
        for (json, want) in [
            (r#"{"engine": "fast"}"#, "`native`, `burn`"),
            (r#"{"kind": "cubic"}"#, "`linear`, `quadratic`, `fused`"),
            (r#"{"scale_cost": "mode"}"#, "unknown scale-cost 'mode'"),
            (r#"{"scale_cost": -2}"#, "positive number, got -2"),
        ] {
            let e = serde_json::from_str::<FitSettings>(json).unwrap_err();
            assert!(e.to_string().contains(want), "{json}: {e}");
        }
        // A scale is read as a name or a number, and written as a name that reads back.
        for (json, want) in [(r#""2.5""#, 2.5), ("2.5", 2.5), ("4", 4.0)] {
            let s: FitSettings =
                serde_json::from_str(&format!(r#"{{"scale_cost": {json}}}"#)).unwrap();
            assert_eq!(s.scale_cost, ScaleCost::Value(want));
            let back = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<FitSettings>(&back).unwrap(), s);
        }
        for s in [
            FitSettings {
                sinkhorn_max_iterations: 0,
                ..FitSettings::default()
            },
            FitSettings {
                sinkhorn_threshold: -1.0,
                ..FitSettings::default()
            },
            FitSettings {
                gw_threshold: f64::NAN,
                ..FitSettings::default()
            },
        ] {
            let e = s.validate().unwrap_err().to_string();
            assert!(e.contains("sinkhorn_") || e.contains("gw_threshold"), "{e}");
        }
    }
}
