//! Errors of the discrete OT engine. Every message names the offending input.

use thiserror::Error;

/// Everything that can go wrong when building or solving a discrete OT problem.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum OtError {
    /// An input array has no rows or no columns.
    #[error("{what} is empty (shape {rows} x {cols})")]
    Empty {
        what: &'static str,
        rows: usize,
        cols: usize,
    },
    /// Two inputs disagree on a dimension.
    #[error("dimension mismatch: {what}")]
    DimensionMismatch { what: String },
    /// An input holds NaN or infinity.
    #[error("{what} has a non-finite value at row {row}, column {col}")]
    NonFinite {
        what: &'static str,
        row: usize,
        col: usize,
    },
    /// A parameter is outside its valid range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// The cost matrix became non-finite (for example a user cost returned NaN).
    #[error("the cost matrix has a non-finite entry at ({row}, {col}): {value}")]
    NonFiniteCost { row: usize, col: usize, value: f64 },
    /// The solver hit a numerical failure it could not recover from.
    #[error("numerical failure: {0}")]
    Numerical(String),
    /// The requested combination of options is not supported.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// Result alias for the crate.
pub type Result<T> = std::result::Result<T, OtError>;
