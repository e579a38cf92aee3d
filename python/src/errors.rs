//! Rust errors as Python exceptions: bad input is a `ValueError`, files an `OSError`,
//! numerical trouble a `FloatingPointError` or `RuntimeError`, an interrupted fit a
//! `KeyboardInterrupt`, work too large for the memory a `MemoryError`.

use genot::GenotError;
use genot_ot::error::OtError;
use pyo3::exceptions::{
    PyFloatingPointError, PyKeyboardInterrupt, PyMemoryError, PyOSError, PyRuntimeError,
    PyValueError,
};
use pyo3::PyErr;

/// The message of `e` for Python: the settings it names in backquotes (`` `tau_a` ``, the
/// CLI's flags) as the keyword arguments they are (`tau_a`).
pub fn genot_err(e: GenotError) -> PyErr {
    let msg = e.to_string().replace('`', "");
    match e {
        e if e.is_bad_input() => PyValueError::new_err(msg),
        GenotError::TooLarge(_) => PyMemoryError::new_err(msg),
        GenotError::File { .. } => PyOSError::new_err(msg),
        GenotError::NonFiniteLoss { .. } => PyFloatingPointError::new_err(msg),
        GenotError::Stopped(_) => PyKeyboardInterrupt::new_err(msg),
        // Matching, Ode: failures while running.
        _ => PyRuntimeError::new_err(msg),
    }
}

pub fn ot_err(e: OtError) -> PyErr {
    genot_err(GenotError::Ot(e))
}

/// A `ValueError` with the message `msg` (a text or a typed error).
pub fn value_err(msg: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(msg.to_string())
}
