//! The errors of the `.h5ad` reader and writer. A [`Problem`] is what is wrong with a
//! file or with one of its parts; its text completes "file '<path>' ...", as an
//! [`H5adError`] (the file and the problem) shows it. The settings a message names are in
//! backquotes (`` `max_memory` ``), as the other library errors name them.

use std::path::PathBuf;
use thiserror::Error;

/// An error reading an `.h5ad` file: which file, and what is wrong with it.
#[derive(Debug, Error, Clone, PartialEq)]
#[error("file '{}' {problem}", file.display())]
pub struct H5adError {
    /// The file.
    pub file: PathBuf,
    /// What is wrong with it.
    pub problem: Box<Problem>,
}

/// What is wrong with an `.h5ad` file or one of its parts (a dataset, an `obs` column).
/// The text completes "file '<path>' ...".
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Problem {
    /// The file does not exist.
    #[error("does not exist")]
    Missing,
    /// The file is not HDF5, or is truncated.
    #[error("is not a readable HDF5 (.h5ad) file; truncated or not HDF5 ({0})")]
    NotHdf5(String),
    /// The file has no `obs`.
    #[error("has no obs table: it is not an AnnData file")]
    NotAnnData,
    /// The `obs` group has no index dataset.
    #[error("has no obs index (obs/{index})")]
    NoIndex {
        /// The name of the index dataset.
        index: String,
    },
    /// A group (`obsm`, `layers`) is missing.
    #[error("has no {group} (asked for {asked})")]
    NoGroup {
        /// The missing group.
        group: String,
        /// The entry asked for (`layers/counts`).
        asked: String,
    },
    /// An entry of a group is missing; the message lists the group's entries.
    #[error("has no {path} ({group}: {}{hint})", listing(.entries))]
    NoEntry {
        /// The entry asked for (`obsm/X_umap`).
        path: String,
        /// Its group.
        group: String,
        /// The entries the group has.
        entries: Vec<String>,
        /// Ends the message (`; use X or layers/NAME for the others`).
        hint: &'static str,
    },
    /// A dataset or group is missing.
    #[error("has no {path}")]
    NoDataset {
        /// Its path in the file.
        path: String,
    },
    /// A field of an old-style compound table (`obs`, `obsm`) is missing; the message lists
    /// the table's fields.
    #[error("has no {one} '{name}' ({many}: {})", listing(.fields))]
    NoField {
        /// What a field is here (`entry`, `obs column`).
        one: &'static str,
        /// The same in the plural (`entries`, `columns`).
        many: &'static str,
        /// The field asked for.
        name: String,
        /// The fields the table has.
        fields: Vec<String>,
    },
    /// An `obs` column is missing; the message lists the columns.
    #[error("has no obs column '{column}' (columns: {})", listing(.columns))]
    NoColumn {
        /// The column asked for.
        column: String,
        /// The columns `obs` has.
        columns: Vec<String>,
    },
    /// A matrix or array has another number of rows than `obs` has cells.
    #[error("is malformed: {dataset} has {rows} rows but obs has {cells} cells")]
    Rows {
        /// The dataset (`X`, `obsm/X_pca`).
        dataset: String,
        /// Its rows.
        rows: usize,
        /// The cells of `obs`.
        cells: usize,
    },
    /// A declared size beyond the memory limit (an HDF5 file can declare sizes far beyond
    /// its own length).
    #[error("declares {what} of {elements} values, {} in memory: more than {} ({source_of_limit}); the file is damaged or too large for this machine (raise the limit with `max_memory` or GENOT_MAX_MEMORY)",
        crate::memory::human(*.bytes), crate::memory::human(*.limit as u128))]
    TooLarge {
        /// What would be read (`a matrix`, `the labels of obs column 'c'`).
        what: String,
        /// Its declared number of values.
        elements: u128,
        /// The bytes they would take.
        bytes: u128,
        /// The memory limit in bytes.
        limit: u64,
        /// Where the limit comes from.
        source_of_limit: &'static str,
    },
    /// A problem of one dataset of the file (`obsm/X_pca: is not numeric (...)`).
    #[error("{dataset}: {problem}")]
    In {
        /// Its path in the file.
        dataset: String,
        /// What is wrong with it.
        problem: Box<Problem>,
    },
    /// A problem of one `obs` column.
    #[error("obs column '{column}' {problem}")]
    Column {
        /// The column.
        column: String,
        /// What is wrong with it.
        problem: Box<Problem>,
    },
    /// A label asked for is missing (a categorical code of -1, a masked value, NaN).
    #[error("obs column '{column}' has a missing value at row {row}")]
    MissingValue {
        /// The column.
        column: String,
        /// The row (the cell) of the missing value.
        row: usize,
    },
    /// A dataset read as numbers is not numeric.
    #[error("is not numeric ({0})")]
    NotNumeric(String),
    /// A matrix dataset of more than two dimensions.
    #[error("is a {0}-D array; expected cells x features")]
    Rank(usize),
    /// A dataset that HDF5 cannot read.
    #[error("cannot be read ({0})")]
    Unreadable(String),
    /// A dataset read as strings is not an array of strings.
    #[error("is not an array of strings ({0})")]
    NotStrings(String),
    /// A group where a matrix was expected, without a sparse encoding.
    #[error("is a group but not a sparse matrix (no encoding-type)")]
    NotSparse,
    /// A group of another encoding than a sparse matrix.
    #[error("has encoding {0}; expected a matrix")]
    Encoding(String),
    /// A sparse matrix without its shape.
    #[error("is a sparse matrix without a shape attribute")]
    NoShape,
    /// A sparse matrix whose shape is not two dimensions.
    #[error("has shape {0:?}; expected two dimensions")]
    Shape(Vec<i64>),
    /// A sparse matrix of negative shape.
    #[error("is a sparse matrix of negative shape ({0}, {1})")]
    NegativeShape(i64, i64),
    /// A sparse matrix without one of its arrays (`data`, `indices`, `indptr`).
    #[error("is a sparse matrix without '{0}'")]
    NoSparseArray(&'static str),
    /// One of a sparse matrix's arrays has the wrong type.
    #[error("{array} {is_not} ({detail})")]
    SparseType {
        /// `data`, `indices` or `indptr`.
        array: &'static str,
        /// `is not numeric`, `are not integers`.
        is_not: &'static str,
        /// HDF5's error.
        detail: String,
    },
    /// A sparse matrix whose arrays do not fit together; the text says how.
    #[error("is a malformed sparse matrix: {0}")]
    MalformedSparse(String),
    /// A dataset whose type cannot be read.
    #[error("has an unreadable type ({0})")]
    Type(String),
    /// An old-style table (`obs`, `obsm`) that is not a compound dataset.
    #[error("is a {0} dataset, not a table")]
    NotTable(String),
    /// An old-style table of more than one dimension.
    #[error("is a table of shape {0:?}; expected one dimension (one record per cell)")]
    TableShape(Vec<usize>),
    /// A field of an old-style table whose memory type cannot be built.
    #[error("cannot describe field {field} ({detail})")]
    FieldType {
        /// The field.
        field: String,
        /// HDF5's error.
        detail: String,
    },
    /// A field of an old-style table whose size overflows.
    #[error("field {field}: {records} records of {size} bytes overflow")]
    FieldOverflow {
        /// The field.
        field: String,
        /// The table's records.
        records: usize,
        /// Bytes per record.
        size: usize,
    },
    /// A field of an old-style table that HDF5 cannot read.
    #[error("field {field} cannot be read as {size}-byte records")]
    FieldRead {
        /// The field.
        field: String,
        /// Bytes per record.
        size: usize,
    },
    /// A field of an `obsm` table that is not numeric.
    #[error("holds {0}, not numbers")]
    NotNumbers(String),
    /// A field of an `obs` table of a type this reader does not read.
    #[error("holds {0}, which this reader does not read")]
    UnknownType(String),
    /// An anndata 0.7 categorical column without its categories.
    #[error("is categorical but obs/__categories has no entry")]
    NoCategories,
    /// A column group without one of its members (`codes`, `categories`, `values`, `mask`).
    #[error("has no '{0}'")]
    NoMember(String),
    /// A nullable column whose mask does not match its values.
    #[error("has a mask of another length than its values")]
    MaskLength,
    /// A nullable column whose mask cannot be read.
    #[error("has an unreadable mask ({0})")]
    Mask(String),
    /// A column group of an unknown encoding.
    #[error("has an encoding this reader does not know ({0})")]
    UnknownEncoding(String),
    /// Categorical codes that cannot be read.
    #[error("has unreadable codes ({0})")]
    Codes(String),
    /// A categorical code beyond the categories.
    #[error("is malformed: code {code} at row {row} but only {categories} categories")]
    BadCode {
        /// The code.
        code: i64,
        /// Its row (the cell).
        row: usize,
        /// The number of categories.
        categories: usize,
    },
    /// A file that keeps `obs` or `obsm` as a table (anndata < 0.7), which the writer does
    /// not write into.
    #[error("the input keeps {0} as a table (written by anndata < 0.7): re-save it with a current anndata, or write .npy")]
    OldTables(&'static str),
    /// A prediction of another number of rows than the file has cells.
    #[error("{name} has {rows} rows but the file has {cells} cells")]
    PredictionRows {
        /// Where it would go (`obsm/X_genot`).
        name: String,
        /// Its rows.
        rows: usize,
        /// The cells of the file.
        cells: usize,
    },
    /// A prediction that would replace the cell index.
    #[error("obs/{0} is the cell index; choose another `out` key")]
    CellIndex(String),
    /// A name HDF5 cannot store as a string.
    #[error("column name {name}: {detail}")]
    ColumnName {
        /// The name.
        name: String,
        /// HDF5's error.
        detail: String,
    },
    /// An I/O or HDF5 error while copying or writing.
    #[error("{0}")]
    Io(String),
}

impl Problem {
    /// This problem, of the dataset `dataset`.
    pub(crate) fn of(self, dataset: &str) -> Problem {
        Problem::In {
            dataset: dataset.to_string(),
            problem: Box::new(self),
        }
    }

    /// This problem, of the `obs` column `column`.
    pub(crate) fn of_column(self, column: &str) -> Problem {
        Problem::Column {
            column: column.to_string(),
            problem: Box::new(self),
        }
    }

    /// This problem, in the file `file`.
    pub fn in_file(self, file: impl Into<PathBuf>) -> H5adError {
        H5adError {
            file: file.into(),
            problem: Box::new(self),
        }
    }
}

/// Text that is not a matrix of an `.h5ad` file (`X`, `obsm/NAME`, `layers/NAME`).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("'{text}' is not a matrix of an .h5ad file: use X, obsm/NAME or layers/NAME")]
pub struct KeyError {
    /// The text given.
    pub text: String,
}

/// A row filter that does not parse, or that cannot be applied to its column.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FilterError {
    /// Text that is not `obs/COLUMN=VALUE[,VALUE...]` (or `!=`).
    #[error("'{0}' is not a filter: write obs/COLUMN=VALUE (several values separated by commas; != keeps the others)")]
    Syntax(String),
    /// A value that is not a number, for a numeric column.
    #[error("filter {filter}: obs column '{column}' is numeric and '{value}' is not a number")]
    NotNumber {
        /// The filter as written (`obs/time=one`).
        filter: String,
        /// Its column.
        column: String,
        /// The value.
        value: String,
    },
    /// A value that is not `true` or `false`, for a boolean column.
    #[error("filter {filter}: obs column '{column}' is boolean: use true or false, not '{value}'")]
    NotBool {
        /// The filter as written.
        filter: String,
        /// Its column.
        column: String,
        /// The value.
        value: String,
    },
    /// The filter keeps no cell; the message shows some of the column's values.
    #[error("filter {filter} keeps no cells (values of '{column}': {values})")]
    Empty {
        /// The filter as written.
        filter: String,
        /// Its column.
        column: String,
        /// Its distinct values (at most 12, then `...`).
        values: String,
    },
}

/// An error writing predictions into a copy of an `.h5ad` file.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum WriteError {
    /// The output is the input file (under any name).
    #[error("'{}' is the input file: write the predictions to another .h5ad (the input is never overwritten)", .0.display())]
    IsInput(PathBuf),
    /// Writing the output failed; nothing was written in its place.
    #[error("cannot write '{}': {problem}", output.display())]
    Write {
        /// The output file.
        output: PathBuf,
        /// What went wrong.
        problem: Problem,
    },
}

/// "a, b, c", or "none".
pub(crate) fn listing(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
