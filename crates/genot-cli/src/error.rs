//! Errors of the command-line tool and their exit codes.

use thiserror::Error;

/// What went wrong, split by who has to act.
#[derive(Debug, Error)]
pub enum CliError {
    /// The user's input is invalid: exit code 2, nothing written.
    #[error("{0}")]
    Input(String),
    /// The computation or writing the output failed: exit code 1.
    #[error("{0}")]
    Run(String),
    /// The `--device` asked for is not in this build, or not on this machine (no driver, no
    /// GPU, or it failed its first operation): exit code 3, nothing written.
    #[error("{0}")]
    Device(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Input(_) => 2,
            CliError::Run(_) => 1,
            CliError::Device(_) => 3,
        }
    }
}

impl From<genot_ot::error::OtError> for CliError {
    fn from(e: genot_ot::error::OtError) -> Self {
        use genot_ot::error::OtError::*;
        match e {
            Numerical(_) => CliError::Run(e.to_string()),
            _ => CliError::Input(e.to_string()),
        }
    }
}

/// The message of a refused estimate with the settings named as the CLI's flags
/// (`k_samples` as `--k-samples`).
pub fn too_large(t: &genot::resources::TooLarge) -> String {
    let names = t.dominant.settings.join(" or ");
    let flags: Vec<String> = t
        .dominant
        .settings
        .iter()
        .map(|s| format!("--{}", s.replace('_', "-")))
        .collect();
    t.to_string().replace(
        &format!("lower {names}"),
        &format!("lower {}", flags.join(" or ")),
    )
}
