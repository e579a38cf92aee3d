//! Errors of the learning crate. Messages name the offending input or setting.

use crate::ode::{OdeError, SolverError};
use genot_ot::error::{OtError, ParseError};
use thiserror::Error;

/// Errors of genot. A message names a setting in backquotes (`` `lr` ``), as the settings
/// schema ([`crate::FitSettings`]) and Python spell it; the CLI shows it as its flag
/// (`--lr`).
#[derive(Debug, Error)]
pub enum GenotError {
    /// A setting or an input array is unusable.
    #[error("{0}")]
    Invalid(String),
    /// A setting that names a choice (a cost, a cost scaling) does not parse.
    #[error(transparent)]
    Choice(#[from] ParseError),
    /// The transport's solver settings (`solver`, `steps`, `rtol`, `atol`) are unusable.
    #[error(transparent)]
    Solver(#[from] SolverError),
    /// Weights that do not fit the network they are loaded into.
    #[error(transparent)]
    Weights(#[from] crate::params::WeightsError),
    /// The discrete OT solve of a batch failed.
    #[error("batch matching failed at iteration {iteration}: {source}")]
    Matching {
        iteration: usize,
        #[source]
        source: OtError,
    },
    /// Discrete OT outside training (input checks, metrics).
    #[error(transparent)]
    Ot(#[from] OtError),
    /// The training loss became NaN or infinite; the weights are those of the last good step.
    #[error("the training loss became {loss} at iteration {iteration}; the weights were not updated. Lower the learning rate (`lr`), clip gradients (`grad_clip`), or check the inputs' scale")]
    NonFiniteLoss { iteration: usize, loss: f64 },
    /// Integrating the learned field failed.
    #[error(transparent)]
    Ode(#[from] OdeError),
    /// Reading or writing a model directory or checkpoint.
    #[error("{path}: {message}")]
    File { path: String, message: String },
    /// The work would need more memory than the limit allows (nothing was allocated).
    #[error(transparent)]
    TooLarge(Box<crate::resources::TooLarge>),
    /// A checkpoint cannot be resumed with these data or settings.
    #[error("{0}")]
    Resume(String),
    /// Training was stopped by the caller (for example Ctrl-C); a checkpoint was written.
    #[error("training stopped at iteration {0}")]
    Stopped(usize),
}

pub type Result<T> = std::result::Result<T, GenotError>;

impl From<Box<crate::resources::TooLarge>> for GenotError {
    fn from(t: Box<crate::resources::TooLarge>) -> Self {
        GenotError::TooLarge(t)
    }
}

impl GenotError {
    /// Whether the caller's input or settings are at fault (a bad value, choice, weights
    /// file or resume), as opposed to a failure while running. The CLI exits with its input
    /// code for these, Python raises `ValueError`.
    pub fn is_bad_input(&self) -> bool {
        use GenotError::*;
        match self {
            Invalid(_) | Choice(_) | Solver(_) | Weights(_) | Ot(_) | Resume(_) => true,
            Matching { .. }
            | NonFiniteLoss { .. }
            | Ode(_)
            | File { .. }
            | TooLarge(_)
            | Stopped(_) => false,
        }
    }

    pub(crate) fn file(path: &std::path::Path, message: impl std::fmt::Display) -> Self {
        GenotError::File {
            path: path.display().to_string(),
            message: message.to_string(),
        }
    }
}
