//! Files written by anndata before 0.7 keep `obs` and `obsm` as compound datasets (one
//! record per cell, one field per column) and categorical codes with their categories in
//! `uns/NAME_categories`. A field is read on its own: HDF5 converts the records into a
//! memory type that holds only that field.

use super::obs::{categorical, Column};
use super::Problem;
use hdf5::types::{CompoundField, CompoundType, FloatSize, TypeDescriptor};
use hdf5::{Dataset, Datatype, File};
use ndarray::Array2;

/// The fields of a compound dataset.
fn fields(table: &Dataset) -> Result<Vec<CompoundField>, Problem> {
    match table.dtype().and_then(|t| t.to_descriptor()) {
        Ok(TypeDescriptor::Compound(c)) => Ok(c.fields),
        Ok(other) => Err(Problem::NotTable(other.to_string())),
        Err(e) => Err(Problem::Type(e.to_string())),
    }
}

/// The field `name` of every record, converted to `ty` (`size` bytes per record).
fn read_field(
    table: &Dataset,
    name: &str,
    ty: TypeDescriptor,
    size: usize,
) -> Result<Vec<u8>, Problem> {
    let memory = Datatype::from_descriptor(&TypeDescriptor::Compound(CompoundType {
        fields: vec![CompoundField {
            name: name.to_string(),
            ty,
            offset: 0,
            index: 0,
        }],
        size,
    }))
    .map_err(|e| Problem::FieldType {
        field: name.into(),
        detail: e.to_string(),
    })?;
    // One record per cell: H5S_ALL below reads every record of the dataset, so a table of
    // another rank would overflow a buffer sized by its first dimension.
    let n = match table.shape()[..] {
        [n] => n,
        ref other => return Err(Problem::TableShape(other.to_vec())),
    };
    // The number of records is declared by the file (unwritten chunks read as fill values):
    // refused before the buffer is allocated when it exceeds the memory limit.
    super::guard(n as u128, size, &format!("the table field {name}"))?;
    let len = n.checked_mul(size).ok_or_else(|| Problem::FieldOverflow {
        field: name.into(),
        records: n,
        size,
    })?;
    let mut buf = vec![0u8; len];
    // Under the hdf5 crate's global lock, as its own calls (the library is not thread-safe).
    // SAFETY: `buf` holds n records of `size` bytes, the size of `memory`, and the dataset
    // has n records (rank 1, checked above); H5S_ALL selects them all in the file and in
    // memory.
    let status = hdf5::sync::sync(|| unsafe {
        hdf5_sys::h5d::H5Dread(
            table.id(),
            memory.id(),
            hdf5_sys::h5s::H5S_ALL,
            hdf5_sys::h5s::H5S_ALL,
            hdf5_sys::h5p::H5P_DEFAULT,
            buf.as_mut_ptr().cast(),
        )
    });
    if status < 0 {
        return Err(Problem::FieldRead {
            field: name.into(),
            size,
        });
    }
    Ok(buf)
}

/// `name`'s field description, or an error listing the fields.
fn field(
    table: &Dataset,
    name: &str,
    what: (&'static str, &'static str),
) -> Result<CompoundField, Problem> {
    let (one, many) = what;
    let all = fields(table)?;
    all.iter()
        .find(|f| f.name == name)
        .cloned()
        .ok_or_else(|| Problem::NoField {
            one,
            many,
            name: name.into(),
            fields: all.iter().map(|f| f.name.clone()).collect(),
        })
}

/// Numbers stored natively as float64, `count` per record.
fn as_f64(bytes: &[u8]) -> Vec<f64> {
    bytes
        .chunks_exact(8)
        .map(|c| f64::from_ne_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

/// The `obsm` table's field `name` (a fixed-size numeric array per cell) as a matrix.
pub(super) fn matrix_field(table: &Dataset, name: &str) -> Result<Array2<f64>, Problem> {
    let f = field(table, name, ("entry", "entries"))?;
    let d = match &f.ty {
        TypeDescriptor::FixedArray(_, d) => *d,
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) | TypeDescriptor::Float(_) => 1,
        other => return Err(Problem::NotNumbers(other.to_string())),
    };
    let ty = TypeDescriptor::FixedArray(Box::new(TypeDescriptor::Float(FloatSize::U8)), d);
    let values = as_f64(&read_field(table, name, ty, 8 * d)?);
    let n = values.len() / d.max(1);
    Array2::from_shape_vec((n, d), values).map_err(|e| Problem::Io(e.to_string()))
}

/// The `obs` table's field `name`: numbers, booleans, fixed-length strings, or codes with
/// their categories in `uns/NAME_categories`.
pub(super) fn obs_field(file: &File, table: &Dataset, name: &str) -> Result<Column, Problem> {
    let f = field(table, name, ("obs column", "columns"))?;
    let shown = |e: Problem| e.of_column(name);
    match f.ty {
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_)
            if file.link_exists(&format!("uns/{name}_categories")) =>
        {
            let codes =
                read_field(table, name, TypeDescriptor::Float(FloatSize::U8), 8).map_err(shown)?;
            let codes = as_f64(&codes).into_iter().map(|x| x as i64).collect();
            let cats = file
                .dataset(&format!("uns/{name}_categories"))
                .map_err(|e| shown(Problem::Io(e.to_string())))?;
            categorical(codes, &cats).map_err(shown)
        }
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) | TypeDescriptor::Float(_) => {
            let v = as_f64(
                &read_field(table, name, TypeDescriptor::Float(FloatSize::U8), 8).map_err(shown)?,
            );
            Ok(Column::Number(
                v.into_iter().map(|x| x.is_finite().then_some(x)).collect(),
            ))
        }
        TypeDescriptor::Boolean => {
            let v = read_field(table, name, TypeDescriptor::Boolean, 1).map_err(shown)?;
            Ok(Column::Bool(v.into_iter().map(|b| Some(b != 0)).collect()))
        }
        TypeDescriptor::FixedAscii(k) | TypeDescriptor::FixedUnicode(k) => {
            let v = read_field(table, name, f.ty.clone(), k).map_err(shown)?;
            // One String per record, whatever its width: a table of narrow strings costs
            // more as Strings than its bytes on disk, which `read_field` guarded (found
            // by the h5ad fuzz target: 7.5 M one-byte records made 180 MB of Strings).
            super::guard_strings(
                v.len() / k.max(1),
                k,
                &format!("the table field {name} as text"),
            )
            .map_err(shown)?;
            Ok(Column::Text(
                v.chunks_exact(k.max(1))
                    .map(|c| {
                        let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
                        Some(String::from_utf8_lossy(&c[..end]).trim_end().to_string())
                    })
                    .collect(),
            ))
        }
        other => Err(shown(Problem::UnknownType(other.to_string()))),
    }
}
