#!/usr/bin/env bash
# Fresh-machine setup and the main job (README, first command):
#  0. installs the HDF5 C library (for .h5ad files) when pkg-config does not find it:
#     apt-get (Debian/Ubuntu, with sudo when not root), dnf, or Homebrew;
#  1. builds the `genot` command line (Rust crates from crates.io);
#  2. creates .venv with the Python package `genot` (maturin, release build, reusing what
#     step 1 compiled) and what its tests use (numpy, pytest, anndata, tqdm from PyPI), and
#     puts the `genot` command in .venv/bin (a link to target/release/genot), so that after
#     `source .venv/bin/activate` both `genot` and `python -c "import genot"` work;
#  3. runs `genot demo`: GENOT fitted, sampled, scored and plotted on a built-in synthetic
#     task (under a minute on 2 cores), then the same model loaded and sampled from Python.
# Needs: a stable Rust toolchain (1.95+), Python 3.9+ with venv, and a package manager
# for HDF5 unless it is installed. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

if ! pkg-config --exists hdf5 2>/dev/null; then
  echo "== installing the HDF5 C library and pkg-config (the .h5ad reader links it)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if command -v apt-get >/dev/null; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends libhdf5-dev pkg-config
  elif command -v dnf >/dev/null; then
    $sudo dnf install -y hdf5-devel pkgconf-pkg-config
  elif command -v brew >/dev/null; then
    brew install hdf5 pkg-config
  else
    echo "setup.sh: install the HDF5 C library with its headers (libhdf5-dev, hdf5-devel or brew's hdf5) and pkg-config, then run it again" >&2
    exit 1
  fi
fi

echo "== building the genot command line"
cargo build --release -p genot-cli

echo "== installing the Python package into .venv"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "maturin>=1.9.4,<2" "numpy>=1.21" pytest anndata tqdm
VIRTUAL_ENV="$PWD/.venv" .venv/bin/maturin develop --release -m python/Cargo.toml
ln -sf "$PWD/target/release/genot" .venv/bin/genot

echo "== main job: genot demo (fit, transport, eval, plots on a built-in task)"
rm -rf genot-demo
.venv/bin/genot demo --out genot-demo
.venv/bin/python - <<'PY'
import numpy as np, genot
model = genot.GENOT.load("genot-demo/model")
x = np.load("genot-demo/source_test.npy")
cli = np.load("genot-demo/predictions.npy")
same = np.array_equal(model.transport(x, seed=0), cli)
print(f"python: loaded genot-demo/model, predictions {cli.shape}, identical to the CLI's: {same}")
PY
echo "done: genot-demo/ holds the data, the model, predictions.npy and the figures (model/loss.png, transport.png)"
echo "the genot command is $PWD/.venv/bin/genot: run 'source .venv/bin/activate', then 'genot --help' (and 'python' has the genot package); the tests: cargo test --workspace --release && .venv/bin/python -m pytest python/tests -q"
