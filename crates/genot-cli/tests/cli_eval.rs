//! `genot eval`: metrics between predictions and targets, from files.

use genot_ot::metrics::{energy_distance, foscttm};
use ndarray::Array2;
use ndarray_npy::write_npy;
use serde_json::Value;
mod common;
use common::genot;

fn cloud(n: usize, shift: f64) -> Array2<f64> {
    Array2::from_shape_fn((n, 2), |(i, j)| {
        ((i * 2 + j) as f64 * 0.71).sin() * 2.0 + shift
    })
}

#[test]
fn eval_reports_metrics_that_match_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    let (t, pr) = (cloud(60, 0.0), cloud(60, 0.3));
    write_npy(p("t.npy"), &t).unwrap();
    write_npy(p("p.npy"), &pr).unwrap();
    // Spatially coherent labels: the side of the first coordinate; prediction i carries the
    // label of target i.
    let labels: String = std::iter::once("kind".to_string())
        .chain((0..60).map(|i| {
            if t[[i, 0]] < 0.0 {
                "a".into()
            } else {
                "b".into()
            }
        }))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(p("l.csv"), labels + "\n").unwrap();
    let (pl, tl) = (p("l.csv"), p("l.csv"));
    let eval = |pred: &str, knn: &str| {
        let (pred, target) = (p(pred), p("t.npy"));
        genot(&[
            "eval",
            "--pred",
            &pred,
            "--target",
            &target,
            "--paired",
            "--pred-labels",
            &pl,
            "--target-labels",
            &tl,
            "--knn",
            knn,
        ])
    };
    let out = eval("p.npy", "3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ed = energy_distance(pr.view(), t.view()).unwrap();
    assert!((r["energy_distance"].as_f64().unwrap() - ed).abs() < 1e-12);
    let f = foscttm(pr.view(), t.view()).unwrap();
    assert!((r["foscttm"].as_f64().unwrap() - f).abs() < 1e-12);
    assert!(r["sinkhorn_divergence"].as_f64().unwrap() > 0.0);
    assert!(r["label_transfer_accuracy"].as_f64().unwrap() > 0.5);
    let table = String::from_utf8_lossy(&out.stderr);
    assert!(
        table.contains("Sinkhorn divergence") && table.contains("FOSCTTM"),
        "{table}"
    );

    // Predictions equal to the targets: every discrepancy vanishes.
    let out = eval("t.npy", "1");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r["sinkhorn_divergence"].as_f64().unwrap().abs() < 1e-4);
    assert!(r["energy_distance"].as_f64().unwrap().abs() < 1e-12);
    assert!(r["mmd"].as_f64().unwrap().abs() < 1e-12);
    assert_eq!(r["foscttm"].as_f64(), Some(0.0));
    assert_eq!(r["label_transfer_accuracy"].as_f64(), Some(1.0));
}

#[test]
fn eval_errors_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    write_npy(p("t.npy"), &cloud(10, 0.0)).unwrap();
    write_npy(p("p.npy"), &cloud(8, 0.0)).unwrap();
    // `genot eval --pred p.npy --target t.npy` with `extra`: an input error saying `needle`.
    let fails = |extra: &[&str], needle: &str| {
        let (pred, target) = (p("p.npy"), p("t.npy"));
        let mut args = vec!["eval", "--pred", &pred, "--target", &target];
        args.extend_from_slice(extra);
        let out = genot(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(needle), "'{needle}' not in {err}");
    };
    fails(&["--paired"], "--paired needs as many");
    std::fs::write(p("l.csv"), "kind\na\nb\n").unwrap();
    let (labels, two) = (p("l.csv"), p("two.csv"));
    fails(
        &["--pred-labels", &labels, "--target-labels", &labels],
        "has 2 labels for 8 points",
    );
    std::fs::write(&two, "kind,batch\na,1\n").unwrap();
    fails(
        &["--pred-labels", &two, "--target-labels", &labels],
        "name the label column",
    );
    fails(&["--epsilon", "0"], "--epsilon must be > 0");
}
