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

/// A choice given as text that does not parse: a cost name, a cost scaling, an epsilon
/// option, a solver mode. The message names the value and what was expected.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ParseError {
    /// Not the name of any cost ([`crate::choice::COSTS`] lists them).
    #[error(
        "unknown cost '{name}' (expected {}; P the exponent, K the number of neighbours)",
        crate::choice::cost_names()
    )]
    UnknownCost { name: String },
    /// `graph:K` with a `K` that is not a positive integer.
    #[error("cost '{name}': the number of neighbours must be a positive integer")]
    Neighbours { name: String },
    /// A known cost with a bad parameter (`pnorm:x`, `pnorm:0.5`); the text says which.
    #[error("{0}")]
    CostParameter(String),
    /// A cost scaling that is a number, but not a positive finite one.
    #[error("scale-cost must be a positive number, got {0}")]
    ScaleValue(f64),
    /// A cost scaling that is neither a name nor a number.
    #[error("unknown scale-cost '{0}' (expected mean, median, max, none or a positive number)")]
    UnknownScale(String),
    /// An epsilon that is not a positive finite number.
    #[error("epsilon must be > 0, got {0}")]
    Epsilon(f64),
    /// What a relative epsilon multiplies is neither `mean` nor `std`.
    #[error("relative epsilon is 'mean' or 'std', got '{0}'")]
    RelativeTo(String),
    /// Not a Sinkhorn mode.
    #[error("unknown mode '{0}' (expected auto, log, kernel or online)")]
    UnknownMode(String),
}

impl From<ParseError> for OtError {
    fn from(e: ParseError) -> Self {
        OtError::InvalidParameter(e.to_string())
    }
}

/// Result alias for the crate.
pub type Result<T> = std::result::Result<T, OtError>;
