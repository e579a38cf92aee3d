#!/usr/bin/env bash
# Fresh-machine setup and the main job (README, first command):
#  1. builds the `genot` command line (Rust crates from crates.io);
#  2. creates .venv with the Python package `genot` (maturin, release build) and what its
#     tests use (numpy, pytest, anndata, tqdm from PyPI);
#  3. runs `genot demo`: GENOT fitted, sampled, scored and plotted on a built-in synthetic
#     task (under a minute on 2 cores), then the same model loaded and sampled from Python.
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

echo "== main job: genot demo (fit, transport, eval, plots on a built-in task)"
rm -rf genot-demo
target/release/genot demo --out genot-demo
.venv/bin/python - <<'PY'
import numpy as np, genot
model = genot.GENOT.load("genot-demo/model")
x = np.load("genot-demo/source_test.npy")
cli = np.load("genot-demo/predictions.npy")
same = np.array_equal(model.transport(x, seed=0), cli)
print(f"python: loaded genot-demo/model, predictions {cli.shape}, identical to the CLI's: {same}")
PY
echo "done: genot-demo/ holds the data, the model, predictions.npy and the figures (model/loss.png, transport.png)"
