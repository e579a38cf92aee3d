//! The user's choices for one training run as one flat set of named settings: what the
//! CLI flags and the Python keyword arguments map to, with the same names and defaults.
//! [`FitSettings::config`] turns them into the [`GenotConfig`] that [`crate::fit`] trains.
//!
//! ```
//! use genot::settings::FitSettings;
//! let s: FitSettings = serde_json::from_str(r#"{"kind": "quadratic", "iterations": 10}"#).unwrap();
//! assert_eq!(s.epsilon(), 0.01); // the GW default
//! assert!(serde_json::from_str::<FitSettings>(r#"{"iteration": 10}"#).is_err()); // typo
//! ```

use crate::config::{
    GenotConfig, Kind, MatchingConfig, Normalize, Orientation, RescalingConfig, TrainConfig,
};
use crate::data::TrainingData;
use crate::engine::Engine;
use crate::error::{GenotError, Result};
use crate::train::{make_config, Architecture};
use serde::{Deserialize, Serialize};

/// Every setting of a training run (see the CLI's `genot fit --help` for each one).
/// Missing keys take their defaults when deserialised; unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FitSettings {
    pub kind: Kind,
    pub cost: String,
    pub fused_penalty: f64,
    /// `None`: 0.1 for linear problems, 0.01 for GW.
    pub epsilon: Option<f64>,
    pub relative_epsilon: bool,
    pub scale_cost: String,
    pub tau_a: f64,
    pub tau_b: f64,
    pub iterations: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub hidden: usize,
    pub layers: usize,
    pub time_frequencies: usize,
    pub k_samples: usize,
    pub latent_matching: bool,
    pub joint: bool,
    pub warmup_iterations: usize,
    pub sinkhorn_max_iterations: usize,
    pub sinkhorn_threshold: f64,
    pub gw_max_iterations: usize,
    pub gw_threshold: f64,
    /// `pushforward` or `none` (GW only).
    pub orientation: Orientation,
    /// `None`: the batch size.
    pub ot_batch_size: Option<usize>,
    pub ema: Option<f64>,
    pub grad_clip: Option<f64>,
    /// `per-feature`, `isotropic` or `none`: the scaling of the network's input and output.
    pub normalize: Normalize,
    pub checkpoint_every: usize,
    pub seed: u64,
    /// `native` (the CPU engine, used on the CPU) or `burn`.
    pub engine: String,
}

impl Default for FitSettings {
    fn default() -> Self {
        let a = Architecture::default();
        let v = (a.hidden, a.layers, a.time_frequencies);
        let mut s = Self::from_parts(&MatchingConfig::default(), &TrainConfig::default(), v);
        s.epsilon = None;
        s
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
            scale_cost: self.scale_cost.clone(),
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
            ..MatchingConfig::default()
        }
    }

    pub fn training(&self) -> TrainConfig {
        TrainConfig {
            iterations: self.iterations,
            batch_size: self.batch_size,
            lr: self.lr,
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

    pub fn engine(&self) -> Result<Engine> {
        match self.engine.as_str() {
            "native" => Ok(Engine::Auto),
            "burn" => Ok(Engine::Burn),
            e => Err(GenotError::Invalid(format!(
                "unknown engine {e:?}: expected native or burn"
            ))),
        }
    }

    /// Checks the settings without data (the message names the setting).
    pub fn validate(&self) -> Result<()> {
        self.matching().validate().map_err(GenotError::Invalid)?;
        self.training().validate().map_err(GenotError::Invalid)?;
        self.engine().map(|_| ())
    }

    /// The settings that train `config` (with the given engine): the inverse of
    /// [`FitSettings::config`] for everything a model directory records.
    pub fn from_config(config: &GenotConfig, engine: &str) -> Self {
        let v = &config.velocity;
        FitSettings {
            engine: engine.into(),
            ..Self::from_parts(
                &config.matching,
                &config.training,
                (v.hidden, v.layers, v.time_frequencies),
            )
        }
    }

    /// The settings of matching and training configurations and a network size
    /// `(hidden, layers, time_frequencies)`, on the native engine.
    fn from_parts(m: &MatchingConfig, t: &TrainConfig, size: (usize, usize, usize)) -> Self {
        FitSettings {
            kind: m.kind,
            cost: m.cost.clone(),
            fused_penalty: m.fused_penalty,
            epsilon: Some(m.epsilon),
            relative_epsilon: m.relative_epsilon,
            scale_cost: m.scale_cost.clone(),
            tau_a: m.tau_a,
            tau_b: m.tau_b,
            iterations: t.iterations,
            batch_size: t.batch_size,
            lr: t.lr,
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
            ema: t.ema,
            grad_clip: t.grad_clip,
            normalize: t.normalize,
            checkpoint_every: t.checkpoint_every,
            seed: t.seed,
            engine: "native".into(),
        }
    }

    /// The model configuration these settings train on `data`.
    pub fn config(&self, data: &TrainingData) -> Result<GenotConfig> {
        self.engine()?;
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
            scale_cost: "max".into(),
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
            ema: Some(0.99),
            grad_clip: Some(2.0),
            normalize: Normalize::Isotropic,
            checkpoint_every: 7,
            seed: 11,
            engine: "burn".into(),
            ..FitSettings::default()
        };
        let config = s.config(&data).unwrap();
        assert_eq!(FitSettings::from_config(&config, "burn"), s);
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
        // Model directories written before the setting existed read as per-feature.
        let old: TrainConfig = serde_json::from_str(
            r#"{"iterations": 1, "batch_size": 2, "lr": 1e-3, "weight_decay": 0, "adam_epsilon": 1e-8, "ema": null, "grad_clip": null, "seed": 0, "checkpoint_every": 0}"#,
        )
        .unwrap();
        assert_eq!(old.normalize, Normalize::PerFeature);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let s = FitSettings {
            tau_a: 1.5,
            ..FitSettings::default()
        };
        assert!(s.validate().unwrap_err().to_string().contains("tau_a"));
        let s = FitSettings {
            engine: "fast".into(),
            ..FitSettings::default()
        };
        assert!(s.validate().unwrap_err().to_string().contains("engine"));
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
