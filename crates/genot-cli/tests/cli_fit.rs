//! `genot fit` and `genot transport` end to end.

mod common;

use common::{cloud, genot, ok_json, s};
use ndarray::{Array2, Array3};
use ndarray_npy::{read_npy, write_npy};
use std::path::{Path, PathBuf};
use std::process::Output;

/// `genot fit` with a small network (larger than [`common::SMALL`]: these tests check
/// what the model learns).
fn fit_small(x: &Path, y: &Path, model: &Path, iterations: &str, extra: &[&str]) -> Output {
    const NET: [&str; 10] = [
        "--hidden",
        "32",
        "--layers",
        "2",
        "--time-frequencies",
        "8",
        "--lr",
        "1e-3",
        "--batch-size",
        "128",
    ];
    genot(&common::fit_args_with(x, y, model, iterations, &NET, extra))
}

/// `genot transport` of `x` through `model` into `out`, with extra flags.
fn transport(model: &Path, x: &Path, out: &Path, extra: &[&str]) -> Output {
    genot(&common::transport_args(model, x, out, extra))
}

/// `x.npy` (n points) and `y.npy` (the same shifted by `shift` along the first axis) in
/// `dir`, and the path of a model directory there.
fn clouds_in(dir: &Path, n: usize, shift: f32) -> (PathBuf, PathBuf, PathBuf) {
    let (x, y) = (dir.join("x.npy"), dir.join("y.npy"));
    write_npy(&x, &cloud(n, 2, 0.0)).unwrap();
    write_npy(&y, &cloud(n, 2, shift)).unwrap();
    (x, y, dir.join("model"))
}

#[test]
fn fit_then_transport_writes_model_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y, model) = clouds_in(dir.path(), 300, 4.0);
    let report = ok_json(fit_small(&x, &y, &model, "300", &[]));
    assert_eq!(report["iterations"], 300);
    for f in [
        "config.json",
        "model.safetensors",
        "history.json",
        "checkpoint/state.json",
    ] {
        assert!(model.join(f).exists(), "{f} missing");
    }
    let samples = dir.path().join("p.npy");
    let mean = dir.path().join("m.npy");
    let unc = dir.path().join("u.npy");
    let out = transport(
        &model,
        &x,
        &samples,
        &[
            "--samples",
            "4",
            "--mean-out",
            s(&mean),
            "--uncertainty-out",
            s(&unc),
            "--solver",
            "rk4",
            "--steps",
            "10",
        ],
    );
    let report = ok_json(out);
    assert_eq!(report["shape"], serde_json::json!([300, 4, 2]));
    let p: Array3<f32> = read_npy(&samples).unwrap();
    assert_eq!(p.dim(), (300, 4, 2));
    let m: Array2<f32> = read_npy(&mean).unwrap();
    // The learned map moves the cloud by about +4 along the first axis.
    let shift = m.column(0).mean().unwrap() - cloud(300, 2, 0.0).column(0).mean().unwrap();
    assert!((shift - 4.0).abs() < 0.5, "mean shift {shift}");
    let u: ndarray::Array1<f32> = read_npy(&unc).unwrap();
    assert_eq!(u.len(), 300);
    // One sample gives an n x q array.
    let one = dir.path().join("one.npy");
    let out = transport(&model, &x, &one, &[]);
    let report = ok_json(out);
    assert_eq!(report["shape"], serde_json::json!([300, 2]));
    let o: Array2<f32> = read_npy(&one).unwrap();
    assert_eq!(o.dim(), (300, 2));
    // The two adaptive pairs agree at a tight tolerance.
    let tight = |solver: &str| {
        let out = dir.path().join(format!("{solver}.npy"));
        let flags = ["--solver", solver, "--rtol", "1e-6", "--atol", "1e-6"];
        let report = ok_json(transport(&model, &x, &out, &flags));
        assert_eq!(report["solver"], solver);
        read_npy::<_, Array2<f32>>(&out).unwrap()
    };
    let gap = (&tight("tsit5") - &tight("dopri5"))
        .mapv(f32::abs)
        .fold(0.0f32, |m, &v| m.max(v));
    assert!(gap < 1e-3, "tsit5 and dopri5 differ by {gap}");
    // Resume to more iterations continues from the checkpoint.
    let report = ok_json(fit_small(&x, &y, &model, "320", &["--resume"]));
    assert_eq!(report["resumed_from"], 300);
}

#[test]
fn fit_and_transport_errors_are_named_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    let mut bad = cloud(50, 2, 0.0);
    bad[[3, 1]] = f32::INFINITY;
    write_npy(&x, &bad).unwrap();
    write_npy(&y, &cloud(50, 3, 1.0)).unwrap();
    let model = dir.path().join("model");
    // `genot fit` on x and y with extra flags: an input error; its message.
    let fit_input_error = |extra: &[&str]| -> String {
        let mut args = vec![
            "fit",
            "--source",
            s(&x),
            "--target",
            s(&y),
            "--out",
            s(&model),
        ];
        args.extend_from_slice(extra);
        let out = genot(&args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = fit_input_error(&[]);
    assert!(err.contains("row 3") && err.contains("column 1"), "{err}");
    assert!(!model.exists());
    write_npy(&x, &cloud(50, 2, 0.0)).unwrap();
    assert!(fit_input_error(&[]).contains("--kind quadratic"));
    let err = fit_input_error(&["--kind", "quadratic", "--relative-epsilon"]);
    assert!(
        err.contains("--relative-epsilon is for linear problems"),
        "{err}"
    );
    assert!(fit_input_error(&["--device", "tpu"]).contains("available in this build: cpu"));
    let out = genot(&[
        "transport",
        "--model",
        s(&dir.path().join("nope")),
        "--source",
        s(&x),
        "--out",
        s(&dir.path().join("p.npy")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
    assert!(!dir.path().join("p.npy").exists());
}

#[test]
fn config_file_flags_override_and_the_effective_settings_run_again() {
    let dir = tempfile::tempdir().unwrap();
    write_npy(dir.path().join("x.npy"), &cloud(100, 2, 0.0)).unwrap();
    write_npy(dir.path().join("y.npy"), &cloud(100, 2, 1.0)).unwrap();
    let config = dir.path().join("run.toml");
    std::fs::write(
        &config,
        "source = \"x.npy\"\ntarget = \"y.npy\"\nout = \"m1\"\niterations = 40\nhidden = 16\nlayers = 2\ntime-frequencies = 4\nbatch_size = 32\nrelative-epsilon = true\nepsilon = 0.2\n",
    )
    .unwrap();
    let first = ok_json(genot(&[
        "fit",
        "--config",
        s(&config),
        "--iterations",
        "12",
    ]));
    assert_eq!(first["iterations"], 12, "the flag overrides the file");
    let m1 = dir.path().join("m1");
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(m1.join("config.json")).unwrap()).unwrap();
    assert_eq!(c["matching"]["relative_epsilon"], true);
    assert_eq!(c["matching"]["epsilon"], 0.2);
    assert_eq!(c["velocity"]["hidden"], 16);
    // OUT/fit.toml reproduces the run (same losses), here into another directory.
    let m2 = dir.path().join("m2");
    let again = ok_json(genot(&[
        "fit",
        "--config",
        s(&m1.join("fit.toml")),
        "--out",
        s(&m2),
    ]));
    assert_eq!(again["iterations"], 12);
    let losses = |m: &Path| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(
            &std::fs::read_to_string(m.join("history.json")).unwrap(),
        )
        .unwrap()["losses"]
            .clone()
    };
    assert_eq!(losses(&m1), losses(&m2));
    // A switch the file turns on turns off on the command line, after a global flag too.
    let m4 = dir.path().join("m4");
    ok_json(genot(&[
        "-q",
        "fit",
        "--config",
        s(&config),
        "--relative-epsilon=false",
        "--iterations",
        "2",
        "--out",
        s(&m4),
    ]));
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(m4.join("config.json")).unwrap()).unwrap();
    assert_eq!(c["matching"]["relative_epsilon"], false);
    assert_eq!(c["velocity"]["hidden"], 16, "the rest from the file");
    // An unknown key is an input error naming the file and the key; nothing is written.
    std::fs::write(&config, "iteration = 3\n").unwrap();
    let out = genot(&[
        "fit",
        "--config",
        s(&config),
        "--out",
        s(&dir.path().join("m3")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("run.toml") && err.contains("'iteration'"),
        "{err}"
    );
    assert!(!dir.path().join("m3").exists());
}

#[test]
fn transport_writes_csv_as_well_as_npy() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y, model) = clouds_in(dir.path(), 40, 1.0);
    ok_json(fit_small(&x, &y, &model, "5", &[]));
    let (npy, csv) = (dir.path().join("p.npy"), dir.path().join("p.csv"));
    let mean_csv = dir.path().join("m.csv");
    ok_json(transport(&model, &x, &npy, &["--samples", "2"]));
    ok_json(transport(
        &model,
        &x,
        &csv,
        &["--samples", "2", "--mean-out", s(&mean_csv)],
    ));
    let p: Array3<f32> = read_npy(&npy).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("point,sample,y0,y1"));
    let rows: Vec<Vec<f32>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 80);
    for r in &rows {
        let (i, k) = (r[0] as usize, r[1] as usize);
        assert_eq!(&r[2..], &[p[[i, k, 0]], p[[i, k, 1]]]);
    }
    let mean = std::fs::read_to_string(&mean_csv).unwrap();
    assert!(mean.starts_with("y0,y1\n") && mean.lines().count() == 41);
    let bad = transport(&model, &x, &dir.path().join("p.txt"), &[]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains(".npy or .csv"));
    assert!(!dir.path().join("p.txt").exists());
}

#[test]
fn fused_models_generate_shared_then_own_features_and_plot_the_own_ones() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f);
    // Source: 3 own + 2 shared features; target: 2 own + 2 shared.
    for (name, a) in [
        ("x.npy", cloud(120, 3, 0.0)),
        ("xs.npy", cloud(120, 2, 1.0)),
        ("y.npy", cloud(120, 2, 2.0)),
        ("ys.npy", cloud(120, 2, 1.5)),
    ] {
        write_npy(p(name), &a).unwrap();
    }
    let model = p("model");
    let report = ok_json(fit_small(
        &p("x.npy"),
        &p("y.npy"),
        &model,
        "30",
        &[
            "--kind",
            "fused",
            "--source-shared",
            s(&p("xs.npy")),
            "--target-shared",
            s(&p("ys.npy")),
            "--warmup-iterations",
            "10",
        ],
    ));
    assert_eq!(report["target_dim"], 4);
    let out = ok_json(transport(
        &model,
        &p("x.npy"),
        &p("pred.npy"),
        &[
            "--source-shared",
            s(&p("xs.npy")),
            "--plot",
            s(&p("fig.png")),
            "--plot-target",
            s(&p("y.npy")),
        ],
    ));
    assert_eq!(out["shape"], serde_json::json!([120, 4]));
    let pred: Array2<f32> = read_npy(p("pred.npy")).unwrap();
    assert_eq!(pred.dim(), (120, 4));
    assert!(p("fig.png").exists());
}

#[test]
fn normalize_sets_the_scaling_recorded_in_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y, model) = clouds_in(dir.path(), 64, 3.0);
    for (mode, same_scale) in [("isotropic", true), ("none", true), ("per-feature", false)] {
        ok_json(fit_small(&x, &y, &model, "3", &["--normalize", mode]));
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(model.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["training"]["normalize"], mode);
        let std = config["normalization"]["source_std"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(std[0] == std[1], same_scale, "{mode}: {std:?}");
        if mode == "none" {
            assert_eq!(std[0], 1.0);
            assert_eq!(config["normalization"]["target_mean"][0], 0.0);
        }
    }
    let bad = fit_small(&x, &y, &model, "3", &["--normalize", "unit"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// A batch coupling that stops at its iteration limit no longer aborts the fit: training
/// goes on with the plan as it stood, warns once, and the report and history.json count
/// such batches. (Before, `fit` exited 1 at iteration 1 with "the batch Sinkhorn did not
/// converge".)
#[test]
fn an_unconverged_batch_coupling_trains_on_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y, model) = clouds_in(dir.path(), 200, 4.0);
    let limits = [
        "--epsilon",
        "1e-3",
        "--sinkhorn-max-iterations",
        "3",
        "--batch-size",
        "64",
        "--ot-batch-size",
        "64",
    ];
    let out = fit_small(&x, &y, &model, "12", &limits);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = ok_json(out);
    assert_eq!(report["iterations"], 12);
    assert_eq!(report["unconverged_batches"], 12);
    assert_eq!(
        stderr.matches("warning: the batch coupling").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("sinkhorn_max_iterations"), "{stderr}");
    let history: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("history.json")).unwrap())
            .unwrap();
    let listed: Vec<u64> = (1..=12).collect();
    assert_eq!(history["unconverged_batches"], serde_json::json!(listed));
    // The same run with the default limits converges on every batch and says nothing.
    let out = fit_small(&x, &y, &model, "12", &["--batch-size", "64"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(ok_json(out)["unconverged_batches"], 0);
    assert!(!stderr.contains("warning"), "{stderr}");
    // The limits are checked like every other setting.
    let out = fit_small(&x, &y, &model, "12", &["--sinkhorn-threshold", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sinkhorn-threshold must be > 0"));
}

/// A GW fit reports how its orientation was fixed: the candidates' objectives and the one
/// kept, or `none` (no warm-up, every batch from the product init).
#[test]
fn a_gw_fit_reports_its_orientation_choice() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    let y = dir.path().join("y.npy");
    write_npy(&x, &cloud(300, 2, 0.0)).unwrap();
    write_npy(&y, &cloud(300, 3, 1.0)).unwrap();
    let model = dir.path().join("model");
    let gw = ["--kind", "quadratic", "--warmup-iterations", "3"];
    let report = ok_json(fit_small(&x, &y, &model, "5", &gw));
    let o = &report["orientation"];
    assert_eq!(o["mode"], "pushforward", "{report}");
    let objectives = o["objectives"].as_array().unwrap();
    assert_eq!(objectives.len(), 8, "{o}");
    let kept = objectives[o["chosen"].as_u64().unwrap() as usize]
        .as_f64()
        .unwrap();
    assert!(
        objectives.iter().all(|v| v.as_f64().unwrap() >= kept),
        "{o}"
    );
    let mut none = gw.to_vec();
    none.extend(["--orientation", "none"]);
    let report = ok_json(fit_small(&x, &y, &model, "5", &none));
    assert_eq!(report["orientation"]["mode"], "none");
    assert!(report["orientation"]["chosen"].is_null());
    // A linear fit has no orientation to report.
    let y2 = dir.path().join("y2.npy");
    write_npy(&y2, &cloud(300, 2, 1.0)).unwrap();
    let report = ok_json(fit_small(&x, &y2, &model, "5", &[]));
    assert!(report.get("orientation").is_none(), "{report}");
}

/// `--ot-batch-size` couples more points than the network's batch: the fit runs, the
/// memory estimate counts the larger plans, and an OT batch below the batch is refused.
#[test]
fn a_larger_ot_batch_trains_and_a_smaller_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y, model) = clouds_in(dir.path(), 300, 4.0);
    let report = ok_json(fit_small(&x, &y, &model, "10", &["--ot-batch-size", "300"]));
    assert_eq!(report["iterations"], 10);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["matching"]["ot_batch_size"], 300);
    // 300 points hold 2 network batches of 128: each plan feeds 2 iterations.
    assert_eq!(config["matching"]["ot_plan_reuse"], 2);
    let out = fit_small(&x, &y, &model, "10", &["--ot-batch-size", "64"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ot_batch_size (64) must be at least batch_size (128)"),
        "{err}"
    );
    let out = fit_small(&x, &y, &model, "10", &["--ot-plan-reuse", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ot_plan_reuse must be at least 1"), "{err}");
}

/// `--lr-schedule cosine` trains and is recorded in the model's config, and an unknown
/// schedule is refused with the names there are.
#[test]
fn a_cosine_learning_rate_schedule_is_recorded_and_a_bogus_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y, model) = clouds_in(dir.path(), 300, 4.0);
    let report = ok_json(fit_small(
        &x,
        &y,
        &model,
        "10",
        &["--lr-schedule", "cosine"],
    ));
    assert_eq!(report["iterations"], 10);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["training"]["lr_schedule"], "cosine");
    let out = fit_small(&x, &y, &model, "10", &["--lr-schedule", "linear"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("linear") && err.contains("constant") && err.contains("cosine"),
        "{err}"
    );
}
