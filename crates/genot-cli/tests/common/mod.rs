//! Shared by the CLI integration tests.

use std::process::{Command, Output};

/// Runs the `genot` binary built for these tests.
pub fn genot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_genot"))
        .args(args)
        .output()
        .expect("run genot")
}
