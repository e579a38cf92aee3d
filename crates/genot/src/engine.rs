//! Which implementation trains and evaluates the velocity field: burn on any device, or the
//! hand-written CPU engine ([`crate::native`]). Both compute the same function from the same
//! named weights; checkpoints record which one wrote them.

use crate::config::TrainConfig;
use crate::error::{GenotError, Result};
use crate::model::{to_array, to_tensor};
use crate::native::{AdamW, NativeField};
use crate::params::{self, Weights};
use crate::velocity::{VelocityField, VelocityFieldConfig};
use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::store::ModuleRecord;
use burn::tensor::{Device, Tensor, TensorData};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The implementation choice (the `engine` setting: `native` or `burn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// The native engine on the CPU (Flex device), burn elsewhere.
    #[default]
    #[serde(alias = "auto")]
    Native,
    /// Always burn (autodiff on the given device).
    Burn,
}

impl Engine {
    /// Whether this choice runs the native engine on `device`.
    pub fn is_native(self, device: &Device) -> bool {
        self == Engine::Native && *device == Device::flex()
    }
}

/// AdamW for burn with the training settings.
pub fn burn_optimizer(t: &TrainConfig) -> ModuleOptimizer {
    let mut c = AdamWConfig::new()
        .with_epsilon(t.adam_epsilon as f32)
        .with_weight_decay(t.weight_decay as f32);
    if let Some(clip) = t.grad_clip {
        c = c.with_grad_clipping(Some(GradientClippingConfig::Norm(clip as f32)));
    }
    c.init()
}

/// The velocity field being trained, with its optimizer. (One lives per training run: the
/// size difference of the variants does not matter.)
#[allow(clippy::large_enum_variant)]
pub enum FieldTrainer {
    Burn {
        field: VelocityField,
        opt: ModuleOptimizer,
        /// The autodiff device.
        device: Device,
    },
    Native {
        field: Box<NativeField>,
        opt: AdamW,
    },
}

impl FieldTrainer {
    /// From freshly initialised (or loaded) burn weights.
    pub fn new(
        config: VelocityFieldConfig,
        field: VelocityField,
        device: &Device,
        engine: Engine,
        t: &TrainConfig,
    ) -> Result<Self> {
        if engine.is_native(device) {
            let mut native = NativeField::from_weights(config, &params::export(&field))
                .map_err(GenotError::Invalid)?;
            native.threads = rayon::current_num_threads();
            Ok(FieldTrainer::Native {
                field: Box::new(native),
                opt: AdamW {
                    beta1: 0.9,
                    beta2: 0.999,
                    epsilon: t.adam_epsilon as f32,
                    weight_decay: t.weight_decay as f32,
                    grad_clip: t.grad_clip.map(|c| c as f32),
                },
            })
        } else {
            Ok(FieldTrainer::Burn {
                field,
                opt: burn_optimizer(t),
                device: device.clone().autodiff(),
            })
        }
    }

    /// One AdamW step on `mean((v - u)^2)`; the loss. A non-finite loss leaves the weights
    /// unchanged.
    pub fn step(
        &mut self,
        t: &[f32],
        xt: ArrayView2<f32>,
        cond: ArrayView2<f32>,
        u: ArrayView2<f32>,
        lr: f64,
    ) -> f32 {
        match self {
            FieldTrainer::Native { field, opt } => field.train_step(t, xt, cond, u, lr as f32, opt),
            FieldTrainer::Burn { field, opt, device } => {
                let n = t.len();
                let tt = Tensor::<2>::from_data(TensorData::new(t.to_vec(), [n, 1]), &*device);
                let v = field.forward(tt, to_tensor(xt, device), to_tensor(cond, device));
                let loss = (v - to_tensor(u, device)).powi_scalar(2).mean();
                let lv: f32 = loss.clone().into_scalar();
                if lv.is_finite() {
                    let grads = GradientsParams::from_grads(loss.backward(), &*field);
                    let f = std::mem::replace(field, field.clone());
                    *field = opt.step(lr, f, grads);
                }
                lv
            }
        }
    }

    /// The current velocity at one time for every row (no gradient).
    pub fn velocity(&self, t: f64, xt: &Array2<f32>, cond: &Array2<f32>) -> Array2<f32> {
        let n = xt.nrows();
        let times = vec![t as f32; n];
        match self {
            FieldTrainer::Native { field, .. } => field.forward(&times, xt.view(), cond.view()),
            FieldTrainer::Burn { field, device, .. } => {
                let plain = device.clone().without_autodiff();
                let f = field.valid();
                let tt = Tensor::<2>::from_data(TensorData::new(times, [n, 1]), &plain);
                to_array(f.forward(
                    tt,
                    to_tensor(xt.view(), &plain),
                    to_tensor(cond.view(), &plain),
                ))
            }
        }
    }

    /// The current weights, named as [`VelocityField`]'s.
    pub fn weights(&self) -> Weights {
        match self {
            FieldTrainer::Native { field, .. } => field.weights(),
            FieldTrainer::Burn { field, .. } => params::export(field),
        }
    }

    /// The `step`-th (1-based) bias-corrected EMA update of `ema` ([`params::ema_update`]);
    /// the native engine reads its weights in place instead of copying them into a map.
    pub fn update_ema(&self, ema: &mut Weights, decay: f64, step: usize) {
        match self {
            FieldTrainer::Native { field, .. } => {
                field.blend_into(ema, params::ema_rate(decay, step))
            }
            FieldTrainer::Burn { field, .. } => {
                params::ema_update(ema, &params::export(field), decay, step)
            }
        }
    }

    /// Writes the field and its optimizer state into the (temporary) checkpoint folder.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let io = |name: &str, e: String| GenotError::file(&dir.join(name), e);
        match self {
            FieldTrainer::Native { field, .. } => {
                let (mut state, step) = field.optimizer_state();
                state.extend(params::prefixed("weights", field.weights()));
                let mut meta = std::collections::HashMap::new();
                meta.insert("adam_step".to_string(), step.to_string());
                let bytes = params::to_safetensors_with(&state, Some(meta))
                    .map_err(|e| io("velocity-native.safetensors", e))?;
                crate::model::write_atomic(&dir.join("velocity-native.safetensors"), &bytes)
            }
            FieldTrainer::Burn { field, opt, .. } => {
                field
                    .clone()
                    .into_record()
                    .save(dir.join("velocity.bpk"))
                    .map_err(|e| io("velocity.bpk", e.to_string()))?;
                opt.save(dir.join("velocity-optim.bpk"))
                    .map_err(|e| io("velocity-optim.bpk", e.to_string()))
            }
        }
    }

    /// Restores what [`FieldTrainer::save`] wrote.
    pub fn load(&mut self, dir: &Path) -> Result<()> {
        let other = |name: &str| {
            GenotError::file(dir, format!("this checkpoint has no {name}: it was written by the other engine (burn / native); resume with the same one"))
        };
        match self {
            FieldTrainer::Native { field, .. } => {
                let p = dir.join("velocity-native.safetensors");
                if !p.exists() {
                    return Err(other("velocity-native.safetensors"));
                }
                let bytes = std::fs::read(&p).map_err(|e| GenotError::file(&p, e))?;
                let (state, meta) =
                    params::from_safetensors_with(&bytes).map_err(|e| GenotError::file(&p, e))?;
                let step: u64 = meta
                    .get("adam_step")
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| GenotError::file(&p, "no adam_step in the metadata"))?;
                let mut loaded =
                    NativeField::from_weights(field.config(), &params::under("weights", &state))
                        .map_err(|e| GenotError::file(&p, e))?;
                loaded
                    .set_optimizer_state(&state, step)
                    .map_err(|e| GenotError::file(&p, e))?;
                loaded.threads = field.threads;
                **field = loaded;
                Ok(())
            }
            FieldTrainer::Burn { field, opt, .. } => {
                let p = dir.join("velocity.bpk");
                if !p.exists() {
                    return Err(other("velocity.bpk"));
                }
                let rec =
                    ModuleRecord::load(&p).map_err(|e| GenotError::file(&p, e.to_string()))?;
                *field = field
                    .clone()
                    .try_load_record(rec)
                    .map_err(|e| GenotError::file(&p, e.to_string()))?;
                let o = std::mem::replace(opt, AdamWConfig::new().init());
                *opt = o.load(dir.join("velocity-optim.bpk")).map_err(|e| {
                    GenotError::file(&dir.join("velocity-optim.bpk"), e.to_string())
                })?;
                Ok(())
            }
        }
    }
}
