//! Reading point clouds and writing arrays, atomically.

use crate::error::CliError;
use genot_ot::real::Real;
use ndarray::{Array, Array2, ArrayBase, Data, Dimension, Ix1, Ix2};
use ndarray_npy::{ReadNpyError, WritableElement, WriteNpyExt};
use std::path::Path;

/// Reads an `n x d` array of points from a `.npy` file (float32 or float64; a 1-D array is
/// read as `n x 1`), checks that it is non-empty and finite, and converts it to `F`.
/// `what` names the input in messages (`"source"`, `"target"`).
pub fn read_points<F: Real>(path: &Path, what: &str) -> Result<Array2<F>, CliError> {
    let shown = path.display();
    if !path.exists() {
        return Err(CliError::Input(format!(
            "{what} file '{shown}' does not exist"
        )));
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => {}
        _ => {
            return Err(CliError::Input(format!(
                "{what} file '{shown}': unsupported format (expected a .npy file)"
            )))
        }
    }
    let x =
        read_npy_f64(path).map_err(|e| CliError::Input(format!("{what} file '{shown}' {e}")))?;
    if x.nrows() == 0 || x.ncols() == 0 {
        return Err(CliError::Input(format!(
            "{what} file '{shown}' is empty (shape {} x {})",
            x.nrows(),
            x.ncols()
        )));
    }
    let mut out = Array2::<F>::zeros(x.dim());
    for ((r, c), &v) in x.indexed_iter() {
        let cast = F::from_f64(v).unwrap_or(F::nan());
        if !v.is_finite() {
            return Err(CliError::Input(format!(
                "{what} file '{shown}' has a non-finite value ({v}) at row {r}, column {c}"
            )));
        }
        if !cast.is_finite() {
            return Err(CliError::Input(format!(
                "{what} file '{shown}': the value {v:e} at row {r}, column {c} does not fit in {} (use --f64)",
                F::NAME
            )));
        }
        out[[r, c]] = cast;
    }
    Ok(out)
}

/// Reads a float32 or float64 array of one or two dimensions as f64; the error text
/// completes "<what> file '<path>' ...".
fn read_npy_f64(path: &Path) -> Result<Array2<f64>, String> {
    fn describe(e: ReadNpyError) -> String {
        match e {
            ReadNpyError::WrongDescriptor(d) => {
                let d = d.to_string();
                if d.contains('O') {
                    format!("holds Python objects (dtype {d}, e.g. a ragged list); expected a rectangular float32 or float64 array")
                } else {
                    format!("has dtype {d}; expected float32 or float64")
                }
            }
            ReadNpyError::WrongNdim(_, k) => {
                format!("holds a {k}-D array; expected a 2-D array of points (rows) by dimensions (columns)")
            }
            ReadNpyError::MissingData => {
                "is truncated (the data is shorter than its header says)".into()
            }
            ReadNpyError::ExtraBytes(n) => format!("has {n} unexpected bytes after the data"),
            ReadNpyError::ParseHeader(h) => format!("is not a valid .npy file ({h})"),
            ReadNpyError::Io(io) => format!("cannot be read: {io}"),
            other => format!("cannot be read: {other}"),
        }
    }
    match read_float::<Ix2>(path) {
        Err(ReadNpyError::WrongNdim(_, 1)) => read_float::<Ix1>(path).map(|v| {
            let n = v.len();
            v.into_shape_with_order((n, 1)).expect("n x 1")
        }),
        r => r,
    }
    .map_err(describe)
}

/// Reads a float64 array, or a float32 one converted to float64.
fn read_float<D: Dimension>(path: &Path) -> Result<Array<f64, D>, ReadNpyError> {
    match ndarray_npy::read_npy::<_, Array<f64, D>>(path) {
        Err(ReadNpyError::WrongDescriptor(_)) => {
            ndarray_npy::read_npy::<_, Array<f32, D>>(path).map(|a| a.mapv(f64::from))
        }
        r => r,
    }
}

/// Writes an array to `path` as .npy through a temporary file in the same directory and a
/// rename: an interrupted run never leaves a partial file.
pub fn write_npy_atomic<A, S, D>(path: &Path, array: &ArrayBase<S, D>) -> Result<(), CliError>
where
    A: WritableElement,
    S: Data<Elem = A>,
    D: Dimension,
{
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let fail = |e: &dyn std::fmt::Display| {
        CliError::Run(format!("cannot write '{}': {e}", path.display()))
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(&e))?;
    array
        .write_npy(std::io::BufWriter::new(tmp.as_file_mut()))
        .map_err(|e| fail(&e))?;
    tmp.as_file().sync_all().map_err(|e| fail(&e))?;
    // Temporary files are created private (0600); outputs get the usual 0644.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| fail(&e))?;
    }
    tmp.persist(path).map_err(|e| fail(&e.error))?;
    Ok(())
}
