//! The data arguments of the commands, each parsed once into a typed spec: a file of
//! points ([`PointsSpec`]: `cells.npy`, `cells.csv[:a,b]`, `cells.h5ad[:KEY]`) or of labels
//! ([`LabelsSpec`]: `labels.csv[:column]`, `cells.h5ad:obs/COLUMN`, or `obs/COLUMN` of the
//! side's data file). They are the clap value parsers of those arguments, so a malformed
//! spec is refused when the command line is parsed, with a message that names the
//! argument; they read from and write to the `--config` TOML (and `OUT/fit.toml`) as the
//! text they were given.

use crate::h5ad;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a data argument does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpecError {
    /// A points file of a format the readers do not read.
    #[error("unsupported format (expected .npy, .csv with an optional :column,list, or .h5ad with an optional :obsm/NAME or :layers/NAME)")]
    Format,
    /// An `.h5ad` key that is not a matrix of the file.
    #[error(transparent)]
    Key(#[from] h5ad::KeyError),
    /// An `.h5ad` labels spec that names no `obs` column.
    #[error("labels come from an obs column: write FILE.h5ad:obs/COLUMN")]
    LabelsKey,
}

/// What a [`PointsSpec`] reads of its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Points {
    /// A `.npy` array (float32 or float64, 1-D or 2-D).
    Npy,
    /// The columns of a `.csv` file with a header row: all of them, or those named.
    Csv(Option<Vec<String>>),
    /// A matrix of an `.h5ad` file (`X` when the spec names none).
    H5ad(h5ad::Key),
}

/// A file of points as a data argument gives it: `cells.npy`, `cells.csv`,
/// `cells.csv:pc1,pc2`, `cells.h5ad` (X), `cells.h5ad:obsm/X_pca`, `cells.h5ad:layers/NAME`.
///
/// ```
/// use genot_cli::spec::{Points, PointsSpec};
/// let s: PointsSpec = "cells.h5ad:obsm/X_pca".parse().unwrap();
/// assert_eq!(s.path(), std::path::Path::new("cells.h5ad"));
/// assert_eq!(s.to_string(), "cells.h5ad:obsm/X_pca");
/// assert!(matches!(s.points(), Points::H5ad(_)));
/// assert!("cells.h5ad:uns/x".parse::<PointsSpec>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointsSpec {
    /// As given, for messages and the config file.
    text: String,
    /// The file.
    path: PathBuf,
    /// What is read of it.
    points: Points,
}

impl PointsSpec {
    /// Parses a spec given as a path (a path that is not valid UTF-8 can only name a whole
    /// `.npy`, `.csv` or `.h5ad` file).
    pub fn from_path(spec: &Path) -> Result<PointsSpec, SpecError> {
        let text = spec.to_string_lossy().into_owned();
        let (path, points) = match h5ad::split_spec(spec) {
            Some((path, key)) => {
                let key = match key {
                    Some(k) => h5ad::Key::parse(&k)?,
                    None => h5ad::Key::X,
                };
                (path, Points::H5ad(key))
            }
            None => match split_columns(&text) {
                Some((path, columns)) => (path, Points::Csv(Some(columns))),
                None => {
                    let points = match spec.extension().and_then(|e| e.to_str()) {
                        Some("npy") => Points::Npy,
                        Some("csv") => Points::Csv(None),
                        _ => return Err(SpecError::Format),
                    };
                    (spec.to_path_buf(), points)
                }
            },
        };
        Ok(PointsSpec { text, path, points })
    }

    /// The whole `.npy` file `path` (for a program that wrote it).
    pub fn npy(path: impl Into<PathBuf>) -> PointsSpec {
        let path = path.into();
        PointsSpec {
            text: path.to_string_lossy().into_owned(),
            path,
            points: Points::Npy,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What is read of the file.
    pub fn points(&self) -> &Points {
        &self.points
    }

    /// The `.h5ad` file, when the points come from one.
    pub fn h5ad_file(&self) -> Option<&Path> {
        matches!(self.points, Points::H5ad(_)).then_some(self.path.as_path())
    }

    /// The clap value parser of a points argument.
    pub fn parser() -> impl clap::builder::TypedValueParser<Value = PointsSpec> {
        use clap::builder::TypedValueParser;
        clap::builder::PathBufValueParser::new().try_map(|p| PointsSpec::from_path(&p))
    }
}

/// Where a [`LabelsSpec`] reads its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Labels {
    /// A CSV file with a header row: its only column, or the one named.
    Csv {
        /// The file.
        path: PathBuf,
        /// The columns named after the colon (one is read).
        columns: Option<Vec<String>>,
    },
    /// The `obs` column of an `.h5ad` file.
    H5ad {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
    },
    /// `obs/COLUMN`: the column of the side's data file (an `.h5ad`); a file of that name,
    /// when there is one, is read as a CSV instead.
    Obs(String),
}

/// A file of labels (one per row) as a data argument gives it: `labels.csv`,
/// `labels.csv:cell_type`, `cells.h5ad:obs/cell_type`, or `obs/cell_type` (a column of the
/// side's `.h5ad` data file).
///
/// ```
/// use genot_cli::spec::{Labels, LabelsSpec};
/// let s: LabelsSpec = "obs/batch".parse().unwrap();
/// assert_eq!(s.labels(), &Labels::Obs("batch".into()));
/// assert!("cells.h5ad:X".parse::<LabelsSpec>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelsSpec {
    /// As given, for messages and the config file.
    text: String,
    /// Where the labels are.
    labels: Labels,
}

/// Whether `text` names an `obs` column of the side's data (`obs/COLUMN`), not a path: a
/// `.csv` in a folder named obs stays a path.
pub fn names_obs_column(text: &str) -> bool {
    text.starts_with("obs/") && !text.ends_with(".csv")
}

impl LabelsSpec {
    /// Parses a spec given as a path.
    pub fn from_path(spec: &Path) -> Result<LabelsSpec, SpecError> {
        let text = spec.to_string_lossy().into_owned();
        let labels = match h5ad::split_spec(spec) {
            Some((path, key)) => {
                let column = key
                    .as_deref()
                    .and_then(|k| k.strip_prefix("obs/"))
                    .filter(|c| !c.is_empty())
                    .ok_or(SpecError::LabelsKey)?;
                Labels::H5ad {
                    path,
                    column: column.to_string(),
                }
            }
            None if names_obs_column(&text) => Labels::Obs(text["obs/".len()..].to_string()),
            None => match split_columns(&text) {
                Some((path, columns)) => Labels::Csv {
                    path,
                    columns: Some(columns),
                },
                None => Labels::Csv {
                    path: spec.to_path_buf(),
                    columns: None,
                },
            },
        };
        Ok(LabelsSpec { text, labels })
    }

    /// Where the labels are.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// The file the labels are read from; `None` for `obs/COLUMN` (the side's data file).
    pub fn path(&self) -> Option<&Path> {
        match &self.labels {
            Labels::Csv { path, .. } | Labels::H5ad { path, .. } => Some(path),
            Labels::Obs(_) => None,
        }
    }

    /// The spec as given, as a path (`obs/COLUMN` too).
    pub fn as_path(&self) -> &Path {
        Path::new(&self.text)
    }

    /// The clap value parser of a labels argument.
    pub fn parser() -> impl clap::builder::TypedValueParser<Value = LabelsSpec> {
        use clap::builder::TypedValueParser;
        clap::builder::PathBufValueParser::new().try_map(|p| LabelsSpec::from_path(&p))
    }
}

/// Splits `file.csv:colA,colB` into the path and the selected columns.
fn split_columns(text: &str) -> Option<(PathBuf, Vec<String>)> {
    let k = text.rfind(".csv:")?;
    let columns = text[k + 5..]
        .split(',')
        .map(|c| c.trim().to_string())
        .collect();
    Some((PathBuf::from(&text[..k + 4]), columns))
}

/// Display, parsing and serde as the text given, for both kinds of spec.
macro_rules! as_text {
    ($t:ty) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.text)
            }
        }

        impl std::str::FromStr for $t {
            type Err = SpecError;
            fn from_str(text: &str) -> Result<Self, SpecError> {
                Self::from_path(Path::new(text))
            }
        }

        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.text)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

as_text!(PointsSpec);
as_text!(LabelsSpec);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses_once_and_reads_back() {
        let p = |t: &str| t.parse::<PointsSpec>().unwrap();
        assert_eq!(p("x.npy").points(), &Points::Npy);
        assert_eq!(p("dir/x.csv").points(), &Points::Csv(None));
        let c = p("dir/x.csv:a, b");
        assert_eq!(c.path(), Path::new("dir/x.csv"));
        assert_eq!(c.points(), &Points::Csv(Some(vec!["a".into(), "b".into()])));
        assert_eq!(p("c.h5ad").points(), &Points::H5ad(h5ad::Key::X));
        assert_eq!(
            p("c.h5ad:layers/counts").points(),
            &Points::H5ad(h5ad::Key::Layer("counts".into()))
        );
        assert_eq!(p("c.h5ad:X").h5ad_file(), Some(Path::new("c.h5ad")));
        assert_eq!(p("x.npy").h5ad_file(), None);
        let l = |t: &str| t.parse::<LabelsSpec>().unwrap();
        assert_eq!(
            l("c.h5ad:obs/cell_type").labels(),
            &Labels::H5ad {
                path: "c.h5ad".into(),
                column: "cell_type".into()
            }
        );
        assert_eq!(l("obs/batch").labels(), &Labels::Obs("batch".into()));
        assert_eq!(l("obs/batch").path(), None);
        assert_eq!(
            l("obs/labels.csv").path(),
            Some(Path::new("obs/labels.csv"))
        );
        assert_eq!(
            l("l.csv:type").labels(),
            &Labels::Csv {
                path: "l.csv".into(),
                columns: Some(vec!["type".into()])
            }
        );
        // serde and Display give back the text as given.
        for text in ["c.h5ad:obsm/X_pca", "x.csv:a,b", "x.npy"] {
            let s = p(text);
            assert_eq!(s.to_string(), text);
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<PointsSpec>(&json).unwrap(), s);
        }
        let e = serde_json::from_str::<PointsSpec>(r#""c.h5ad:uns/x""#).unwrap_err();
        assert!(
            e.to_string().contains("use X, obsm/NAME or layers/NAME"),
            "{e}"
        );
    }

    #[test]
    fn malformed_specs_say_why() {
        assert_eq!("x.txt".parse::<PointsSpec>(), Err(SpecError::Format));
        assert_eq!(
            "c.h5ad:uns/x".parse::<PointsSpec>(),
            Err(SpecError::Key(h5ad::KeyError {
                text: "uns/x".into()
            }))
        );
        for bad in ["c.h5ad", "c.h5ad:X", "c.h5ad:obs/"] {
            assert_eq!(
                bad.parse::<LabelsSpec>(),
                Err(SpecError::LabelsKey),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_malformed_spec_is_refused_when_parsed_naming_the_argument() {
        let cmd = || {
            clap::Command::new("t")
                .no_binary_name(true)
                .arg(
                    clap::Arg::new("source")
                        .long("source")
                        .value_parser(PointsSpec::parser()),
                )
                .arg(
                    clap::Arg::new("labels")
                        .long("labels")
                        .value_parser(LabelsSpec::parser()),
                )
        };
        let e = cmd()
            .try_get_matches_from(["--source", "cells.h5ad:uns/x"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'cells.h5ad:uns/x'")
                && e.contains("--source")
                && e.contains("use X, obsm/NAME or layers/NAME"),
            "{e}"
        );
        let e = cmd()
            .try_get_matches_from(["--labels", "cells.h5ad:X"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--labels") && e.contains("obs/COLUMN"), "{e}");
        let m = cmd()
            .try_get_matches_from(["--source", "cells.h5ad:obsm/X_pca"])
            .unwrap();
        assert_eq!(
            m.get_one::<PointsSpec>("source").unwrap().points(),
            &Points::H5ad(h5ad::Key::Obsm("X_pca".into()))
        );
    }
}
