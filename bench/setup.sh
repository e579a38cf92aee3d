#!/usr/bin/env bash
# Creates bench/.venv with the pinned anchors of ../shared/docs/ANCHOR-API.md
# (OTT-JAX 0.5.2 on jax 0.7.2, POT 0.9.x) and builds the release binary.
# Usage: bash bench/setup.sh   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x bench/.venv/bin/python ]; then
    python3 -m venv bench/.venv
fi
bench/.venv/bin/pip install --quiet --upgrade pip
bench/.venv/bin/pip install --quiet "jax==0.7.2" "jaxlib==0.7.2" "ott-jax[neural]==0.5.2" "pot>=0.9,<0.10" numpy threadpoolctl
cargo build --release -p genot-cli
cargo build --release -p genot-ot --example bench_solve --example bench_gw
echo "bench environment ready: bench/.venv, target/release/genot, target/release/examples/bench_solve"
