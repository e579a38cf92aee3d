//! Predictions written into a copy of an `.h5ad` file: `obsm` entries and `obs` columns
//! with the encoding attributes anndata reads. The copy is made in a temporary file next to
//! the output and renamed into place; the input is never opened for writing.

use super::{string_attr, Problem, WriteError};
use hdf5::types::VarLenUnicode;
use hdf5::{File, Group, Location};
use ndarray::{Array1, ArrayD};
use std::path::Path;

/// What to add to the copy.
#[derive(Debug, Default)]
pub struct Predictions {
    /// `obsm` entries (first axis: the cells).
    pub obsm: Vec<(String, ArrayD<f32>)>,
    /// `obs` columns.
    pub obs: Vec<(String, Array1<f32>)>,
}

/// Copies `input` to `output` with `predictions` added (an entry or column of the same name
/// is replaced). Fails, writing nothing, when `output` is `input`, when the file keeps
/// `obs`/`obsm` as tables (anndata < 0.7), or when an array does not have one row per cell.
pub fn write_copy(
    input: &Path,
    output: &Path,
    predictions: &Predictions,
) -> Result<(), WriteError> {
    check_not_input(input, output)?;
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail = |e: &dyn std::fmt::Display| WriteError::Write {
        output: output.to_path_buf(),
        problem: Problem::Io(e.to_string()),
    };
    let tmp = tempfile::Builder::new()
        .suffix(".h5ad")
        .tempfile_in(dir)
        .map_err(|e| fail(&e))?;
    std::fs::copy(input, tmp.path()).map_err(|e| fail(&e))?;
    {
        let file = File::open_rw(tmp.path()).map_err(|e| fail(&e))?;
        add(&file, predictions).map_err(|problem| WriteError::Write {
            output: output.to_path_buf(),
            problem,
        })?;
        file.flush().map_err(|e| fail(&e))?;
        file.close().map_err(|e| fail(&e))?;
    }
    tmp.as_file().sync_all().map_err(|e| fail(&e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| fail(&e))?;
    }
    tmp.persist(output).map_err(|e| fail(&e.error))?;
    Ok(())
}

/// Fails when `output` is the file `input` (under any name).
pub fn check_not_input(input: &Path, output: &Path) -> Result<(), WriteError> {
    if output.exists() && std::fs::canonicalize(output).ok() == std::fs::canonicalize(input).ok() {
        return Err(WriteError::IsInput(output.to_path_buf()));
    }
    Ok(())
}

/// Adds `p` to the open copy `file`.
fn add(file: &File, p: &Predictions) -> Result<(), Problem> {
    for table in ["obs", "obsm"] {
        if file.dataset(table).is_ok() {
            return Err(Problem::OldTables(table));
        }
    }
    let n = super::n_obs(file)?;
    for (name, a) in p
        .obsm
        .iter()
        .map(|(k, a)| (format!("obsm/{k}"), a.shape()[0]))
        .chain(p.obs.iter().map(|(k, a)| (format!("obs/{k}"), a.len())))
    {
        if a != n {
            return Err(Problem::PredictionRows {
                name,
                rows: a,
                cells: n,
            });
        }
    }
    let h5 = |e: hdf5::Error| Problem::Io(e.to_string());
    let obsm = match file.group("obsm") {
        Ok(g) => g,
        Err(_) => {
            let g = file.create_group("obsm").map_err(h5)?;
            encoding(&g, "dict", "0.1.0")?;
            g
        }
    };
    for (key, a) in &p.obsm {
        put(&obsm, key, a.view())?;
    }
    let obs = file.group("obs").map_err(h5)?;
    let mut order: Vec<String> = obs
        .attr("column-order")
        .and_then(|a| a.read_raw::<VarLenUnicode>())
        .map(|v| v.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    for (key, a) in &p.obs {
        if string_attr(&obs, "_index").as_deref() == Some(key.as_str()) {
            return Err(Problem::CellIndex(key.clone()));
        }
        put(&obs, key, a.view())?;
        if !order.contains(key) {
            order.push(key.clone());
        }
    }
    if !p.obs.is_empty() {
        let values: Vec<VarLenUnicode> = order
            .iter()
            .map(|s| {
                s.parse().map_err(|e| Problem::ColumnName {
                    name: s.clone(),
                    detail: format!("{e}"),
                })
            })
            .collect::<Result<_, _>>()?;
        if obs.attr("column-order").is_ok() {
            obs.delete_attr("column-order").map_err(h5)?;
        }
        obs.new_attr::<VarLenUnicode>()
            .shape(values.len())
            .create("column-order")
            .and_then(|a| a.write_raw(&values))
            .map_err(h5)?;
    }
    Ok(())
}

/// Writes `a` as the array `name` of `g`, replacing what was there.
fn put<D: ndarray::Dimension>(
    g: &Group,
    name: &str,
    a: ndarray::ArrayView<f32, D>,
) -> Result<(), Problem> {
    let h5 = |e: hdf5::Error| Problem::Io(e.to_string());
    if g.link_exists(name) {
        g.unlink(name).map_err(h5)?;
    }
    let ds = g
        .new_dataset_builder()
        .with_data(a)
        .create(name)
        .map_err(h5)?;
    encoding(&ds, "array", "0.2.0")
}

/// The `encoding-type` and `encoding-version` attributes anndata reads.
fn encoding(loc: &Location, kind: &str, version: &str) -> Result<(), Problem> {
    for (name, value) in [("encoding-type", kind), ("encoding-version", version)] {
        let v: VarLenUnicode = value.parse().map_err(|e| Problem::Io(format!("{e}")))?;
        loc.new_attr::<VarLenUnicode>()
            .create(name)
            .and_then(|a| a.write_scalar(&v))
            .map_err(|e| Problem::Io(e.to_string()))?;
    }
    Ok(())
}
