//! `genot demo`, `genot plot` and the `--plot` options.

mod common;

use common::{genot, ok_json};
use ndarray::{Array2, Array3};
use ndarray_npy::write_npy;
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn is_png(p: &Path) -> bool {
    std::fs::read(p).is_ok_and(|b| b.starts_with(b"\x89PNG\r\n\x1a\n") && b.len() > 1000)
}

#[test]
fn demo_runs_end_to_end_and_beats_leaving_the_source_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let r = ok_json(genot(&["demo", "--out", s(&out), "--iterations", "300"]));
    assert_eq!(r["samples_shape"], serde_json::json!([200, 8, 2]));
    for f in r["figures"].as_array().unwrap() {
        assert!(is_png(Path::new(f.as_str().unwrap())), "{f}");
    }
    for f in [
        "model/config.json",
        "model/fit.toml",
        "predictions.npy",
        "samples.npy",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    let (g, base) = (&r["genot"], &r["source_as_is"]);
    for k in ["sinkhorn_divergence", "energy_distance", "mmd"] {
        assert!(
            g[k].as_f64().unwrap() < 0.5 * base[k].as_f64().unwrap(),
            "{k}: {g} vs {base}"
        );
    }
}

#[test]
fn plot_draws_losses_and_scatters_and_checks_its_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f);
    // A loss curve from a model directory's history.
    std::fs::create_dir(p("model")).unwrap();
    let losses: Vec<f32> = (0..200).map(|i| 2.0 / (1.0 + i as f32 / 20.0)).collect();
    std::fs::write(
        p("model/history.json"),
        serde_json::json!({"losses": losses, "rescaling_losses": [], "resumed_from": 0, "seconds": 1.0})
            .to_string(),
    )
    .unwrap();
    ok_json(genot(&[
        "plot",
        "--model",
        s(&p("model")),
        "--out",
        s(&p("loss.png")),
    ]));
    assert!(is_png(&p("loss.png")));
    // Source in 2-D, 4 samples each in 3-D, targets in 3-D: two panels with PCA.
    let x = Array2::from_shape_fn((50, 2), |(i, j)| ((i * 3 + j * 7) % 11) as f32);
    let y = Array3::from_shape_fn((50, 4, 3), |(i, k, j)| ((i + k * 5 + j * 2) % 13) as f32);
    let t = Array2::from_shape_fn((60, 3), |(i, j)| ((i * 5 + j) % 7) as f32);
    write_npy(p("x.npy"), &x).unwrap();
    write_npy(p("y.npy"), &y).unwrap();
    write_npy(p("t.npy"), &t).unwrap();
    let (xp, yp) = (p("x.npy"), p("y.npy"));
    let args = ["plot", "--source", s(&xp), "--pred", s(&yp)];
    ok_json(genot(
        &[
            &args[..],
            &["--target", s(&p("t.npy")), "--out", s(&p("sc.png"))],
        ]
        .concat(),
    ));
    assert!(is_png(&p("sc.png")));
    // The same in 3-D: another picture.
    ok_json(genot(
        &[
            &args[..],
            &[
                "--target",
                s(&p("t.npy")),
                "--dims",
                "3",
                "--out",
                s(&p("sc3.png")),
            ],
        ]
        .concat(),
    ));
    assert!(is_png(&p("sc3.png")));
    assert_ne!(
        std::fs::read(p("sc.png")).unwrap(),
        std::fs::read(p("sc3.png")).unwrap()
    );
    // Errors: predictions for other points, targets in another space; nothing written.
    write_npy(p("few.npy"), &x.slice(ndarray::s![..10, ..]).to_owned()).unwrap();
    let bad = genot(&[
        "plot",
        "--source",
        s(&p("few.npy")),
        "--pred",
        s(&p("y.npy")),
        "--out",
        s(&p("bad.png")),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("10 source points but predictions for 50")
    );
    let bad = genot(
        &[
            &args[..],
            &["--target", s(&p("x.npy")), "--out", s(&p("bad.png"))],
        ]
        .concat(),
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(!p("bad.png").exists());
    let bad = genot(&["plot", "--model", s(dir.path()), "--out", s(&p("bad.png"))]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("history.json"));
    assert!(!p("bad.png").exists());
}

/// `--color LABELS.csv[:column]` colours the scatter by one label per source point; a
/// label file of the wrong length is refused with both counts.
#[test]
fn plot_colours_by_a_label_and_checks_its_length() {
    let dir = tempfile::tempdir().unwrap();
    let (src, pred) = (dir.path().join("s.npy"), dir.path().join("p.npy"));
    write_npy(
        &src,
        &Array2::from_shape_fn((30, 2), |(i, j)| (i * (j + 1)) as f32 / 30.0),
    )
    .unwrap();
    write_npy(
        &pred,
        &Array3::from_shape_fn((30, 3, 2), |(i, k, j)| (i + k + j) as f32 / 10.0 + 2.0),
    )
    .unwrap();
    let labels = |rows: usize| {
        let p = dir.path().join(format!("l{rows}.csv"));
        let body: String = (0..rows)
            .map(|i| if i < 15 { "a\n" } else { "b\n" })
            .collect();
        std::fs::write(&p, format!("kind\n{body}")).unwrap();
        p
    };
    let (plain, coloured) = (dir.path().join("plain.png"), dir.path().join("col.png"));
    ok_json(genot(&[
        "plot",
        "--source",
        s(&src),
        "--pred",
        s(&pred),
        "--out",
        s(&plain),
    ]));
    let l30 = labels(30);
    let spec = format!("{}:kind", s(&l30));
    ok_json(genot(&[
        "plot",
        "--source",
        s(&src),
        "--pred",
        s(&pred),
        "--color",
        &spec,
        "--out",
        s(&coloured),
    ]));
    assert!(is_png(&coloured));
    assert_ne!(
        std::fs::read(&plain).unwrap(),
        std::fs::read(&coloured).unwrap()
    );
    let out = genot(&[
        "plot",
        "--source",
        s(&src),
        "--pred",
        s(&pred),
        "--color",
        s(&labels(29)),
        "--out",
        s(&dir.path().join("bad.png")),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--color has 29 labels for 30 source points"),
        "{err}"
    );
}
