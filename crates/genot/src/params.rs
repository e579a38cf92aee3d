//! The weights of a burn module as named `f32` arrays: export, import, safetensors files,
//! and the exponential moving average of weights.
//!
//! Names are the module paths joined by dots (`time.layers.0.weight`), so a file written
//! here reads naturally from Python (`safetensors.numpy.load_file`). Linear weights are
//! stored `input x output`, burn's row layout.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::BTreeMap;
use std::path::Path;

/// What is wrong with a set of named weights or a weights file. The caller adds the file
/// or the network it read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightsError {
    /// Tensors the network needs that the weights lack.
    #[error("missing weights: {}", .0.join(", "))]
    Missing(Vec<String>),
    /// Tensors of another shape than the network's (`name: file [..], model [..]`).
    #[error("weights of the wrong shape: {}", .0.join("; "))]
    Shape(Vec<String>),
    /// Tensors the network does not have.
    #[error("unexpected weights: {}", .0.join(", "))]
    Unexpected(Vec<String>),
    /// A tensor of another type than f32 or f64.
    #[error("tensor {name} has dtype {dtype}; expected F32")]
    Dtype { name: String, dtype: String },
    /// A tensor holding NaN or an infinity.
    #[error("tensor {0} holds non-finite values")]
    NonFinite(String),
    /// Not a safetensors buffer, or one that cannot be written.
    #[error("not a valid safetensors buffer: {0}")]
    Format(String),
    /// Reading the file failed.
    #[error("cannot read: {0}")]
    Read(String),
    /// An optimizer state without its step count.
    #[error("no adam_step in the metadata")]
    NoStep,
    /// An optimizer state whose moments do not name the weights' tensors.
    #[error("the Adam moments do not match the weights")]
    Moments,
}

/// One named parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedArray {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Every float parameter of a module, by path.
pub type Weights = BTreeMap<String, NamedArray>;

#[derive(Default)]
struct Exporter {
    path: Vec<String>,
    out: Weights,
}

impl ModuleVisitor for Exporter {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let shape = t.dims().to_vec();
        let data = t.into_data().convert::<f32>();
        let values = data.try_to_vec::<f32>().unwrap_or_default();
        self.out
            .insert(self.path.join("."), NamedArray { shape, values });
    }
}

/// The float parameters of `module` by path (copied to the host).
pub fn export<M: Module>(module: &M) -> Weights {
    let mut e = Exporter::default();
    module.visit(&mut e);
    e.out
}

struct Importer<'a> {
    path: Vec<String>,
    weights: &'a Weights,
    missing: Vec<String>,
    wrong_shape: Vec<String>,
    used: usize,
}

impl ModuleMapper for Importer<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let name = self.path.join(".");
        let Some(w) = self.weights.get(&name) else {
            self.missing.push(name);
            return param;
        };
        let (id, tensor, mapper) = param.consume();
        if tensor.dims().as_slice() != w.shape.as_slice() {
            self.wrong_shape.push(format!(
                "{name}: file {:?}, model {:?}",
                w.shape,
                tensor.dims()
            ));
            return Param::from_mapped_value(id, tensor, mapper);
        }
        self.used += 1;
        let device = tensor.device();
        let loaded =
            Tensor::<D>::from_data(TensorData::new(w.values.clone(), w.shape.clone()), &device);
        let loaded = if tensor.is_require_grad() {
            loaded.require_grad()
        } else {
            loaded
        };
        Param::from_mapped_value(id, loaded, mapper)
    }
}

/// Replaces the parameters of `module` by `weights` (same paths and shapes, nothing missing
/// or left over), keeping parameter ids (so optimizer state stays attached).
pub fn import<M: Module>(module: M, weights: &Weights) -> Result<M, WeightsError> {
    let mut imp = Importer {
        path: vec![],
        weights,
        missing: vec![],
        wrong_shape: vec![],
        used: 0,
    };
    let module = module.map(&mut imp);
    if !imp.missing.is_empty() {
        return Err(WeightsError::Missing(imp.missing));
    }
    if !imp.wrong_shape.is_empty() {
        return Err(WeightsError::Shape(imp.wrong_shape));
    }
    if imp.used != weights.len() {
        let expected: std::collections::BTreeSet<String> = export(&module).into_keys().collect();
        let extra = weights
            .keys()
            .filter(|k| !expected.contains(*k))
            .cloned()
            .collect();
        return Err(WeightsError::Unexpected(extra));
    }
    Ok(module)
}

/// Adds `prefix.` to every name.
pub fn prefixed(prefix: &str, weights: Weights) -> Weights {
    weights
        .into_iter()
        .map(|(k, v)| (format!("{prefix}.{k}"), v))
        .collect()
}

/// The entries under `prefix.`, with the prefix removed.
pub fn under(prefix: &str, weights: &Weights) -> Weights {
    let p = format!("{prefix}.");
    weights
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(&p).map(|s| (s.to_string(), v.clone())))
        .collect()
}

/// Serialises weights as a safetensors buffer (little-endian f32).
pub fn to_safetensors(weights: &Weights) -> Result<Vec<u8>, WeightsError> {
    to_safetensors_with(weights, None)
}

/// [`to_safetensors`] with string metadata in the header.
pub fn to_safetensors_with(
    weights: &Weights,
    metadata: Option<std::collections::HashMap<String, String>>,
) -> Result<Vec<u8>, WeightsError> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = weights
        .iter()
        .map(|(k, v)| {
            let b = v.values.iter().flat_map(|x| x.to_le_bytes()).collect();
            (k.clone(), b, v.shape.clone())
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(k, b, s)| {
            TensorView::new(Dtype::F32, s.clone(), b)
                .map(|v| (k.clone(), v))
                .map_err(|e| WeightsError::Format(format!("cannot serialise {k}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize(views, metadata).map_err(|e| WeightsError::Format(e.to_string()))
}

/// Parses a safetensors buffer of f32 (or f64, converted) tensors.
pub fn from_safetensors(buffer: &[u8]) -> Result<Weights, WeightsError> {
    from_safetensors_with(buffer).map(|(w, _)| w)
}

/// [`from_safetensors`] and the header's metadata.
pub fn from_safetensors_with(
    buffer: &[u8],
) -> Result<(Weights, std::collections::HashMap<String, String>), WeightsError> {
    let format = |e: safetensors::SafeTensorError| WeightsError::Format(e.to_string());
    let (_, header) = SafeTensors::read_metadata(buffer).map_err(format)?;
    let meta = header.metadata().clone().unwrap_or_default();
    let st = SafeTensors::deserialize(buffer).map_err(format)?;
    let mut out = Weights::new();
    for (name, view) in st.tensors() {
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F64 => data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                .collect(),
            other => {
                return Err(WeightsError::Dtype {
                    name,
                    dtype: format!("{other:?}"),
                })
            }
        };
        if values.iter().any(|v| !v.is_finite()) {
            return Err(WeightsError::NonFinite(name));
        }
        out.insert(
            name,
            NamedArray {
                shape: view.shape().to_vec(),
                values,
            },
        );
    }
    Ok((out, meta))
}

/// Reads a safetensors file (the caller names the file).
pub fn read_safetensors(path: &Path) -> Result<Weights, WeightsError> {
    let buffer = std::fs::read(path).map_err(|e| WeightsError::Read(e.to_string()))?;
    from_safetensors(&buffer)
}

/// The bias-corrected exponential moving average after its `step`-th update (1-based),
/// parameter by parameter: `ema <- ema + a (current - ema)` with the rate `a` of
/// [`ema_rate`]. The decay of update `t` warms up as `min(decay, (1 + t) / (10 + t))` (the
/// schedule of TensorFlow's `ExponentialMovingAverage` with `num_updates`), so the average
/// reaches back over about the last tenth of the run so far (t / 9 updates) until that
/// window is the decay's own, `1 / (1 - decay)` updates (after 8990 updates for 0.999):
/// a short run averages its own end instead of its whole course. Over the decays
/// `b_1..b_t` the average is `sum_s (1 - b_s) b_(s+1) ... b_t w_s / (1 - b_1 ... b_t)`, the
/// plain average started at zero divided by its total weight (Adam's correction of its
/// moments): the first update copies the weights, so the average never holds the random
/// initial weights.
pub fn ema_update(ema: &mut Weights, current: &Weights, decay: f64, step: usize) {
    let a = ema_rate(decay, step);
    for (k, e) in ema.iter_mut() {
        if let Some(c) = current.get(k) {
            ema_blend(&mut e.values, &c.values, a);
        }
    }
}

/// The `W` of the EMA's warm-up decay `(1 + t) / (W + t)` (TensorFlow's 10).
const EMA_WARMUP: usize = 10;

/// The decay of the `step`-th EMA update (1-based): `min(decay, (1 + step) / (10 + step))`.
pub fn ema_decay(decay: f64, step: usize) -> f64 {
    let t = step as f64;
    decay.min((1.0 + t) / (EMA_WARMUP as f64 + t))
}

/// The rate `a = (1 - b_t) / (1 - b_1 ... b_t)` of [`ema_update`]'s `step`-th update, with
/// `b_s` the warmed-up decays of [`ema_decay`]. The product is a closed form, so the rate
/// depends on the step alone (a resumed fit continues the same average): the warm-up
/// decays `(1 + s) / (10 + s)` for `s <= k` multiply to `10! / ((k + 2) ... (k + 10))`, and
/// every later update multiplies by `decay`.
pub fn ema_rate(decay: f64, step: usize) -> f32 {
    let step = step.max(1);
    // The last update whose warm-up decay is below `decay`: (1 + k) / (W + k) < decay.
    let w = EMA_WARMUP as f64;
    let warm = ((w * decay - 1.0) / (1.0 - decay)).ceil() - 1.0;
    let k = (warm.max(0.0) as usize).min(step);
    let warm_product: f64 = (2..=EMA_WARMUP)
        .map(|i| i as f64 / (k + i) as f64)
        .product();
    let later = (step - k).min(i32::MAX as usize) as i32;
    let total = warm_product * decay.powi(later);
    ((1.0 - ema_decay(decay, step)) / (1.0 - total)) as f32
}

/// `ema <- ema + a (current - ema)`, value by value.
pub fn ema_blend<'a>(ema: &mut [f32], current: impl IntoIterator<Item = &'a f32>, a: f32) {
    for (ev, &cv) in ema.iter_mut().zip(current) {
        *ev += a * (cv - *ev);
    }
}

/// Whether every value is finite; the error names the first parameter that is not.
pub fn check_finite(weights: &Weights) -> Result<(), WeightsError> {
    match weights
        .iter()
        .find(|(_, v)| v.values.iter().any(|x| !x.is_finite()))
    {
        Some((k, _)) => Err(WeightsError::NonFinite(k.clone())),
        None => Ok(()),
    }
}

/// Re-initialises every linear layer of `module` from `seed`, on the host, as PyTorch does:
/// weights and biases uniform in `+-1/sqrt(fan_in)`. The same seed gives the same weights
/// whatever the backend and the thread count.
pub fn init_uniform<M: Module>(module: M, seed: u64) -> M {
    use rand::{Rng, SeedableRng};
    let mut weights = export(&module);
    let fan_in: BTreeMap<String, usize> = weights
        .iter()
        .filter(|(_, v)| v.shape.len() == 2)
        .filter_map(|(k, v)| {
            k.strip_suffix(".weight")
                .map(|p| (p.to_string(), v.shape[0]))
        })
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for (k, v) in weights.iter_mut() {
        let layer = k.rsplit_once('.').map(|(p, _)| p).unwrap_or(k);
        let fan = fan_in.get(layer).copied().unwrap_or(v.shape[0]).max(1);
        let bound = 1.0 / (fan as f32).sqrt();
        for x in v.values.iter_mut() {
            *x = rng.random_range(-bound..bound);
        }
    }
    import(module, &weights).expect("same module, same names")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(values: &[f32], shape: &[usize]) -> NamedArray {
        NamedArray {
            shape: shape.to_vec(),
            values: values.to_vec(),
        }
    }

    #[test]
    fn ema_is_the_bias_corrected_exponential_average() {
        // Weights 1, 3, -2 with decay 0.5, by hand. The warm-up decays are 2/11, 3/12 and
        // 4/13 (all below 0.5). The plain average started at zero is 9/11, 27/11, -90/143;
        // its total weight 1 - 2/11, 1 - 2/11 * 1/4, 1 - 2/11 * 1/4 * 4/13 = 9/11, 21/22,
        // 141/143; so the corrected average is 1, 18/7, -30/47.
        let mut ema = Weights::from([("a".to_string(), w(&[100.0], &[1]))]);
        for (step, (x, want)) in [(1.0, 1.0), (3.0, 18.0 / 7.0), (-2.0, -30.0 / 47.0)]
            .into_iter()
            .enumerate()
        {
            ema_update(
                &mut ema,
                &Weights::from([("a".into(), w(&[x], &[1]))]),
                0.5,
                step + 1,
            );
            assert!(
                (ema["a"].values[0] - want).abs() < 1e-6,
                "step {}: {} against {want}",
                step + 1,
                ema["a"].values[0]
            );
        }
        // Late in a run the warm-up and the correction are gone: the classic update.
        let mut ema = Weights::from([("a".to_string(), w(&[1.0, 2.0], &[2]))]);
        let cur = Weights::from([("a".to_string(), w(&[3.0, -2.0], &[2]))]);
        ema_update(&mut ema, &cur, 0.75, 1000);
        assert_eq!(ema["a"].values, vec![1.5, 1.0]);
        // Decay 0 is no average: every update copies the weights.
        assert_eq!(ema_rate(0.0, 1), 1.0);
        assert_eq!(ema_rate(0.0, 77), 1.0);
    }

    #[test]
    fn ema_rate_matches_the_weighted_sum_across_the_end_of_the_warm_up() {
        // Brute force: the weight of each w_s in sum_s (1 - b_s) b_(s+1)..b_t w_s / (1 - b_1..b_t),
        // with the decays b_s = min(decay, (1 + s) / (10 + s)) written out, against the
        // recursion with ema_rate's closed form, through the step (890 for 0.99) where the
        // warm-up reaches the decay.
        let decay = 0.99f64;
        let ws: Vec<f64> = (1..=1500)
            .map(|s| ((s * 7919) % 113) as f64 / 11.0)
            .collect();
        let (mut plain, mut product, mut recursive) = (0.0f64, 1.0f64, 0.0f64);
        for (i, &x) in ws.iter().enumerate() {
            let step = i + 1;
            let b = decay.min((1.0 + step as f64) / (10.0 + step as f64));
            plain = b * plain + (1.0 - b) * x;
            product *= b;
            recursive += ema_rate(decay, step) as f64 * (x - recursive);
            let want = plain / (1.0 - product);
            assert!(
                (recursive - want).abs() < 1e-4 * (1.0 + want.abs()),
                "step {step}: {recursive} against {want}"
            );
        }
        assert_eq!(ema_decay(decay, 889), 890.0 / 899.0);
        assert_eq!(ema_decay(decay, 891), decay);
    }

    #[test]
    fn safetensors_round_trip_and_errors() {
        let weights = Weights::from([
            (
                "x.weight".to_string(),
                w(&[1.0, -2.5, 3.25, 0.0, 5.0, 6.0], &[2, 3]),
            ),
            ("x.bias".to_string(), w(&[0.5], &[1])),
        ]);
        let mut meta = std::collections::HashMap::new();
        meta.insert("k".to_string(), "v".to_string());
        let bytes = to_safetensors_with(&weights, Some(meta)).unwrap();
        let (back, m) = from_safetensors_with(&bytes).unwrap();
        assert_eq!(back, weights);
        assert_eq!(m["k"], "v");
        assert!(from_safetensors(&bytes[..bytes.len() - 3]).is_err());
        let bad = Weights::from([("n".to_string(), w(&[f32::NAN], &[1]))]);
        let err = from_safetensors(&to_safetensors(&bad).unwrap()).unwrap_err();
        assert_eq!(err, WeightsError::NonFinite("n".into()));
        assert_eq!(err.to_string(), "tensor n holds non-finite values");
    }
}
