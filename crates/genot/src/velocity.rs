//! The velocity field `v_theta(t, x_t | x [, c])` (SPEC section 2).
//!
//! Three branches, each `L x [Dense(width) + SiLU]`: the time branch on cyclical features
//! `cos(2 pi k t), sin(2 pi k t)` for `k = 0 .. F - 1`, the condition branch on the source
//! point (plus a one-hot condition label when training is conditional), and the latent
//! branch on `x_t`. Their outputs are concatenated and go through a joint block of the
//! same kind and a final linear layer to the `q` target dimensions. This is the layout of
//! OTT-JAX's `VelocityField` (`hidden_dims = condition_dims = [width] * L`,
//! `output_dims = [width] * L + [q]`): with width 128, L = 3, F = 128 and 2-D data it has
//! 215,298 parameters, as OTT's.
//!
//! The source point is **always** an input: there is no configuration that drops it.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use genot::velocity::VelocityFieldConfig;
//!
//! let device = Device::flex();
//! let config = VelocityFieldConfig { condition_dim: 2, target_dim: 3, hidden: 16, layers: 2, time_frequencies: 4 };
//! let field = config.init(&device);
//! let t = Tensor::<2>::zeros([5, 1], &device);
//! let xt = Tensor::<2>::zeros([5, 3], &device);
//! let x = Tensor::<2>::zeros([5, 2], &device);
//! assert_eq!(field.forward(t, xt, x).dims(), [5, 3]);
//! ```

use crate::layers::{LayerPlan, LayerShape};
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// `L x [Dense(width) + SiLU]`.
#[derive(Module, Debug)]
pub struct Branch {
    pub layers: Vec<Linear>,
}

impl Branch {
    /// The dense layers of `plan` (each followed by SiLU), freshly initialised.
    pub fn from_plan<'a>(plan: impl IntoIterator<Item = &'a LayerShape>, device: &Device) -> Self {
        let layers = plan.into_iter().map(|l| linear(l, device)).collect();
        Branch { layers }
    }

    pub fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        for layer in &self.layers {
            x = silu(layer.forward(x));
        }
        x
    }
}

/// The architecture of a velocity field; everything needed to rebuild it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VelocityFieldConfig {
    /// Features of the condition branch: the source dimension plus the number of condition
    /// labels (one-hot) when training is conditional.
    pub condition_dim: usize,
    /// `q`, the target dimension (the output and the latent dimension).
    pub target_dim: usize,
    /// Width of every hidden layer.
    pub hidden: usize,
    /// Dense layers per branch and in the joint block.
    pub layers: usize,
    /// `F`: number of time frequencies (2F time features).
    pub time_frequencies: usize,
}

/// A burn linear layer of `l`'s sizes.
pub fn linear(l: &LayerShape, device: &Device) -> Linear {
    LinearConfig::new(l.input, l.output).init(device)
}

/// The branches of the field, in the order of its [`LayerPlan`] (and of the concatenation
/// the joint block reads: time, condition, latent).
pub const BRANCHES: [&str; 4] = ["time", "condition", "latent", "joint"];

impl VelocityFieldConfig {
    /// The field's layers: `L` per branch (time on `2F` features, condition on
    /// `condition_dim`, latent on `q`, joint on the `3 width` concatenation), then the
    /// linear `output` to `q`. Both engines are built from it.
    pub fn plan(&self) -> LayerPlan {
        let (w, l) = (self.hidden, self.layers);
        let inputs = [
            2 * self.time_frequencies,
            self.condition_dim,
            self.target_dim,
            3 * w,
        ];
        let mut layers: Vec<LayerShape> = BRANCHES
            .iter()
            .zip(inputs)
            .flat_map(|(b, input)| LayerPlan::branch(b, input, w, l))
            .collect();
        layers.push(LayerShape {
            name: "output".into(),
            input: w,
            output: self.target_dim,
        });
        LayerPlan { layers }
    }

    /// A field with freshly initialised weights (seed the device first for reproducibility).
    pub fn init(&self, device: &Device) -> VelocityField {
        let plan = self.plan();
        let branch = |b: &str| Branch::from_plan(plan.under(b), device);
        VelocityField {
            time: branch("time"),
            condition: branch("condition"),
            latent: branch("latent"),
            joint: branch("joint"),
            output: linear(plan.get("output").expect("planned"), device),
            time_frequencies: self.time_frequencies,
        }
    }

    /// Checks that every size is usable.
    pub fn validate(&self) -> crate::error::Result<()> {
        for (name, v) in [
            ("condition dimension", self.condition_dim),
            ("target dimension", self.target_dim),
            ("hidden width", self.hidden),
            ("number of layers", self.layers),
            ("number of time frequencies", self.time_frequencies),
        ] {
            if v == 0 {
                return Err(crate::error::GenotError::Invalid(format!(
                    "the velocity field's {name} must be at least 1"
                )));
            }
        }
        Ok(())
    }
}

/// The velocity-field network.
#[derive(Module, Debug)]
pub struct VelocityField {
    pub time: Branch,
    pub condition: Branch,
    pub latent: Branch,
    pub joint: Branch,
    pub output: Linear,
    pub time_frequencies: usize,
}

impl VelocityField {
    /// `v(t, x_t | condition)` for a batch: `t` is `n x 1`, `x_t` is `n x q`, `condition`
    /// is `n x condition_dim`; returns `n x q`.
    pub fn forward(&self, t: Tensor<2>, x_t: Tensor<2>, condition: Tensor<2>) -> Tensor<2> {
        let time = self.time.forward(time_features(t, self.time_frequencies));
        let cond = self.condition.forward(condition);
        let lat = self.latent.forward(x_t);
        let h = self.joint.forward(Tensor::cat(vec![time, cond, lat], 1));
        self.output.forward(h)
    }
}

/// `[cos(2 pi k t), sin(2 pi k t)]` for `k = 0 .. F - 1`: `n x 1` to `n x 2F`.
pub fn time_features(t: Tensor<2>, frequencies: usize) -> Tensor<2> {
    let device = t.device();
    let k: Vec<f32> = (0..frequencies)
        .map(|k| 2.0 * std::f32::consts::PI * k as f32)
        .collect();
    let k = Tensor::<1>::from_floats(k.as_slice(), &device).reshape([1, frequencies]);
    let arg = t.matmul(k);
    Tensor::cat(vec![arg.clone().cos(), arg.sin()], 1)
}
