//! Shared by the CLI integration tests.

use std::process::{Command, Output};

/// Runs the `genot` binary built for these tests.
pub fn genot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_genot"))
        .args(args)
        .output()
        .expect("run genot")
}

/// The JSON report of a successful run (the test fails with its stderr otherwise).
#[allow(dead_code)] // not every test file uses it
pub fn ok_json(out: Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
