//! `genot solve` end to end: the JSON report and outputs, and every bad-input case of the
//! issue (one-line error naming the problem, exit code 2, no output file).

use ndarray::{array, Array1, Array2};
use ndarray_npy::write_npy;
use serde_json::Value;
use std::path::{Path, PathBuf};
mod common;
use common::genot;
use std::process::Output;

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let x = Array2::from_shape_fn((40, 3), |(i, j)| ((i * 3 + j) as f32 * 0.37).sin());
        let y = Array2::from_shape_fn((30, 3), |(i, j)| ((i * 5 + j) as f32 * 0.21).cos() + 0.5);
        write_npy(dir.path().join("x.npy"), &x).unwrap();
        write_npy(dir.path().join("y.npy"), &y).unwrap();
        Case { dir }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
    /// Runs solve with the given source and target and extra arguments, asking for a plan
    /// and potentials in the case directory.
    fn solve(&self, source: &str, target: &str, extra: &[&str]) -> Output {
        let (s, t, plan, pots) = (
            self.p(source),
            self.p(target),
            self.p("plan.npy"),
            self.p("pots"),
        );
        let mut args = vec![
            "solve",
            "--source",
            &s,
            "--target",
            &t,
            "--plan-out",
            &plan,
            "--potentials-out",
            &pots,
        ];
        args.extend_from_slice(extra);
        genot(&args)
    }
    /// Asserts a bad-input failure: exit 2, one line on stderr containing `needle`, nothing
    /// on stdout, no output written.
    fn expect_input_error(&self, out: Output, needle: &str) {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "stderr: {err}");
        assert!(out.stdout.is_empty());
        assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
        assert!(err.contains(needle), "'{needle}' not in: {err}");
        assert!(
            !self.path("plan.npy").exists() && !self.path("pots").exists(),
            "output written"
        );
    }
}

#[test]
fn solve_reports_json_and_writes_outputs() {
    let c = Case::new();
    let out = c.solve("x.npy", "y.npy", &["--epsilon", "0.05", "--f64"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "n",
        "m",
        "epsilon",
        "iterations",
        "converged",
        "marginal_error",
        "reg_ot_cost",
        "transport_cost",
        "seconds",
    ] {
        assert!(!r[key].is_null(), "missing {key}: {r}");
    }
    assert_eq!((r["n"].as_u64(), r["m"].as_u64()), (Some(40), Some(30)));
    assert_eq!(r["converged"], Value::Bool(true));
    assert!((r["epsilon"].as_f64().unwrap() - 0.05).abs() < 1e-12);
    assert!(r["marginal_error"].as_f64().unwrap() < 1e-3);
    let plan: Array2<f64> = ndarray_npy::read_npy(c.path("plan.npy")).unwrap();
    assert_eq!(plan.dim(), (40, 30));
    assert!((plan.sum() - 1.0).abs() < 1e-3);
    let tc: f64 = r["transport_cost"].as_f64().unwrap();
    assert!(tc > 0.0);
    let f: Array1<f64> = ndarray_npy::read_npy(c.path("pots").join("f.npy")).unwrap();
    let g: Array1<f64> = ndarray_npy::read_npy(c.path("pots").join("g.npy")).unwrap();
    assert_eq!((f.len(), g.len()), (40, 30));
}

#[test]
fn relative_epsilon_and_modes_agree() {
    let c = Case::new();
    let run = |mode: &str| -> Value {
        let out = genot(&[
            "solve",
            "--source",
            &c.p("x.npy"),
            "--target",
            &c.p("y.npy"),
            "--epsilon",
            "0.02",
            "--relative-epsilon",
            "--mode",
            mode,
            "--threshold",
            "1e-6",
        ]);
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let (k, l, o) = (run("kernel"), run("log"), run("online"));
    assert_eq!(o["mode"], "online");
    // Scale mean then relative mean: epsilon = 0.02 x 1.
    assert!((k["epsilon"].as_f64().unwrap() - 0.02).abs() < 1e-9);
    for other in [&l, &o] {
        let (a, b) = (
            k["transport_cost"].as_f64().unwrap(),
            other["transport_cost"].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-4 * a, "{a} vs {b}");
    }
}

#[test]
fn auto_mode_reports_its_fallback_to_log_mode() {
    let c = Case::new();
    // The case's points, phase-shifted: at epsilon 1e-10 the first kernel build overflows
    // float32 (its entries used to be clamped and reported as kernel mode's plan).
    let x = Array2::from_shape_fn((40, 3), |(i, j)| ((i * 3 + j) as f32 * 0.37 + 0.8).sin());
    let y = Array2::from_shape_fn((30, 3), |(i, j)| {
        ((i * 5 + j) as f32 * 0.21 + 0.8).cos() + 0.5
    });
    write_npy(c.path("xs.npy"), &x).unwrap();
    write_npy(c.path("ys.npy"), &y).unwrap();
    let out = c.solve("xs.npy", "ys.npy", &["--epsilon", "1e-10"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["mode"], "log");
    let why = r["fallback"].as_str().expect("a fallback field");
    assert!(why.contains("kernel entry overflows float32"), "{why}");
    let plan: Array2<f32> = ndarray_npy::read_npy(c.path("plan.npy")).unwrap();
    assert!(plan.iter().all(|v| v.is_finite() && *v <= 1.0));
    // No fallback, no field.
    let out = c.solve("x.npy", "y.npy", &["--epsilon", "0.05"]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["mode"], "kernel");
    assert!(r.get("fallback").is_none());
}

#[test]
fn non_convergence_is_reported_on_stderr() {
    let c = Case::new();
    let out = genot(&[
        "solve",
        "--source",
        &c.p("x.npy"),
        "--target",
        &c.p("y.npy"),
        "--epsilon",
        "0.001",
        "--max-iterations",
        "2",
    ]);
    assert!(out.status.success());
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["converged"], Value::Bool(false));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did not converge"));
}

fn write_raw_npy(path: &Path, descr: &str, shape: &str, data: &[u8]) {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn bad_files_are_named() {
    let c = Case::new();
    c.expect_input_error(c.solve("missing.npy", "y.npy", &[]), "source file");
    c.expect_input_error(c.solve("x.npy", "missing.npy", &[]), "does not exist");

    write_npy(c.path("ints.npy"), &array![[1i64, 2, 3]]).unwrap();
    c.expect_input_error(
        c.solve("ints.npy", "y.npy", &[]),
        "expected float32 or float64",
    );

    write_npy(c.path("empty.npy"), &Array2::<f32>::zeros((0, 3))).unwrap();
    c.expect_input_error(c.solve("x.npy", "empty.npy", &[]), "is empty");

    write_raw_npy(&c.path("ragged.npy"), "|O", "(2,)", b"\x80\x04N.");
    c.expect_input_error(c.solve("ragged.npy", "y.npy", &[]), "ragged.npy");

    let mut nan = Array2::<f32>::zeros((5, 3));
    nan[[3, 1]] = f32::NAN;
    write_npy(c.path("nan.npy"), &nan).unwrap();
    c.expect_input_error(c.solve("nan.npy", "y.npy", &[]), "row 3, column 1");
    let mut inf = Array2::<f64>::ones((5, 3));
    inf[[0, 2]] = f64::INFINITY;
    write_npy(c.path("inf.npy"), &inf).unwrap();
    c.expect_input_error(
        c.solve("x.npy", "inf.npy", &[]),
        "non-finite value (inf) at row 0, column 2",
    );

    write_npy(c.path("y4.npy"), &Array2::<f32>::ones((7, 4))).unwrap();
    c.expect_input_error(c.solve("x.npy", "y4.npy", &[]), "dimension mismatch");

    // Truncated: a valid header whose data stops short.
    write_raw_npy(&c.path("short.npy"), "<f4", "(4, 3)", &[0u8; 20]);
    c.expect_input_error(c.solve("short.npy", "y.npy", &[]), "truncated");

    std::fs::write(c.path("junk.npy"), b"not an npy file").unwrap();
    c.expect_input_error(c.solve("junk.npy", "y.npy", &[]), "is not an .npy file");

    std::fs::write(c.path("x.txt"), b"1 2 3\n").unwrap();
    c.expect_input_error(c.solve("x.txt", "y.npy", &[]), "unsupported format");
    std::fs::write(c.path("x.csv"), b"a,b,c\n").unwrap();
    c.expect_input_error(c.solve("x.csv", "y.npy", &[]), "is empty");
}

#[test]
fn bad_parameters_are_named() {
    let c = Case::new();
    for (flags, want) in [
        (&["--epsilon", "0"][..], "--epsilon must be > 0"),
        (&["--epsilon=-1"], "--epsilon must be > 0"),
        (&["--tau-a", "0"], "--tau-a must be in (0, 1]"),
        (&["--tau-b", "1.5"], "--tau-b must be in (0, 1]"),
        (&["--cost", "manhattan"], "unknown cost"),
        (&["--scale-cost=-3"], "scale-cost"),
        (&["--mode", "fast"], "unknown mode"),
        (&["--momentum", "2.5"], "--momentum"),
    ] {
        c.expect_input_error(c.solve("x.npy", "y.npy", flags), want);
    }
    let out = genot(&["solve", "--source", &c.p("x.npy")]);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2 too");
}

#[test]
fn one_dimensional_arrays_are_points_on_a_line() {
    let c = Case::new();
    write_npy(c.path("a.npy"), &array![0.0f32, 1.0, 2.0]).unwrap();
    write_npy(c.path("b.npy"), &array![0.5f64, 1.5]).unwrap();
    let out = c.solve("a.npy", "b.npy", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (r["n"].as_u64(), r["m"].as_u64(), r["dim"].as_u64()),
        (Some(3), Some(2), Some(1))
    );
}

#[test]
fn quadratic_matches_spaces_of_different_dimensions() {
    let c = Case::new();
    // A generic (symmetry-free) cloud: hashed pseudo-random coordinates, anisotropic.
    let x = Array2::from_shape_fn((40, 3), |(i, j)| {
        let h = ((i * 7919 + j * 104_729) as f32 * 0.618_034).sin() * 43_758.547;
        (h - h.floor()) * (1.0 + j as f32)
    });
    write_npy(c.path("x.npy"), &x).unwrap();
    // Target: the source embedded in 4-D by an orthonormal map, rows reversed.
    let q = array![
        [0.0f32, 1.0, 0.0, 0.0],
        [0.6, 0.0, 0.8, 0.0],
        [0.8, 0.0, -0.6, 0.0]
    ];
    let mut y = x.dot(&q);
    y.invert_axis(ndarray::Axis(0));
    write_npy(c.path("y4.npy"), &y).unwrap();
    let out = c.solve(
        "x.npy",
        "y4.npy",
        &[
            "--quadratic",
            "--epsilon",
            "0.001",
            "--scale-cost",
            "max",
            "--f64",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (r["dim"].as_u64(), r["dim_target"].as_u64()),
        (Some(3), Some(4))
    );
    assert!(r["gw_cost"].as_f64().unwrap() >= 0.0);
    assert!(r["outer_iterations"].as_u64().unwrap() >= 1);
    let plan: Array2<f64> = ndarray_npy::read_npy(c.path("plan.npy")).unwrap();
    // Row i of x is row 39 - i of y: each row's largest entry is its true match.
    let hits = (0..40)
        .filter(|&i| {
            let row = plan.row(i);
            let best = (0..row.len()).fold(0, |b, j| if row[j] > row[b] { j } else { b });
            best == 39 - i
        })
        .count();
    assert!(hits >= 36, "{hits} of 40 rows peak at their true match");
}

#[test]
fn fused_quadratic_reads_shared_features() {
    let c = Case::new();
    write_npy(
        c.path("xs.npy"),
        &Array2::from_shape_fn((40, 2), |(i, j)| (i + j) as f32),
    )
    .unwrap();
    write_npy(
        c.path("ys.npy"),
        &Array2::from_shape_fn((30, 2), |(i, j)| (i * j) as f32),
    )
    .unwrap();
    let (xs, ys) = (c.p("xs.npy"), c.p("ys.npy"));
    let out = c.solve(
        "x.npy",
        "y.npy",
        &[
            "--quadratic",
            "--source-shared",
            &xs,
            "--target-shared",
            &ys,
            "--fused-penalty",
            "0.5",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["fused_penalty"].as_f64(), Some(0.5));
    // Wrong number of shared rows.
    let c = Case::new();
    write_npy(c.path("xs.npy"), &Array2::<f32>::ones((39, 2))).unwrap();
    write_npy(c.path("ys.npy"), &Array2::<f32>::ones((30, 2))).unwrap();
    let (xs, ys) = (c.p("xs.npy"), c.p("ys.npy"));
    c.expect_input_error(
        c.solve(
            "x.npy",
            "y.npy",
            &[
                "--quadratic",
                "--source-shared",
                &xs,
                "--target-shared",
                &ys,
            ],
        ),
        "has 39 rows but there are 40 points",
    );
}

#[test]
fn unbalanced_quadratic_reports_the_mass() {
    let c = Case::new();
    let out = c.solve(
        "x.npy",
        "y.npy",
        &[
            "--quadratic",
            "--tau-a",
            "0.99",
            "--tau-b",
            "0.99",
            "--epsilon",
            "0.01",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["tau_a"].as_f64(), Some(0.99));
    let mass = r["mass"].as_f64().unwrap();
    assert!(
        mass > 0.0 && mass < 1.0,
        "unbalanced GW should lose some mass, got {mass}"
    );
}

#[test]
fn quadratic_refuses_what_it_cannot_do() {
    let c = Case::new();
    c.expect_input_error(
        c.solve("x.npy", "y.npy", &["--quadratic", "--tau-a", "1.5"]),
        "--tau-a must be in (0, 1]",
    );
    c.expect_input_error(
        c.solve(
            "x.npy",
            "y.npy",
            &["--quadratic", "--epsilon", "0.1", "--relative-epsilon"],
        ),
        "--relative-epsilon",
    );
    c.expect_input_error(
        c.solve("x.npy", "y.npy", &["--quadratic", "--mode", "online"]),
        "online",
    );
    write_npy(c.path("y4.npy"), &Array2::<f32>::ones((7, 4))).unwrap();
    c.expect_input_error(c.solve("x.npy", "y4.npy", &[]), "use --quadratic");
}

#[test]
fn graph_cost_for_linear_and_quadratic() {
    let c = Case::new();
    // The case's two clouds are apart: enough neighbours to bridge them.
    for extra in [
        &["--cost", "graph:20"][..],
        &["--cost", "graph:20", "--quadratic"][..],
    ] {
        let out = c.solve("x.npy", "y.npy", extra);
        assert!(
            out.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["cost"], "graph:20");
    }
    let c = Case::new();
    c.expect_input_error(
        c.solve("x.npy", "y.npy", &["--cost", "graph:0"]),
        "positive integer",
    );
    c.expect_input_error(
        c.solve("x.npy", "y.npy", &["--cost", "graph:3", "--mode", "online"]),
        "online",
    );
    // Too few neighbours for a connected graph: the error says what to do.
    write_npy(
        c.path("far.npy"),
        &array![
            [0.0f32, 0.0, 0.0],
            [0.1, 0.0, 0.0],
            [9.0, 9.0, 9.0],
            [9.1, 9.0, 9.0]
        ],
    )
    .unwrap();
    c.expect_input_error(
        c.solve("far.npy", "far.npy", &["--cost", "graph:1", "--quadratic"]),
        "increase k",
    );
}

#[test]
fn csv_inputs_with_column_selection() {
    let c = Case::new();
    let x: Array2<f32> = ndarray_npy::read_npy(c.path("x.npy")).unwrap();
    let mut text = String::from("id,a,b,c,label\n");
    for (i, r) in x.outer_iter().enumerate() {
        text.push_str(&format!("cell{i},{},{},{},t\n", r[0], r[1], r[2]));
    }
    std::fs::write(c.path("x.csv"), &text).unwrap();
    let npy = c.solve("x.npy", "y.npy", &["--epsilon", "0.05"]);
    let csv_all = c.p("x.csv") + ":a,b,c";
    let out = genot(&[
        "solve",
        "--source",
        &csv_all,
        "--target",
        &c.p("y.npy"),
        "--epsilon",
        "0.05",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (a, b): (Value, Value) = (
        serde_json::from_slice(&npy.stdout).unwrap(),
        serde_json::from_slice(&out.stdout).unwrap(),
    );
    assert!(
        (a["transport_cost"].as_f64().unwrap() - b["transport_cost"].as_f64().unwrap()).abs()
            < 1e-4
    );
    // Errors name the file, line and column.
    let c = Case::new();
    std::fs::write(c.path("bad.csv"), b"a,b\n1,2\n3,oops\n").unwrap();
    c.expect_input_error(
        c.solve("bad.csv", "y.npy", &[]),
        "line 3, column 'b': 'oops' is not a number",
    );
    std::fs::write(c.path("ragged.csv"), b"a,b\n1,2\n3\n").unwrap();
    c.expect_input_error(
        c.solve("ragged.csv", "y.npy", &[]),
        "line 3 has 1 fields but the header has 2",
    );
    std::fs::write(c.path("ok.csv"), b"a,b\n1,2\n").unwrap();
    let sel = c.p("ok.csv") + ":a,z";
    c.expect_input_error(
        genot(&[
            "solve",
            "--source",
            &sel,
            "--target",
            &c.p("y.npy"),
            "--plan-out",
            &c.p("plan.npy"),
        ]),
        "has no column 'z' (columns: a, b)",
    );
    // Non-numeric columns need a selection: the id column is text.
    std::fs::write(c.path("ids.csv"), b"id,a\nc1,1\n").unwrap();
    c.expect_input_error(
        c.solve("ids.csv", "y.npy", &[]),
        "column 'id': 'c1' is not a number",
    );
}
