//! `obs` columns of an `.h5ad` file, and the row filters written `obs/COLUMN=VALUE`.

use super::{legacy, string_attr, strings, FilterError, Problem};
use hdf5::{Dataset, File, Group};

/// One `obs` column; `None` marks a missing value (a categorical code of -1, a masked
/// nullable value, NaN).
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Strings and categoricals (their category names).
    Text(Vec<Option<String>>),
    /// Integers and floats.
    Number(Vec<Option<f64>>),
    /// Booleans.
    Bool(Vec<Option<bool>>),
}

impl Column {
    /// The number of cells.
    pub fn len(&self) -> usize {
        match self {
            Column::Text(v) => v.len(),
            Column::Number(v) => v.len(),
            Column::Bool(v) => v.len(),
        }
    }

    /// Whether the column has no cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of cell `r` as text (numbers as Rust prints them: `3`, `0.25`).
    fn text(&self, r: usize) -> Option<String> {
        match self {
            Column::Text(v) => v[r].clone(),
            Column::Number(v) => v[r].map(|x| x.to_string()),
            Column::Bool(v) => v[r].map(|b| b.to_string()),
        }
    }

    /// One label per cell; a missing value is an error naming its row (`name` is the
    /// column's, for messages).
    pub fn labels(&self, name: &str) -> Result<Vec<String>, Problem> {
        // Every cell becomes a String: refused when the labels of a column the file
        // declares large would exceed the memory limit (the column itself was checked as
        // the values it holds, which take less).
        let longest = match self {
            Column::Text(v) => v.iter().flatten().map(String::len).max().unwrap_or(0),
            // Rust prints an f64 in at most 24 characters, a bool in 5.
            Column::Number(_) => 24,
            Column::Bool(_) => 5,
        };
        super::guard_strings(
            self.len(),
            longest,
            &format!("the labels of obs column '{name}'"),
        )?;
        (0..self.len())
            .map(|r| {
                self.text(r).ok_or_else(|| Problem::MissingValue {
                    column: name.into(),
                    row: r,
                })
            })
            .collect()
    }

    /// The distinct values, in order of first appearance, for messages (at most 12).
    fn some_values(&self) -> String {
        let mut seen: Vec<String> = vec![];
        for r in 0..self.len() {
            let v = self.text(r).unwrap_or_else(|| "<missing>".into());
            if !seen.contains(&v) {
                seen.push(v);
            }
            if seen.len() > 12 {
                seen.push("...".into());
                break;
            }
        }
        seen.join(", ")
    }
}

/// The column `name` of the `obs` table of `file`.
pub(super) fn column(file: &File, name: &str) -> Result<Column, Problem> {
    if let Ok(table) = file.dataset("obs") {
        return legacy::obs_field(file, &table, name);
    }
    let obs = file.group("obs").map_err(|_| Problem::NotAnnData)?;
    let index = string_attr(&obs, "_index");
    if !obs.link_exists(name) || index.as_deref() == Some(name) || name == "__categories" {
        let columns: Vec<String> = obs
            .member_names()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| Some(c) != index.as_ref() && c != "__categories")
            .collect();
        return Err(Problem::NoColumn {
            column: name.into(),
            columns,
        });
    }
    let shown = |e: Problem| e.of_column(name);
    if let Ok(ds) = obs.dataset(name) {
        if ds.attr("categories").is_ok() {
            // anndata 0.7: codes here, the categories in obs/__categories/NAME.
            let cats = obs
                .dataset(&format!("__categories/{name}"))
                .map_err(|_| shown(Problem::NoCategories))?;
            return categorical(codes(&ds).map_err(shown)?, &cats).map_err(shown);
        }
        return plain(&ds).map_err(shown);
    }
    let g = obs
        .group(name)
        .map_err(|e| shown(Problem::Io(e.to_string())))?;
    match string_attr(&g, "encoding-type").as_deref() {
        Some("categorical") => {
            let codes = codes(&member(&g, "codes").map_err(shown)?).map_err(shown)?;
            let cats = member(&g, "categories").map_err(shown)?;
            categorical(codes, &cats).map_err(shown)
        }
        Some(t) if t.starts_with("nullable-") => {
            let values = plain(&member(&g, "values").map_err(shown)?).map_err(shown)?;
            let mask = member(&g, "mask").map_err(shown)?;
            // A mask declaring more cells than the values is refused before it is read.
            if mask.size() != values.len() {
                return Err(shown(Problem::MaskLength));
            }
            let mask: Vec<bool> = mask
                .read_raw::<bool>()
                .map_err(|e| shown(Problem::Mask(e.to_string())))?;
            if mask.len() != values.len() {
                return Err(shown(Problem::MaskLength));
            }
            Ok(masked(values, &mask))
        }
        other => Err(shown(Problem::UnknownEncoding(
            other.unwrap_or("none").to_string(),
        ))),
    }
}

/// The dataset `name` of the column group `g`.
fn member(g: &Group, name: &str) -> Result<Dataset, Problem> {
    g.dataset(name)
        .map_err(|_| Problem::NoMember(name.to_string()))
}

/// A numeric, boolean or string dataset.
fn plain(ds: &Dataset) -> Result<Column, Problem> {
    // Read as f64 (or i64), then kept as Option<f64>: both at once at the peak.
    super::guard(
        ds.size() as u128,
        8 + std::mem::size_of::<Option<f64>>(),
        "a column",
    )?;
    let ty = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| Problem::Type(e.to_string()))?;
    use hdf5::types::TypeDescriptor as T;
    match ty {
        T::Boolean => ds
            .read_raw::<bool>()
            .map(|v| Column::Bool(v.into_iter().map(Some).collect()))
            .map_err(|e| Problem::Unreadable(e.to_string())),
        T::Integer(_) | T::Unsigned(_) | T::Float(_) => ds
            .read_raw::<f64>()
            .map(|v| Column::Number(v.into_iter().map(|x| x.is_finite().then_some(x)).collect()))
            .map_err(|e| Problem::Unreadable(e.to_string())),
        T::Enum(_) => ds
            .read_raw::<i64>()
            .map(|v| Column::Number(v.into_iter().map(|x| Some(x as f64)).collect()))
            .map_err(|e| Problem::Unreadable(e.to_string())),
        _ => strings(ds).map(|v| Column::Text(v.into_iter().map(Some).collect())),
    }
}

/// Categorical codes.
fn codes(ds: &Dataset) -> Result<Vec<i64>, Problem> {
    super::guard_dataset::<i64>(ds, "category codes")?;
    ds.read_raw::<i64>()
        .map_err(|e| Problem::Codes(e.to_string()))
}

/// Codes (negative: missing) into the categories, which may be strings or numbers.
pub(super) fn categorical(codes: Vec<i64>, categories: &Dataset) -> Result<Column, Problem> {
    let names: Vec<String> = match plain(categories)? {
        Column::Text(v) => v.into_iter().map(Option::unwrap_or_default).collect(),
        other => (0..other.len())
            .map(|r| other.text(r).unwrap_or_default())
            .collect(),
    };
    // Each code becomes a copy of its category's name: refused when the copies of the
    // longest name would exceed the memory limit.
    let longest = names.iter().map(String::len).max().unwrap_or(0);
    super::guard_strings(codes.len(), longest, "categorical values")?;
    codes
        .iter()
        .enumerate()
        .map(|(r, &c)| match c {
            c if c < 0 => Ok(None),
            c if (c as usize) < names.len() => Ok(Some(names[c as usize].clone())),
            c => Err(Problem::BadCode {
                code: c,
                row: r,
                categories: names.len(),
            }),
        })
        .collect::<Result<_, _>>()
        .map(Column::Text)
}

/// `values` with the cells whose mask is true marked missing.
fn masked(values: Column, mask: &[bool]) -> Column {
    fn apply<T>(v: Vec<Option<T>>, mask: &[bool]) -> Vec<Option<T>> {
        v.into_iter()
            .zip(mask)
            .map(|(x, &m)| if m { None } else { x })
            .collect()
    }
    match values {
        Column::Text(v) => Column::Text(apply(v, mask)),
        Column::Number(v) => Column::Number(apply(v, mask)),
        Column::Bool(v) => Column::Bool(apply(v, mask)),
    }
}

/// A selection of cells by one `obs` column: `obs/COLUMN=V1,V2` keeps the cells whose
/// value is one of the listed ones, `obs/COLUMN!=V1,V2` the others. Numeric columns compare
/// as numbers (`time=1` matches 1.0), boolean ones take true/false (or 1/0). Cells with a
/// missing value are never kept.
#[derive(Debug, Clone, PartialEq)]
pub struct RowFilter {
    /// The `obs` column.
    pub column: String,
    /// The listed values.
    pub values: Vec<String>,
    /// `!=`: keep the cells whose value is not listed.
    pub negate: bool,
}

impl std::str::FromStr for RowFilter {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<RowFilter, FilterError> {
        let bad = || FilterError::Syntax(text.into());
        let body = text.strip_prefix("obs/").unwrap_or(text);
        let (column, values, negate) = match body.split_once("!=") {
            Some((c, v)) => (c, v, true),
            None => body
                .split_once('=')
                .map(|(c, v)| (c, v, false))
                .ok_or_else(bad)?,
        };
        let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
        if column.trim().is_empty() || values.iter().any(String::is_empty) {
            return Err(bad());
        }
        Ok(RowFilter {
            column: column.trim().to_string(),
            values,
            negate,
        })
    }
}

impl std::fmt::Display for RowFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = if self.negate { "!=" } else { "=" };
        write!(f, "obs/{}{op}{}", self.column, self.values.join(","))
    }
}

impl RowFilter {
    /// The rows of `column` (this filter's column) that the filter keeps, in order; an
    /// error when a value cannot be compared or when no cell is kept.
    pub fn select(&self, column: &Column) -> Result<Vec<usize>, FilterError> {
        let keep: Box<dyn Fn(usize) -> Option<bool>> = match column {
            Column::Text(v) => Box::new(move |r| v[r].as_ref().map(|x| self.values.contains(x))),
            Column::Number(v) => {
                let wanted: Vec<f64> = self
                    .values
                    .iter()
                    .map(|s| {
                        s.parse::<f64>().map_err(|_| FilterError::NotNumber {
                            filter: self.to_string(),
                            column: self.column.clone(),
                            value: s.clone(),
                        })
                    })
                    .collect::<Result<_, _>>()?;
                Box::new(move |r| v[r].map(|x| wanted.contains(&x)))
            }
            Column::Bool(v) => {
                let wanted: Vec<bool> = self
                    .values
                    .iter()
                    .map(|s| match s.to_ascii_lowercase().as_str() {
                        "true" | "1" => Ok(true),
                        "false" | "0" => Ok(false),
                        _ => Err(FilterError::NotBool {
                            filter: self.to_string(),
                            column: self.column.clone(),
                            value: s.clone(),
                        }),
                    })
                    .collect::<Result<_, _>>()?;
                Box::new(move |r| v[r].map(|x| wanted.contains(&x)))
            }
        };
        let rows: Vec<usize> = (0..column.len())
            .filter(|&r| keep(r).is_some_and(|hit| hit != self.negate))
            .collect();
        if rows.is_empty() {
            return Err(FilterError::Empty {
                filter: self.to_string(),
                column: self.column.clone(),
                values: column.some_values(),
            });
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_select() {
        let f: RowFilter = "obs/condition=stim,ctrl".parse().unwrap();
        assert_eq!(f.column, "condition");
        assert_eq!(f.values, ["stim", "ctrl"]);
        assert!(!f.negate);
        let g: RowFilter = "time!=0".parse().unwrap();
        assert!(g.negate);
        assert_eq!(g.to_string(), "obs/time!=0");
        for bad in ["obs/condition", "=x", "obs/c=", "obs/c=a,,b"] {
            assert!(bad.parse::<RowFilter>().is_err(), "{bad}");
        }
        let text = Column::Text(vec![
            Some("stim".into()),
            None,
            Some("other".into()),
            Some("ctrl".into()),
        ]);
        assert_eq!(f.select(&text).unwrap(), [0, 3]);
        let not_other: RowFilter = "c!=other".parse().unwrap();
        // The missing value is kept by neither = nor !=.
        assert_eq!(not_other.select(&text).unwrap(), [0, 3]);
        let nums = Column::Number(vec![Some(0.0), Some(1.0), None, Some(1.0)]);
        assert_eq!(
            "t=1".parse::<RowFilter>().unwrap().select(&nums).unwrap(),
            [1, 3]
        );
        assert_eq!(g.select(&nums).unwrap(), [1, 3]);
        let e = "t=one"
            .parse::<RowFilter>()
            .unwrap()
            .select(&nums)
            .unwrap_err();
        assert!(matches!(&e, FilterError::NotNumber { value, .. } if value == "one"));
        let e = e.to_string();
        assert!(e.contains("numeric") && e.contains("'one'"), "{e}");
        let flags = Column::Bool(vec![Some(true), Some(false)]);
        assert_eq!(
            "f=True"
                .parse::<RowFilter>()
                .unwrap()
                .select(&flags)
                .unwrap(),
            [0]
        );
        let e = "c=none"
            .parse::<RowFilter>()
            .unwrap()
            .select(&text)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("keeps no cells") && e.contains("stim, <missing>, other"),
            "{e}"
        );
    }

    #[test]
    fn labels_name_the_missing_row() {
        let c = Column::Number(vec![Some(2.0), Some(0.5), None]);
        let e = c.labels("dose").unwrap_err();
        assert_eq!(
            e,
            Problem::MissingValue {
                column: "dose".into(),
                row: 2
            }
        );
        let e = e.to_string();
        assert!(e.contains("row 2") && e.contains("'dose'"), "{e}");
        let ok = Column::Number(vec![Some(2.0), Some(0.5)])
            .labels("d")
            .unwrap();
        assert_eq!(ok, ["2", "0.5"]);
    }
}
