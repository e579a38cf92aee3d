//! The re-weighting networks of U-GENOT (SPEC section 1, step 8): `eta(x)` predicts how much
//! mass a source point keeps (`n (P 1)_i` on a batch), `xi(y)` the same for a target point.
//! A softplus output keeps them positive.

use crate::velocity::Branch;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::softplus;
use burn::tensor::{Device, Tensor};

#[derive(Module, Debug)]
pub struct Rescaling {
    pub hidden: Branch,
    pub output: Linear,
}

impl Rescaling {
    pub fn new(input: usize, hidden: usize, layers: usize, device: &Device) -> Self {
        Rescaling {
            hidden: Branch::new(input, hidden, layers, device),
            output: LinearConfig::new(hidden, 1).init(device),
        }
    }

    /// `n x input` to `n x 1`, positive.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        softplus(self.output.forward(self.hidden.forward(x)), 1.0)
    }
}
