#!/usr/bin/env bash
# Fresh-machine setup and the main job (README, first command):
#  1. builds the `genot` command line (Rust crates from crates.io);
#  2. creates .venv with the Python package `genot` (maturin, release build) and what its
#     tests use (numpy, pytest, anndata, tqdm from PyPI);
#  3. trains GENOT on the built-in example data with the CLI, samples it, and loads the same
#     model from Python.
# Needs: a stable Rust toolchain (1.95+) and Python 3.9+ with venv. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

echo "== building the genot command line"
cargo build --release -p genot-cli

echo "== installing the Python package into .venv"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "maturin>=1.9.4,<2" "numpy>=1.21" pytest anndata tqdm
VIRTUAL_ENV="$PWD/.venv" .venv/bin/maturin develop --release -m python/Cargo.toml

echo "== main job: fit and transport on examples/data"
rm -rf example-model
target/release/genot fit --source examples/data/source.npy --target examples/data/target.npy \
    --out example-model --iterations 1000 --hidden 128 --lr 1e-3
target/release/genot transport --model example-model --source examples/data/source.npy \
    --out example-model/samples.npy --samples 4
.venv/bin/python - <<'PY'
import numpy as np, genot
model = genot.GENOT.load("example-model")
x = np.load("examples/data/source.npy")
cli = np.load("example-model/samples.npy")
same = np.array_equal(model.transport(x, n_samples=4), cli)
print(f"python: loaded example-model, samples {cli.shape}, identical to the CLI's: {same}")
PY
echo "done: example-model/ holds the model and samples.npy (500 points x 4 samples x 2)"
