//! The fitted model: a configuration plus the velocity field (and, for U-GENOT, the eta and
//! xi networks); transport of new points; save and load.
//!
//! A model directory holds `config.json` ([`GenotConfig`], human-readable, with a format
//! version) and `model.safetensors` (f32 weights named `velocity.*`, `eta.*`, `xi.*`). Both
//! are written atomically (temporary file, then rename).

use crate::config::{GenotConfig, FORMAT_VERSION};
use crate::data::check_points;
use crate::error::{GenotError, Result};
use crate::native::NativeField;
use crate::ode::{adaptive_rows, integrate, Solver};
use crate::params::{self, Weights};
use crate::rescaling::Rescaling;
use crate::velocity::VelocityField;
use burn::tensor::{Device, Tensor, TensorData};
use ndarray::{s, Array1, Array2, Array3, ArrayView2, Axis};
use rand::SeedableRng;
use std::path::Path;

/// The weights file of a model directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The configuration file of a model directory.
pub const CONFIG_FILE: &str = "config.json";

/// Host array to a tensor on `device`.
pub fn to_tensor(a: ArrayView2<f32>, device: &Device) -> Tensor<2> {
    let (n, d) = a.dim();
    let v: Vec<f32> = a.iter().copied().collect();
    Tensor::from_data(TensorData::new(v, [n, d]), device)
}

/// Tensor to a host array.
pub fn to_array(t: Tensor<2>) -> Array2<f32> {
    let [n, d] = t.dims();
    let v = t
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 data");
    Array2::from_shape_vec((n, d), v).expect("shape matches")
}

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
    native: Option<NativeField>,
}

/// How [`Genot::transport`] samples.
#[derive(Debug, Clone, Copy)]
pub struct TransportOptions {
    /// Samples per source point (`K`).
    pub samples: usize,
    pub solver: Solver,
    pub seed: u64,
    /// Rows (points x samples) integrated together.
    pub chunk: usize,
    /// The caller will use [`Transported::uncertainty`], which needs `samples >= 2` (with
    /// one sample it is zero by construction): refused otherwise.
    pub uncertainty: bool,
}

impl TransportOptions {
    /// The default rows integrated together.
    pub const CHUNK: usize = 8192;
}

impl Default for TransportOptions {
    /// The options of [`TransportSettings::default`](crate::settings::TransportSettings):
    /// one sample, Dopri5 at rtol 1e-3 / atol 1e-6 (SPEC section 3), seed 0.
    fn default() -> Self {
        crate::settings::TransportSettings::default()
            .options()
            .expect("the default transport settings are valid")
    }
}

/// What [`Genot::transport`] returns, in target units.
#[derive(Debug, Clone)]
pub struct Transported {
    /// `n x K x q`: `K` samples of `y | x` per source point.
    pub samples: Array3<f32>,
    /// `n x q`: the mean of the samples (the conditional mean when `K` is large).
    pub mean: Array2<f32>,
    /// `n`: spread of the samples. Same-space models: the variance, over the samples, of the
    /// cosine similarity between each displacement `y_k - x` and the mean displacement;
    /// otherwise the mean per-feature variance of the samples. 0 with one sample.
    pub uncertainty: Array1<f32>,
    /// U-GENOT: `eta(x)`, the mass each source point keeps (1 = unchanged).
    pub weights: Option<Array1<f32>>,
    /// Velocity evaluations per chunk, summed.
    pub evaluations: usize,
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
        config.velocity.validate().map_err(GenotError::Invalid)?;
        let seed = config.training.seed;
        let mut velocity = params::init_uniform(config.velocity.init(device), seed);
        let mut eta = None;
        let mut xi = None;
        if let Some(r) = config.rescaling {
            let n_cond = config.conditions.len();
            eta = Some(params::init_uniform(
                Rescaling::new(config.source_dim + n_cond, r.hidden, r.layers, device),
                seed ^ 0xE7A,
            ));
            xi = Some(params::init_uniform(
                Rescaling::new(config.target_dim + n_cond, r.hidden, r.layers, device),
                seed ^ 0x5C1,
            ));
        }
        if let Some(w) = weights {
            let bad = |e: String| {
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
        let native = if *device == Device::flex() && !device.is_autodiff() {
            let mut n = NativeField::from_weights(config.velocity, &params::export(&velocity))
                .map_err(GenotError::Invalid)?;
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

    fn check_source(&self, x: ArrayView2<f32>) -> Result<()> {
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
    pub fn velocity_rows(&self, t: &[f64], xt: &Array2<f32>, cond: &Array2<f32>) -> Array2<f32> {
        let n = xt.nrows();
        let times: Vec<f32> = t.iter().map(|&v| v as f32).collect();
        if let Some(native) = &self.native {
            return native.forward(&times, xt.view(), cond.view());
        }
        let t = Tensor::<2>::from_data(TensorData::new(times, [n, 1]), &self.device);
        to_array(self.velocity.forward(
            t,
            to_tensor(xt.view(), &self.device),
            to_tensor(cond.view(), &self.device),
        ))
    }

    /// Integrates from latent noise `z` to samples of `y | x` (normalised units), for
    /// prepared condition inputs. The adaptive solvers adapt one step size per row.
    pub fn integrate_normalized(
        &self,
        z: Array2<f32>,
        cond: &Array2<f32>,
        solver: Solver,
    ) -> Result<(Array2<f32>, usize)> {
        let (y, stats) = match (solver.adaptive(), &self.native) {
            (Some((tableau, rtol, atol)), Some(native)) => {
                // The condition's share is constant along each trajectory: compute it once.
                let part = native.condition_part(cond.view());
                adaptive_rows(
                    tableau,
                    |rows, t, x| {
                        let times: Vec<f32> = t.iter().map(|&v| v as f32).collect();
                        native.forward_with_condition(
                            &times,
                            x.view(),
                            part.select(Axis(0), rows).view(),
                        )
                    },
                    z,
                    0.0,
                    1.0,
                    rtol,
                    atol,
                )?
            }
            (Some((tableau, rtol, atol)), None) => adaptive_rows(
                tableau,
                |rows, t, x| self.velocity_rows(t, x, &cond.select(Axis(0), rows)),
                z,
                0.0,
                1.0,
                rtol,
                atol,
            )?,
            (None, _) => integrate(
                |t, x| self.velocity_rows(&vec![t; x.nrows()], x, cond),
                z,
                0.0,
                1.0,
                solver,
            )?,
        };
        Ok((y, stats.evaluations))
    }

    /// Samples `y ~ pi(. | x)` for every row of `x` (source units), with conditions when the
    /// model is conditional.
    pub fn transport(
        &self,
        x: ArrayView2<f32>,
        conditions: Option<&[String]>,
        opts: &TransportOptions,
    ) -> Result<Transported> {
        self.check_source(x)?;
        if opts.samples == 0 {
            return Err(GenotError::Invalid("samples must be at least 1".into()));
        }
        if opts.uncertainty && opts.samples < 2 {
            return Err(GenotError::Invalid(format!(
                "the per-point uncertainty compares samples of the same point, so it needs at least 2 samples per point, got {}",
                opts.samples
            )));
        }
        crate::resources::check(&crate::resources::transport_need(
            &self.config,
            x.nrows(),
            opts.samples,
            opts.chunk,
        ))?;
        let cidx = self.condition_indices(conditions, x.nrows())?;
        let norm = &self.config.normalization;
        let (n, k, q) = (x.nrows(), opts.samples, self.config.target_dim);
        let xn = norm.normalize_source(x);
        let cond_points = self.condition_input(xn.view(), &cidx);
        // Row r = point r / k, sample r % k.
        let rows: Vec<usize> = (0..n * k).map(|r| r / k).collect();
        let cond = cond_points.select(Axis(0), &rows);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
        let z: Array2<f32> = crate::flow::latents(n * k, q, &mut rng);
        let mut out = Array2::<f32>::zeros((n * k, q));
        let mut evaluations = 0;
        let chunk = opts.chunk.max(1);
        for start in (0..n * k).step_by(chunk) {
            let end = (start + chunk).min(n * k);
            let (y, ev) = self.integrate_normalized(
                z.slice(s![start..end, ..]).to_owned(),
                &cond.slice(s![start..end, ..]).to_owned(),
                opts.solver,
            )?;
            evaluations += ev;
            out.slice_mut(s![start..end, ..]).assign(&y);
        }
        let y = norm.denormalize_target(out.view());
        let samples = y.into_shape_with_order((n, k, q)).expect("n k q rows");
        let mean = samples.mean_axis(Axis(1)).expect("k >= 1");
        let same_space = self.config.source_dim == q;
        let uncertainty = Array1::from_iter((0..n).map(|i| {
            let si = samples.index_axis(Axis(0), i);
            if k < 2 {
                0.0
            } else if same_space {
                let xi = x.row(i);
                let md = &mean.row(i) - &xi;
                let cos: Vec<f64> = si
                    .outer_iter()
                    .map(|yk| {
                        let d = &yk - &xi;
                        let (dot, a, b) =
                            d.iter()
                                .zip(md.iter())
                                .fold((0.0, 0.0, 0.0), |(s, a, b), (&u, &v)| {
                                    (s + (u * v) as f64, a + (u * u) as f64, b + (v * v) as f64)
                                });
                        if a > 0.0 && b > 0.0 {
                            dot / (a.sqrt() * b.sqrt())
                        } else {
                            1.0
                        }
                    })
                    .collect();
                variance(&cos) as f32
            } else {
                let m = mean.row(i);
                let total: f64 = si
                    .outer_iter()
                    .map(|yk| {
                        yk.iter()
                            .zip(m.iter())
                            .map(|(&a, &b)| ((a - b) as f64).powi(2))
                            .sum::<f64>()
                    })
                    .sum();
                (total / ((k - 1) * q) as f64) as f32
            }
        }));
        let weights = self.source_weights(x, conditions)?;
        if let Some(r) = samples
            .outer_iter()
            .position(|s| s.iter().any(|v| !v.is_finite()))
        {
            return Err(GenotError::Invalid(format!(
                "the samples of point {r} are not finite"
            )));
        }
        Ok(Transported {
            samples,
            mean,
            uncertainty,
            weights,
            evaluations,
        })
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
        let config: GenotConfig = serde_json::from_str(&text).map_err(|e| {
            GenotError::file(&cpath, format!("not a valid model configuration: {e}"))
        })?;
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

/// `[x | one_hot(c)]`.
pub(crate) fn one_hot_append(
    x: ArrayView2<f32>,
    conditions: &[Option<usize>],
    n_labels: usize,
) -> Array2<f32> {
    if n_labels == 0 {
        return x.to_owned();
    }
    let d = x.ncols();
    let mut out = Array2::<f32>::zeros((x.nrows(), d + n_labels));
    out.slice_mut(s![.., ..d]).assign(&x);
    for (r, c) in conditions.iter().enumerate() {
        if let Some(c) = c {
            out[[r, d + c]] = 1.0;
        }
    }
    out
}

fn variance(v: &[f64]) -> f64 {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
}
