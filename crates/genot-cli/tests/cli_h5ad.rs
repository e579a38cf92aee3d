//! `.h5ad` inputs, filters, obs conditions and `.h5ad` outputs through the commands, on
//! tests/fixtures/cells.h5ad (12 cells: condition stim for rows 0, 3, 6, 9, control for
//! the others; batch b0/b1 alternating; obsm/X_pca 12 x 3).

mod common;

use common::{genot, ok_json};
use ndarray::Array2;
use ndarray_npy::{read_npy, write_npy};
use std::path::{Path, PathBuf};
use std::process::Output;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cells.h5ad")
}

fn spec(p: &Path, key: &str) -> String {
    format!("{}:{key}", p.display())
}

/// A small conditional fit, control -> stim cells of the fixture, by batch.
fn fit(dir: &Path, extra: &[&str]) -> Output {
    let data = spec(&fixture(), "obsm/X_pca");
    let out = dir.join("model");
    let mut args = vec![
        "fit",
        "--source",
        &data,
        "--source-filter",
        "obs/condition=control",
        "--target",
        &data,
        "--target-filter",
        "obs/condition=stim",
        "--source-conditions",
        "obs/batch",
        "--target-conditions",
        "obs/batch",
        "--out",
        out.to_str().unwrap(),
        "--iterations",
        "5",
        "--hidden",
        "16",
        "--layers",
        "1",
        "--batch-size",
        "4",
    ];
    args.extend_from_slice(extra);
    genot(&args)
}

/// `genot transport` of `source` through `model` into `out`, with extra flags.
fn transport(model: &Path, source: &str, out: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "transport",
        "--model",
        model.to_str().unwrap(),
        "--source",
        source,
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    genot(&args)
}

/// The error text of a run that must fail with exit code 2.
fn input_error(out: Output) -> String {
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn fit_on_filtered_cells_and_transport_into_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let report = ok_json(fit(dir.path(), &[]));
    assert_eq!(report["n_source"], 8, "control cells");
    assert_eq!(report["n_target"], 4, "stim cells");
    assert_eq!(report["conditions"], serde_json::json!(["b0", "b1"]));
    let model = dir.path().join("model");
    let fit_toml = std::fs::read_to_string(model.join("fit.toml")).unwrap();
    assert!(
        fit_toml.contains("source-conditions = \"obs/batch\"")
            && !fit_toml.contains("relative_epsilon"),
        "{fit_toml}"
    );
    let data = spec(&fixture(), "obsm/X_pca");
    let before = std::fs::read(fixture()).unwrap();
    let copy = dir.path().join("copy.h5ad");
    let npy = dir.path().join("samples.npy");
    let mean = dir.path().join("mean.npy");
    let run = |out: &str, extra: &[&str]| {
        let flags = [&["--conditions", "obs/batch", "--samples", "3"], extra].concat();
        ok_json(transport(&model, &data, out, &flags))
    };
    let r = run(&spec(&copy, "obsm/X_pred"), &[]);
    assert_eq!(r["shape"], serde_json::json!([12, 3, 3]));
    run(
        npy.to_str().unwrap(),
        &["--mean-out", mean.to_str().unwrap()],
    );
    assert_eq!(std::fs::read(fixture()).unwrap(), before, "input untouched");
    // The copy's obsm/X_pred is the mean of the samples and obsm/X_pred_samples the
    // samples: the same numbers as the .npy outputs.
    let h5 = hdf5::File::open(&copy).unwrap();
    let read = |key: &str| -> Vec<f32> { h5.dataset(key).unwrap().read_raw().unwrap() };
    let samples: ndarray::Array3<f32> = read_npy(&npy).unwrap();
    let means: Array2<f32> = read_npy(&mean).unwrap();
    assert_eq!(
        h5.dataset("obsm/X_pred_samples").unwrap().shape(),
        [12, 3, 3]
    );
    assert_eq!(
        read("obsm/X_pred_samples"),
        samples.iter().copied().collect::<Vec<_>>()
    );
    assert_eq!(
        read("obsm/X_pred"),
        means.iter().copied().collect::<Vec<_>>()
    );
    assert_eq!(read("obs/X_pred_uncertainty").len(), 12);
    let e = ok_json(genot(&[
        "eval",
        "--pred",
        &spec(&copy, "obsm/X_pred"),
        "--target",
        mean.to_str().unwrap(),
        "--paired",
    ]));
    assert_eq!(e["foscttm"], 0.0);
    assert_eq!(e["energy_distance"], 0.0);
    let e = input_error(genot(&[
        "eval",
        "--pred",
        &spec(&copy, "obsm/X_pred_samples"),
        "--target",
        mean.to_str().unwrap(),
    ]));
    assert!(e.contains("3-D array"), "{e}");
    // genot plot reads the n x K x q samples from the copy (as the README says), and draws
    // the same figure as from the .npy samples.
    let (fig_h5, fig_npy) = (dir.path().join("h5.png"), dir.path().join("npy.png"));
    for (pred, fig) in [
        (spec(&copy, "obsm/X_pred_samples"), &fig_h5),
        (npy.to_str().unwrap().to_string(), &fig_npy),
    ] {
        ok_json(genot(&[
            "plot",
            "--source",
            &data,
            "--pred",
            &pred,
            "--out",
            fig.to_str().unwrap(),
        ]));
    }
    assert_eq!(
        std::fs::read(&fig_h5).unwrap(),
        std::fs::read(&fig_npy).unwrap()
    );
    // Coloured by an obs column: `transport --plot --plot-color` draws the figure that
    // `plot --color` draws from the same samples, and it differs from the plain one.
    let (fig_tr, fig_col) = (dir.path().join("tr.png"), dir.path().join("col.png"));
    let again = dir.path().join("again.npy");
    run(
        again.to_str().unwrap(),
        &[
            "--plot",
            fig_tr.to_str().unwrap(),
            "--plot-color",
            "obs/condition",
        ],
    );
    ok_json(genot(&[
        "plot",
        "--source",
        &data,
        "--pred",
        npy.to_str().unwrap(),
        "--color",
        "obs/condition",
        "--out",
        fig_col.to_str().unwrap(),
    ]));
    let coloured = std::fs::read(&fig_col).unwrap();
    assert_eq!(std::fs::read(&fig_tr).unwrap(), coloured);
    assert_ne!(std::fs::read(&fig_npy).unwrap(), coloured);
    // The copy keeps the original data.
    let e = ok_json(genot(&[
        "eval",
        "--pred",
        &spec(&copy, "obsm/X_pca"),
        "--target",
        &data,
        "--paired",
        "--pred-labels",
        "obs/condition",
        "--target-labels",
        "obs/condition",
        "--knn",
        "1",
    ]));
    assert_eq!(e["label_transfer_accuracy"], 1.0);
    // eval's filters: the 4 stim cells of the copy against themselves.
    let e = ok_json(genot(&[
        "eval",
        "--pred",
        &spec(&copy, "obsm/X_pca"),
        "--pred-filter",
        "obs/condition=stim",
        "--target",
        &data,
        "--target-filter",
        "obs/condition!=control",
        "--paired",
    ]));
    assert_eq!(e["n_pred"], 4);
    assert_eq!(e["foscttm"], 0.0);
}

#[test]
fn h5ad_inputs_match_the_same_data_as_npy() {
    let dir = tempfile::tempdir().unwrap();
    // X is CSR in the fixture: the filtered rows, written as .npy by hand, are the same.
    let x = Array2::from_shape_fn((12, 5), |(i, j)| {
        if (i + j) % 3 == 0 {
            0.0f32
        } else {
            (i * 10 + j) as f32
        }
    });
    for (filter, rows) in [
        ("obs/condition=stim", vec![0, 3, 6, 9]),
        ("obs/time=0,3", vec![0, 3, 4, 7, 8, 11]),
    ] {
        let npy = dir.path().join("rows.npy");
        write_npy(&npy, &x.select(ndarray::Axis(0), &rows)).unwrap();
        for key in ["X", "layers/csc", "layers/dense"] {
            let e = ok_json(genot(&[
                "eval",
                "--pred",
                &spec(&fixture(), key),
                "--pred-filter",
                filter,
                "--target",
                npy.to_str().unwrap(),
                "--paired",
            ]));
            assert_eq!(e["n_pred"], rows.len(), "{key} {filter}");
            assert_eq!(e["foscttm"], 0.0, "{key} {filter}");
            assert_eq!(e["energy_distance"], 0.0, "{key} {filter}");
        }
    }
    // A bare file name means X.
    let e = ok_json(genot(&[
        "eval",
        "--pred",
        fixture().to_str().unwrap(),
        "--pred-filter",
        "obs/flag=true",
        "--target",
        &spec(&fixture(), "X"),
        "--target-filter",
        "obs/flag!=false",
        "--paired",
    ]));
    assert_eq!(e["n_pred"], 6);
}

#[test]
fn bad_h5ad_inputs_are_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture()).unwrap();
    let cut = dir.path().join("cut.h5ad");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let model = dir.path().join("model");
    let fit_with = |source: &str, extra: &[&str]| {
        let mut args = vec![
            "fit",
            "--source",
            source,
            "--target",
            source,
            "--out",
            model.to_str().unwrap(),
            "--iterations",
            "2",
        ];
        args.extend_from_slice(extra);
        input_error(genot(&args))
    };
    let e = fit_with(&spec(&cut, "obsm/X_pca"), &[]);
    assert!(
        e.contains("cut.h5ad") && e.contains("not a readable HDF5"),
        "{e}"
    );
    let e = fit_with(&spec(&fixture(), "obsm/X_tsne"), &[]);
    assert!(e.contains("no obsm/X_tsne (obsm: X_pca, X_umap"), "{e}");
    let e = fit_with(&spec(&fixture(), "uns/x"), &[]);
    assert!(e.contains("use X, obsm/NAME or layers/NAME"), "{e}");
    let e = fit_with(
        &spec(&fixture(), "X"),
        &["--source-filter", "obs/cell_type=T"],
    );
    assert!(
        e.contains("--source-filter") && e.contains("no obs column 'cell_type'"),
        "{e}"
    );
    let e = fit_with(
        &spec(&fixture(), "X"),
        &["--source-filter", "obs/condition=ctrl"],
    );
    assert!(
        e.contains("keeps no cells") && e.contains("stim, control"),
        "{e}"
    );
    let e = fit_with(&spec(&fixture(), "X"), &["--source-filter", "condition"]);
    assert!(e.contains("obs/COLUMN=VALUE"), "{e}");
    // Conditions with a missing value, and a CSV of another length than the filtered file.
    let e = fit_with(
        &spec(&fixture(), "X"),
        &[
            "--source-conditions",
            "obs/dose",
            "--target-conditions",
            "obs/dose",
        ],
    );
    assert!(e.contains("missing value at row 5"), "{e}");
    let labels = dir.path().join("labels.csv");
    std::fs::write(&labels, "c\na\nb\nc\n").unwrap();
    let e = fit_with(
        &spec(&fixture(), "X"),
        &[
            "--source-filter",
            "obs/condition=stim",
            "--source-conditions",
            labels.to_str().unwrap(),
            "--target-conditions",
            "obs/batch",
        ],
    );
    assert!(
        e.contains("3 rows but --source-filter obs/condition=stim") && e.contains("12 cells"),
        "{e}"
    );
    // A filter needs an .h5ad data file; obs/COLUMN needs one too.
    let npy = dir.path().join("x.npy");
    write_npy(&npy, &Array2::<f32>::ones((12, 2))).unwrap();
    let e = fit_with(
        npy.to_str().unwrap(),
        &["--source-filter", "obs/condition=stim"],
    );
    assert!(e.contains("must be an .h5ad file"), "{e}");
    let e = fit_with(
        npy.to_str().unwrap(),
        &[
            "--source-conditions",
            "obs/batch",
            "--target-conditions",
            "obs/batch",
        ],
    );
    assert!(e.contains("names an obs column"), "{e}");
    assert!(!model.exists(), "no model directory after input errors");
}

#[test]
fn h5ad_output_refuses_the_input_filters_and_non_h5ad_sources() {
    let dir = tempfile::tempdir().unwrap();
    ok_json(fit(dir.path(), &[]));
    let model = dir.path().join("model");
    let input = dir.path().join("cells.h5ad");
    std::fs::copy(fixture(), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    let data = spec(&input, "obsm/X_pca");
    let conditions = ["--conditions", "obs/batch"];
    let run = |source: &str, out: &str, extra: &[&str]| {
        input_error(transport(
            &model,
            source,
            out,
            &[&conditions[..], extra].concat(),
        ))
    };
    let e = run(&data, &spec(&input, "obsm/X_genot"), &[]);
    assert!(e.contains("is the input file"), "{e}");
    let e = run(input.to_str().unwrap(), input.to_str().unwrap(), &[]);
    assert!(e.contains("is the input file"), "{e}");
    let out = dir.path().join("out.h5ad");
    let e = run(
        &data,
        out.to_str().unwrap(),
        &["--source-filter", "obs/condition=control"],
    );
    assert!(
        e.contains("with --source-filter, write .npy or .csv"),
        "{e}"
    );
    let e = run(&data, &spec(&out, "layers/pred"), &[]);
    assert!(e.contains("COPY.h5ad:obsm/KEY"), "{e}");
    let npy = dir.path().join("x.npy");
    write_npy(&npy, &Array2::<f32>::ones((12, 3))).unwrap();
    let e = input_error(transport(
        &model,
        npy.to_str().unwrap(),
        out.to_str().unwrap(),
        &[],
    ));
    assert!(e.contains("--source must be an .h5ad file"), "{e}");
    assert!(!out.exists());
    assert_eq!(std::fs::read(&input).unwrap(), before);
    // With the default key, the copy holds obsm/X_genot.
    ok_json(transport(&model, &data, out.to_str().unwrap(), &conditions));
    let e = ok_json(genot(&[
        "eval",
        "--pred",
        &spec(&out, "obsm/X_genot"),
        "--target",
        &data,
    ]));
    assert_eq!(e["n_pred"], 12);
    assert_eq!(std::fs::read(&input).unwrap(), before);
}
