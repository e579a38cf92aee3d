//! Shared by the CLI integration tests.

use ndarray::Array2;
use std::path::{Path, PathBuf};
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

/// Taken shared by every start of a child process, exclusively while a test holds an HDF5
/// file open in its own process ([`without_children`]). The HDF5 library opens files
/// without close-on-exec, so a child started meanwhile by a test running beside it would
/// inherit the descriptor and, with it, the file's lock, for as long as that child runs:
/// the `genot` child that then opens the file fails to lock it ("unable to lock file",
/// seen under load).
static STARTS: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Starts `cmd` (stdin closed, stdout and stderr captured) and waits for its output; no
/// HDF5 file of this process is open while it starts ([`STARTS`]).
#[allow(dead_code)] // not every test file uses it
pub fn output(cmd: &mut Command) -> Output {
    use std::process::Stdio;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = spawn(cmd);
    child.wait_with_output().expect("wait for genot")
}

/// Starts `cmd` as it is configured; no HDF5 file of this process is open while it starts
/// ([`STARTS`]).
#[allow(dead_code)] // not every test file uses it
pub fn spawn(cmd: &mut Command) -> std::process::Child {
    let _shared = STARTS.read().unwrap_or_else(|e| e.into_inner());
    cmd.spawn().expect("start genot")
}

/// Runs `f`, which opens HDF5 files in this process and closes them before it returns,
/// while no child process starts ([`STARTS`]).
#[allow(dead_code)] // not every test file uses it
pub fn without_children<T>(f: impl FnOnce() -> T) -> T {
    let _exclusive = STARTS.write().unwrap_or_else(|e| e.into_inner());
    f()
}

/// Runs the `genot` binary built for these tests.
#[allow(dead_code)] // not every test file uses it
pub fn genot(args: &[&str]) -> Output {
    output(Command::new(env!("CARGO_BIN_EXE_genot")).args(args))
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

/// Two 200 x 2 clouds three apart, written to `dir` as x.npy and y.npy.
#[allow(dead_code)]
pub fn clouds(dir: &Path) -> (PathBuf, PathBuf) {
    let (x, y) = (dir.join("x.npy"), dir.join("y.npy"));
    ndarray_npy::write_npy(&x, &cloud(200, 2, 0.0)).unwrap();
    ndarray_npy::write_npy(&y, &cloud(200, 2, 3.0)).unwrap();
    (x, y)
}

/// A small, fast network for `genot fit` in tests.
#[allow(dead_code)]
pub const SMALL: [&str; 10] = [
    "--hidden",
    "16",
    "--layers",
    "1",
    "--time-frequencies",
    "4",
    "--batch-size",
    "64",
    "--lr",
    "1e-3",
];

/// The arguments of `genot fit` from `x` to `y` into `out` with [`SMALL`] and `extra`.
#[allow(dead_code)]
pub fn fit_args<'a>(
    x: &'a Path,
    y: &'a Path,
    out: &'a Path,
    iterations: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    fit_args_with(x, y, out, iterations, &SMALL, extra)
}

/// [`fit_args`] with the network (and other) flags `net` instead of [`SMALL`].
#[allow(dead_code)]
pub fn fit_args_with<'a>(
    x: &'a Path,
    y: &'a Path,
    out: &'a Path,
    iterations: &'a str,
    net: &[&'a str],
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "fit",
        "--source",
        s(x),
        "--target",
        s(y),
        "--out",
        s(out),
        "--iterations",
        iterations,
    ];
    args.extend_from_slice(net);
    args.extend_from_slice(extra);
    args
}

/// The arguments of `genot transport` of `x` through `model` into `out`, with `extra`.
#[allow(dead_code)]
pub fn transport_args<'a>(
    model: &'a Path,
    x: &'a Path,
    out: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut a = vec![
        "transport",
        "--model",
        s(model),
        "--source",
        s(x),
        "--out",
        s(out),
    ];
    a.extend_from_slice(extra);
    a
}
