//! The `.h5ad` reader, structure-aware: the fuzz input (through `arbitrary`) describes an
//! AnnData file (obs as a group or as an old compound table, X, obsm and layers as dense
//! datasets or CSR/CSC groups, obs columns of every encoding) with adversarial shapes,
//! declared sizes far beyond the file (chunked datasets never written), attributes,
//! dtypes, indptr and indices; the file is written with libhdf5 and our reader reads it.
//! Raw bytes would mostly fuzz libhdf5's own parser, whose crashes are not ours to fix.
//!
//! The memory guard is set to 32 MB, so a declared size beyond that must be refused
//! before allocation (run with `-malloc_limit_mb` above it: 128 in fuzz/ci.sh).
#![no_main]

use arbitrary::Arbitrary;
use genot_io::h5ad::{AnnData, Key, RowFilter};
use hdf5::types::{FixedAscii, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::{File, Group, Location};
use libfuzzer_sys::fuzz_target;
use ndarray::{ArrayD, IxDyn};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::OnceLock;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Dtype {
    F64,
    F32,
    I64,
    I32,
    U8,
    Bool,
    VarStr,
    FixStr,
}

/// A dataset: its type, shape (up to 3 small dimensions), values (cycled), and optionally
/// a first dimension declared far beyond what is written.
#[derive(Arbitrary, Debug)]
struct Data {
    dtype: Dtype,
    dims: Vec<u8>,
    values: Vec<i16>,
    declared: Option<u64>,
    /// A scalar `categories` attribute (marks old-style categorical codes).
    categories_attr: bool,
}

#[derive(Arbitrary, Debug)]
enum AttrValue {
    Unicode(String),
    Ascii(u8),
    Fixed(u8),
    Int(i64),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
}

#[derive(Arbitrary, Debug)]
struct Sparse {
    encoding: Option<AttrValue>,
    old_format: Option<AttrValue>,
    shape: Option<AttrValue>,
    old_shape: bool,
    indptr: Option<Data>,
    indices: Option<Data>,
    data: Option<Data>,
}

#[derive(Arbitrary, Debug)]
enum Node {
    Dense(Data),
    Sparse(Sparse),
    EmptyGroup,
}

#[derive(Arbitrary, Debug)]
enum ColumnNode {
    Plain(Data),
    /// anndata 0.7: codes with a `categories` attribute, categories in obs/__categories.
    OldCategorical(Data, Option<Data>),
    Categorical {
        encoding: Option<AttrValue>,
        codes: Option<Data>,
        categories: Option<Data>,
    },
    Nullable {
        encoding: Option<AttrValue>,
        values: Option<Data>,
        mask: Option<Data>,
    },
}

/// A field of an old compound table.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum FieldType {
    F64,
    I32,
    U8,
    Bool,
    Ascii(u8),
    F64Array(u8),
    I16Array(u8),
}

#[derive(Arbitrary, Debug)]
struct Compound {
    fields: Vec<(u8, FieldType)>,
    dims: Vec<u8>,
    declared: Option<u64>,
    categories: Vec<(u8, Data)>,
}

#[derive(Arbitrary, Debug)]
enum Obs {
    Group {
        index_attr: Option<AttrValue>,
        index: Option<Data>,
        columns: Vec<(u8, ColumnNode)>,
    },
    Compound(Compound),
    Missing,
}

#[derive(Arbitrary, Debug)]
struct Spec {
    obs: Obs,
    x: Option<Node>,
    obsm: Option<Result<Vec<(u8, Node)>, Compound>>,
    layers: Vec<(u8, Node)>,
    filters: Vec<(u8, String)>,
}

const NAMES: [&str; 6] = ["a", "b", "cell_type", "X_pca", "_index", "__categories"];

fn name(k: u8) -> &'static str {
    NAMES[k as usize % NAMES.len()]
}

fn path() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        // A small limit keeps each input fast (what the guard allows is then read, and
        // under the sanitizer millions of labels take seconds) while any unguarded
        // allocation still shows against -malloc_limit_mb.
        genot_io::memory::set_memory_limit(Some(32 << 20));
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("genot-fuzz-h5ad-{}.h5ad", std::process::id()))
    })
}

fn dims_of(dims: &[u8], declared: Option<u64>) -> Vec<usize> {
    let mut d: Vec<usize> = dims.iter().take(3).map(|&x| (x % 12) as usize).collect();
    if let (Some(big), Some(first)) = (declared, d.first_mut()) {
        // Up to 2^40 rows, never written: chunks read as fill values.
        *first = (big % (1 << 40)) as usize;
    }
    d
}

fn attr(loc: &Location, key: &str, v: &AttrValue) {
    let _ = match v {
        AttrValue::Unicode(s) => VarLenUnicode::from_str(s).ok().map(|s| {
            loc.new_attr::<VarLenUnicode>()
                .create(key)
                .and_then(|a| a.write_scalar(&s))
        }),
        AttrValue::Ascii(k) => {
            let s = [
                "csr_matrix",
                "csc_matrix",
                "categorical",
                "nullable-integer",
                "csr",
                "x",
            ][*k as usize % 6];
            VarLenAscii::from_ascii(s).ok().map(|s| {
                loc.new_attr::<VarLenAscii>()
                    .create(key)
                    .and_then(|a| a.write_scalar(&s))
            })
        }
        AttrValue::Fixed(k) => {
            let s = [
                "csr_matrix",
                "csc_matrix",
                "categorical",
                "nullable-boolean",
                "csc",
            ][*k as usize % 5];
            FixedAscii::<16>::from_ascii(s).ok().map(|s| {
                loc.new_attr::<FixedAscii<16>>()
                    .create(key)
                    .and_then(|a| a.write_scalar(&s))
            })
        }
        AttrValue::Int(i) => Some(
            loc.new_attr::<i64>()
                .create(key)
                .and_then(|a| a.write_scalar(i)),
        ),
        AttrValue::Ints(v) => Some(
            loc.new_attr_builder()
                .with_data(&v[..v.len().min(8)])
                .create(key)
                .map(|_| ()),
        ),
        AttrValue::Floats(v) => Some(
            loc.new_attr_builder()
                .with_data(&v[..v.len().min(8)])
                .create(key)
                .map(|_| ()),
        ),
    };
}

fn write<T: hdf5::H5Type>(
    g: &Group,
    key: &str,
    dims: &[usize],
    declared: bool,
    f: impl Fn(i16) -> T,
    values: &[i16],
) -> hdf5::Result<hdf5::Dataset> {
    if declared {
        return g
            .new_dataset::<T>()
            .chunk(vec![1usize.max(0); dims.len()])
            .shape(dims.to_vec())
            .create(key);
    }
    let n: usize = dims.iter().product();
    let data: Vec<T> = (0..n)
        .map(|k| f(values.get(k % values.len().max(1)).copied().unwrap_or(0)))
        .collect();
    let a = ArrayD::from_shape_vec(IxDyn(dims), data).map_err(|e| e.to_string())?;
    g.new_dataset_builder().with_data(&a).create(key)
}

fn dataset(g: &Group, key: &str, d: &Data) {
    let dims = dims_of(&d.dims, d.declared);
    let declared = d.declared.is_some() && !dims.is_empty();
    let v = &d.values;
    let ds = match d.dtype {
        Dtype::F64 => write(g, key, &dims, declared, |x| x as f64 / 4.0, v),
        Dtype::F32 => write(g, key, &dims, declared, |x| x as f32 / 8.0, v),
        Dtype::I64 => write(g, key, &dims, declared, |x| x as i64 * 1_000_000_007, v),
        Dtype::I32 => write(g, key, &dims, declared, i32::from, v),
        Dtype::U8 => write(g, key, &dims, declared, |x| x as u8, v),
        Dtype::Bool => write(g, key, &dims, declared, |x| x % 2 == 0, v),
        Dtype::VarStr => write(
            g,
            key,
            &dims,
            declared,
            |x| VarLenUnicode::from_str(&format!("v{x}")).unwrap(),
            v,
        ),
        Dtype::FixStr => write(
            g,
            key,
            &dims,
            declared,
            |x| FixedAscii::<8>::from_ascii(&format!("s{}", x % 100)).unwrap(),
            v,
        ),
    };
    if let (Ok(ds), true) = (ds, d.categories_attr) {
        attr(&ds, "categories", &AttrValue::Int(1));
    }
}

fn node(parent: &Group, key: &str, n: &Node) {
    match n {
        Node::Dense(d) => dataset(parent, key, d),
        Node::EmptyGroup => {
            let _ = parent.create_group(key);
        }
        Node::Sparse(s) => {
            let Ok(g) = parent.create_group(key) else {
                return;
            };
            if let Some(e) = &s.encoding {
                attr(&g, "encoding-type", e);
            }
            if let Some(e) = &s.old_format {
                attr(&g, "h5sparse_format", e);
            }
            if let Some(v) = &s.shape {
                attr(
                    &g,
                    if s.old_shape {
                        "h5sparse_shape"
                    } else {
                        "shape"
                    },
                    v,
                );
            }
            for (k, d) in [
                ("indptr", &s.indptr),
                ("indices", &s.indices),
                ("data", &s.data),
            ] {
                if let Some(d) = d {
                    dataset(&g, k, d);
                }
            }
        }
    }
}

fn compound(parent: &Group, key: &str, c: &Compound) {
    use hdf5::types::{CompoundField, CompoundType, FloatSize, IntSize};
    let mut fields = vec![];
    let mut offset = 0;
    for (k, (n, t)) in c.fields.iter().take(6).enumerate() {
        let name = name(*n);
        if fields.iter().any(|f: &CompoundField| f.name == name) {
            continue;
        }
        let (ty, size) = match *t {
            FieldType::F64 => (TypeDescriptor::Float(FloatSize::U8), 8),
            FieldType::I32 => (TypeDescriptor::Integer(IntSize::U4), 4),
            FieldType::U8 => (TypeDescriptor::Unsigned(IntSize::U1), 1),
            FieldType::Bool => (TypeDescriptor::Boolean, 1),
            FieldType::Ascii(n) => (
                TypeDescriptor::FixedAscii(1 + n as usize % 16),
                1 + n as usize % 16,
            ),
            FieldType::F64Array(n) => (
                TypeDescriptor::FixedArray(
                    Box::new(TypeDescriptor::Float(FloatSize::U8)),
                    1 + n as usize % 8,
                ),
                8 * (1 + n as usize % 8),
            ),
            FieldType::I16Array(n) => (
                TypeDescriptor::FixedArray(
                    Box::new(TypeDescriptor::Integer(IntSize::U2)),
                    1 + n as usize % 8,
                ),
                2 * (1 + n as usize % 8),
            ),
        };
        fields.push(CompoundField {
            name: name.to_string(),
            ty,
            offset,
            index: k,
        });
        offset += size;
    }
    if fields.is_empty() {
        return;
    }
    let Ok(dtype) = hdf5::Datatype::from_descriptor(&TypeDescriptor::Compound(CompoundType {
        fields,
        size: offset,
    })) else {
        return;
    };
    let dims = dims_of(&c.dims, c.declared);
    // Written as fill values (zeros): the layout and the shape are what is fuzzed here.
    let mut b = parent.new_dataset_builder().empty_as(&dtype);
    if !dims.is_empty() {
        b = b.chunk(vec![1; dims.len()]);
    }
    let _ = b.shape(dims).create(key);
    if !c.categories.is_empty() {
        if let Ok(uns) = parent.create_group("uns") {
            for (n, d) in c.categories.iter().take(3) {
                dataset(&uns, &format!("{}_categories", name(*n)), d);
            }
        }
    }
}

fn build(spec: &Spec) -> hdf5::Result<()> {
    let f = File::create(path())?;
    match &spec.obs {
        Obs::Missing => {}
        Obs::Compound(c) => compound(&f, "obs", c),
        Obs::Group {
            index_attr,
            index,
            columns,
        } => {
            let g = f.create_group("obs")?;
            if let Some(a) = index_attr {
                attr(&g, "_index", a);
            }
            if let Some(d) = index {
                dataset(&g, "_index", d);
            }
            let cats = g.create_group("__categories").ok();
            for (n, c) in columns.iter().take(4) {
                let key = name(*n);
                match c {
                    ColumnNode::Plain(d) => dataset(&g, key, d),
                    ColumnNode::OldCategorical(codes, categories) => {
                        dataset(&g, key, codes);
                        if let (Some(cg), Some(d)) = (&cats, categories) {
                            dataset(cg, key, d);
                        }
                    }
                    ColumnNode::Categorical {
                        encoding,
                        codes,
                        categories,
                    }
                    | ColumnNode::Nullable {
                        encoding,
                        values: codes,
                        mask: categories,
                    } => {
                        let Ok(cg) = g.create_group(key) else {
                            continue;
                        };
                        let nullable = matches!(c, ColumnNode::Nullable { .. });
                        if let Some(e) = encoding {
                            attr(&cg, "encoding-type", e);
                        }
                        let (a, b) = if nullable {
                            ("values", "mask")
                        } else {
                            ("codes", "categories")
                        };
                        if let Some(d) = codes {
                            dataset(&cg, a, d);
                        }
                        if let Some(d) = categories {
                            dataset(&cg, b, d);
                        }
                    }
                }
            }
        }
    }
    if let Some(x) = &spec.x {
        node(&f, "X", x);
    }
    match &spec.obsm {
        None => {}
        Some(Ok(entries)) => {
            let g = f.create_group("obsm")?;
            for (n, e) in entries.iter().take(3) {
                node(&g, name(*n), e);
            }
        }
        Some(Err(c)) => compound(&f, "obsm", c),
    }
    if !spec.layers.is_empty() {
        let g = f.create_group("layers")?;
        for (n, e) in spec.layers.iter().take(3) {
            node(&g, name(*n), e);
        }
    }
    Ok(())
}

fuzz_target!(|spec: Spec| {
    let p = path();
    let _ = std::fs::remove_file(p);
    if build(&spec).is_err() {
        return;
    }
    let Ok(file) = AnnData::open(p) else {
        return;
    };
    let _ = file.n_obs();
    for key in ["X", "obsm/a", "obsm/X_pca", "layers/a", "layers/b"] {
        let _ = file.matrix(&Key::parse(key).unwrap());
    }
    for n in NAMES {
        if let Ok(c) = file.obs_column(n) {
            let _ = c.labels(n);
        }
    }
    for (n, value) in spec.filters.iter().take(2) {
        if let Ok(f) = format!("obs/{}={value}", name(*n)).parse::<RowFilter>() {
            if let Ok(c) = file.obs_column(&f.column) {
                let _ = f.select(&c);
            }
        }
    }
});
