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

use crate::params::{NamedArray, Weights, WeightsError};

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
    ) -> Result<Vec<(&'a NamedArray, &'a NamedArray)>, WeightsError> {
        let get = |key: String, shape: &[usize]| -> Result<&'a NamedArray, WeightsError> {
            let Some(a) = weights.get(&key) else {
                return Err(WeightsError::Missing(vec![key]));
            };
            if a.shape != shape {
                let found = format!("{key}: file {:?}, model {shape:?}", a.shape);
                return Err(WeightsError::Shape(vec![found]));
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
            .collect::<Result<Vec<_>, WeightsError>>()?;
        if weights.len() != 2 * self.layers.len() {
            let extra = weights
                .keys()
                .filter(|k| {
                    !self
                        .layers
                        .iter()
                        .any(|l| **k == l.weight() || **k == l.bias())
                })
                .cloned()
                .collect();
            return Err(WeightsError::Unexpected(extra));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Weights checked against the plan: a missing, a misshapen and an extra tensor each
    /// give their typed error, naming the tensor.
    #[test]
    fn weights_are_checked_against_the_plan() {
        let plan = LayerPlan {
            layers: LayerPlan::branch("hidden", 3, 4, 1),
        };
        let a = |shape: &[usize]| NamedArray {
            shape: shape.to_vec(),
            values: vec![0.0; shape.iter().product()],
        };
        let mut w = Weights::from([
            ("hidden.layers.0.weight".to_string(), a(&[3, 4])),
            ("hidden.layers.0.bias".to_string(), a(&[4])),
        ]);
        assert_eq!(plan.take(&w).unwrap().len(), 1);
        w.insert("extra".into(), a(&[1]));
        assert_eq!(
            plan.take(&w).unwrap_err(),
            WeightsError::Unexpected(vec!["extra".into()])
        );
        w.remove("extra");
        w.insert("hidden.layers.0.bias".into(), a(&[5]));
        let e = plan.take(&w).unwrap_err();
        assert!(matches!(e, WeightsError::Shape(_)), "{e}");
        assert!(
            e.to_string()
                .contains("hidden.layers.0.bias: file [5], model [4]"),
            "{e}"
        );
        w.remove("hidden.layers.0.weight");
        assert_eq!(
            plan.take(&w).unwrap_err(),
            WeightsError::Missing(vec!["hidden.layers.0.weight".into()])
        );
    }
}
