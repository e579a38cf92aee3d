//! The re-weighting networks of U-GENOT (SPEC section 1, step 8): `eta(x)` predicts how much
//! mass a source point keeps (`n (P 1)_i` on a batch), `xi(y)` the same for a target point.
//! A softplus output keeps them positive.

use crate::layers::{LayerPlan, LayerShape};
use crate::velocity::{linear, Branch};
use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::activation::softplus;
use burn::tensor::{Device, Tensor};

#[derive(Module, Debug)]
pub struct Rescaling {
    pub hidden: Branch,
    pub output: Linear,
}

/// The layers of a re-weighting network: `layers` dense layers of `hidden` units (SiLU)
/// on `input` features, then a linear `output` to one number (then softplus).
pub fn plan(input: usize, hidden: usize, layers: usize) -> LayerPlan {
    let mut l = LayerPlan::branch("hidden", input, hidden, layers);
    l.push(LayerShape {
        name: "output".into(),
        input: hidden,
        output: 1,
    });
    LayerPlan { layers: l }
}

impl Rescaling {
    pub fn new(input: usize, hidden: usize, layers: usize, device: &Device) -> Self {
        let plan = plan(input, hidden, layers);
        Rescaling {
            hidden: Branch::from_plan(plan.under("hidden"), device),
            output: linear(plan.get("output").expect("planned"), device),
        }
    }

    /// `n x input` to `n x 1`, positive.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        softplus(self.output.forward(self.hidden.forward(x)), 1.0)
    }
}
