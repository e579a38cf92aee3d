//! `genot._genot`: the compiled half of the Python package `genot`. The Python modules
//! (`genot/__init__.py`, `genot/ot.py`, `genot/metrics.py`) check and convert their
//! arguments and call these functions; the GIL is released during the numerical work.

use pyo3::prelude::*;

mod errors;
mod metrics;
mod model;
mod ot;

#[pymodule]
fn _genot(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<model::Model>()?;
    m.add_function(wrap_pyfunction!(model::fit, m)?)?;
    m.add_function(wrap_pyfunction!(model::default_settings, m)?)?;
    m.add_function(wrap_pyfunction!(model::validate_settings, m)?)?;
    m.add_function(wrap_pyfunction!(model::setting_choices, m)?)?;
    m.add_function(wrap_pyfunction!(model::default_transport_settings, m)?)?;
    m.add_function(wrap_pyfunction!(ot::costs, m)?)?;
    m.add_function(wrap_pyfunction!(ot::sinkhorn, m)?)?;
    m.add_function(wrap_pyfunction!(ot::gromov_wasserstein, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::sinkhorn_divergence, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::energy_distance, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::mmd, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::foscttm, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::label_transfer_accuracy, m)?)?;
    Ok(())
}
