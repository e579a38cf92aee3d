//! What a new user meets first (issue 17): negative numbers reach the range checks,
//! progress shows in logs (stderr not a terminal) and `--quiet` silences it, and the CLI
//! refuses what the Python package refuses.

mod common;

use common::{clouds, fit_args, s, transport_args};
use std::process::{Command, Output};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_genot"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run genot")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `--epsilon -1` once failed with "unexpected argument '-1' found": a negative number is
/// a value, and the value's range check answers.
#[test]
fn negative_numbers_reach_the_range_checks() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = clouds(dir.path());
    let model = dir.path().join("m");
    for (flag, value, want) in [
        ("--epsilon", "-1", "epsilon must be > 0, got -1"),
        ("--lr", "-1", "lr must be > 0, got -1"),
        (
            "--scale-cost",
            "-3",
            "scale-cost must be a positive number, got -3",
        ),
        ("--tau-a", "-0.5", "--tau-a must be in (0, 1], got -0.5"),
    ] {
        let out = run(&fit_args(&x, &y, &model, "5", &[flag, value]), &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains(want), "{flag} {value}: '{want}' not in {err}");
        assert!(!err.contains("unexpected argument"), "{err}");
    }
    let out = run(
        &[
            "solve",
            "--source",
            s(&x),
            "--target",
            s(&y),
            "--epsilon",
            "-0.1",
        ],
        &[],
    );
    assert!(stderr(&out).contains("epsilon"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("unexpected argument"));
}

/// A fit with stderr going to a file (as under nohup or a cluster scheduler) prints plain
/// progress lines: one at the start, one every GENOT_PROGRESS_SECONDS, one at the end;
/// `--quiet` prints none of them and leaves the JSON report as it was.
#[test]
fn progress_lines_in_logs_and_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = clouds(dir.path());
    let model = dir.path().join("m");
    let args = fit_args(&x, &y, &model, "60", &[]);
    let out = run(&args, &[("GENOT_PROGRESS_SECONDS", "0")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("fit: ")).collect();
    assert!(lines.len() >= 3, "{err}");
    assert!(lines[0].contains("started"), "{}", lines[0]);
    let last = lines.last().unwrap();
    assert!(
        last.contains("iteration 60/60 (100%)") && last.contains("done"),
        "{last}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("loss ") && l.contains("it/s")),
        "{err}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["iterations"], 60);

    let mut quiet = args.clone();
    quiet.insert(0, "--quiet");
    let out = run(&quiet, &[("GENOT_PROGRESS_SECONDS", "0")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("fit: "), "{}", stderr(&out));
    let quiet_report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(quiet_report["final_loss"], report["final_loss"]);

    // transport: a line at the end when it ran long enough to print one.
    let pred = dir.path().join("pred.npy");
    let out = run(
        &transport_args(&model, &x, &pred, &[]),
        &[("GENOT_PROGRESS_SECONDS", "0")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("transport: "), "{}", stderr(&out));
}

/// What Python refuses, the CLI refuses, with the same message: no training iterations,
/// and an uncertainty from a single sample (it would be all zeros).
#[test]
fn the_cli_refuses_what_python_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = clouds(dir.path());
    let model = dir.path().join("m");
    let out = run(&fit_args(&x, &y, &model, "0", &[]), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("iterations must be at least 1"),
        "{}",
        stderr(&out)
    );
    assert!(!model.exists(), "no model is written");

    let out = run(&fit_args(&x, &y, &model, "5", &[]), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (pred, unc) = (dir.path().join("p.npy"), dir.path().join("u.npy"));
    let transport = |k: &str| {
        run(
            &transport_args(
                &model,
                &x,
                &pred,
                &["--samples", k, "--uncertainty-out", s(&unc)],
            ),
            &[],
        )
    };
    let out = transport("1");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("needs at least 2 samples per point, got 1"),
        "{}",
        stderr(&out)
    );
    assert!(!unc.exists());
    let out = transport("3");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(unc.exists());
}

/// Every command that reads points says so in its help: .npy, .csv and .h5ad, as the
/// readers accept them; and the help of every fit setting says what it is.
#[test]
fn help_lists_the_formats_and_forms_that_work() {
    for cmd in ["fit", "solve", "plot", "transport", "eval"] {
        let out = run(&[cmd, "--help"], &[]);
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout).into_owned();
        for format in [".npy", ".csv", ".h5ad"] {
            assert!(
                help.contains(format),
                "genot {cmd} --help does not name {format}:\n{help}"
            );
        }
    }
    let fit = String::from_utf8_lossy(&run(&["fit", "--help"], &[]).stdout).into_owned();
    // Both --cost helps list every cost the parser reads (one list in genot-ot).
    let solve = String::from_utf8_lossy(&run(&["solve", "--help"], &[]).stdout).into_owned();
    for (name, _) in genot_ot::choice::COSTS {
        assert!(fit.contains(name) && solve.contains(name), "{name}");
    }
    for flag in ["--iterations <ITERATIONS>", "--seed <SEED>"] {
        let line = fit
            .lines()
            .position(|l| l.trim_start().starts_with(flag))
            .expect(flag);
        let next = fit.lines().nth(line + 1).unwrap_or("").trim();
        assert!(
            !next.is_empty() && !next.starts_with("--"),
            "{flag} has no help text"
        );
    }
    // `plot` has two forms; naming neither names both.
    let out = run(&["plot", "--out", "x.png"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("--model") && err.contains("--pred"), "{err}");
}

/// Error messages that once misled: the cost list without graph:K, and one message for
/// two opposite mistakes about fused fits.
#[test]
fn errors_name_every_choice_and_the_actual_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = clouds(dir.path());
    let model = dir.path().join("m");
    let out = run(
        &fit_args(&x, &y, &model, "5", &["--cost", "manhattan"]),
        &[],
    );
    assert!(stderr(&out).contains("graph:K"), "{}", stderr(&out));
    let out = run(&fit_args(&x, &y, &model, "5", &["--kind", "fused"]), &[]);
    assert!(
        stderr(&out).contains("give them with --source-shared"),
        "{}",
        stderr(&out)
    );
    let out = run(
        &fit_args(
            &x,
            &y,
            &model,
            "5",
            &["--source-shared", s(&x), "--target-shared", s(&y)],
        ),
        &[],
    );
    assert!(
        stderr(&out).contains("add --kind fused (this is --kind linear)"),
        "{}",
        stderr(&out)
    );
}
