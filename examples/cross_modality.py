"""Shared by the cross-modality examples (snareseq_cellmix, scgem_reprogramming,
pbmc68k_reduced): GENOT-Q and GENOT-F translate modality A into modality B, trained on
unpaired cells, scored on held-out paired cells. Everything runs through the `genot`
command line; numpy only splits the cells, fits the anchor map that gives GENOT-F its
shared features, and computes the barycentric projections of the baseline plans.

Protocol (the same for every dataset):
1. Rows are L2-normalised in both modalities (SCOT's default for these files).
2. Cells are split 60/40 into train and test by the seed; training sees the train cells
   of both modalities as two unpaired clouds.
3. GENOT-Q: `genot fit --config config.toml` (GW between the two spaces), then `genot
   transport` of the test cells of modality A: one sample per cell, and the mean of 32
   samples (the conditional mean).
4. GENOT-F needs features comparable across the modalities, and these files have none
   (topic and PCA embeddings; scGEM shares two genes of 27 and 34). Decision: 10% of the
   train cells are used as paired anchors, as in bridge or anchor-based integration. A
   ridge regression (with intercept, lambda 0.1) from A to B on the anchors gives every
   cell of A a shared representation A W in the space of B; the shared features of B are
   its own profile. GENOT-F is the same fit with `--kind fused` on these. The regression
   itself is a baseline (prediction A W): it uses the same anchors and shrinks towards
   the mean, so it is scored on distribution too.
5. Scores on test cells, through `genot eval`: FOSCTTM against the true B profile of each
   cell (--paired), cell-type label transfer (k = 5 nearest train cells of B), and the
   energy distance between the predictions and the test cells of B (distribution).
6. Transductive baselines (they see the test cells of B, which GENOT never does): the
   discrete entropic GW plan between the test cells of A and B (`genot solve --quadratic`,
   the SCOT setting) and the fused GW plan with the shared features of step 4,
   barycentric projections of A onto B, scored the same way.
"""

import csv
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def genot_cli():
    env = os.environ.get("GENOT_CLI")
    exe = pathlib.Path(env) if env else ROOT / "target" / "release" / "genot"
    if not exe.exists():
        sys.exit(f"no genot binary at {exe}: run `cargo build --release -p genot-cli` (or set GENOT_CLI)")
    return str(exe)


def load(dataset, name):
    path = DATA / dataset / name
    if not path.exists():
        sys.exit(f"missing data file {path} (the shared data folder ../shared/data of the repository)")
    if name.endswith(".npy"):
        return np.load(path)
    with open(path) as f:
        return list(csv.DictReader(f))


def run(*args):
    out = subprocess.run([genot_cli(), *map(str, args)], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"genot {args[0]} failed:\n{out.stderr}")
    return json.loads(out.stdout)


def write_labels(path, labels):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["label"])
        w.writerows([[l] for l in labels])


def scores(work, pred, b_test, test_labels):
    """FOSCTTM on the test pairing, label transfer against the train cells of B, and the
    energy distance to the test cells of B."""
    np.save(work / "pred.npy", pred.astype(np.float32))
    paired = run("eval", "--pred", work / "pred.npy", "--target", b_test, "--paired")
    transfer = run("eval", "--pred", work / "pred.npy", "--target", work / "b_train.npy",
                   "--pred-labels", test_labels, "--target-labels", work / "train_labels.csv", "--knn", 5)
    return {"foscttm": paired["foscttm"], "label_transfer": transfer["label_transfer_accuracy"],
            "energy_distance": paired["energy_distance"]}


def anchor_map(a, b, anchors, lam=0.1):
    """Ridge regression with intercept from rows of `a` to rows of `b` on the anchor cells;
    returns the function x -> x W."""
    xa = np.c_[a[anchors], np.ones(len(anchors))]
    w = np.linalg.solve(xa.T @ xa + lam * np.eye(xa.shape[1]), xa.T @ b[anchors])
    return lambda x: np.c_[x, np.ones(len(x))] @ w


def genot(work, here, kind, seed, extra_fit=(), extra_transport=()):
    """Fits GENOT-`kind` with config.toml plus `extra_fit`, transports the test cells of A;
    returns (fit report, one sample per cell, the mean of 32, seconds). A fused model
    generates the shared features of B before B itself: only the last columns (B) are kept."""
    model = work / f"model-{kind}"
    t = time.time()
    fit = run("fit", "--config", here / "config.toml", "--out", model, "--seed", seed, "--plot", *extra_fit)
    seconds = round(time.time() - t, 1)
    q = np.load(work / "b_test.npy").shape[1]
    run("transport", "--model", model, "--source", work / "a_test.npy", "--out", work / f"one-{kind}.npy",
        "--seed", seed, *extra_transport)
    run("transport", "--model", model, "--source", work / "a_test.npy", "--out", work / f"many-{kind}.npy",
        "--samples", 32, "--mean-out", work / f"mean-{kind}.npy", "--seed", seed, *extra_transport)
    one, mean = (np.load(work / f"{v}-{kind}.npy")[:, -q:] for v in ("one", "mean"))
    np.save(work / f"many-{kind}-b.npy", np.load(work / f"many-{kind}.npy")[:, :8, -q:])
    run("plot", "--source", work / "a_test.npy", "--pred", work / f"many-{kind}-b.npy",
        "--target", work / "b_test.npy", "--out", work / f"transport-{kind}.png")
    return fit, one, mean, seconds


def barycentric(work, b_test, *solve_args):
    """The discrete GW (or fused GW) plan between the test cells, projected onto B."""
    solve = run("solve", "--source", work / "a_test.npy", "--target", b_test, "--quadratic",
                "--plan-out", work / "gw_plan.npy", "--f64", *solve_args)
    plan = np.load(work / "gw_plan.npy")
    return plan @ np.load(b_test) / plan.sum(axis=1, keepdims=True), solve["converged"]


def main(dataset, a_file, b_file, label_column, here, seed=0, anchor_fraction=0.1):
    here = pathlib.Path(here)
    work = here / "out"
    work.mkdir(exist_ok=True)
    a, b = load(dataset, a_file).astype(np.float64), load(dataset, b_file).astype(np.float64)
    labels = [row[label_column] for row in load(dataset, "obs.csv")]
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    n = len(a)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    train, test = np.sort(order[: int(0.6 * n)]), np.sort(order[int(0.6 * n):])
    anchors = np.sort(rng.choice(train, max(3, int(anchor_fraction * len(train))), replace=False))
    shared = anchor_map(a, b, anchors)
    for name, arr in (("a_train", a[train]), ("b_train", b[train]), ("a_test", a[test]), ("b_test", b[test]),
                      ("a_train_shared", shared(a[train])), ("a_test_shared", shared(a[test]))):
        np.save(work / f"{name}.npy", arr.astype(np.float32))
    write_labels(work / "train_labels.csv", [labels[i] for i in train])
    write_labels(work / "test_labels.csv", [labels[i] for i in test])
    results = {"dataset": dataset, "cells": n, "train": len(train), "test": len(test), "seed": seed,
               "anchors": len(anchors)}
    b_test, test_labels = work / "b_test.npy", work / "test_labels.csv"
    epsilon = fit_epsilon(here)

    fit, one, mean, seconds = genot(work, here, "q", seed)
    results["genot_q"] = {"fit_seconds": seconds, "final_loss": fit["final_loss"],
                          "one_sample": scores(work, one, b_test, test_labels),
                          "mean_of_32": scores(work, mean, b_test, test_labels)}
    fit, one, mean, seconds = genot(
        work, here, "f", seed,
        extra_fit=("--kind", "fused", "--source-shared", work / "a_train_shared.npy",
                   "--target-shared", work / "b_train.npy"),
        extra_transport=("--source-shared", work / "a_test_shared.npy"))
    results["genot_f"] = {"fit_seconds": seconds, "final_loss": fit["final_loss"],
                          "one_sample": scores(work, one, b_test, test_labels),
                          "mean_of_32": scores(work, mean, b_test, test_labels)}

    results["anchor_ridge"] = scores(work, np.load(work / "a_test_shared.npy"), b_test, test_labels)
    bary, converged = barycentric(work, b_test, "--epsilon", epsilon)
    results["discrete_gw_barycentric"] = dict(scores(work, bary, b_test, test_labels), converged=converged)
    bary, converged = barycentric(work, b_test, "--epsilon", epsilon, "--source-shared",
                                  work / "a_test_shared.npy", "--target-shared", b_test)
    results["discrete_fused_gw_barycentric"] = dict(scores(work, bary, b_test, test_labels), converged=converged)
    results["chance_foscttm"] = 0.5
    (work / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


def fit_epsilon(here):
    for line in (pathlib.Path(here) / "config.toml").read_text().splitlines():
        if line.replace(" ", "").startswith("epsilon="):
            return line.split("=")[1].strip()
    return "0.01"
