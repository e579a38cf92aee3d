//! Regression tests of the bad-input and crash campaign (issue 14): each case once made the
//! CLI abort, destroy an input, leave a mixed model or print an unclear message.

mod common;

use common::{cloud, clouds, fit_args, genot, ok_json, s, SMALL};
use ndarray::Array2;
use ndarray_npy::write_npy;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Fails unless the run exited with `code` and its stderr contains every one of `want`.
fn fails_with(out: &Output, code: i32, want: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    for w in want {
        assert!(err.contains(w), "'{w}' not in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

fn fit(x: &Path, y: &Path, out: &Path, iterations: &str, extra: &[&str]) -> Output {
    genot(&fit_args(x, y, out, iterations, extra))
}

/// The bytes of an .npy file of `a` whose header claims `shape` instead.
fn lying_npy(a: &Array2<f64>, shape: &str) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for v in a.iter() {
        out.extend(v.to_le_bytes());
    }
    out
}

#[test]
fn a_lying_npy_header_is_an_error_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = clouds(dir.path());
    let bad = dir.path().join("bad.npy");
    let a = Array2::<f64>::zeros((100, 2));
    std::fs::write(&bad, lying_npy(&a, "(100000000000, 2)")).unwrap();
    let want = [
        "source file",
        "bad.npy",
        "is truncated",
        "(100000000000, 2)",
    ];
    let out = fit(&bad, &y, &dir.path().join("m"), "5", &[]);
    fails_with(&out, 2, &want);
    let out = genot(&["solve", "--source", s(&bad), "--target", s(&x)]);
    fails_with(&out, 2, &want);
    // Empty and cut-short files say what they are.
    std::fs::write(&bad, b"").unwrap();
    let out = genot(&["solve", "--source", s(&bad), "--target", s(&x)]);
    fails_with(&out, 2, &["is empty (0 bytes)"]);
    let good = std::fs::read(&x).unwrap();
    std::fs::write(&bad, &good[..good.len() - 5]).unwrap();
    let out = genot(&["solve", "--source", s(&bad), "--target", s(&x)]);
    fails_with(&out, 2, &["is truncated"]);
    std::fs::write(&bad, &good[..30]).unwrap();
    let out = genot(&["solve", "--source", s(&bad), "--target", s(&x)]);
    fails_with(&out, 2, &["ends inside its header"]);
}

#[test]
fn a_lying_sparse_shape_is_an_error_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cells.h5ad");
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cells.h5ad");
    std::fs::copy(fixture, &file).unwrap();
    common::without_children(|| {
        let f = hdf5::File::open_rw(&file).unwrap();
        let x = f.group("X").unwrap();
        x.delete_attr("shape").unwrap();
        x.new_attr::<i64>()
            .shape(2)
            .create("shape")
            .unwrap()
            .write_raw(&[12i64, 1_000_000_000_000])
            .unwrap();
        // Closed (and its lock released) before genot opens it, and no child of another
        // test starts while it is open (common::without_children): either once made the
        // child see "unable to lock file" under load.
        drop(x);
        f.close().unwrap();
    });
    let (y, _) = clouds(dir.path());
    let out = genot(&["solve", "--source", s(&file), "--target", s(&y)]);
    fails_with(
        &out,
        2,
        &[
            "source file '",
            "cells.h5ad' X: declares a sparse matrix of shape (12, 1000000000000)",
            "in memory",
            "raise the limit with --max-memory or GENOT_MAX_MEMORY",
        ],
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains('`'));
}

#[test]
fn a_malformed_data_spec_is_refused_when_parsed_naming_the_argument() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = clouds(dir.path());
    let bad = format!("{}:uns/x", dir.path().join("cells.h5ad").display());
    for (argv, flag, why) in [
        (
            vec!["solve", "--source", bad.as_str(), "--target", s(&y)],
            "'--source <SOURCE>'",
            "is not a matrix of an .h5ad file: use X, obsm/NAME or layers/NAME",
        ),
        (
            vec!["eval", "--pred", s(&x), "--target", "t.txt"],
            "'--target <TARGET>'",
            "unsupported format",
        ),
        (
            vec![
                "eval",
                "--pred",
                s(&x),
                "--target",
                s(&y),
                "--pred-labels",
                "cells.h5ad:X",
                "--target-labels",
                "l.csv",
            ],
            "'--pred-labels <PRED_LABELS>'",
            "labels come from an obs column: write FILE.h5ad:obs/COLUMN",
        ),
    ] {
        let out = genot(&argv);
        fails_with(&out, 2, &["invalid value", flag, why]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}

#[test]
fn work_too_large_for_memory_is_refused_with_the_flag_to_change() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = clouds(dir.path());
    let m = dir.path().join("m");
    for (flags, want) in [
        (vec!["--k-samples", "10000000"], "--k-samples"),
        (vec!["--hidden", "1000000"], "--hidden"),
        (
            vec!["--time-frequencies", "100000000"],
            "--time-frequencies",
        ),
        (vec!["--layers", "10000000"], "--layers"),
    ] {
        let out = fit(&x, &y, &m, "5", &flags);
        fails_with(&out, 2, &["needs about", "of memory", want]);
        assert!(!m.exists(), "a refused fit writes nothing");
    }
    // A limit given on the command line applies.
    let out = genot(&[
        "--max-memory",
        "1M",
        "fit",
        "--source",
        s(&x),
        "--target",
        s(&y),
        "--out",
        s(&m),
        "--iterations",
        "5",
    ]);
    fails_with(&out, 2, &["the limit set with --max-memory"]);
    ok_json(fit(&x, &y, &m, "5", &[]));
    let out = genot(&[
        "transport",
        "--model",
        s(&m),
        "--source",
        s(&x),
        "--out",
        s(&dir.path().join("p.npy")),
        "--samples",
        "1000000000000",
    ]);
    fails_with(&out, 2, &["needs about", "lower --samples"]);
}

#[test]
fn no_command_writes_onto_its_inputs_or_twice_to_one_path() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = clouds(dir.path());
    let m = dir.path().join("m");
    ok_json(fit(&x, &y, &m, "5", &[]));
    let before = std::fs::read(&x).unwrap();
    let t = |extra: &[&str]| {
        let mut args = vec!["transport", "--model", s(&m), "--source", s(&x)];
        args.extend_from_slice(extra);
        genot(&args)
    };
    let out = t(&["--out", s(&x)]);
    fails_with(&out, 2, &["--out", "is the file given to --source"]);
    let p = dir.path().join("p.npy");
    let out = t(&["--out", s(&p), "--mean-out", s(&p), "--samples", "2"]);
    fails_with(&out, 2, &["--out and --mean-out both write"]);
    assert!(!p.exists());
    let other_spelling = dir.path().join(".").join("x.npy");
    let out = genot(&[
        "solve",
        "--source",
        s(&x),
        "--target",
        s(&y),
        "--plan-out",
        s(&other_spelling),
    ]);
    fails_with(&out, 2, &["--plan-out", "--source"]);
    assert_eq!(std::fs::read(&x).unwrap(), before, "the input is intact");
}

#[test]
fn a_refit_that_fails_leaves_the_previous_model_exactly_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = clouds(dir.path());
    let m = dir.path().join("m");
    ok_json(fit(&x, &y, &m, "20", &[]));
    let snapshot = |d: &Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| {
                (
                    e.file_name().to_string_lossy().to_string(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let before = snapshot(&m);
    assert!(before.iter().any(|(n, _)| n == "manifest.json"));
    // Resuming with other settings fails (bad input: exit 2) and changes nothing.
    let out = fit(&x, &y, &m, "30", &["--resume", "--lr", "0.5"]);
    fails_with(&out, 2, &["other data or settings"]);
    assert_eq!(snapshot(&m), before);
    // Stale temporaries of interrupted runs are removed by the next run.
    std::fs::write(m.join(".tmpABCDEF"), b"x").unwrap();
    std::fs::create_dir(m.join(".checkpoint-XYZ")).unwrap();
    let staging = dir.path().join(".m.genot-staging");
    std::fs::create_dir(&staging).unwrap();
    std::fs::write(staging.join(".genot-partial"), b"").unwrap();
    ok_json(fit(&x, &y, &m, "10", &[]));
    assert!(!m.join(".tmpABCDEF").exists() && !m.join(".checkpoint-XYZ").exists());
    assert!(!staging.exists());
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert!(names.iter().all(|n| !n.contains("genot-")), "{names:?}");
}

#[test]
fn a_model_whose_files_disagree_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = clouds(dir.path());
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    ok_json(fit(&x, &y, &a, "5", &[]));
    ok_json(fit(&x, &y, &b, "5", &["--hidden", "24"]));
    // New weights with the old config: what an interrupted refit once left.
    std::fs::copy(b.join("model.safetensors"), a.join("model.safetensors")).unwrap();
    let p = dir.path().join("p.npy");
    let transport = || {
        let args = [
            "transport",
            "--model",
            s(&a),
            "--source",
            s(&x),
            "--out",
            s(&p),
        ];
        genot(&args)
    };
    let out = transport();
    fails_with(&out, 2, &["inconsistent", "model.safetensors"]);
    assert!(!p.exists());
    // Without a manifest (a model from before manifests), a config that does not fit the
    // weights is still an error, not a network built from the config alone.
    std::fs::remove_file(a.join("manifest.json")).unwrap();
    let out = transport();
    fails_with(&out, 2, &["do not belong together"]);
}

#[test]
fn unclear_messages_now_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = clouds(dir.path());
    let toml = dir.path().join("run.toml");
    std::fs::write(&toml, "iterations = -5\n").unwrap();
    let out = genot(&[
        "fit",
        "--config",
        s(&toml),
        "--source",
        s(&x),
        "--target",
        s(&y),
        "--out",
        s(&dir.path().join("m")),
    ]);
    fails_with(&out, 2, &["run.toml", "key 'iterations' = -5"]);
    // One point cannot make a quadratic problem.
    let one = dir.path().join("one.npy");
    write_npy(&one, &cloud(1, 2, 0.0)).unwrap();
    let out = genot(&[
        "solve",
        "--quadratic",
        "--source",
        s(&one),
        "--target",
        s(&y),
        "--epsilon",
        "0.1",
    ]);
    fails_with(&out, 2, &["single point", "at least 2 points"]);
    // All costs zero: the scale is named in words, not as an internal value.
    let zeros = dir.path().join("zeros.npy");
    write_npy(&zeros, &Array2::<f32>::zeros((5, 2))).unwrap();
    let out = genot(&[
        "solve",
        "--source",
        s(&zeros),
        "--target",
        s(&zeros),
        "--cost",
        "cosine",
    ]);
    fails_with(
        &out,
        2,
        &[
            "standard deviation of the scaled cost",
            "all costs are equal",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("Relative {") && !err.contains("Std"), "{err}");
    // A huge value is reported by its row in the file.
    let mut big = cloud(10, 2, 0.0);
    big[[7, 1]] = 3e38;
    let bigp = dir.path().join("big.npy");
    write_npy(&bigp, &big).unwrap();
    let out = genot(&["solve", "--source", s(&bigp), "--target", s(&x)]);
    fails_with(&out, 2, &["big.npy", "row 7, column 1", "too large"]);
    // CSV files: a header row is required, and names each column once.
    let csv = dir.path().join("c.csv");
    std::fs::write(&csv, "1.0,2.0\n3.0,4.0\n5.0,6.0\n").unwrap();
    let out = genot(&["solve", "--source", s(&csv), "--target", s(&x)]);
    fails_with(&out, 2, &["c.csv", "has no header row"]);
    std::fs::write(&csv, "a,a\n1.0,2.0\n3.0,4.0\n").unwrap();
    let out = genot(&["solve", "--source", s(&csv), "--target", s(&x)]);
    fails_with(&out, 2, &["c.csv", "the column name 'a' twice"]);
    // --resume without anything to resume is bad input (exit 2).
    let out = fit(&x, &y, &dir.path().join("fresh"), "5", &["--resume"]);
    fails_with(&out, 2, &["--resume: no checkpoint"]);
}

/// The model's files that define its predictions, by name, with their bytes
/// (history.json also holds the run's time, so it differs between any two runs; it must be
/// there whenever the model is).
fn model_bytes(d: &Path) -> Vec<(String, Vec<u8>)> {
    let v: Vec<_> = ["config.json", "model.safetensors"]
        .iter()
        .filter(|n| d.join(n).exists())
        .map(|n| (n.to_string(), std::fs::read(d.join(n)).unwrap()))
        .collect();
    assert_eq!(
        !v.is_empty(),
        d.join("history.json").exists(),
        "{}: history.json and the model come together",
        d.display()
    );
    v
}

fn fit_env(
    x: &Path,
    y: &Path,
    out: &Path,
    iterations: &str,
    extra: &[&str],
    crash: &str,
) -> Output {
    let mut args = vec![
        "fit".to_string(),
        "--source".into(),
        s(x).into(),
        "--target".into(),
        s(y).into(),
        "--out".into(),
        s(out).into(),
        "--iterations".into(),
        iterations.into(),
        "--checkpoint-every".into(),
        "20".into(),
    ];
    args.extend(SMALL.iter().map(|a| a.to_string()));
    args.extend(extra.iter().map(|a| a.to_string()));
    common::output(
        std::process::Command::new(env!("CARGO_BIN_EXE_genot"))
            .args(&args)
            .env("GENOT_CRASH_AT", crash),
    )
}

/// A fit stopped dead at each of its writing points (checkpoints, between the files of the
/// final save, around the swap), as a first fit and as a refit over an existing model:
/// the directory is always the old model or the new one, whole, and `--resume` finishes
/// the run with the same weights as an uninterrupted run.
#[test]
fn a_fit_killed_at_any_writing_point_leaves_the_old_or_the_new_model() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = clouds(dir.path());
    let reference = dir.path().join("reference");
    ok_json(fit_env(&x, &y, &reference, "60", &["--seed", "3"], ""));
    let new = model_bytes(&reference);
    let old_dir = dir.path().join("old");
    ok_json(fit_env(&x, &y, &old_dir, "30", &["--seed", "9"], ""));
    let old = model_bytes(&old_dir);
    assert_ne!(old, new);
    let mut trials = 0;
    for crash in [
        "checkpoint#1",
        "checkpoint#2",
        "checkpoint#3",
        "model-files",
        "before-swap",
        "after-swap",
    ] {
        for refit in [false, true] {
            let m = dir.path().join(format!("m-{crash}-{refit}"));
            if refit {
                ok_json(fit_env(&x, &y, &m, "30", &["--seed", "9"], ""));
            }
            let out = fit_env(&x, &y, &m, "60", &["--seed", "3"], crash);
            assert!(
                !out.status.success(),
                "{crash}: the crash point was not reached"
            );
            let now = model_bytes(&m);
            let expected_before = if refit { old.clone() } else { vec![] };
            assert!(
                now == expected_before || now == new,
                "{crash} (refit {refit}): the directory is neither the old nor the new model: {:?}",
                now.iter().map(|(n, b)| (n, b.len())).collect::<Vec<_>>()
            );
            // A model that is there loads and is consistent.
            if !now.is_empty() {
                let p = dir.path().join("p.npy");
                ok_json(genot(&transport_args(&m, &x, &p, &[])));
            }
            let report = ok_json(fit_env(&x, &y, &m, "60", &["--seed", "3", "--resume"], ""));
            assert_eq!(report["iterations"], 60);
            assert_eq!(
                model_bytes(&m),
                new,
                "{crash} (refit {refit}): resumed run differs"
            );
            trials += 1;
        }
    }
    assert_eq!(trials, 12);
}

/// The arguments of `genot transport --model m --source x --out p EXTRA`.
fn transport_args<'a>(m: &'a Path, x: &'a Path, p: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "transport",
        "--model",
        s(m),
        "--source",
        s(x),
        "--out",
        s(p),
    ];
    args.extend_from_slice(extra);
    args
}

/// `genot ARGS` with `RAYON_NUM_THREADS=threads`; its JSON report.
fn genot_threads(args: &[&str], threads: &str) -> serde_json::Value {
    ok_json(common::output(
        std::process::Command::new(env!("CARGO_BIN_EXE_genot"))
            .args(args)
            .env("RAYON_NUM_THREADS", threads),
    ))
}

/// The same seed gives the same Sinkhorn plan, the same trained weights (linear and GW,
/// with a batch of several gradient blocks) and the same transported samples, byte for
/// byte, with 1, 2 and 4 threads.
#[test]
fn results_do_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = clouds(dir.path());
    let y3 = dir.path().join("y3.npy");
    write_npy(&y3, &cloud(200, 3, 1.0)).unwrap();
    let mut runs: Vec<Vec<(String, Vec<u8>)>> = vec![];
    for threads in ["1", "2", "4"] {
        let d = dir.path().join(format!("t{threads}"));
        std::fs::create_dir(&d).unwrap();
        let mut files = vec![];
        let plan = d.join("plan.npy");
        genot_threads(
            &[
                "solve",
                "--source",
                s(&x),
                "--target",
                s(&y),
                "--plan-out",
                s(&plan),
            ],
            threads,
        );
        files.push(("plan".to_string(), std::fs::read(&plan).unwrap()));
        for (kind, target) in [("linear", &y), ("quadratic", &y3)] {
            let m = d.join(kind);
            let mut args = vec![
                "fit",
                "--kind",
                kind,
                "--source",
                s(&x),
                "--target",
                s(target),
                "--out",
                s(&m),
                "--iterations",
                "25",
                "--seed",
                "5",
            ];
            args.extend_from_slice(&SMALL);
            // 200 rows: four gradient blocks, the last one short.
            args.extend_from_slice(&["--batch-size", "200"]);
            genot_threads(&args, threads);
            for (name, bytes) in model_bytes(&m) {
                files.push((format!("{kind}/{name}"), bytes));
            }
            let p = d.join(format!("{kind}-samples.npy"));
            genot_threads(
                &transport_args(&m, &x, &p, &["--samples", "3", "--seed", "2"]),
                threads,
            );
            files.push((format!("{kind}/samples"), std::fs::read(&p).unwrap()));
        }
        runs.push(files);
    }
    for (run, threads) in runs.iter().zip(["1", "2", "4"]).skip(1) {
        for ((name, a), (_, b)) in runs[0].iter().zip(run) {
            assert!(a == b, "{name} differs between 1 and {threads} threads");
        }
    }
}

/// Two fits on one model directory: the second is refused with a message naming the other
/// run, instead of taking over its staging directory; a killed fit leaves no stale lock.
#[test]
fn a_second_fit_on_the_same_directory_is_refused_while_the_first_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = clouds(dir.path());
    let m = dir.path().join("m");
    let mut first = common::spawn(
        std::process::Command::new(env!("CARGO_BIN_EXE_genot"))
            .args(["fit", "--source", s(&x), "--target", s(&y), "--out", s(&m)])
            .args(["--iterations", "1000000"])
            .args(SMALL)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let staging = dir.path().join(".m.genot-staging");
    let started = std::time::Instant::now();
    while !staging.exists() {
        assert!(
            started.elapsed().as_secs() < 60,
            "the first fit never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = fit(&x, &y, &m, "5", &[]);
    first.kill().unwrap();
    first.wait().unwrap();
    fails_with(
        &out,
        2,
        &[
            "another genot fit is writing the model directory",
            "(--out)",
        ],
    );
    // The killed fit's lock went with its process.
    ok_json(fit(&x, &y, &m, "5", &[]));
}
