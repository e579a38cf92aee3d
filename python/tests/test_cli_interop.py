"""Models move between Python and the `genot` command line, and the same seed gives the
same numbers in both (they run the same Rust library)."""

import json
import subprocess

import numpy as np

import genot
from conftest import SMALL, cloud

FLAGS = ["--hidden", "32", "--layers", "2", "--time-frequencies", "8", "--lr", "1e-3",
         "--iterations", "120", "--batch-size", "64", "--seed", "7"]


def run(cli, *args):
    out = subprocess.run([cli, *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def data(tmp_path):
    x, y = cloud(200, 2), cloud(200, 2, shift=3.0, seed=1)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    return x, y


def test_cli_model_loads_in_python_and_predicts_the_same(genot_cli, tmp_path):
    x, _ = data(tmp_path)
    run(genot_cli, "fit", "--source", tmp_path / "x.npy", "--target", tmp_path / "y.npy",
        "--out", tmp_path / "cli-model", *FLAGS)
    run(genot_cli, "transport", "--model", tmp_path / "cli-model", "--source", tmp_path / "x.npy",
        "--out", tmp_path / "cli.npy", "--samples", "3", "--seed", "4")
    model = genot.GENOT.load(tmp_path / "cli-model")
    assert np.array_equal(model.transport(x, n_samples=3, seed=4), np.load(tmp_path / "cli.npy"))
    assert len(model.losses) == 120


def test_python_model_runs_in_the_cli(genot_cli, tmp_path):
    x, y = data(tmp_path)
    model = genot.GENOT(**SMALL, seed=7).fit(x, y, iterations=120, batch_size=64, progress=False)
    model.save(tmp_path / "py-model")
    run(genot_cli, "transport", "--model", tmp_path / "py-model", "--source", tmp_path / "x.npy",
        "--out", tmp_path / "cli.npy", "--mean-out", tmp_path / "mean.npy", "--samples", "2",
        "--solver", "rk4", "--steps", "10")
    samples, mean = model.transport(x, n_samples=2, solver="rk4", steps=10, return_mean=True)
    assert np.array_equal(samples, np.load(tmp_path / "cli.npy"))
    assert np.array_equal(mean, np.load(tmp_path / "mean.npy"))


def test_same_seed_same_training_as_the_cli(genot_cli, tmp_path):
    x, y = data(tmp_path)
    run(genot_cli, "fit", "--source", tmp_path / "x.npy", "--target", tmp_path / "y.npy",
        "--out", tmp_path / "cli-model", *FLAGS)
    cli_losses = json.loads((tmp_path / "cli-model" / "history.json").read_text())["losses"]
    model = genot.GENOT(**SMALL, seed=7).fit(x, y, iterations=120, batch_size=64, progress=False)
    assert np.array_equal(np.asarray(cli_losses, dtype=np.float32), model.losses)
    cli = genot.GENOT.load(tmp_path / "cli-model")
    assert np.array_equal(cli.transport(x, seed=1), model.transport(x, seed=1))


def test_cli_h5ad_matches_fit_anndata_and_transport_anndata(genot_cli, tmp_path):
    """The CLI on an .h5ad (obsm key, obs filter, obs conditions) trains the model that
    `fit_anndata` trains on the same cells, and its .h5ad copy holds what
    `transport_anndata` writes."""
    ad = __import__("pytest").importorskip("anndata")
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 240
    condition = np.where(np.arange(n) % 2 == 0, "control", "stim")
    batch = np.where(np.arange(n) % 3 == 0, "b0", "b1")
    pca = rng.normal(size=(n, 3)).astype(np.float32)
    pca[condition == "stim"] += np.float32(2.0)
    adata = ad.AnnData(
        X=rng.normal(size=(n, 4)).astype(np.float32),
        obs=pd.DataFrame({"condition": pd.Categorical(condition), "batch": pd.Categorical(batch)},
                         index=[f"c{i}" for i in range(n)]))
    adata.obsm["X_pca"] = pca
    path = tmp_path / "cells.h5ad"
    adata.write_h5ad(path)
    data = f"{path}:obsm/X_pca"
    run(genot_cli, "fit", "--source", data, "--source-filter", "obs/condition=control",
        "--target", data, "--target-filter", "obs/condition=stim",
        "--source-conditions", "obs/batch", "--target-conditions", "obs/batch",
        "--out", tmp_path / "cli-model", *FLAGS)
    run(genot_cli, "transport", "--model", tmp_path / "cli-model", "--source", data,
        "--conditions", "obs/batch", "--samples", "3", "--out", tmp_path / "copy.h5ad")

    ctrl, stim = adata[condition == "control"], adata[condition == "stim"]
    model = genot.GENOT(**SMALL, seed=7).fit_anndata(ctrl, stim, key="X_pca", condition_key="batch",
                                                     iterations=120, batch_size=64, progress=False)
    cli_losses = json.loads((tmp_path / "cli-model" / "history.json").read_text())["losses"]
    assert np.array_equal(np.asarray(cli_losses, dtype=np.float32), model.losses)

    copy = ad.read_h5ad(tmp_path / "copy.h5ad")
    mine = model.transport_anndata(adata, key="X_pca", condition_key="batch", n_samples=3, copy=True)
    for key in ("X_genot", "X_genot_samples"):
        assert np.array_equal(copy.obsm[key], mine.obsm[key]), key
    assert np.array_equal(copy.obs["X_genot_uncertainty"], mine.obs["X_genot_uncertainty"])
    assert list(copy.obs["condition"]) == list(condition)
    assert np.array_equal(copy.obsm["X_pca"], pca)
    assert ad.read_h5ad(path).obsm.keys() == adata.obsm.keys(), "the input is untouched"
