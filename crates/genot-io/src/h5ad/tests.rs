//! The reader on files written by anndata 0.12 (tests/fixtures/cells.h5ad, made by
//! tests/fixtures/make_h5ad.py) and by an old anndata (scanpy's pbmc68k_reduced in
//! ../shared/data), and the writer on copies of them.

use super::*;
use ndarray::{Array1, Array3};
use std::path::PathBuf;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../genot-cli/tests/fixtures/cells.h5ad")
}

/// The values make_h5ad.py stores as X: 0 where (i + j) % 3 == 0, else 10 i + j.
fn expected_x() -> Array2<f64> {
    Array2::from_shape_fn((12, 5), |(i, j)| {
        if (i + j) % 3 == 0 {
            0.0
        } else {
            (i * 10 + j) as f64
        }
    })
}

/// A file of scanpy's pbmc68k_reduced in ../shared/data, or `None` (with a one-line note)
/// when the shared data are not beside this checkout. Under CI (`CI=true`) the data must
/// be there: a missing file fails the test.
fn shared(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/pbmc68k_reduced")
        .join(name);
    if p.exists() {
        return Some(p);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !ci,
        "missing shared data file {}: under CI=true the shared data must be present",
        p.display()
    );
    eprintln!(
        "skipped: missing shared data file {} (scanpy's pbmc68k_reduced from ../shared/data)",
        p.display()
    );
    None
}

#[test]
fn matrices_of_every_storage_match_the_values_written() {
    let f = AnnData::open(&fixture()).unwrap();
    assert_eq!(f.n_obs().unwrap(), 12);
    for key in ["X", "layers/dense", "layers/csc"] {
        let m = f.matrix(&Key::parse(key).unwrap()).unwrap();
        assert_eq!(m, expected_x(), "{key}");
    }
    let pca = f.matrix(&Key::Obsm("X_pca".into())).unwrap();
    assert_eq!(pca.dim(), (12, 3));
    for ((i, j), v) in pca.indexed_iter() {
        assert_eq!(*v, i as f64 * 0.5 - j as f64);
    }
    let umap = f.matrix(&Key::Obsm("X_umap".into())).unwrap();
    assert!((umap[[3, 0]] - 3f64.sin()).abs() < 1e-15);
}

#[test]
fn obs_columns_of_every_encoding() {
    let f = AnnData::open(&fixture()).unwrap();
    let labels = |c: &str| f.obs_column(c).unwrap().labels(c);
    let want: Vec<String> = (0..12)
        .map(|k| if k % 3 == 0 { "stim" } else { "control" }.to_string())
        .collect();
    assert_eq!(labels("condition").unwrap(), want);
    let time: Vec<String> = (0..12).map(|k| (k % 4).to_string()).collect();
    assert_eq!(labels("time").unwrap(), time);
    assert_eq!(labels("score").unwrap()[5], "1.25");
    assert_eq!(labels("batch").unwrap()[3], "b1");
    assert_eq!(labels("barcode").unwrap()[11], "AC11");
    assert_eq!(
        f.obs_column("flag").unwrap(),
        Column::Bool((0..12).map(|k| Some(k % 2 == 0)).collect())
    );
    match f.obs_column("dose").unwrap() {
        Column::Number(v) => {
            assert_eq!(v[5], None);
            assert_eq!(v[4], Some(1.0));
        }
        other => panic!("dose read as {other:?}"),
    }
    let e = labels("dose").unwrap_err().to_string();
    assert!(e.contains("missing value at row 5"), "{e}");
}

#[test]
fn missing_keys_list_what_exists() {
    let f = AnnData::open(&fixture()).unwrap();
    let e = f
        .matrix(&Key::Obsm("X_tsne".into()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no obsm/X_tsne") && e.contains("X_pca, X_umap"),
        "{e}"
    );
    let e = f
        .matrix(&Key::Layer("counts".into()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("csc, dense"), "{e}");
    let e = f.obs_column("cell_type").unwrap_err().to_string();
    assert!(
        e.contains("no obs column 'cell_type'") && e.contains("condition") && !e.contains("_index"),
        "{e}"
    );
    for bad in ["obsm", "obsm/", "uns/x", "x", "obsm/a/b"] {
        assert_eq!(Key::parse(bad), Err(KeyError { text: bad.into() }));
    }
}

#[test]
fn errors_name_the_file_and_the_dataset() {
    let f = AnnData::open(&fixture()).unwrap();
    let e = f.matrix(&Key::Obsm("X_tsne".into())).unwrap_err();
    assert_eq!(e.file, fixture());
    match &*e.problem {
        Problem::NoEntry {
            path,
            group,
            entries,
            ..
        } => {
            assert_eq!((path.as_str(), group.as_str()), ("obsm/X_tsne", "obsm"));
            assert!(entries.contains(&"X_pca".to_string()), "{entries:?}");
        }
        other => panic!("{other:?}"),
    }
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!(
            "file '{}' has no obsm/X_tsne (obsm: ",
            fixture().display()
        )),
        "{shown}"
    );
    let e = f.obs_column("cell_type").unwrap_err();
    assert!(
        matches!(&*e.problem, Problem::NoColumn { column, .. } if column == "cell_type"),
        "{e:?}"
    );
    let e = f.obs_labels("dose").unwrap_err();
    assert_eq!(
        *e.problem,
        Problem::MissingValue {
            column: "dose".into(),
            row: 5
        }
    );
}

#[test]
fn the_memory_guard_names_the_setting_not_a_flag() {
    let e = guard_with(
        1 << 20,
        8,
        "a matrix",
        (1024, "the limit set with `max_memory`"),
    )
    .unwrap_err();
    assert!(
        matches!(&e, Problem::TooLarge { elements, limit: 1024, .. } if *elements == 1 << 20),
        "{e:?}"
    );
    let shown = e.to_string();
    assert!(
        shown
            .starts_with("declares a matrix of 1048576 values, 8.0 MB in memory: more than 1.0 KB")
            && shown.contains("raise the limit with `max_memory` or GENOT_MAX_MEMORY")
            && !shown.contains("--"),
        "{shown}"
    );
}

#[test]
fn truncated_and_foreign_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture()).unwrap();
    let cut = dir.path().join("cut.h5ad");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let text = dir.path().join("text.h5ad");
    std::fs::write(&text, "cell,x\n1,2\n").unwrap();
    for p in [cut, text] {
        let e = AnnData::open(&p)
            .and_then(|f| f.matrix(&Key::X))
            .err()
            .unwrap_or_else(|| panic!("{} was read", p.display()));
        assert!(matches!(*e.problem, Problem::NotHdf5(_)), "{e}");
        assert!(e.to_string().contains("not a readable HDF5"), "{e}");
    }
    let none = dir.path().join("none.h5ad");
    let e = AnnData::open(&none).err().unwrap();
    assert_eq!(e, Problem::Missing.in_file(&none));
    assert_eq!(
        e.to_string(),
        format!("file '{}' does not exist", none.display())
    );
}

/// A copy of the fixture with `edit` applied through the HDF5 library.
fn edited(dir: &Path, edit: impl Fn(&File)) -> PathBuf {
    let p = dir.join("edited.h5ad");
    std::fs::copy(fixture(), &p).unwrap();
    edit(&File::open_rw(&p).unwrap());
    p
}

#[test]
fn malformed_contents_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = edited(dir.path(), |f| {
        let g = f.group("X").unwrap();
        g.unlink("indptr").unwrap();
        g.new_dataset_builder()
            .with_data(&[0i32, 3, 2, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40])
            .create("indptr")
            .unwrap();
        f.group("obsm")
            .unwrap()
            .new_dataset_builder()
            .with_data(&Array2::<f32>::zeros((10, 2)))
            .create("short")
            .unwrap();
    });
    let f = AnnData::open(&p).unwrap();
    let e = f.matrix(&Key::X).unwrap_err().to_string();
    assert!(
        e.contains("malformed sparse matrix") && e.contains("indptr[1..2]"),
        "{e}"
    );
    let e = f
        .matrix(&Key::Obsm("short".into()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("10 rows but obs has 12 cells"), "{e}");
}

#[test]
fn anndata_0_7_categoricals_keep_their_categories_apart() {
    // anndata 0.7 wrote the codes as an obs dataset with a `categories` attribute and the
    // names in obs/__categories/NAME.
    let dir = tempfile::tempdir().unwrap();
    let p = edited(dir.path(), |f| {
        let obs = f.group("obs").unwrap();
        let codes = obs
            .new_dataset_builder()
            .with_data(&(0..12).map(|k| (k % 3) as i8 - 1).collect::<Vec<i8>>())
            .create("old")
            .unwrap();
        codes
            .new_attr::<i32>()
            .create("categories")
            .unwrap()
            .write_scalar(&0)
            .unwrap();
        let names: Vec<VarLenUnicode> = ["x", "y"].iter().map(|s| s.parse().unwrap()).collect();
        obs.create_group("__categories")
            .unwrap()
            .new_dataset_builder()
            .with_data(&names)
            .create("old")
            .unwrap();
    });
    let f = AnnData::open(&p).unwrap();
    let want: Vec<Option<String>> = (0..12)
        .map(|k| ["", "x", "y"][k % 3].to_string())
        .map(|s| (!s.is_empty()).then_some(s))
        .collect();
    assert_eq!(f.obs_column("old").unwrap(), Column::Text(want));
    let e = f.obs_column("__categories").unwrap_err().to_string();
    assert!(
        e.contains("no obs column") && !e.contains("__categories,"),
        "{e}"
    );
}

#[test]
fn legacy_tables_of_scanpy_pbmc68k_reduced() {
    let (Some(original), Some(pca), Some(scaled), Some(obs)) = (
        shared("original/10x_pbmc68k_reduced.h5ad"),
        shared("pca50_pkg.npy"),
        shared("X_scaled.npy"),
        shared("obs.csv"),
    ) else {
        return;
    };
    let f = AnnData::open(&original).unwrap();
    assert_eq!(f.n_obs().unwrap(), 700);
    let pca: Array2<f32> = ndarray_npy::read_npy(pca).unwrap();
    assert_eq!(
        f.matrix(&Key::Obsm("X_pca".into())).unwrap(),
        pca.mapv(f64::from)
    );
    let x: Array2<f32> = ndarray_npy::read_npy(scaled).unwrap();
    assert_eq!(f.matrix(&Key::X).unwrap(), x.mapv(f64::from));
    let mut obs = csv::Reader::from_path(obs).unwrap();
    let header = obs.headers().unwrap().clone();
    let records: Vec<csv::StringRecord> = obs.records().map(|r| r.unwrap()).collect();
    for column in ["bulk_labels", "phase", "louvain", "n_genes"] {
        let c = header.iter().position(|h| h == column).unwrap();
        let want: Vec<String> = records.iter().map(|r| r[c].to_string()).collect();
        assert_eq!(
            f.obs_column(column).unwrap().labels(column).unwrap(),
            want,
            "{column}"
        );
    }
    let e = f
        .matrix(&Key::Obsm("X_tsne".into()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("X_pca, X_umap"), "{e}");
}

fn predictions(n: usize) -> Predictions {
    Predictions {
        obsm: vec![
            (
                "X_genot".into(),
                Array2::from_shape_fn((n, 2), |(i, j)| (i * 2 + j) as f32).into_dyn(),
            ),
            (
                "X_genot_samples".into(),
                Array3::from_shape_fn((n, 3, 2), |(i, k, j)| (i + k + j) as f32).into_dyn(),
            ),
        ],
        obs: vec![("X_genot_weight".into(), Array1::from_elem(n, 0.5))],
    }
}

#[test]
fn predictions_go_into_a_copy_and_the_input_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.h5ad");
    std::fs::copy(fixture(), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    let out = dir.path().join("out.h5ad");
    write_copy(&input, &out, &predictions(12)).unwrap();
    // Twice: an entry that exists is replaced, the column listed once.
    write_copy(
        &out.clone(),
        &dir.path().join("again.h5ad"),
        &predictions(12),
    )
    .unwrap();
    assert_eq!(std::fs::read(&input).unwrap(), before);
    let again = dir.path().join("again.h5ad");
    let f = AnnData::open(&again).unwrap();
    let m = f.matrix(&Key::Obsm("X_genot".into())).unwrap();
    assert_eq!(m[[5, 1]], 11.0);
    let s = File::open(&again).unwrap();
    let samples: Vec<f32> = s
        .dataset("obsm/X_genot_samples")
        .unwrap()
        .read_raw()
        .unwrap();
    assert_eq!(
        s.dataset("obsm/X_genot_samples").unwrap().shape(),
        [12, 3, 2]
    );
    assert_eq!(samples[(4 * 3 + 2) * 2 + 1], 7.0);
    assert_eq!(
        f.obs_column("X_genot_weight").unwrap().labels("w").unwrap()[0],
        "0.5"
    );
    let order: Vec<String> = s
        .group("obs")
        .unwrap()
        .attr("column-order")
        .unwrap()
        .read_raw::<VarLenUnicode>()
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect();
    assert_eq!(order.iter().filter(|c| *c == "X_genot_weight").count(), 1);
    assert_eq!(order[0], "condition");
    let ds = s.dataset("obsm/X_genot").unwrap();
    assert_eq!(string_attr(&ds, "encoding-type").as_deref(), Some("array"));
    // The original data is still there.
    assert_eq!(f.matrix(&Key::X).unwrap(), expected_x());
    assert!(!dir.path().read_dir().unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".tmp")));
}

#[test]
fn writing_refuses_the_input_wrong_rows_and_legacy_tables() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.h5ad");
    std::fs::copy(fixture(), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    let e = write_copy(&input, &input, &predictions(12))
        .unwrap_err()
        .to_string();
    assert!(e.contains("is the input file"), "{e}");
    let out = dir.path().join("out.h5ad");
    let e = write_copy(&input, &out, &predictions(11))
        .unwrap_err()
        .to_string();
    assert!(e.contains("11 rows but the file has 12 cells"), "{e}");
    assert!(!out.exists());
    let Some(legacy) = shared("original/10x_pbmc68k_reduced.h5ad") else {
        return;
    };
    let e = write_copy(&legacy, &out, &predictions(700))
        .unwrap_err()
        .to_string();
    assert!(e.contains("anndata < 0.7"), "{e}");
    assert!(!out.exists());
    assert_eq!(std::fs::read(&input).unwrap(), before);
    assert_eq!(
        dir.path().read_dir().unwrap().count(),
        1,
        "only the input remains"
    );
}

/// An old-style compound table `obs` (one f64 field `a`) of shape `dims`, chunked and never
/// written: HDF5 reads its records as fill values, so the file is small whatever it
/// declares.
fn compound_obs(path: &std::path::Path, dims: &[usize]) {
    use hdf5::types::{CompoundField, CompoundType, FloatSize, TypeDescriptor};
    let f = File::create(path).unwrap();
    let dtype = hdf5::Datatype::from_descriptor(&TypeDescriptor::Compound(CompoundType {
        fields: vec![CompoundField {
            name: "a".into(),
            ty: TypeDescriptor::Float(FloatSize::U8),
            offset: 0,
            index: 0,
        }],
        size: 8,
    }))
    .unwrap();
    f.new_dataset_builder()
        .empty_as(&dtype)
        .chunk(vec![1; dims.len()])
        .shape(dims.to_vec())
        .create("obs")
        .unwrap();
}

/// Found by the h5ad fuzz target: a compound obs table that declares 2^40 records made the
/// legacy reader allocate 8 TB (the buffer was sized by the declared rows, unguarded).
#[test]
fn a_legacy_table_declaring_huge_rows_is_refused_before_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.h5ad");
    compound_obs(&path, &[1 << 40]);
    let f = AnnData::open(&path).unwrap();
    let e = f.obs_column("a").unwrap_err().to_string();
    assert!(
        e.contains("declares the table field a of 1099511627776 values"),
        "{e}"
    );
}

/// A 2-D compound table: its records are read whole (H5S_ALL) into a buffer sized by the
/// first dimension, which overflowed the buffer; now an error.
#[test]
fn a_legacy_table_of_two_dimensions_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("2d.h5ad");
    compound_obs(&path, &[3, 4]);
    let f = AnnData::open(&path).unwrap();
    let e = f.obs_column("a").unwrap_err().to_string();
    assert!(e.contains("shape [3, 4]; expected one dimension"), "{e}");
}

/// A chunked dataset `name` in `g` of `n` elements of `T`, never written (fill values).
fn declared<T: hdf5::H5Type>(g: &Group, name: &str, n: usize) {
    g.new_dataset::<T>()
        .chunk(65536.min(n.max(1)))
        .shape(n)
        .create(name)
        .unwrap();
}

fn unicode_attr(loc: &Location, name: &str, value: &str) {
    let v: VarLenUnicode = value.parse().unwrap();
    loc.new_attr::<VarLenUnicode>()
        .create(name)
        .unwrap()
        .write_scalar(&v)
        .unwrap();
}

/// Found by the h5ad fuzz target: sizes a file declares were guarded as 8 bytes a value,
/// but what the reader builds from them takes more: a String per label, an Option<f64> per
/// number, a copy of the category name per categorical code; a nullable column's mask and
/// a sparse matrix's indptr (with a zero dimension) were read unguarded. One test, as it
/// sets the process's memory limit (64 MB) for the duration.
#[test]
fn what_a_column_becomes_is_guarded_not_only_what_the_file_stores() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("declared.h5ad");
    {
        let f = File::create(&path).unwrap();
        let obs = f.create_group("obs").unwrap();
        // 2.5M booleans: 60 MB as a column, 72 MB as labels.
        declared::<bool>(&obs, "flag", 2_500_000);
        // 3M numbers: 24 MB as f64, 72 MB read and kept.
        declared::<f64>(&obs, "dose", 3_000_000);
        // 2M codes (16 MB) into a 40-character category: 128 MB of names.
        let cat = obs.create_group("cell_type").unwrap();
        unicode_attr(&cat, "encoding-type", "categorical");
        declared::<i64>(&cat, "codes", 2_000_000);
        let long: VarLenUnicode = "x".repeat(40).parse().unwrap();
        cat.new_dataset_builder()
            .with_data(&[long])
            .create("categories")
            .unwrap();
        // A mask of 2^40 entries beside 3 values.
        let nullable = obs.create_group("n").unwrap();
        unicode_attr(&nullable, "encoding-type", "nullable-integer");
        nullable
            .new_dataset_builder()
            .with_data(&[1i64, 2, 3])
            .create("values")
            .unwrap();
        declared::<bool>(&nullable, "mask", 1 << 40);
        // A CSR matrix of 2^40 rows and no columns: 2^40 + 1 indptr entries.
        let x = f.create_group("X").unwrap();
        unicode_attr(&x, "encoding-type", "csr_matrix");
        x.new_attr_builder()
            .with_data(&[1i64 << 40, 0])
            .create("shape")
            .unwrap();
        declared::<i64>(&x, "indptr", (1 << 40) + 1);
        declared::<i64>(&x, "indices", 0);
        declared::<f64>(&x, "data", 0);
    }
    crate::memory::set_memory_limit(Some(64 << 20));
    let f = AnnData::open(&path).unwrap();
    let flag = f.obs_column("flag").unwrap();
    let e = flag.labels("flag").unwrap_err().to_string();
    assert!(
        e.contains("declares the labels of obs column 'flag' of 2500000 values"),
        "{e}"
    );
    let e = f.obs_column("dose").unwrap_err().to_string();
    assert!(e.contains("declares a column of 3000000 values"), "{e}");
    let e = f.obs_column("cell_type").unwrap_err().to_string();
    assert!(
        e.contains("declares categorical values of 2000000 values"),
        "{e}"
    );
    let e = f.obs_column("n").unwrap_err().to_string();
    assert!(e.contains("a mask of another length"), "{e}");
    let e = f.matrix(&Key::X).unwrap_err().to_string();
    assert!(
        e.contains("declares sparse indptr of 1099511627777 values"),
        "{e}"
    );
    crate::memory::set_memory_limit(None);
}
