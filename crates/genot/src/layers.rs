//! The layer plan of a network: each dense layer's name and size, described once. The burn
//! modules ([`crate::velocity::VelocityField`], [`crate::rescaling::Rescaling`]) are built
//! from it, and the native engine ([`crate::native`]) reads and names its weights by it, so
//! the two engines cannot disagree on a layer.
//!
//! ```
//! use burn::module::Module;
//! use genot::layers::LayerPlan;
//! use genot::velocity::VelocityFieldConfig;
//!
//! let config = VelocityFieldConfig { condition_dim: 2, target_dim: 3, hidden: 16, layers: 2, time_frequencies: 4 };
//! let plan: LayerPlan = config.plan();
//! assert_eq!(plan.layers[0].name, "time.layers.0");
//! assert_eq!((plan.layers[0].input, plan.layers[0].output), (8, 16));
//! assert_eq!(plan.layers.last().unwrap().name, "output");
//! assert_eq!(plan.parameters(), config.init(&burn::tensor::Device::flex()).num_params());
//! ```

use crate::params::{NamedArray, Weights};

/// One dense layer `x W + b`, `W` stored `input x output` (burn's row layout) under
/// `{name}.weight`, `b` under `{name}.bias`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerShape {
    /// The module path (`joint.layers.1`, `output`).
    pub name: String,
    /// Input features.
    pub input: usize,
    /// Output features.
    pub output: usize,
}

impl LayerShape {
    /// `{name}.weight`.
    pub fn weight(&self) -> String {
        format!("{}.weight", self.name)
    }

    /// `{name}.bias`.
    pub fn bias(&self) -> String {
        format!("{}.bias", self.name)
    }
}

/// Every dense layer of a network, in the order the native engine keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerPlan {
    pub layers: Vec<LayerShape>,
}

impl LayerPlan {
    /// `layers` dense layers of `width` units on `input` features, named
    /// `{prefix}.layers.{l}` (a branch: each followed by SiLU).
    pub fn branch(prefix: &str, input: usize, width: usize, layers: usize) -> Vec<LayerShape> {
        (0..layers)
            .map(|l| LayerShape {
                name: format!("{prefix}.layers.{l}"),
                input: if l == 0 { input } else { width },
                output: width,
            })
            .collect()
    }

    /// The layers whose names start with `{prefix}.` (a branch's).
    pub fn under(&self, prefix: &str) -> impl Iterator<Item = &LayerShape> + '_ {
        let p = format!("{prefix}.");
        self.layers.iter().filter(move |l| l.name.starts_with(&p))
    }

    /// The layer named `name`.
    pub fn get(&self, name: &str) -> Option<&LayerShape> {
        self.layers.iter().find(|l| l.name == name)
    }

    /// The number of weights and biases.
    pub fn parameters(&self) -> usize {
        self.layers.iter().map(|l| (l.input + 1) * l.output).sum()
    }

    /// Each layer's weight and bias from `weights`, checked against the plan: every tensor
    /// present with its shape, nothing left over.
    pub fn take<'a>(
        &self,
        weights: &'a Weights,
    ) -> Result<Vec<(&'a NamedArray, &'a NamedArray)>, String> {
        let get = |key: String, shape: &[usize]| -> Result<&'a NamedArray, String> {
            let a = weights
                .get(&key)
                .ok_or_else(|| format!("missing weights: {key}"))?;
            if a.shape != shape {
                return Err(format!("{key} has shape {:?}, expected {shape:?}", a.shape));
            }
            Ok(a)
        };
        let out = self
            .layers
            .iter()
            .map(|l| {
                Ok((
                    get(l.weight(), &[l.input, l.output])?,
                    get(l.bias(), &[l.output])?,
                ))
            })
            .collect::<Result<Vec<_>, String>>()?;
        if weights.len() != 2 * self.layers.len() {
            let extra: Vec<&str> = weights
                .keys()
                .filter(|k| {
                    !self
                        .layers
                        .iter()
                        .any(|l| **k == l.weight() || **k == l.bias())
                })
                .map(String::as_str)
                .collect();
            return Err(format!("unexpected weights: {}", extra.join(", ")));
        }
        Ok(out)
    }
}
