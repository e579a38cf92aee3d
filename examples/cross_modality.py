"""Shared by the cross-modality examples (snareseq_cellmix, scgem_reprogramming): GENOT-Q
translates modality A into modality B, trained on unpaired cells, scored on held-out
paired cells. Everything runs through the `genot` command line; numpy only splits the
cells and computes the barycentric projection of the baseline plan.

Protocol (the same for every dataset):
1. Rows are L2-normalised in both modalities (SCOT's default for these files).
2. Cells are split 60/40 into train and test by the seed; training sees the train cells
   of both modalities as two unpaired clouds.
3. `genot fit --config config.toml` (GENOT-Q), then `genot transport` of the test cells of
   modality A: one sample per cell, and the mean of 32 samples (the conditional mean).
4. Scores on test cells, through `genot eval`: FOSCTTM against the true B profile of each
   cell (--paired), and cell-type label transfer (k = 5 nearest train cells of B).
5. Baseline: the discrete entropic GW plan between the test cells of A and B (`genot
   solve --quadratic`, the SCOT setting, which sees the test cells of B), barycentric
   projection of A onto B, scored the same way.
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
    """FOSCTTM on the test pairing and label transfer against the train cells of B."""
    np.save(work / "pred.npy", pred.astype(np.float32))
    paired = run("eval", "--pred", work / "pred.npy", "--target", b_test, "--paired")
    transfer = run("eval", "--pred", work / "pred.npy", "--target", work / "b_train.npy",
                   "--pred-labels", test_labels, "--target-labels", work / "train_labels.csv", "--knn", 5)
    return {"foscttm": paired["foscttm"], "label_transfer": transfer["label_transfer_accuracy"]}


def main(dataset, a_file, b_file, label_column, here, seed=0):
    here = pathlib.Path(here)
    work = here / "out"
    work.mkdir(exist_ok=True)
    a, b = load(dataset, a_file).astype(np.float64), load(dataset, b_file).astype(np.float64)
    labels = [row[label_column] for row in load(dataset, "obs.csv")]
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    n = len(a)
    order = np.random.default_rng(seed).permutation(n)
    train, test = np.sort(order[: int(0.6 * n)]), np.sort(order[int(0.6 * n):])
    for name, arr in (("a_train", a[train]), ("b_train", b[train]), ("a_test", a[test]), ("b_test", b[test])):
        np.save(work / f"{name}.npy", arr.astype(np.float32))
    write_labels(work / "train_labels.csv", [labels[i] for i in train])
    write_labels(work / "test_labels.csv", [labels[i] for i in test])
    results = {"dataset": dataset, "cells": n, "train": len(train), "test": len(test), "seed": seed}

    t = time.time()
    fit = run("fit", "--config", here / "config.toml", "--seed", seed, "--plot")
    results["fit_seconds"] = round(time.time() - t, 1)
    model = here / "out" / "model-q"
    run("transport", "--model", model, "--source", work / "a_test.npy", "--out", work / "one.npy", "--seed", seed,
        "--plot", work / "transport.png", "--plot-target", work / "b_test.npy")
    run("transport", "--model", model, "--source", work / "a_test.npy", "--out", work / "many.npy",
        "--samples", 32, "--mean-out", work / "mean.npy", "--seed", seed)
    b_test, test_labels = work / "b_test.npy", work / "test_labels.csv"
    results["genot_q_one_sample"] = scores(work, np.load(work / "one.npy"), b_test, test_labels)
    results["genot_q_mean_of_32"] = scores(work, np.load(work / "mean.npy"), b_test, test_labels)
    results["final_loss"] = fit["final_loss"]

    solve = run("solve", "--source", work / "a_test.npy", "--target", b_test, "--quadratic",
                "--epsilon", fit_epsilon(here), "--plan-out", work / "gw_plan.npy", "--f64")
    plan = np.load(work / "gw_plan.npy")
    bary = plan @ np.load(b_test) / plan.sum(axis=1, keepdims=True)
    results["discrete_gw_barycentric"] = scores(work, bary, b_test, test_labels)
    results["discrete_gw_converged"] = solve["converged"]
    results["chance_foscttm"] = 0.5
    (work / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


def fit_epsilon(here):
    for line in (pathlib.Path(here) / "config.toml").read_text().splitlines():
        if line.replace(" ", "").startswith("epsilon="):
            return line.split("=")[1].strip()
    return "0.01"
