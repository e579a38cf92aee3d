//! Shared by the CLI integration tests.

use ndarray::Array2;
use std::path::Path;
use std::process::{Command, Output};

/// A deterministic `n x d` cloud in [-1, 1), moved by `shift` along the first axis.
#[allow(dead_code)] // not every test file uses it
pub fn cloud(n: usize, d: usize, shift: f32) -> Array2<f32> {
    Array2::from_shape_fn((n, d), |(i, j)| {
        (((i * 7 + j * 13) % 17) as f32 / 17.0 - 0.5) * 2.0 + if j == 0 { shift } else { 0.0 }
    })
}

/// A path as a command-line argument.
#[allow(dead_code)]
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs the `genot` binary built for these tests.
#[allow(dead_code)] // not every test file uses it
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
