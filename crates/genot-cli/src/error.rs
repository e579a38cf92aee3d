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

/// The settings, beyond those of `genot fit` and `genot transport`, that library messages
/// name in backquotes and this tool has as flags: `out` (an output's key), `max_memory`
/// (the memory guard's limit).
const OTHER_SETTINGS: [&str; 2] = ["out", "max_memory"];

/// A library message with its settings, named in backquotes (`` `kind` ``, `` `grad_clip` ``),
/// shown as this tool's flags (`--kind`, `--grad-clip`). Only the names of settings
/// (of `genot fit` and `genot transport`, and [`OTHER_SETTINGS`]) are flags; other quoted
/// words (a variant in a serde message, `` `cubic` ``) stay as they are.
///
/// ```
/// use genot_cli::error::as_flags;
/// assert_eq!(as_flags("use `kind` quadratic; lower `k_samples`"), "use --kind quadratic; lower --k-samples");
/// assert_eq!(as_flags("unknown variant `cubic`, `out` and `lr"), "unknown variant `cubic`, --out and `lr");
/// assert_eq!(as_flags("raise the limit with `max_memory`"), "raise the limit with --max-memory");
/// ```
pub fn as_flags(message: &str) -> String {
    let settings = |s: serde_json::Value| match s {
        serde_json::Value::Object(m) => m.into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
        _ => vec![],
    };
    let mut names = settings(serde_json::json!(genot::FitSettings::default()));
    names.extend(settings(serde_json::json!(
        genot::settings::TransportSettings::default()
    )));
    names.extend(OTHER_SETTINGS.map(String::from));
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find('`') {
        let Some(len) = rest[open + 1..].find('`') else {
            break;
        };
        let name = &rest[open + 1..open + 1 + len];
        out.push_str(&rest[..open]);
        if names.iter().any(|n| n == name) {
            out.push_str("--");
            out.push_str(&name.replace('_', "-"));
        } else {
            out.push_str(&rest[open..open + len + 2]);
        }
        rest = &rest[open + len + 2..];
    }
    out.push_str(rest);
    out
}

/// The message of a refused estimate with the settings named as the CLI's flags
/// (`k_samples` as `--k-samples`, `max_memory` as `--max-memory`).
pub fn too_large(t: &genot::resources::TooLarge) -> String {
    as_flags(&t.to_string())
}
