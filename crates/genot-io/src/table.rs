//! The `.csv` reader: a header row that names the columns, then one row per point
//! (numeric cells) or per label. Reads from any `Read`, so the fuzz target and the tests
//! read bytes; the CLI reads files. What it keeps grows with the rows it has read, never
//! with a size the file declares.

use ndarray::Array2;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use thiserror::Error;

/// What is wrong with a `.csv` input. The text completes "<what> file '<path>' ..."; line
/// numbers count the header as line 1.
#[derive(Debug, Error, PartialEq)]
pub enum CsvError {
    #[error("cannot be read: {0}")]
    Io(String),
    #[error("has no readable header row: {0}")]
    Header(String),
    #[error("has no header row: its first line ({0}) holds numbers; the first line of a CSV input names the columns (e.g. x0,x1)")]
    NumericHeader(String),
    #[error("has an empty column name in its header row (column {0})")]
    EmptyName(usize),
    #[error("has the column name '{name}' twice in its header row (columns {first} and {second})")]
    DuplicateName {
        name: String,
        first: usize,
        second: usize,
    },
    #[error("has no column '{name}' (columns: {columns})")]
    NoColumn { name: String, columns: String },
    #[error("line {line} has {got} fields but the header has {header}")]
    Fields {
        line: usize,
        got: u64,
        header: usize,
    },
    #[error("line {line} cannot be read: {why}")]
    Line { line: usize, why: String },
    #[error("line {line}, column '{column}': '{cell}' is not a number")]
    NotNumber {
        line: usize,
        column: String,
        cell: String,
    },
    #[error("has no header row: it is empty")]
    NoHeader,
    #[error("labels come from one column: name exactly one")]
    LabelColumns,
    #[error("has {n} columns: name the label column, e.g. '{shown}:{first}'")]
    WhichLabel {
        n: usize,
        shown: String,
        first: String,
    },
}

fn reader<R: Read>(input: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(input)
}

/// The header row, its names trimmed and checked by [`check_header`].
fn header<R: Read>(reader: &mut csv::Reader<R>) -> Result<Vec<String>, CsvError> {
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| CsvError::Header(e.to_string()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    check_header(&header)?;
    Ok(header)
}

/// The position of each selected column.
fn positions(header: &[String], names: &[String]) -> Result<Vec<usize>, CsvError> {
    names
        .iter()
        .map(|n| {
            header
                .iter()
                .position(|h| h == n)
                .ok_or_else(|| CsvError::NoColumn {
                    name: n.clone(),
                    columns: header.join(", "),
                })
        })
        .collect()
}

/// Reads numeric columns (all of them, or those named in `selection`) as an `n x d` matrix.
pub fn read_points_from<R: Read>(
    input: R,
    selection: Option<&[String]>,
) -> Result<Array2<f64>, CsvError> {
    let mut reader = reader(input);
    let header = header(&mut reader)?;
    let columns: Vec<usize> = match selection {
        None => (0..header.len()).collect(),
        Some(names) => positions(&header, names)?,
    };
    let mut data = Vec::new();
    let mut rows = 0;
    for (k, record) in reader.records().enumerate() {
        let line = k + 2;
        let record = record.map_err(|e| match e.kind() {
            csv::ErrorKind::UnequalLengths { len, .. } => CsvError::Fields {
                line,
                got: *len,
                header: header.len(),
            },
            _ => CsvError::Line {
                line,
                why: e.to_string(),
            },
        })?;
        for &c in &columns {
            let cell = record.get(c).unwrap_or("").trim();
            let v: f64 = cell.parse().map_err(|_| CsvError::NotNumber {
                line,
                column: header[c].clone(),
                cell: cell.to_string(),
            })?;
            data.push(v);
        }
        rows += 1;
    }
    Array2::from_shape_vec((rows, columns.len()), data).map_err(|e| CsvError::Io(e.to_string()))
}

/// [`read_points_from`] on the file at `path`.
pub fn read_points(path: &Path, selection: Option<&[String]>) -> Result<Array2<f64>, CsvError> {
    let file = std::fs::File::open(path).map_err(|e| CsvError::Io(e.to_string()))?;
    read_points_from(std::io::BufReader::new(file), selection)
}

/// Reads one label per row: the only column, or the one named in `selection` (exactly
/// one). `shown` is the file as messages show it (in the hint that names a column).
pub fn read_labels_from<R: Read>(
    input: R,
    selection: Option<&[String]>,
    shown: &str,
) -> Result<Vec<String>, CsvError> {
    let mut reader = reader(input);
    let header = header(&mut reader)?;
    let col = match selection {
        Some([name]) => positions(&header, std::slice::from_ref(name))?[0],
        Some(_) => return Err(CsvError::LabelColumns),
        None if header.is_empty() => return Err(CsvError::NoHeader),
        None if header.len() == 1 => 0,
        None => {
            return Err(CsvError::WhichLabel {
                n: header.len(),
                shown: shown.to_string(),
                first: header[0].clone(),
            })
        }
    };
    reader
        .records()
        .enumerate()
        .map(|(k, r)| {
            let r = r.map_err(|e| CsvError::Line {
                line: k + 2,
                why: e.to_string(),
            })?;
            Ok(r.get(col).unwrap_or("").trim().to_string())
        })
        .collect()
}

/// [`read_labels_from`] on the file at `path`.
pub fn read_labels(
    path: &Path,
    selection: Option<&[String]>,
    shown: &str,
) -> Result<Vec<String>, CsvError> {
    let file = std::fs::File::open(path).map_err(|e| CsvError::Io(e.to_string()))?;
    read_labels_from(std::io::BufReader::new(file), selection, shown)
}

/// Checks the header row of a CSV input: it names its columns (a first line of numbers
/// is data, not a header), each name once.
pub fn check_header(header: &[String]) -> Result<(), CsvError> {
    if !header.is_empty() && header.iter().all(|h| h.parse::<f64>().is_ok()) {
        return Err(CsvError::NumericHeader(header.join(",")));
    }
    if let Some(empty) = header.iter().position(|h| h.is_empty()) {
        return Err(CsvError::EmptyName(empty + 1));
    }
    // One pass with a map: a header of many columns costs linear time, not quadratic.
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(header.len());
    for (k, h) in header.iter().enumerate() {
        if let Some(&j) = seen.get(h.as_str()) {
            return Err(CsvError::DuplicateName {
                name: h.clone(),
                first: j + 1,
                second: k + 1,
            });
        }
        seen.insert(h, k);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(text: &str) -> Result<Array2<f64>, CsvError> {
        read_points_from(text.as_bytes(), None)
    }

    #[test]
    fn reads_points_and_names_the_line_and_column() {
        let x = points("a,b\n1,2\n3, 4\n").unwrap();
        assert_eq!(x, ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
        let sel = vec!["b".to_string()];
        let x = read_points_from("a,b\n1,2\n3,4\n".as_bytes(), Some(&sel)).unwrap();
        assert_eq!(x, ndarray::array![[2.0], [4.0]]);
        let e = points("a,b\n1,2\n3,x\n").unwrap_err();
        assert_eq!(e.to_string(), "line 3, column 'b': 'x' is not a number");
        let e = points("a,b\n1,2\n3\n").unwrap_err();
        assert_eq!(e.to_string(), "line 3 has 1 fields but the header has 2");
        assert!(matches!(
            points("1,2\n3,4\n"),
            Err(CsvError::NumericHeader(_))
        ));
        assert_eq!(points("a,\n1,2\n"), Err(CsvError::EmptyName(2)));
        let e = points("a,b,a\n1,2,3\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "has the column name 'a' twice in its header row (columns 1 and 3)"
        );
        let sel = vec!["c".to_string()];
        let e = read_points_from("a,b\n1,2\n".as_bytes(), Some(&sel)).unwrap_err();
        assert_eq!(e.to_string(), "has no column 'c' (columns: a, b)");
    }

    #[test]
    fn reads_labels() {
        let l = read_labels_from("t\nx\ny\n".as_bytes(), None, "f.csv").unwrap();
        assert_eq!(l, ["x", "y"]);
        let e = read_labels_from("a,b\n1,2\n".as_bytes(), None, "f.csv").unwrap_err();
        assert_eq!(
            e.to_string(),
            "has 2 columns: name the label column, e.g. 'f.csv:a'"
        );
    }

    /// Found by the csv fuzz target: an empty labels file (no header, no columns) panicked
    /// while naming the column to choose (`header[0]`).
    #[test]
    fn an_empty_labels_file_is_an_error() {
        for empty in ["", "\n", "\r\n"] {
            let e = read_labels_from(empty.as_bytes(), None, "f.csv").unwrap_err();
            assert_eq!(e, CsvError::NoHeader, "{empty:?}");
        }
    }

    /// A header of many distinct columns is checked in linear time (the check compared
    /// every pair of names: 200k columns took minutes).
    #[test]
    fn a_wide_header_is_checked_quickly() {
        let header: Vec<String> = (0..200_000).map(|k| format!("c{k}")).collect();
        let t = std::time::Instant::now();
        check_header(&header).unwrap();
        assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
    }
}
