//! The `.npy` reader: the header is parsed and its shape checked against the file's size
//! before anything is allocated, so a file cannot make the reader allocate more than the
//! file itself holds (a header that claims `(100000000000, 2)` on a 1.6 KB file is an
//! error that says so, not an allocation failure). The data are then decoded by
//! `ndarray-npy` from the bytes read once.

use ndarray::{Array, Dimension};
use ndarray_npy::{ReadNpyError, ReadNpyExt};
use std::path::Path;
use thiserror::Error;

/// What is wrong with a `.npy` file. The text completes "<what> file '<path>' ...".
#[derive(Debug, Error, PartialEq)]
pub enum NpyError {
    #[error("cannot be read: {0}")]
    Io(String),
    #[error("is empty (0 bytes): not an .npy file")]
    Empty,
    #[error("is not an .npy file (it does not start with the .npy magic string)")]
    NotNpy,
    #[error("is truncated: the file ends inside its header ({0} bytes)")]
    TruncatedHeader(usize),
    #[error("is not a valid .npy file: {0}")]
    Header(String),
    #[error("has dtype {0}; expected float32 or float64")]
    Dtype(String),
    #[error("holds Python objects (dtype {0}, e.g. a ragged list); expected a rectangular float32 or float64 array")]
    Objects(String),
    #[error("holds a {got}-D array of shape {}; expected {expected}", tuple(.shape))]
    Ndim {
        got: usize,
        shape: Vec<usize>,
        expected: &'static str,
    },
    #[error("is truncated: its header declares shape {} ({dtype}, {expected} bytes of data) but the file holds {actual} bytes of data", tuple(.shape))]
    Truncated {
        shape: Vec<usize>,
        dtype: String,
        expected: u128,
        actual: u64,
    },
    #[error("has {extra} unexpected bytes after the data of shape {}", tuple(.shape))]
    ExtraBytes { shape: Vec<usize>, extra: u64 },
    #[error("cannot be decoded: {0}")]
    Decode(String),
}

/// A shape as numpy prints it: `(3, 2)`, `(5,)`.
fn tuple(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The parsed header of a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
    /// Bytes before the data (magic, version, length field and header text).
    pub data_offset: usize,
}

impl Header {
    /// Bytes per element for the float types read here, `None` for any other dtype.
    fn float_size(&self) -> Option<usize> {
        match self.descr.as_str() {
            "<f8" | "|f8" | ">f8" => Some(8),
            "<f4" | "|f4" | ">f4" => Some(4),
            _ => None,
        }
    }
}

/// Finds the value text after `'key':` in a header dictionary.
fn value_after<'a>(text: &'a str, key: &str) -> Result<&'a str, NpyError> {
    for quote in ['\'', '"'] {
        let pat = format!("{quote}{key}{quote}");
        if let Some(k) = text.find(&pat) {
            let rest = text[k + pat.len()..].trim_start();
            return rest
                .strip_prefix(':')
                .map(str::trim_start)
                .ok_or_else(|| NpyError::Header(format!("no ':' after the key '{key}'")));
        }
    }
    Err(NpyError::Header(format!("the header has no '{key}' key")))
}

/// Parses the header at the start of `bytes` (a whole file or at least its header).
pub fn parse_header(bytes: &[u8]) -> Result<Header, NpyError> {
    if bytes.is_empty() {
        return Err(NpyError::Empty);
    }
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < MAGIC.len() + 2 {
        return if MAGIC.starts_with(bytes) {
            Err(NpyError::TruncatedHeader(bytes.len()))
        } else {
            Err(NpyError::NotNpy)
        };
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return Err(NpyError::NotNpy);
    }
    let major = bytes[6];
    let (len_bytes, start) = match major {
        1 => (2, 10),
        2 | 3 => (4, 12),
        v => return Err(NpyError::Header(format!("unknown format version {v}"))),
    };
    if bytes.len() < start {
        return Err(NpyError::TruncatedHeader(bytes.len()));
    }
    let header_len = if len_bytes == 2 {
        u16::from_le_bytes([bytes[8], bytes[9]]) as usize
    } else {
        u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
    };
    let end = start
        .checked_add(header_len)
        .ok_or_else(|| NpyError::Header("header length overflows".into()))?;
    if bytes.len() < end {
        return Err(NpyError::TruncatedHeader(bytes.len()));
    }
    let text = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| NpyError::Header("the header is not text".into()))?;
    let descr_text = value_after(text, "descr")?;
    let descr = descr_text
        .strip_prefix('\'')
        .or_else(|| descr_text.strip_prefix('"'))
        .and_then(|r| r.split(['\'', '"']).next())
        .ok_or_else(|| NpyError::Header("the dtype ('descr') is not a string".into()))?
        .to_string();
    let fortran_order = match value_after(text, "fortran_order")? {
        t if t.starts_with("True") => true,
        t if t.starts_with("False") => false,
        _ => {
            return Err(NpyError::Header(
                "'fortran_order' is not True or False".into(),
            ))
        }
    };
    let shape_text = value_after(text, "shape")?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|r| r.split(')').next())
        .ok_or_else(|| NpyError::Header("the shape is not a tuple".into()))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| NpyError::Header(format!("the shape entry '{s}' is not a size")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Header {
        descr,
        fortran_order,
        shape,
        data_offset: end,
    })
}

/// Checks that the file of `len` bytes holds exactly the data its header declares.
pub fn check_size(header: &Header, len: u64) -> Result<(), NpyError> {
    if header.descr.contains('O') {
        return Err(NpyError::Objects(header.descr.clone()));
    }
    let Some(size) = header.float_size() else {
        return Err(NpyError::Dtype(header.descr.clone()));
    };
    let elements = header
        .shape
        .iter()
        .try_fold(1u128, |acc, &d| acc.checked_mul(d as u128))
        .unwrap_or(u128::MAX);
    let expected = elements.saturating_mul(size as u128);
    let actual = len.saturating_sub(header.data_offset as u64);
    if (actual as u128) < expected {
        return Err(NpyError::Truncated {
            shape: header.shape.clone(),
            dtype: header.descr.clone(),
            expected,
            actual,
        });
    }
    if actual as u128 > expected {
        return Err(NpyError::ExtraBytes {
            shape: header.shape.clone(),
            extra: (actual as u128 - expected) as u64,
        });
    }
    Ok(())
}

/// Decodes float32 or float64 `.npy` bytes as an f64 array of dimension `D`, after the
/// header and size checks.
pub fn decode<D: Dimension>(bytes: &[u8]) -> Result<Array<f64, D>, NpyError> {
    let header = parse_header(bytes)?;
    check_size(&header, bytes.len() as u64)?;
    let expected = D::NDIM.unwrap_or(header.shape.len());
    if header.shape.len() != expected {
        return Err(NpyError::Ndim {
            got: header.shape.len(),
            shape: header.shape,
            expected: match expected {
                1 => "a 1-D array",
                2 => "a 2-D array of points (rows) by dimensions (columns)",
                3 => "a 3-D array",
                _ => "another number of dimensions",
            },
        });
    }
    let fail = |e: ReadNpyError| NpyError::Decode(e.to_string());
    if header.float_size() == Some(8) {
        Array::<f64, D>::read_npy(bytes).map_err(fail)
    } else {
        Array::<f32, D>::read_npy(bytes)
            .map(|a| a.mapv(f64::from))
            .map_err(fail)
    }
}

/// Reads the whole file at `path` (its size is what [`decode`] checks the header against).
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, NpyError> {
    std::fs::read(path).map_err(|e| NpyError::Io(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Ix1, Ix2, Ix3};
    use ndarray_npy::WriteNpyExt;

    fn bytes_of<A: WriteNpyExt>(a: &A) -> Vec<u8> {
        let mut b = Vec::new();
        a.write_npy(&mut b).unwrap();
        b
    }

    /// A file with the header of `real` but a shape claim of `shape`.
    fn lying(real: &[u8], shape: &str) -> Vec<u8> {
        let h = parse_header(real).unwrap();
        let text = std::str::from_utf8(&real[10..h.data_offset]).unwrap();
        let k = text.find("'shape':").unwrap();
        let close = text[k..].find(')').unwrap() + k;
        let mut new = format!("{}'shape': {shape}{}", &text[..k], &text[close + 1..]);
        new = new.trim_end().to_string();
        while (10 + new.len() + 1) % 64 != 0 {
            new.push(' ');
        }
        new.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((new.len() as u16).to_le_bytes());
        out.extend(new.as_bytes());
        out.extend(&real[h.data_offset..]);
        out
    }

    #[test]
    fn reads_what_numpy_writes() {
        let a = array![[1.0f64, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let got: ndarray::Array2<f64> = decode::<Ix2>(&bytes_of(&a)).unwrap();
        assert_eq!(got, a);
        let b = array![[1.5f32, -2.0]];
        let got = decode::<Ix2>(&bytes_of(&b)).unwrap();
        assert_eq!(got, array![[1.5f64, -2.0]]);
        let h = parse_header(&bytes_of(&a)).unwrap();
        assert_eq!(h.shape, vec![3, 2]);
        assert_eq!(h.descr, "<f8");
        assert!(!h.fortran_order);
    }

    #[test]
    fn a_lying_header_is_an_error_before_any_allocation() {
        let a = ndarray::Array2::<f64>::zeros((100, 2));
        let bad = lying(&bytes_of(&a), "(100000000000, 2)");
        match decode::<Ix2>(&bad) {
            Err(NpyError::Truncated {
                expected, actual, ..
            }) => {
                assert_eq!(expected, 100_000_000_000u128 * 2 * 8);
                assert_eq!(actual, 1600);
            }
            other => panic!("{other:?}"),
        }
        // A product that overflows u64 is still a plain error.
        let huge = lying(
            &bytes_of(&a),
            "(18446744073709551615, 18446744073709551615, 4)",
        );
        assert!(matches!(
            decode::<Ix3>(&huge),
            Err(NpyError::Truncated { .. })
        ));
        let short = lying(&bytes_of(&a), "(10, 2)");
        assert!(matches!(
            decode::<Ix2>(&short),
            Err(NpyError::ExtraBytes { extra: 1440, .. })
        ));
    }

    #[test]
    fn empty_truncated_and_foreign_files_are_named() {
        let a = array![[1.0f64, 2.0], [3.0, 4.0]];
        let good = bytes_of(&a);
        assert_eq!(decode::<Ix2>(&[]), Err(NpyError::Empty));
        assert!(matches!(
            decode::<Ix2>(&good[..5]),
            Err(NpyError::TruncatedHeader(5))
        ));
        assert!(matches!(
            decode::<Ix2>(&good[..40]),
            Err(NpyError::TruncatedHeader(40))
        ));
        let cut = &good[..good.len() - 3];
        let e = decode::<Ix2>(cut).unwrap_err();
        assert!(e.to_string().contains("is truncated"), "{e}");
        assert_eq!(decode::<Ix2>(b"x,y\n1,2\n"), Err(NpyError::NotNpy));
        let e = decode::<Ix1>(&good).unwrap_err();
        assert!(matches!(e, NpyError::Ndim { got: 2, .. }), "{e}");
        let ints = bytes_of(&array![[1i64, 2]]);
        assert!(matches!(decode::<Ix2>(&ints), Err(NpyError::Dtype(_))));
    }

    #[test]
    fn every_prefix_of_a_file_is_an_error_not_a_panic() {
        let good = bytes_of(&array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        for k in 0..good.len() {
            assert!(decode::<Ix2>(&good[..k]).is_err(), "prefix {k}");
        }
        assert!(decode::<Ix2>(&good).is_ok());
    }
}
