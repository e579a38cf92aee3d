//! Which implementation trains and evaluates the networks: burn on any device, or the
//! hand-written CPU engine ([`crate::native`]). Both are built from the same layer plan
//! ([`crate::layers`]), take the same AdamW steps ([`crate::adam`]) and hand back the same
//! [`OptimState`] (weights, moments, step count under the same names), so a checkpoint
//! written by one resumes on the other. The choice between them is made here, once:
//! [`Engine::is_native`].
//!
//! The seam is two traits over [`Trained`] (weights and optimizer state, saved and loaded
//! by [`save_state`] / [`load_state`]): [`FieldEngine`] for the velocity field and
//! [`RescalingEngine`] for U-GENOT's eta and xi; [`field_engine`] and [`rescaling_engine`]
//! build the right implementation.

use crate::adam::{AdamW, DeviceAdam, OptimState};
use crate::config::TrainConfig;
use crate::error::{GenotError, Result};
use crate::model::{to_array, to_tensor};
use crate::native::{HasLayers, NativeField};
use crate::native_rescaling::NativeRescaling;
use crate::params::{self, Weights, WeightsError};
use crate::rescaling::Rescaling;
use crate::velocity::{VelocityField, VelocityFieldConfig};
use burn::module::Module;
use burn::optim::GradientsParams;
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
    /// Whether this choice runs the native engine on `device` (inference on a plain Flex
    /// device always does).
    pub fn is_native(self, device: &Device) -> bool {
        self == Engine::Native && device.clone().without_autodiff() == Device::flex()
    }

    /// The engine that actually runs on `device` for this choice.
    pub fn on(self, device: &Device) -> Engine {
        if self.is_native(device) {
            Engine::Native
        } else {
            Engine::Burn
        }
    }
}

/// A network being trained: its weights and its optimizer state.
pub trait Trained: Send {
    /// The current weights, named by the network's layer plan.
    fn weights(&self) -> Weights;
    /// Weights, AdamW moments and step count.
    fn state(&self) -> OptimState;
    /// Restores a state (from either engine).
    fn set_state(&mut self, state: &OptimState) -> std::result::Result<(), WeightsError>;
}

/// The velocity field being trained.
pub trait FieldEngine: Trained {
    /// One AdamW step on `mean((v - u)^2)`; the loss. A non-finite loss leaves the weights
    /// unchanged.
    fn step(
        &mut self,
        t: &[f32],
        xt: ArrayView2<f32>,
        cond: ArrayView2<f32>,
        u: ArrayView2<f32>,
        lr: f64,
    ) -> f32;

    /// The current velocity at one time for every row (no gradient).
    fn velocity(&self, t: f64, xt: &Array2<f32>, cond: &Array2<f32>) -> Array2<f32>;

    /// The `step`-th (1-based) bias-corrected EMA update of `ema` ([`params::ema_update`]).
    fn update_ema(&self, ema: &mut Weights, decay: f64, step: usize) {
        params::ema_update(ema, &self.weights(), decay, step)
    }
}

/// A re-weighting network of U-GENOT (eta or xi) being trained.
pub trait RescalingEngine: Trained {
    /// One AdamW step of the regression of `mass` on `input` (mean squared error plus the
    /// squared gap of the means); the loss. A non-finite loss leaves the weights unchanged.
    fn step(&mut self, input: &Array2<f32>, mass: &[f32], lr: f64) -> f32;
}

/// The velocity field of `config` with initial weights `weights`, trained by `engine` on
/// `device`.
pub fn field_engine(
    config: VelocityFieldConfig,
    weights: &Weights,
    device: &Device,
    engine: Engine,
    t: &TrainConfig,
) -> Result<Box<dyn FieldEngine>> {
    let opt = AdamW::new(t);
    if engine.is_native(device) {
        let mut field = NativeField::from_weights(config, weights)?;
        field.threads = rayon::current_num_threads();
        Ok(Box::new(Native { net: field, opt }))
    } else {
        let ad = device.clone().autodiff();
        let field = params::import(config.init(&ad), weights)?;
        Ok(Box::new(Burn {
            net: field,
            adam: DeviceAdam::new(opt),
            device: ad,
        }))
    }
}

/// A re-weighting network of `input` features (`hidden` x `layers`) with initial weights
/// `weights`, trained by `engine` on `device`.
pub fn rescaling_engine(
    (input, hidden, layers): (usize, usize, usize),
    weights: &Weights,
    device: &Device,
    engine: Engine,
    t: &TrainConfig,
) -> Result<Box<dyn RescalingEngine>> {
    let opt = AdamW::new(t);
    if engine.is_native(device) {
        let net =
            NativeRescaling::from_weights(crate::rescaling::plan(input, hidden, layers), weights)?;
        Ok(Box::new(Native { net, opt }))
    } else {
        let ad = device.clone().autodiff();
        let net = params::import(Rescaling::new(input, hidden, layers, &ad), weights)?;
        Ok(Box::new(Burn {
            net,
            adam: DeviceAdam::new(opt),
            device: ad,
        }))
    }
}

/// Writes `net`'s [`OptimState`] to `path` (atomically).
pub fn save_state(net: &dyn Trained, path: &Path) -> Result<()> {
    let bytes = net
        .state()
        .to_safetensors()
        .map_err(|e| GenotError::file(path, e))?;
    crate::model::write_atomic(path, &bytes)
}

/// Restores into `net` the [`OptimState`] at `path`.
pub fn load_state(net: &mut dyn Trained, path: &Path) -> Result<()> {
    let bytes =
        std::fs::read(path).map_err(|e| GenotError::file(path, format!("cannot read: {e}")))?;
    let state = OptimState::from_safetensors(&bytes).map_err(|e| GenotError::file(path, e))?;
    net.set_state(&state).map_err(|e| GenotError::file(path, e))
}

/// A network of the native engine ([`NativeField`] or [`NativeRescaling`]: any network
/// kept as [`Layers`]) with its AdamW settings.
struct Native<N> {
    net: N,
    opt: AdamW,
}

impl<N: HasLayers + Send> Trained for Native<N> {
    fn weights(&self) -> Weights {
        self.net.layers().weights()
    }
    fn state(&self) -> OptimState {
        self.net.layers().state()
    }
    fn set_state(&mut self, state: &OptimState) -> std::result::Result<(), WeightsError> {
        self.net.layers_mut().set_state(state)
    }
}

impl FieldEngine for Native<NativeField> {
    fn step(
        &mut self,
        t: &[f32],
        xt: ArrayView2<f32>,
        cond: ArrayView2<f32>,
        u: ArrayView2<f32>,
        lr: f64,
    ) -> f32 {
        self.net.train_step(t, xt, cond, u, lr as f32, &self.opt)
    }

    fn velocity(&self, t: f64, xt: &Array2<f32>, cond: &Array2<f32>) -> Array2<f32> {
        let times = vec![t as f32; xt.nrows()];
        self.net.forward(&times, xt.view(), cond.view())
    }

    /// Reads the weights in place instead of copying them into a map.
    fn update_ema(&self, ema: &mut Weights, decay: f64, step: usize) {
        self.net.blend_into(ema, params::ema_rate(decay, step))
    }
}

impl RescalingEngine for Native<NativeRescaling> {
    fn step(&mut self, input: &Array2<f32>, mass: &[f32], lr: f64) -> f32 {
        self.net
            .train_step(input.view(), mass, lr as f32, &self.opt)
    }
}

/// A burn network ([`VelocityField`] or [`Rescaling`]) on an autodiff device, with the
/// on-device AdamW.
struct Burn<M> {
    net: M,
    adam: DeviceAdam,
    device: Device,
}

impl<M: Module + Send> Trained for Burn<M> {
    fn weights(&self) -> Weights {
        params::export(&self.net)
    }
    fn state(&self) -> OptimState {
        self.adam.state(&self.net)
    }
    fn set_state(&mut self, state: &OptimState) -> std::result::Result<(), WeightsError> {
        self.net = self.adam.load(self.net.clone(), state)?;
        Ok(())
    }
}

impl<M: Module> Burn<M> {
    /// One AdamW step on `loss` (a scalar of `net`'s graph); its value. A non-finite loss
    /// leaves the weights unchanged.
    fn descend(&mut self, loss: Tensor<1>, lr: f64) -> f32 {
        let lv: f32 = loss.clone().into_scalar();
        if lv.is_finite() {
            let grads = GradientsParams::from_grads(loss.backward(), &self.net);
            self.net = self.adam.step(self.net.clone(), grads, lr);
        }
        lv
    }
}

impl FieldEngine for Burn<VelocityField> {
    fn step(
        &mut self,
        t: &[f32],
        xt: ArrayView2<f32>,
        cond: ArrayView2<f32>,
        u: ArrayView2<f32>,
        lr: f64,
    ) -> f32 {
        let d = &self.device;
        let n = t.len();
        let tt = Tensor::<2>::from_data(TensorData::new(t.to_vec(), [n, 1]), d);
        let v = self.net.forward(tt, to_tensor(xt, d), to_tensor(cond, d));
        let loss = (v - to_tensor(u, d)).powi_scalar(2).mean();
        self.descend(loss, lr)
    }

    fn velocity(&self, t: f64, xt: &Array2<f32>, cond: &Array2<f32>) -> Array2<f32> {
        let n = xt.nrows();
        let plain = self.device.clone().without_autodiff();
        let f = self.net.valid();
        let tt = Tensor::<2>::from_data(TensorData::new(vec![t as f32; n], [n, 1]), &plain);
        to_array(f.forward(
            tt,
            to_tensor(xt.view(), &plain),
            to_tensor(cond.view(), &plain),
        ))
    }
}

impl RescalingEngine for Burn<Rescaling> {
    fn step(&mut self, input: &Array2<f32>, mass: &[f32], lr: f64) -> f32 {
        let d = &self.device;
        let n = input.nrows();
        let target = Tensor::<2>::from_data(TensorData::new(mass.to_vec(), [n, 1]), d);
        let pred = self.net.forward(to_tensor(input.view(), d));
        let mse = (pred.clone() - target.clone()).powi_scalar(2).mean();
        let penalty = (pred.mean() - target.mean()).powi_scalar(2);
        self.descend(mse + penalty, lr)
    }
}
