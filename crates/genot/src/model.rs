//! The fitted model: a configuration plus the velocity field (and, for U-GENOT, the eta and
//! xi networks), its inputs, save and load. Transport is in [`crate::transport`].
//!
//! A model directory holds `config.json` ([`GenotConfig`], human-readable, with a format
//! version) and `model.safetensors` (f32 weights named `velocity.*`, `eta.*`, `xi.*`). Both
//! are written atomically (temporary file, then rename).

use crate::config::{GenotConfig, FORMAT_VERSION};
use crate::data::check_points;
use crate::engine::Engine;
use crate::error::{GenotError, Result};
use crate::native::NativeField;
use crate::params::{self, Weights};
use crate::rescaling::Rescaling;
use crate::velocity::VelocityField;
use burn::tensor::{Device, Tensor, TensorData};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use std::path::Path;

pub(crate) use crate::tensor::one_hot_append;
pub use crate::tensor::{to_array, to_tensor};
pub use crate::transport::{TransportOptions, Transported};

/// The weights file of a model directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The configuration file of a model directory.
pub const CONFIG_FILE: &str = "config.json";

/// A GENOT model ready to transport points.
#[derive(Debug)]
pub struct Genot {
    pub config: GenotConfig,
    pub velocity: VelocityField,
    /// U-GENOT: the source re-weighting `eta(x)`.
    pub eta: Option<Rescaling>,
    /// U-GENOT: the target re-weighting `xi(y)`.
    pub xi: Option<Rescaling>,
    pub device: Device,
    /// The native CPU engine's copy of the velocity field, used for transport on the Flex
    /// device (the same function as `velocity`, several times faster there).
    pub(crate) native: Option<NativeField>,
}

/// U-GENOT's eta and xi: each one's input features (the source or target dimension plus
/// the one-hot condition), hidden width and number of layers; `None` without them.
pub(crate) fn rescaling_shapes(config: &GenotConfig) -> Option<[(usize, usize, usize); 2]> {
    let r = config.rescaling?;
    let n_cond = config.conditions.len();
    Some([
        (config.source_dim + n_cond, r.hidden, r.layers),
        (config.target_dim + n_cond, r.hidden, r.layers),
    ])
}

impl Genot {
    /// Builds the networks of `config` with weights from `weights` (or freshly initialised
    /// from the training seed when `None`) on `device`.
    pub fn from_config(
        config: GenotConfig,
        weights: Option<&Weights>,
        device: &Device,
    ) -> Result<Self> {
        if config.format_version != FORMAT_VERSION {
            return Err(GenotError::Invalid(format!(
                "model format version {} is not supported (this build reads version {FORMAT_VERSION})",
                config.format_version
            )));
        }
        config.velocity.validate()?;
        let seed = config.training.seed;
        let mut velocity = params::init_uniform(config.velocity.init(device), seed);
        let mut eta = None;
        let mut xi = None;
        if let Some([(ei, h, l), (xin, _, _)]) = rescaling_shapes(&config) {
            eta = Some(params::init_uniform(
                Rescaling::new(ei, h, l, device),
                seed ^ 0xE7A,
            ));
            xi = Some(params::init_uniform(
                Rescaling::new(xin, h, l, device),
                seed ^ 0x5C1,
            ));
        }
        if let Some(w) = weights {
            let bad = |e: crate::params::WeightsError| {
                GenotError::Invalid(format!("the weights do not fit the configuration: {e}"))
            };
            velocity = params::import(velocity, &params::under("velocity", w)).map_err(bad)?;
            if let Some(e) = eta {
                eta = Some(params::import(e, &params::under("eta", w)).map_err(bad)?);
            }
            if let Some(x) = xi {
                xi = Some(params::import(x, &params::under("xi", w)).map_err(bad)?);
            }
        }
        // Training builds its networks on an autodiff device and has its own engine.
        let native = if !device.is_autodiff() && Engine::Native.is_native(device) {
            let mut n = NativeField::from_weights(config.velocity, &params::export(&velocity))?;
            n.threads = rayon::current_num_threads();
            Some(n)
        } else {
            None
        };
        Ok(Genot {
            config,
            velocity,
            eta,
            xi,
            device: device.clone(),
            native,
        })
    }

    /// All weights, named `velocity.*`, `eta.*`, `xi.*`.
    pub fn weights(&self) -> Weights {
        let mut w = params::prefixed("velocity", params::export(&self.velocity));
        if let Some(e) = &self.eta {
            w.extend(params::prefixed("eta", params::export(e)));
        }
        if let Some(x) = &self.xi {
            w.extend(params::prefixed("xi", params::export(x)));
        }
        w
    }

    /// Index of each label in the model's condition list; the message names unknown labels.
    pub fn condition_indices(
        &self,
        labels: Option<&[String]>,
        n: usize,
    ) -> Result<Vec<Option<usize>>> {
        let known = &self.config.conditions;
        match labels {
            None if known.is_empty() => Ok(vec![None; n]),
            None => Err(GenotError::Invalid(format!(
                "this model is conditional: give one condition per point (known: {})",
                known.join(", ")
            ))),
            Some(_) if known.is_empty() => Err(GenotError::Invalid(
                "this model was trained without conditions".into(),
            )),
            Some(l) if l.len() != n => Err(GenotError::Invalid(format!(
                "{} condition labels for {n} points",
                l.len()
            ))),
            Some(l) => l
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    known.iter().position(|k| k == c).map(Some).ok_or_else(|| {
                        GenotError::Invalid(format!(
                            "condition {c:?} of point {i} was not seen in training (known: {})",
                            known.join(", ")
                        ))
                    })
                })
                .collect(),
        }
    }

    /// The condition-branch input: normalised features then a one-hot condition.
    pub fn condition_input(
        &self,
        x_norm: ArrayView2<f32>,
        conditions: &[Option<usize>],
    ) -> Array2<f32> {
        one_hot_append(x_norm, conditions, self.config.conditions.len())
    }

    /// `eta(x)` for source points in source units (U-GENOT only).
    pub fn source_weights(
        &self,
        x: ArrayView2<f32>,
        conditions: Option<&[String]>,
    ) -> Result<Option<Array1<f32>>> {
        let Some(eta) = &self.eta else {
            return Ok(None);
        };
        self.check_source(x)?;
        let c = self.condition_indices(conditions, x.nrows())?;
        let input = self.condition_input(self.config.normalization.normalize_source(x).view(), &c);
        let w = to_array(eta.forward(to_tensor(input.view(), &self.device)));
        Ok(Some(w.column(0).to_owned()))
    }

    /// The source input of a fused model: its shared features `shared` (n x shared dim)
    /// before the other features `x`; other models take `x` as it is and no `shared`.
    pub fn source_input(&self, x: Array2<f32>, shared: Option<Array2<f32>>) -> Result<Array2<f32>> {
        match (shared, self.config.source_shared_dim) {
            (Some(s), d) if d > 0 => {
                if s.nrows() != x.nrows() {
                    return Err(GenotError::Invalid(format!(
                        "the source's shared features have {} rows but the source has {}",
                        s.nrows(),
                        x.nrows()
                    )));
                }
                Ok(ndarray::concatenate![Axis(1), s, x])
            }
            (None, 0) => Ok(x),
            (Some(_), _) => Err(GenotError::Invalid(
                "shared source features are for fused models; this model has none".into(),
            )),
            (None, d) => Err(GenotError::Invalid(format!(
                "this fused model needs the source's shared features ({d} columns)"
            ))),
        }
    }

    pub(crate) fn check_source(&self, x: ArrayView2<f32>) -> Result<()> {
        check_points("the source", x)?;
        if x.ncols() != self.config.source_dim {
            return Err(GenotError::Invalid(format!(
                "the source has {} features but the model was trained on {}",
                x.ncols(),
                self.config.source_dim
            )));
        }
        Ok(())
    }

    /// Velocity of normalised states `xt` at times `t` (one per row) given condition inputs.
    pub fn velocity_rows(&self, t: &[f64], xt: &Array2<f32>, cond: ArrayView2<f32>) -> Array2<f32> {
        let n = xt.nrows();
        let times: Vec<f32> = t.iter().map(|&v| v as f32).collect();
        if let Some(native) = &self.native {
            return native.forward(&times, xt.view(), cond);
        }
        let t = Tensor::<2>::from_data(TensorData::new(times, [n, 1]), &self.device);
        to_array(self.velocity.forward(
            t,
            to_tensor(xt.view(), &self.device),
            to_tensor(cond, &self.device),
        ))
    }

    /// Writes `config.json` and `model.safetensors` into `dir` (created if needed).
    pub fn save(&self, dir: &Path) -> Result<()> {
        save_model(dir, &self.config, &self.weights())
    }

    /// Reads a model directory written by [`Genot::save`] (or by the CLI or Python).
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        crate::model_dir::verify(dir)?;
        let cpath = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&cpath).map_err(|e| {
            GenotError::file(&cpath, format!("cannot read the model configuration: {e}"))
        })?;
        let config: GenotConfig = serde_json::from_str::<GenotConfig>(&text)
            .map_err(|e| GenotError::file(&cpath, format!("not a valid model configuration: {e}")))?
            .settled();
        let wpath = dir.join(WEIGHTS_FILE);
        let weights = params::read_safetensors(&wpath).map_err(|e| GenotError::file(&wpath, e))?;
        // The network is built from config.json: check its size against the weights first,
        // so that a damaged or foreign config cannot make us allocate a huge network.
        let velocity = config.velocity.num_params_estimate();
        let stored: u128 = weights
            .iter()
            .filter(|(k, _)| k.starts_with("velocity."))
            .map(|(_, a)| a.values.len() as u128)
            .sum();
        if velocity != stored {
            return Err(GenotError::file(
                dir,
                format!("{CONFIG_FILE} describes a velocity field of {velocity} parameters but {WEIGHTS_FILE} holds {stored}: the two files do not belong together"),
            ));
        }
        Self::from_config(config, Some(&weights), device).map_err(|e| GenotError::file(dir, e))
    }
}

/// Writes `config.json`, `model.safetensors` and, when given, the training history into
/// the folder `dir` (each file atomically; the folder as a whole is made atomic by
/// [`crate::model_dir::Staging`]).
pub fn write_model_files(
    dir: &Path,
    config: &GenotConfig,
    weights: &Weights,
    history: Option<&crate::train::TrainReport>,
) -> Result<()> {
    let bytes = params::to_safetensors(weights).map_err(|e| GenotError::file(dir, e))?;
    write_atomic(&dir.join(WEIGHTS_FILE), &bytes)?;
    crate::model_dir::crash_point("model-files");
    let json = serde_json::to_string_pretty(config).expect("config serialises");
    write_atomic(&dir.join(CONFIG_FILE), json.as_bytes())?;
    if let Some(report) = history {
        write_atomic(
            &dir.join(crate::train::HISTORY_FILE),
            serde_json::to_string(report)
                .expect("serialises")
                .as_bytes(),
        )?;
    }
    Ok(())
}

/// Writes a model directory as one unit: a complete new directory swapped in for the
/// old one ([`crate::model_dir`]), with a manifest that [`Genot::load`] checks.
pub fn save_model(dir: &Path, config: &GenotConfig, weights: &Weights) -> Result<()> {
    let staging = crate::model_dir::Staging::begin(dir, false)?;
    write_model_files(staging.path(), config, weights, None)?;
    staging.commit()
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let err = |e: std::io::Error| GenotError::file(path, format!("cannot write: {e}"));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    // Temporary files are created private (0600); outputs get the usual 0644.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(err)?;
    }
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}
