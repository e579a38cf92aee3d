//! Reading point clouds and labels from the parsed data arguments ([`crate::spec`]), and
//! writing arrays, atomically.

use crate::error::{as_flags, CliError};
use crate::h5ad;
use crate::npy;
use crate::spec::{Labels, LabelsSpec, Points, PointsSpec};
use genot_ot::real::Real;
use ndarray::{Array2, Array3, ArrayBase, Data, Dimension, Ix1, Ix2, Ix3};
use ndarray_npy::{WritableElement, WriteNpyExt};
use std::path::{Path, PathBuf};

/// An error of the readers (`genot-io`) as this tool's input error: `prefix` then the
/// message, its settings shown as flags (`max_memory` as `--max-memory`).
fn input(prefix: &str, e: impl std::fmt::Display) -> CliError {
    CliError::Input(as_flags(&format!("{prefix}{e}")))
}

/// The cells that a filter (`--source-filter obs/condition=control`) keeps, evaluated on
/// the `obs` table of an `.h5ad` input; every input of that side is cut to these rows.
#[derive(Debug, Clone)]
struct Subset {
    rows: Vec<usize>,
    n: usize,
    /// `--source-filter obs/condition=control on 'cells.h5ad'`, for messages.
    label: String,
}

impl Subset {
    /// Evaluates the filter `text` given as `flag` on the `.h5ad` file of `data`.
    fn new(text: &str, flag: &str, data: &PointsSpec) -> Result<Subset, CliError> {
        let filter: h5ad::RowFilter = text.parse().map_err(|e| input(&format!("{flag}: "), e))?;
        let Some(path) = data.h5ad_file() else {
            return Err(CliError::Input(format!(
                "{flag} selects cells by an obs column: its data must be an .h5ad file, not '{data}'"
            )));
        };
        let fail = |e: h5ad::H5adError| input(&format!("{flag}: "), e);
        let file = h5ad::AnnData::open(path).map_err(fail)?;
        let column = file.obs_column(&filter.column).map_err(fail)?;
        let rows = filter
            .select(&column)
            .map_err(|e| input(&format!("{flag}: "), e))?;
        Ok(Subset {
            rows,
            n: column.len(),
            label: format!("{flag} {filter} on '{}'", path.display()),
        })
    }

    /// Checks that an input of `m` rows has one row per cell of the filtered file.
    fn check(&self, m: usize, what: &str) -> Result<(), CliError> {
        if m == self.n {
            Ok(())
        } else {
            Err(CliError::Input(format!(
                "{what} has {m} rows but {} was evaluated on {} cells: the inputs of one side need one row per cell",
                self.label, self.n
            )))
        }
    }

    fn rows_of(&self, x: Array2<f64>, what: &str) -> Result<Array2<f64>, CliError> {
        self.check(x.nrows(), what)?;
        Ok(x.select(ndarray::Axis(0), &self.rows))
    }

    fn labels_of(&self, v: Vec<String>, what: &str) -> Result<Vec<String>, CliError> {
        self.check(v.len(), what)?;
        Ok(self.rows.iter().map(|&r| v[r].clone()).collect())
    }
}

/// The inputs of one side of a command (the source or the target): its data file and the
/// cells an optional filter keeps. Other inputs of the side (shared features, conditions)
/// are cut to the same cells, and `obs/COLUMN` names a column of the data's `.h5ad` file.
#[derive(Debug)]
pub struct Side {
    data: PointsSpec,
    subset: Option<Subset>,
}

impl Side {
    /// The side whose data is `data`, filtered by `filter` (given with the flag `flag`).
    pub fn new(data: &PointsSpec, filter: Option<&str>, flag: &str) -> Result<Side, CliError> {
        Ok(Side {
            data: data.clone(),
            subset: filter.map(|f| Subset::new(f, flag, data)).transpose()?,
        })
    }

    /// Whether a filter cuts this side.
    pub fn is_filtered(&self) -> bool {
        self.subset.is_some()
    }

    /// Points of this side ([`read_points`]), cut to the filtered cells.
    pub fn points<F: Real>(&self, spec: &PointsSpec, what: &str) -> Result<Array2<F>, CliError> {
        read_points_in(spec, what, self.subset.as_ref())
    }

    /// Labels of this side ([`read_labels`], or `obs/COLUMN` of the data file), cut to the
    /// filtered cells.
    pub fn labels(&self, spec: &LabelsSpec, what: &str) -> Result<Vec<String>, CliError> {
        let labels = match (spec.labels(), self.data.h5ad_file()) {
            (Labels::Obs(column), Some(file)) if !spec.as_path().exists() => {
                obs_labels(file, column, what)?
            }
            _ => read_labels(spec, what)?,
        };
        match &self.subset {
            Some(s) => s.labels_of(labels, what),
            None => Ok(labels),
        }
    }
}

/// Reads an `n x d` array of points: a `.npy` file (float32 or float64; a 1-D array is read
/// as `n x 1`), a `.csv` file with a header row and numeric columns, all of them or those
/// named after a colon (`cells.csv:pc1,pc2`), or a matrix of an `.h5ad` file
/// (`cells.h5ad` for X, `cells.h5ad:obsm/X_pca`, `cells.h5ad:layers/counts`; dense or
/// sparse). Checks that it is non-empty and finite and converts it to `F`. `what` names the
/// input in messages (`"source"`, `"target"`).
pub fn read_points<F: Real>(spec: &PointsSpec, what: &str) -> Result<Array2<F>, CliError> {
    read_points_in(spec, what, None)
}

/// [`read_points`], then keeps the rows of `subset`.
fn read_points_in<F: Real>(
    spec: &PointsSpec,
    what: &str,
    subset: Option<&Subset>,
) -> Result<Array2<F>, CliError> {
    let path = spec.path();
    let shown = path.display();
    if !path.exists() {
        return Err(CliError::Input(format!(
            "{what} file '{shown}' does not exist"
        )));
    }
    let x = match spec.points() {
        Points::Npy => {
            read_npy_f64(path).map_err(|e| CliError::Input(format!("{what} file '{shown}' {e}")))?
        }
        Points::Csv(columns) => genot_io::table::read_points(path, columns.as_deref())
            .map_err(|e| CliError::Input(format!("{what} file '{shown}' {e}")))?,
        Points::H5ad(key) => h5ad::AnnData::open(path)
            .and_then(|f| f.matrix(key))
            .map_err(|e| input(&format!("{what} "), e))?,
    };
    let x = match subset {
        Some(s) => s.rows_of(x, what)?,
        None => x,
    };
    if x.nrows() == 0 || x.ncols() == 0 {
        return Err(CliError::Input(format!(
            "{what} file '{shown}' is empty (shape {} x {})",
            x.nrows(),
            x.ncols()
        )));
    }
    // Squared distances between points (costs, variances) must stay finite in F: with d
    // columns, |x| up to sqrt(MAX / (4 d)) is safe.
    let limit = (F::max_value().to_f64().unwrap_or(f64::MAX) / (4.0 * x.ncols() as f64)).sqrt();
    let file_row = |r: usize| subset.map_or(r, |s| s.rows[r]);
    let mut out = Array2::<F>::zeros(x.dim());
    for ((r, c), &v) in x.indexed_iter() {
        if !v.is_finite() {
            return Err(CliError::Input(format!(
                "{what} file '{shown}' has a non-finite value ({v}) at row {}, column {c}",
                file_row(r)
            )));
        }
        if v.abs() > limit {
            return Err(CliError::Input(format!(
                "{what} file '{shown}': the value {v:e} at row {}, column {c} is too large: squared distances between {}-D points overflow {} beyond |x| = {limit:.1e}; rescale the data{}",
                file_row(r),
                x.ncols(),
                F::NAME,
                if F::NAME == "float32" { " (or use --f64 where the command has it)" } else { "" }
            )));
        }
        out[[r, c]] = F::from_f64(v).unwrap_or(F::nan());
    }
    Ok(out)
}

/// The labels of the `obs` column `column` of the `.h5ad` file `file`.
fn obs_labels(file: &Path, column: &str, what: &str) -> Result<Vec<String>, CliError> {
    h5ad::AnnData::open(file)
        .and_then(|f| f.obs_labels(column))
        .map_err(|e| input(&format!("{what} "), e))
}

/// Reads one label per row: from a CSV file with a header row (its only column, or the one
/// named after a colon: `cells.csv:cell_type`), or from an `obs` column of an `.h5ad` file
/// (`cells.h5ad:obs/cell_type`; categories, strings, numbers or booleans). `obs/COLUMN`
/// alone needs the side's data file ([`Side::labels`]); here it is read as a CSV path when
/// a file has that name.
pub fn read_labels(spec: &LabelsSpec, what: &str) -> Result<Vec<String>, CliError> {
    let (path, columns) = match spec.labels() {
        Labels::H5ad { path, column } => return obs_labels(path, column, what),
        Labels::Obs(_) => (spec.as_path(), None),
        Labels::Csv { path, columns } => (path.as_path(), columns.as_deref()),
    };
    let shown = path.display();
    if !path.exists() {
        if let Labels::Obs(_) = spec.labels() {
            return Err(CliError::Input(format!(
                "{what} '{shown}' names an obs column, which needs an .h5ad data file (or write FILE.h5ad:{shown})"
            )));
        }
        return Err(CliError::Input(format!(
            "{what} file '{shown}' does not exist"
        )));
    }
    genot_io::table::read_labels(path, columns, &shown.to_string())
        .map_err(|e| CliError::Input(format!("{what} file '{shown}' {e}")))
}

/// Reads a float32 or float64 array of one or two dimensions as f64; the error text
/// completes "<what> file '<path>' ...".
fn read_npy_f64(path: &Path) -> Result<Array2<f64>, String> {
    let bytes = npy::read_bytes(path).map_err(|e| e.to_string())?;
    match npy::decode::<Ix2>(&bytes) {
        Err(npy::NpyError::Ndim { got: 1, .. }) => npy::decode::<Ix1>(&bytes).map(|v| {
            let n = v.len();
            v.into_shape_with_order((n, 1)).expect("n x 1")
        }),
        r => r,
    }
    .map_err(|e| e.to_string())
}

/// Reads predictions: an `n x K x q` array (K samples per point) from .npy or an .h5ad's
/// `obsm/NAME`, or `n x q` points in any format [`read_points`] reads (one sample per point).
pub fn read_predictions(spec: &PointsSpec, what: &str) -> Result<Array3<f32>, CliError> {
    let path = spec.path();
    let shown = path.display();
    // An n x K x q array, checked finite and converted.
    let finite = |a: Array3<f64>| -> Result<Array3<f32>, CliError> {
        match a.indexed_iter().find(|(_, v)| !v.is_finite()) {
            Some(((i, k, j), v)) => Err(CliError::Input(format!(
                "{what} file '{shown}' has a non-finite value ({v}) at [{i}, {k}, {j}]"
            ))),
            None => Ok(a.mapv(|v| v as f32)),
        }
    };
    match spec.points() {
        Points::Npy if path.exists() => {
            let fail = |e: npy::NpyError| CliError::Input(format!("{what} file '{shown}' {e}"));
            let bytes = npy::read_bytes(path).map_err(fail)?;
            match npy::decode::<Ix3>(&bytes) {
                Ok(a) => return finite(a),
                Err(npy::NpyError::Ndim { .. }) => {}
                Err(e) => return Err(fail(e)),
            }
        }
        Points::H5ad(h5ad::Key::Obsm(name)) => {
            let samples = h5ad::AnnData::open(path)
                .and_then(|f| f.samples(name))
                .map_err(|e| input(&format!("{what} "), e))?;
            if let Some(a) = samples {
                return finite(a);
            }
        }
        _ => {}
    }
    let p = read_points::<f32>(spec, what)?;
    let (n, q) = p.dim();
    Ok(p.into_shape_with_order((n, 1, q)).expect("n x 1 x q"))
}

/// Writes an array to `path` as .npy through a temporary file in the same directory and a
/// rename: an interrupted run never leaves a partial file.
pub fn write_npy_atomic<A, S, D>(path: &Path, array: &ArrayBase<S, D>) -> Result<(), CliError>
where
    A: WritableElement,
    S: Data<Elem = A>,
    D: Dimension,
{
    let mut bytes = Vec::new();
    array
        .write_npy(&mut bytes)
        .map_err(|e| CliError::Run(format!("cannot write '{}': {e}", path.display())))?;
    genot::model::write_atomic(path, &bytes).map_err(|e| CliError::Run(e.to_string()))
}

/// Checks that `path` names an output format [`write_points_atomic`] writes.
pub fn check_output_format(path: &Path) -> Result<(), CliError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy") | Some("csv") => check_output_dir(path),
        _ => Err(CliError::Input(format!(
            "cannot write '{}': the output format is .npy or .csv",
            path.display()
        ))),
    }
}

/// Writes float32 results atomically as `.npy`, or as `.csv` with a header row: `value`
/// for a vector, `y0,y1,...` for an `n x q` array, `point,sample,y0,...` (one row per
/// sample) for an `n x K x q` array.
pub fn write_points_atomic<S, D>(path: &Path, array: &ArrayBase<S, D>) -> Result<(), CliError>
where
    S: Data<Elem = f32>,
    D: Dimension,
{
    if path.extension().is_none_or(|e| e != "csv") {
        return write_npy_atomic(path, array);
    }
    let fail = |e: &dyn std::fmt::Display| {
        CliError::Run(format!("cannot write '{}': {e}", path.display()))
    };
    let shape = array.shape().to_vec();
    let q = *shape.last().unwrap_or(&1);
    let mut w = csv::Writer::from_writer(Vec::new());
    let values: Vec<String> = (0..q).map(|j| format!("y{j}")).collect();
    let header: Vec<String> = match shape.len() {
        1 => vec!["value".into()],
        2 => values,
        _ => ["point".to_string(), "sample".to_string()]
            .into_iter()
            .chain(values)
            .collect(),
    };
    w.write_record(&header).map_err(|e| fail(&e))?;
    let flat: Vec<f32> = array.iter().copied().collect();
    let k = if shape.len() == 3 { shape[1] } else { 1 };
    let width = if shape.len() == 1 { 1 } else { q };
    for (r, row) in flat.chunks(width).enumerate() {
        let mut rec: Vec<String> = if shape.len() == 3 {
            vec![(r / k).to_string(), (r % k).to_string()]
        } else {
            vec![]
        };
        rec.extend(row.iter().map(|v| v.to_string()));
        w.write_record(&rec).map_err(|e| fail(&e))?;
    }
    let bytes = w.into_inner().map_err(|e| fail(&e))?;
    genot::model::write_atomic(path, &bytes).map_err(|e| CliError::Run(e.to_string()))
}

/// Fails when the directory that would hold `p` does not exist (checked before any work).
pub fn check_output_dir(p: &Path) -> Result<(), CliError> {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() && !d.is_dir() => Err(CliError::Input(format!(
            "cannot write '{}': directory '{}' does not exist",
            p.display(),
            d.display()
        ))),
        _ => Ok(()),
    }
}

/// The file an output argument names: `COPY.h5ad:obsm/KEY` names `COPY.h5ad`.
pub fn output_file(spec: &Path) -> PathBuf {
    match h5ad::split_spec(spec) {
        Some((path, _)) => path,
        None => spec.to_path_buf(),
    }
}

/// A path in a form that two spellings of one file share: the canonical folder and the file
/// name (the file itself need not exist yet).
fn identity(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    let parent = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match (std::fs::canonicalize(parent), p.file_name()) {
        (Ok(d), Some(name)) => d.join(name),
        _ => std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()),
    }
}

/// Checks, before any work, that no output of a command is one of its inputs (which it
/// would destroy) and that no two outputs share a path (the last one would win). Each
/// entry is a flag and the file it reads (a data spec's [`PointsSpec::path`]) or the path
/// given to it (an output, [`output_file`]).
pub fn check_distinct_paths(
    inputs: &[(&str, &Path)],
    outputs: &[(&str, &Path)],
) -> Result<(), CliError> {
    let resolve = |list: &[(&str, &Path)]| -> Vec<(String, PathBuf)> {
        list.iter()
            .map(|(f, p)| (f.to_string(), identity(&output_file(p))))
            .collect()
    };
    let (ins, outs) = (resolve(inputs), resolve(outputs));
    for (k, (flag, out)) in outs.iter().enumerate() {
        for (in_flag, input) in &ins {
            if input == out {
                return Err(CliError::Input(format!(
                    "{flag} '{}' is the file given to {in_flag}: an output never overwrites an input; write it elsewhere",
                    out.display()
                )));
            }
        }
        if let Some((other, _)) = outs[..k].iter().find(|(_, o)| o == out) {
            return Err(CliError::Input(format!(
                "{other} and {flag} both write '{}': give each output its own path",
                out.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_onto_inputs_or_each_other_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.npy");
        std::fs::write(&a, b"x").unwrap();
        let other = dir.path().join("sub/../a.npy");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let spec: PointsSpec = format!("{}:x,y", dir.path().join("c.csv").display())
            .parse()
            .unwrap();
        let csv = dir.path().join("c.csv");
        let b = dir.path().join("b.npy");
        let e = check_distinct_paths(&[("--source", &a)], &[("--out", &other)]).unwrap_err();
        assert!(e.to_string().contains("--source"), "{e}");
        let e = check_distinct_paths(&[("--source", spec.path())], &[("--out", &csv)]).unwrap_err();
        assert!(e.to_string().contains("--source"), "{e}");
        let e = check_distinct_paths(&[("--source", &a)], &[("--out", &b), ("--mean-out", &b)])
            .unwrap_err();
        assert!(e.to_string().contains("--out and --mean-out"), "{e}");
        check_distinct_paths(&[("--source", &a)], &[("--out", &b), ("--mean-out", &csv)]).unwrap();
    }
}
