//! AnnData (`.h5ad`) files: the matrices a point cloud comes from (`X` dense, CSR or CSC;
//! `obsm/NAME`; `layers/NAME`), `obs` columns for conditions and filters, and predictions
//! written into a copy of a file. Reads the current layout (anndata 0.7 and later) and the
//! tables of files written by older anndata (`obs` and `obsm` as compound datasets, as in
//! scanpy's bundled pbmc68k_reduced).

mod error;
mod legacy;
mod obs;
mod write;

pub use error::{FilterError, H5adError, KeyError, Problem, WriteError};
pub use obs::{Column, RowFilter};
pub use write::{check_not_input, write_copy, Predictions};

use hdf5::types::{FixedAscii, FixedUnicode, VarLenAscii, VarLenUnicode};
use hdf5::{Dataset, File, Group, Location};
use ndarray::Array2;
use std::path::{Path, PathBuf};

/// Where a matrix lives in an `.h5ad` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// `X`.
    X,
    /// `obsm/NAME`.
    Obsm(String),
    /// `layers/NAME`.
    Layer(String),
}

impl Key {
    /// Parses `X`, `obsm/NAME` or `layers/NAME`.
    pub fn parse(text: &str) -> Result<Key, KeyError> {
        let named = |prefix: &str| {
            text.strip_prefix(prefix)
                .filter(|n| !n.is_empty() && !n.contains('/'))
                .map(str::to_string)
        };
        if text == "X" {
            Ok(Key::X)
        } else if let Some(n) = named("obsm/") {
            Ok(Key::Obsm(n))
        } else if let Some(n) = named("layers/") {
            Ok(Key::Layer(n))
        } else {
            Err(KeyError { text: text.into() })
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::X => write!(f, "X"),
            Key::Obsm(n) => write!(f, "obsm/{n}"),
            Key::Layer(n) => write!(f, "layers/{n}"),
        }
    }
}

/// Splits `cells.h5ad:obsm/X_pca` into the file and the part after the colon; `None`
/// when `spec` does not name an `.h5ad` file.
pub fn split_spec(spec: &Path) -> Option<(PathBuf, Option<String>)> {
    let text = spec.to_string_lossy();
    match text.rfind(".h5ad:") {
        Some(k) => Some((
            PathBuf::from(&text[..k + 5]),
            Some(text[k + 6..].to_string()),
        )),
        None if text.ends_with(".h5ad") => Some((spec.to_path_buf(), None)),
        None => None,
    }
}

/// An open `.h5ad` file. Its errors name the file ([`H5adError`]).
pub struct AnnData {
    file: File,
    path: PathBuf,
}

impl AnnData {
    /// Opens `path` for reading.
    pub fn open(path: &Path) -> Result<AnnData, H5adError> {
        if !path.exists() {
            return Err(Problem::Missing.in_file(path));
        }
        let file = File::open(path).map_err(|e| Problem::NotHdf5(e.to_string()).in_file(path))?;
        Ok(AnnData {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `problem`, in this file.
    fn fail(&self, problem: Problem) -> H5adError {
        problem.in_file(&self.path)
    }

    /// The number of cells (rows of `obs`).
    pub fn n_obs(&self) -> Result<usize, H5adError> {
        n_obs(&self.file).map_err(|p| self.fail(p))
    }

    /// The matrix at `key` as `n_obs x d` float64 (a 1-D array is one column).
    pub fn matrix(&self, key: &Key) -> Result<Array2<f64>, H5adError> {
        self.matrix_in(key).map_err(|p| self.fail(p))
    }

    fn matrix_in(&self, key: &Key) -> Result<Array2<f64>, Problem> {
        let m = match key {
            Key::X => self.dense_or_sparse("X")?,
            Key::Layer(name) => self.entry("layers", name, "")?,
            Key::Obsm(name) => match self.file.dataset("obsm") {
                Ok(table) => {
                    legacy::matrix_field(&table, name).map_err(|e| e.of(&format!("obsm/{name}")))?
                }
                Err(_) => self.entry("obsm", name, "; use X or layers/NAME for the others")?,
            },
        };
        let n = n_obs(&self.file)?;
        if m.nrows() != n {
            return Err(Problem::Rows {
                dataset: key.to_string(),
                rows: m.nrows(),
                cells: n,
            });
        }
        Ok(m)
    }

    /// The `n_obs x K x q` array `obsm/NAME` (as `genot transport` writes the samples of
    /// K > 1, `obsm/X_genot_samples`); `None` when the entry is a matrix (2-D), so that the
    /// caller reads it with [`AnnData::matrix`].
    pub fn samples(&self, name: &str) -> Result<Option<ndarray::Array3<f64>>, H5adError> {
        let path = format!("obsm/{name}");
        let Ok(ds) = self.file.dataset(&path) else {
            return Ok(None);
        };
        let shape = ds.shape();
        let [n, k, q] = shape.as_slice() else {
            return Ok(None);
        };
        let values = numbers(&ds, "an array").map_err(|e| self.fail(e.of(&path)))?;
        let cells = self.n_obs()?;
        if *n != cells {
            return Err(self.fail(Problem::Rows {
                dataset: path,
                rows: *n,
                cells,
            }));
        }
        ndarray::Array3::from_shape_vec((*n, *k, *q), values)
            .map(Some)
            .map_err(|e| self.fail(Problem::Unreadable(e.to_string()).of(&path)))
    }

    /// The matrix `name` of the group `group` (`obsm`, `layers`); a missing one is an error
    /// that lists the group's entries (and ends with `hint`).
    fn entry(&self, group: &str, name: &str, hint: &'static str) -> Result<Array2<f64>, Problem> {
        let path = format!("{group}/{name}");
        let g = self.file.group(group).map_err(|_| Problem::NoGroup {
            group: group.into(),
            asked: path.clone(),
        })?;
        if !g.link_exists(name) {
            return Err(Problem::NoEntry {
                path,
                group: group.into(),
                entries: g.member_names().unwrap_or_default(),
                hint,
            });
        }
        self.dense_or_sparse(&path)
    }

    /// A dense dataset, or a CSR/CSC group, at `path`.
    fn dense_or_sparse(&self, path: &str) -> Result<Array2<f64>, Problem> {
        if let Ok(ds) = self.file.dataset(path) {
            return dense(&ds).map_err(|e| e.of(path));
        }
        let g = self
            .file
            .group(path)
            .map_err(|_| Problem::NoDataset { path: path.into() })?;
        sparse(&g).map_err(|e| e.of(path))
    }

    /// The `obs` column `name` (numeric, boolean, string or categorical).
    pub fn obs_column(&self, name: &str) -> Result<Column, H5adError> {
        obs::column(&self.file, name).map_err(|p| self.fail(p))
    }

    /// One label per cell from the `obs` column `name` ([`Column::labels`]); a missing
    /// value is an error naming its row.
    pub fn obs_labels(&self, name: &str) -> Result<Vec<String>, H5adError> {
        self.obs_column(name)?
            .labels(name)
            .map_err(|p| self.fail(p))
    }
}

/// The number of cells of `file` (the length of the `obs` index).
fn n_obs(file: &File) -> Result<usize, Problem> {
    if let Ok(table) = file.dataset("obs") {
        return Ok(table.shape().first().copied().unwrap_or(0));
    }
    let obs = file.group("obs").map_err(|_| Problem::NotAnnData)?;
    let index = string_attr(&obs, "_index").unwrap_or_else(|| "_index".into());
    let ds = obs
        .dataset(&index)
        .map_err(|_| Problem::NoIndex { index })?;
    Ok(ds.shape().first().copied().unwrap_or(0))
}

/// Refuses to read a dataset whose declared size, as elements of `bytes_each` bytes (or a
/// dense matrix of `elements` values), exceeds the memory limit: an HDF5 file can declare
/// sizes far beyond its own length (unwritten chunks read as fill values).
pub(crate) fn guard(elements: u128, bytes_each: usize, what: &str) -> Result<(), Problem> {
    guard_with(elements, bytes_each, what, crate::memory::memory_limit())
}

/// [`guard`] for `rows` Strings of up to `longest` bytes each (the label columns read from
/// a file, whatever their bytes on disk).
pub(crate) fn guard_strings(rows: usize, longest: usize, what: &str) -> Result<(), Problem> {
    guard(
        rows as u128,
        std::mem::size_of::<Option<String>>() + longest,
        what,
    )
}

/// [`guard`] under a given limit (bytes, and where it comes from).
fn guard_with(
    elements: u128,
    bytes_each: usize,
    what: &str,
    limit: (u64, &'static str),
) -> Result<(), Problem> {
    let need = crate::memory::Need::new(&format!("reading {what}")).term(
        what,
        elements.saturating_mul(bytes_each as u128),
        &[],
    );
    crate::memory::check_with(&need, limit).map_err(|e| Problem::TooLarge {
        what: what.to_string(),
        elements,
        bytes: need.total(),
        limit: e.limit,
        source_of_limit: e.source_of_limit,
    })
}

/// [`guard`] for a dataset read as `T`.
pub(crate) fn guard_dataset<T>(ds: &Dataset, what: &str) -> Result<(), Problem> {
    guard(ds.size() as u128, std::mem::size_of::<T>().max(1), what)
}

/// Every value of a numeric dataset as float64, its size checked against the memory
/// guard first (`what` names it there: "a matrix", "an array").
fn numbers(ds: &Dataset, what: &str) -> Result<Vec<f64>, Problem> {
    guard_dataset::<f64>(ds, what)?;
    ds.read_raw::<f64>()
        .map_err(|e| Problem::NotNumeric(e.to_string()))
}

/// A 1-D or 2-D numeric dataset as a matrix.
fn dense(ds: &Dataset) -> Result<Array2<f64>, Problem> {
    let shape = ds.shape();
    let values = numbers(ds, "a matrix")?;
    let (n, d) = match shape.as_slice() {
        [n] => (*n, 1),
        [n, d] => (*n, *d),
        _ => return Err(Problem::Rank(shape.len())),
    };
    Array2::from_shape_vec((n, d), values).map_err(|e| Problem::Unreadable(e.to_string()))
}

/// A CSR or CSC matrix group (`encoding-type` `csr_matrix` / `csc_matrix`, or the older
/// `h5sparse_format` attribute) as a dense matrix, its structure checked.
fn sparse(g: &Group) -> Result<Array2<f64>, Problem> {
    let format = string_attr(g, "encoding-type")
        .or_else(|| string_attr(g, "h5sparse_format").map(|f| format!("{f}_matrix")))
        .ok_or(Problem::NotSparse)?;
    let by_row = match format.as_str() {
        "csr_matrix" => true,
        "csc_matrix" => false,
        _ => return Err(Problem::Encoding(format)),
    };
    let shape: Vec<i64> = ["shape", "h5sparse_shape"]
        .iter()
        .find_map(|a| g.attr(a).ok()?.read_raw::<i64>().ok())
        .ok_or(Problem::NoShape)?;
    let [n, d] = shape[..] else {
        return Err(Problem::Shape(shape));
    };
    if n < 0 || d < 0 {
        return Err(Problem::NegativeShape(n, d));
    }
    let (n, d) = (n as usize, d as usize);
    let read = |name: &'static str| g.dataset(name).map_err(|_| Problem::NoSparseArray(name));
    let malformed = |why: String| Err(Problem::MalformedSparse(why));
    let (major, minor) = if by_row { (n, d) } else { (d, n) };
    let indptr_ds = read("indptr")?;
    if indptr_ds.size() as u128 != major as u128 + 1 {
        return malformed(format!(
            "indptr has {} entries, expected {} for its shape ({n}, {d})",
            indptr_ds.size(),
            major as u128 + 1
        ));
    }
    // The dense matrix the reader builds: refused before anything is allocated when the
    // shape attribute claims more than the memory holds.
    guard(
        crate::memory::product(&[n, d]),
        8,
        &format!("a sparse matrix of shape ({n}, {d}), read densely,"),
    )?;
    // With a zero dimension the dense guard above passes whatever the other dimension, so
    // indptr (major + 1 entries) is guarded on its own.
    guard_dataset::<i64>(&indptr_ds, "sparse indptr")?;
    let data_ds = read("data")?;
    let indices_ds = read("indices")?;
    guard_dataset::<f64>(&data_ds, "sparse values")?;
    guard_dataset::<i64>(&indices_ds, "sparse indices")?;
    let wrong = |array: &'static str, is_not: &'static str| {
        move |e: hdf5::Error| Problem::SparseType {
            array,
            is_not,
            detail: e.to_string(),
        }
    };
    let data: Vec<f64> = data_ds
        .read_raw::<f64>()
        .map_err(wrong("data", "is not numeric"))?;
    let indices: Vec<i64> = indices_ds
        .read_raw::<i64>()
        .map_err(wrong("indices", "are not integers"))?;
    let indptr: Vec<i64> = indptr_ds
        .read_raw::<i64>()
        .map_err(wrong("indptr", "is not integers"))?;
    if indptr.len() != major + 1 {
        return malformed(format!(
            "indptr has {} entries, expected {}",
            indptr.len(),
            major + 1
        ));
    }
    if data.len() != indices.len() {
        return malformed(format!(
            "{} values but {} indices",
            data.len(),
            indices.len()
        ));
    }
    let mut out = Array2::zeros((n, d));
    for k in 0..major {
        let (a, b) = (indptr[k], indptr[k + 1]);
        if a < 0 || b < a || b as usize > data.len() {
            return malformed(format!(
                "indptr[{k}..{}] = {a}..{b} is out of order or past the {} values",
                k + 1,
                data.len()
            ));
        }
        for p in a as usize..b as usize {
            let j = indices[p];
            if j < 0 || j as usize >= minor {
                return malformed(format!("index {j} at position {p} is outside 0..{minor}"));
            }
            let (r, c) = if by_row {
                (k, j as usize)
            } else {
                (j as usize, k)
            };
            out[[r, c]] += data[p];
        }
    }
    Ok(out)
}

/// A scalar string attribute, whichever string type it was written with.
fn string_attr(loc: &Location, name: &str) -> Option<String> {
    let a = loc.attr(name).ok()?;
    a.read_scalar::<VarLenUnicode>()
        .map(|s| s.to_string())
        .or_else(|_| a.read_scalar::<VarLenAscii>().map(|s| s.to_string()))
        .or_else(|_| a.read_scalar::<FixedUnicode<256>>().map(|s| s.to_string()))
        .or_else(|_| a.read_scalar::<FixedAscii<256>>().map(|s| s.to_string()))
        .ok()
}

/// A 1-D array of strings (variable or fixed length, UTF-8 or ASCII).
fn strings(ds: &Dataset) -> Result<Vec<String>, Problem> {
    guard_dataset::<FixedUnicode<1024>>(ds, "strings")?;
    ds.read_raw::<VarLenUnicode>()
        .map(|v| v.iter().map(|s| s.to_string()).collect())
        .or_else(|_| {
            ds.read_raw::<VarLenAscii>()
                .map(|v| v.iter().map(|s| s.to_string()).collect())
        })
        .or_else(|_| {
            ds.read_raw::<FixedUnicode<1024>>()
                .map(|v| v.iter().map(|s| s.to_string()).collect())
        })
        .or_else(|_| {
            ds.read_raw::<FixedAscii<1024>>()
                .map(|v| v.iter().map(|s| s.to_string()).collect())
        })
        .map_err(|e| Problem::NotStrings(e.to_string()))
}

#[cfg(test)]
mod tests;
