//! Training and transport: `fit` and the `Model` class behind `genot.GENOT`.

use crate::errors::{genot_err, value_err};
use burn::tensor::Device;
use genot::settings::{choices_of, TransportSettings};
use genot::train::{fit as train, load_history, save_fitted, FitOptions, Progress, TrainReport};
use genot::{FitSettings, Genot, TrainingData, TransportOptions};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3, PyReadonlyArray2};
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often training hands control back to Python: to report progress and to notice
/// Ctrl-C.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// A fitted (or loaded) GENOT model on the CPU.
#[pyclass(module = "genot._genot", frozen)]
pub struct Model {
    inner: Genot,
    report: Option<TrainReport>,
    /// The first warning of the run that trained it (a batch coupling that stopped at its
    /// iteration limit), for `warnings.warn`.
    warning: Option<String>,
}

/// The default settings of a run, as JSON (the keys `fit` accepts).
#[pyfunction]
pub fn default_settings() -> String {
    serde_json::to_string(&FitSettings::default()).expect("settings serialise")
}

/// The names each choice setting takes (`{"kind": ["linear", ...], ...}`, and the
/// transport settings' `{"solver": [...]}`), as JSON.
#[pyfunction]
pub fn setting_choices() -> String {
    let mut all = FitSettings::choices();
    all.extend(choices_of::<TransportSettings>());
    serde_json::to_string(&all).expect("choices serialise")
}

/// The default transport settings (the keywords of `transport`), as JSON.
#[pyfunction]
pub fn default_transport_settings() -> String {
    serde_json::to_string(&TransportSettings::default()).expect("settings serialise")
}

/// Checks a JSON object of [`FitSettings`] keys without data, as `genot fit` checks its
/// flags (same rules, same messages): a `ValueError` names the first bad setting.
#[pyfunction]
pub fn validate_settings(settings: &str) -> PyResult<()> {
    let s: FitSettings = serde_json::from_str(settings).map_err(|e| value_err(e.to_string()))?;
    s.validate().map_err(genot_err)
}

fn pair<T>(what: &str, a: Option<T>, b: Option<T>) -> PyResult<Option<(T, T)>> {
    match (a, b) {
        (Some(a), Some(b)) => Ok(Some((a, b))),
        (None, None) => Ok(None),
        _ => Err(value_err(format!(
            "source_{what} and target_{what} must be given together"
        ))),
    }
}

/// Trains a model. `settings` is a JSON object of [`FitSettings`] keys; `progress`, when
/// given, is called as `progress(iteration, iterations, loss)` about ten times a second.
/// The GIL is released while training; Ctrl-C (or an exception in `progress`) stops it.
#[pyfunction]
#[pyo3(signature = (source, target, settings, *, source_shared=None, target_shared=None,
    source_conditions=None, target_conditions=None, progress=None, checkpoint_dir=None,
    resume=false))]
#[allow(clippy::too_many_arguments)]
pub fn fit(
    py: Python<'_>,
    source: PyReadonlyArray2<'_, f32>,
    target: PyReadonlyArray2<'_, f32>,
    settings: &str,
    source_shared: Option<PyReadonlyArray2<'_, f32>>,
    target_shared: Option<PyReadonlyArray2<'_, f32>>,
    source_conditions: Option<Vec<String>>,
    target_conditions: Option<Vec<String>>,
    progress: Option<Py<PyAny>>,
    checkpoint_dir: Option<PathBuf>,
    resume: bool,
) -> PyResult<Model> {
    let settings: FitSettings =
        serde_json::from_str(settings).map_err(|e| value_err(format!("invalid settings: {e}")))?;
    settings.validate().map_err(genot_err)?;
    let mut data = TrainingData::new(source.as_array().to_owned(), target.as_array().to_owned());
    if let Some((s, t)) = pair("shared", source_shared, target_shared)? {
        data = data
            .with_shared(s.as_array().to_owned(), t.as_array().to_owned())
            .map_err(genot_err)?;
    }
    if let Some((s, t)) = pair("conditions", source_conditions, target_conditions)? {
        data = data.with_conditions(s, t);
    }
    let config = settings.config(&data).map_err(genot_err)?;
    let engine = settings.engine;
    if resume && checkpoint_dir.is_none() {
        return Err(value_err("resume=True needs checkpoint_dir"));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut pending: Option<PyErr> = None;
    let mut warning = None;
    let result = py.detach(|| {
        let mut last = Instant::now();
        let mut hook = |p: &Progress| {
            if !p.batch_solve.converged && warning.is_none() {
                warning = Some(p.unconverged_warning());
            }
            if pending.is_some()
                || (p.iteration < p.iterations && last.elapsed() < PROGRESS_INTERVAL)
            {
                return;
            }
            last = Instant::now();
            let outcome = Python::attach(|py| {
                py.check_signals()?;
                match &progress {
                    Some(f) => f.call1(py, (p.iteration, p.iterations, p.loss)).map(|_| ()),
                    None => Ok(()),
                }
            });
            if let Err(e) = outcome {
                pending = Some(e);
                stop.store(true, Ordering::SeqCst);
            }
        };
        train(
            &data,
            config,
            &Device::flex(),
            FitOptions {
                checkpoint_dir,
                resume,
                progress: Some(&mut hook),
                stop: Some(stop.clone()),
                engine,
            },
        )
    });
    if let Some(e) = pending {
        return Err(e);
    }
    let (fitted, report) = result.map_err(genot_err)?;
    // `fit` returns the networks on its autodiff device; transport runs on a plain copy.
    let inner = Genot::from_config(
        fitted.config.clone(),
        Some(&fitted.weights()),
        &Device::flex(),
    )
    .map_err(genot_err)?;
    Ok(Model {
        inner,
        report: Some(report),
        warning,
    })
}

/// What `Model.transport` returns.
type Transported<'py> = (
    Bound<'py, PyArray3<f32>>,
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray1<f32>>,
    Option<Bound<'py, PyArray1<f32>>>,
    usize,
);

#[pymethods]
impl Model {
    /// Reads a model directory written by `save` or by `genot fit`.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Model> {
        if !path.is_dir() {
            return Err(pyo3::exceptions::PyFileNotFoundError::new_err(format!(
                "model directory '{}' does not exist",
                path.display()
            )));
        }
        let inner = py
            .detach(|| Genot::load(&path, &Device::flex()))
            .map_err(genot_err)?;
        Ok(Model {
            inner,
            report: load_history(&path).map_err(|e| value_err(e.to_string()))?,
            warning: None,
        })
    }

    /// Writes `config.json`, `model.safetensors` (and `history.json` after a fit) into
    /// `path`, each atomically.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| match &self.report {
            Some(r) => save_fitted(&path, &self.inner, r),
            None => self.inner.save(&path),
        })
        .map_err(genot_err)
    }

    /// Samples `(samples n x K x q, mean n x q, uncertainty n, eta(x) n or None,
    /// velocity evaluations)`.
    /// `settings` is a JSON object of [`TransportSettings`] keys (missing ones default).
    #[pyo3(signature = (x, settings, *, shared=None, conditions=None, uncertainty=false))]
    fn transport<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f32>,
        settings: &str,
        shared: Option<PyReadonlyArray2<'py, f32>>,
        conditions: Option<Vec<String>>,
        uncertainty: bool,
    ) -> PyResult<Transported<'py>> {
        let settings: TransportSettings =
            serde_json::from_str(settings).map_err(|e| value_err(e.to_string()))?;
        let options = settings.options().map_err(genot_err)?;
        let x = self
            .inner
            .source_input(
                x.as_array().to_owned(),
                shared.map(|s| s.as_array().to_owned()),
            )
            .map_err(genot_err)?;
        let opts = TransportOptions {
            uncertainty,
            ..options
        };
        let out = py
            .detach(|| self.inner.transport(x.view(), conditions.as_deref(), &opts))
            .map_err(genot_err)?;
        Ok((
            out.samples.into_pyarray(py),
            out.mean.into_pyarray(py),
            out.uncertainty.into_pyarray(py),
            out.weights.map(|w| w.into_pyarray(py)),
            out.evaluations,
        ))
    }

    /// The model configuration (`config.json`) as a JSON string.
    #[getter]
    fn config(&self) -> String {
        serde_json::to_string_pretty(&self.inner.config).expect("config serialises")
    }

    /// The settings that trained this model (the keys of `default_settings`), as JSON.
    #[getter]
    fn settings(&self) -> PyResult<String> {
        let settings = FitSettings::from_config(&self.inner.config).map_err(genot_err)?;
        Ok(serde_json::to_string(&settings).expect("settings serialise"))
    }

    /// The flow-matching loss of every training iteration (None when unknown).
    #[getter]
    fn losses(&self) -> Option<Vec<f32>> {
        self.report.as_ref().map(|r| r.losses.clone())
    }

    /// Seconds the last fit took (None when unknown).
    /// Iterations (1-based) whose batch coupling stopped at its iteration limit.
    #[getter]
    fn unconverged_batches(&self) -> Option<Vec<usize>> {
        self.report.as_ref().map(|r| r.unconverged_batches.clone())
    }

    /// The warning of the run that trained this model, if it had one.
    #[getter]
    fn fit_warning(&self) -> Option<String> {
        self.warning.clone()
    }

    #[getter]
    fn fit_seconds(&self) -> Option<f64> {
        self.report.as_ref().map(|r| r.seconds)
    }

    /// Trainable parameters of the velocity field.
    #[getter]
    fn n_parameters(&self) -> usize {
        use burn::module::Module;
        self.inner.velocity.num_params()
    }
}
