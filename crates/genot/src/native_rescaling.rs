//! U-GENOT's re-weighting networks (eta, xi: [`crate::rescaling`]) on the native engine:
//! the same layers as burn's ([`crate::rescaling::plan`]), forward, backward and AdamW on
//! the CPU without an autodiff graph. Tested against burn's autodiff.

use crate::adam::AdamW;
use crate::layers::LayerPlan;
use crate::native::{Cache, Grads, HasLayers, Layers};
use crate::params::{Weights, WeightsError};
use ndarray::{Array2, ArrayView2};

impl HasLayers for NativeRescaling {
    fn layers(&self) -> &Layers {
        &self.net
    }
    fn layers_mut(&mut self) -> &mut Layers {
        &mut self.net
    }
}

/// burn's softplus threshold: above it softplus is the identity (and its slope 1).
const SOFTPLUS_THRESHOLD: f32 = 20.0;

/// A re-weighting network `softplus(output(hidden(x)))` with its AdamW state.
#[derive(Debug, Clone)]
pub struct NativeRescaling {
    net: Layers,
}

impl NativeRescaling {
    /// From weights named by `plan` ([`crate::rescaling::plan`]).
    pub fn from_weights(plan: LayerPlan, weights: &Weights) -> Result<Self, WeightsError> {
        Ok(NativeRescaling {
            net: Layers::from_weights(plan, weights)?,
        })
    }

    /// The pre-softplus output `z` (`n x 1`), recording activations in `cache` when given.
    fn logits(&self, x: ArrayView2<f32>, cache: Option<&mut Cache>) -> (Array2<f32>, Array2<f32>) {
        let hidden = self.net.dense.len() - 1;
        let h = self.net.hidden(x.to_owned(), 0..hidden, cache, 1);
        let z = self.net.linear(hidden, &h, 1);
        (z, h)
    }

    /// `eta(x)`, `n x input` to `n x 1`, positive.
    pub fn forward(&self, x: ArrayView2<f32>) -> Array2<f32> {
        self.logits(x, None).0.mapv(softplus)
    }

    /// The loss `mean((p - m)^2) + (mean p - mean m)^2` of the predictions `p` against the
    /// masses `m`, and its gradient with respect to every weight, named as the weights (for
    /// tests against autodiff).
    pub fn gradients(&self, x: ArrayView2<f32>, mass: &[f32]) -> (f32, Weights) {
        let (loss, g) = self.grads(x, mass);
        (loss, self.net.named(&g.0))
    }

    fn grads(&self, x: ArrayView2<f32>, mass: &[f32]) -> (f32, Grads) {
        let n = x.nrows();
        let hidden = self.net.dense.len() - 1;
        let mut cache = Cache::new(self.net.dense.len());
        let (z, h) = self.logits(x, Some(&mut cache));
        cache.inputs[hidden] = h;
        let p: Vec<f32> = z.iter().map(|&z| softplus(z)).collect();
        let nf = n as f32;
        let gap = (p.iter().sum::<f32>() - mass.iter().sum::<f32>()) / nf;
        let mse = p
            .iter()
            .zip(mass)
            .map(|(p, m)| (p - m) * (p - m))
            .sum::<f32>()
            / nf;
        let loss = mse + gap * gap;
        // d loss / d z_i = (2 (p_i - m_i) / n + 2 gap / n) softplus'(z_i).
        let dz = Array2::from_shape_fn((n, 1), |(i, _)| {
            (2.0 * (p[i] - mass[i]) / nf + 2.0 * gap / nf) * softplus_slope(z[[i, 0]])
        });
        let mut grads = self.net.zero_grads();
        let dh = self
            .net
            .layer_backward(hidden, dz, &cache, &mut grads.0, true);
        self.net
            .hidden_backward(dh, 0..hidden, &cache, &mut grads.0, false);
        (loss, grads)
    }

    /// One AdamW step on the loss of [`NativeRescaling::loss_and_grads`]; the loss before
    /// the step. The weights are left untouched when the loss is not finite.
    pub fn train_step(&mut self, x: ArrayView2<f32>, mass: &[f32], lr: f32, opt: &AdamW) -> f32 {
        let (loss, g) = self.grads(x, mass);
        if loss.is_finite() {
            self.net.adam_step(g, lr, opt);
        }
        loss
    }
}

/// `ln(1 + e^z)`, the identity above burn's threshold.
fn softplus(z: f32) -> f32 {
    if z > SOFTPLUS_THRESHOLD {
        z
    } else {
        z.exp().ln_1p()
    }
}

/// The slope of [`softplus`]: the logistic function (1 above the threshold).
fn softplus_slope(z: f32) -> f32 {
    if z > SOFTPLUS_THRESHOLD {
        1.0
    } else {
        1.0 / (1.0 + (-z).exp())
    }
}
