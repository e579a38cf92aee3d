//! AdamW, once for both engines: the update rule ([`AdamW`], [`Rule`]), the optimizer state
//! every checkpoint stores ([`OptimState`]: weights, moments and step count under the layer
//! plan's names), and the burn engine's on-device copy of the rule ([`DeviceAdam`]). The
//! native engine applies [`Rule::update`] to its own arrays; the burn engine applies the same
//! formula with tensor operations. Both read and write the same [`OptimState`], so a
//! checkpoint written by one engine resumes on the other.
//!
//! The rule is burn's AdamW: the gradient of each parameter tensor clipped to an L2 norm
//! (optional), decoupled decay `w (1 - lr wd)`, then the bias-corrected Adam step
//! `- lr m_hat / (sqrt(v_hat) + epsilon)`.
//!
//! ```
//! use genot::adam::AdamW;
//!
//! let opt = AdamW { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weight_decay: 0.0, grad_clip: None };
//! let rule = opt.rule(1, 0.1);
//! let (mut p, mut m, mut v) = (1.0f32, 0.0, 0.0);
//! rule.update(&mut p, &2.0, &mut m, &mut v);
//! // The first Adam step moves by lr (times sign(g)) whatever the gradient's size.
//! assert!((p - 0.9).abs() < 1e-6);
//! ```

use crate::config::TrainConfig;
use crate::params::{self, NamedArray, Weights, WeightsError};
use burn::module::{Module, ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};
use std::collections::{BTreeMap, HashMap};

/// AdamW settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamW {
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
    pub weight_decay: f32,
    /// Clip each parameter tensor's gradient to this L2 norm.
    pub grad_clip: Option<f32>,
}

impl AdamW {
    /// The training settings' AdamW (betas 0.9 and 0.999).
    pub fn new(t: &TrainConfig) -> Self {
        AdamW {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: t.adam_epsilon as f32,
            weight_decay: t.weight_decay as f32,
            grad_clip: t.grad_clip.map(|c| c as f32),
        }
    }

    /// The factor a gradient of L2 norm `norm` is scaled by: `min(1, clip / (norm + 1e-6))`,
    /// 1 without clipping.
    pub fn clip_factor(&self, norm: f32) -> f32 {
        self.grad_clip.map_or(1.0, |c| (c / (norm + 1e-6)).min(1.0))
    }

    /// Clips one parameter tensor's gradient in place.
    pub fn clip(&self, g: &mut [f32]) {
        if self.grad_clip.is_none() {
            return;
        }
        let f = self.clip_factor(g.iter().map(|x| x * x).sum::<f32>().sqrt());
        if f < 1.0 {
            g.iter_mut().for_each(|x| *x *= f);
        }
    }

    /// The update of the `step`-th (1-based) step at learning rate `lr`.
    pub fn rule(&self, step: u64, lr: f32) -> Rule {
        Rule {
            opt: *self,
            bc1: 1.0 - self.beta1.powi(step as i32),
            bc2: 1.0 - self.beta2.powi(step as i32),
            decay: 1.0 - lr * self.weight_decay,
            lr,
        }
    }
}

/// One step's AdamW update, its bias corrections computed once.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    opt: AdamW,
    bc1: f32,
    bc2: f32,
    decay: f32,
    lr: f32,
}

impl Rule {
    /// Updates one weight `p` with gradient `g` and its moments `m`, `v`.
    #[inline]
    pub fn update(&self, p: &mut f32, g: &f32, m: &mut f32, v: &mut f32) {
        let o = &self.opt;
        *m = o.beta1 * *m + (1.0 - o.beta1) * g;
        *v = o.beta2 * *v + (1.0 - o.beta2) * g * g;
        let mh = *m / self.bc1;
        let vh = *v / self.bc2;
        *p = *p * self.decay - self.lr * mh / (vh.sqrt() + o.epsilon);
    }

    /// The same update on a burn tensor (`p`, `g`, `m`, `v` of one shape); returns `p, m, v`.
    pub fn update_tensor<const D: usize>(
        &self,
        p: Tensor<D>,
        g: Tensor<D>,
        m: Tensor<D>,
        v: Tensor<D>,
    ) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
        let o = &self.opt;
        let m = m
            .mul_scalar(o.beta1)
            .add(g.clone().mul_scalar(1.0 - o.beta1));
        let v = v
            .mul_scalar(o.beta2)
            .add(g.clone().mul(g).mul_scalar(1.0 - o.beta2));
        let mh = m.clone().div_scalar(self.bc1);
        let vh = v.clone().div_scalar(self.bc2);
        let p = p
            .mul_scalar(self.decay)
            .sub(mh.div(vh.sqrt().add_scalar(o.epsilon)).mul_scalar(self.lr));
        (p, m, v)
    }
}

/// A network's weights and AdamW state, under the layer plan's names: what a checkpoint
/// stores for each trained network, whichever engine trained it.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimState {
    pub weights: Weights,
    /// First and second moments (empty before the first step).
    pub m: Weights,
    pub v: Weights,
    /// Steps taken.
    pub step: u64,
}

impl OptimState {
    /// Fresh weights, no step taken.
    pub fn fresh(weights: Weights) -> Self {
        OptimState {
            weights,
            m: Weights::new(),
            v: Weights::new(),
            step: 0,
        }
    }

    /// safetensors bytes: `weights.*`, `m.*`, `v.*`, the step count as metadata `adam_step`.
    pub fn to_safetensors(&self) -> Result<Vec<u8>, WeightsError> {
        let mut all = params::prefixed("weights", self.weights.clone());
        all.extend(params::prefixed("m", self.m.clone()));
        all.extend(params::prefixed("v", self.v.clone()));
        let meta = HashMap::from([("adam_step".to_string(), self.step.to_string())]);
        params::to_safetensors_with(&all, Some(meta))
    }

    /// Reads what [`OptimState::to_safetensors`] wrote; moments and weights must name the
    /// same tensors.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, WeightsError> {
        let (all, meta) = params::from_safetensors_with(bytes)?;
        let step: u64 = meta
            .get("adam_step")
            .and_then(|s| s.parse().ok())
            .ok_or(WeightsError::NoStep)?;
        let s = OptimState {
            weights: params::under("weights", &all),
            m: params::under("m", &all),
            v: params::under("v", &all),
            step,
        };
        let shapes = |w: &Weights| -> Vec<(String, Vec<usize>)> {
            w.iter()
                .map(|(k, a)| (k.clone(), a.shape.clone()))
                .collect()
        };
        if s.step > 0 && (shapes(&s.m) != shapes(&s.weights) || shapes(&s.v) != shapes(&s.weights))
        {
            return Err(WeightsError::Moments);
        }
        Ok(s)
    }
}

/// The burn engine's AdamW: the [`Rule`] applied with tensor operations on the module's
/// device, moments kept there by parameter path.
#[derive(Debug, Clone)]
pub struct DeviceAdam {
    opt: AdamW,
    moments: BTreeMap<String, (Tensor<1>, Tensor<1>)>,
    step: u64,
}

impl DeviceAdam {
    pub fn new(opt: AdamW) -> Self {
        DeviceAdam {
            opt,
            moments: BTreeMap::new(),
            step: 0,
        }
    }

    /// One step: `module`'s parameters updated from `grads` (a backward pass's); parameters
    /// without a gradient are left as they are.
    pub fn step<M: Module>(&mut self, module: M, mut grads: GradientsParams, lr: f64) -> M {
        self.step += 1;
        let rule = self.opt.rule(self.step, lr as f32);
        let mut mapper = Stepper {
            path: vec![],
            adam: self,
            grads: &mut grads,
            rule,
        };
        module.map(&mut mapper)
    }

    /// The state of `module` (trained by this optimizer) for a checkpoint.
    pub fn state<M: Module>(&self, module: &M) -> OptimState {
        let weights = params::export(module);
        let host = |t: &Tensor<1>, shape: &[usize]| NamedArray {
            shape: shape.to_vec(),
            values: t
                .clone()
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .unwrap_or_default(),
        };
        let (mut m, mut v) = (Weights::new(), Weights::new());
        for (name, (mt, vt)) in &self.moments {
            let shape = &weights[name].shape;
            m.insert(name.clone(), host(mt, shape));
            v.insert(name.clone(), host(vt, shape));
        }
        OptimState {
            weights,
            m,
            v,
            step: self.step,
        }
    }

    /// `module` with the weights of `state`, and this optimizer with its moments (on
    /// `module`'s device).
    pub fn load<M: Module>(&mut self, module: M, state: &OptimState) -> Result<M, WeightsError> {
        let module = params::import(module, &state.weights)?;
        let device = module
            .devices()
            .into_iter()
            .next()
            .unwrap_or_default()
            .without_autodiff();
        let dev = |a: &NamedArray| {
            Tensor::<1>::from_data(TensorData::new(a.values.clone(), [a.values.len()]), &device)
        };
        self.moments = state
            .m
            .iter()
            .filter_map(|(k, m)| state.v.get(k).map(|v| (k.clone(), (dev(m), dev(v)))))
            .collect();
        self.step = state.step;
        Ok(module)
    }
}

struct Stepper<'a> {
    path: Vec<String>,
    adam: &'a mut DeviceAdam,
    grads: &'a mut GradientsParams,
    rule: Rule,
}

impl ModuleMapper for Stepper<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let dims = tensor.dims();
        let n: usize = dims.iter().product();
        let p = tensor.inner().reshape([n]);
        let mut g = grad.reshape([n]);
        if let Some(c) = self.adam.opt.grad_clip {
            let norm = g.clone().mul(g.clone()).sum().sqrt();
            let f = norm.add_scalar(1e-6).recip().mul_scalar(c).clamp_max(1.0);
            g = g.mul(f);
        }
        let name = self.path.join(".");
        let (m, v) = self.adam.moments.remove(&name).unwrap_or_else(|| {
            let device = p.device();
            (Tensor::zeros([n], &device), Tensor::zeros([n], &device))
        });
        let (p, m, v) = self.rule.update_tensor(p, g, m, v);
        self.adam.moments.insert(name, (m, v));
        let updated = Tensor::from_inner(p.reshape(dims)).require_grad();
        Param::from_mapped_value(id, updated, mapper)
    }
}
