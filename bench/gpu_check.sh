#!/usr/bin/env bash
# GPU check (issue 16): builds the GPU binary, trains the linear task (batch 256 and 4096) and
# the GW spiral on the GPU and on the CPU, samples 2048 points on each, and prints ms per
# iteration, sampling time, the Sinkhorn divergences and whether the two devices agree
# (tolerances in bench/gpu_check.py). Exit status 0 when every check agrees, 1 when one does
# not, 3 when the device is missing (with one line saying why).
#
#   bash bench/gpu_check.sh                      # NVIDIA: --features cuda, --device cuda
#   bash bench/gpu_check.sh --device wgpu        # Vulkan/Metal/DX12: --features wgpu
#   bash bench/gpu_check.sh --cpu-only           # no GPU: CPU (native) vs CPU (burn engine)
#   bash bench/gpu_check.sh --iterations 100     # default 300
#
# Needs a Rust toolchain (rust-version of Cargo.toml), crates.io (or a filled ~/.cargo), the
# HDF5 C library (Debian: libhdf5-dev; bash setup.sh installs it) and python3 with numpy
# (PYTHON=path picks another interpreter).
# The CUDA build also downloads a prebuilt LLVM from github.com/tracel-ai/tracel-llvm the
# first time (burn's CUDA runtime links it; cached in ~/.local/share/tracel); at run time it
# needs only the NVIDIA driver (libcuda.so): kernels go to PTX through that LLVM, no CUDA
# toolkit. GENOT_BIN=path skips the build and uses that binary. The GPU binary goes to
# target/gpu-<feature>/, so the CPU build in target/release is not rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

device=cuda
cpu_only=0
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --device=*) device="${1#*=}"; shift ;;
    --cpu-only) cpu_only=1; pass+=(--cpu-only); shift ;;
    --iterations|--tasks|--seed|--out) pass+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '/^set -euo/q; 2,$p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
feature="${device%%:*}"
case "$feature" in
  cuda|wgpu) ;;
  *) echo "gpu_check.sh: --device must be cuda, cuda:N or wgpu (got '$device')" >&2; exit 2 ;;
esac

if [ -n "${GENOT_BIN:-}" ]; then
  bin="$GENOT_BIN"
else
  command -v cargo >/dev/null || { echo "gpu_check.sh: cargo not found (install Rust: https://rustup.rs)" >&2; exit 2; }
  if [ "$cpu_only" = 1 ]; then
    echo "== building the CPU binary ($(date +%T))" >&2
    cargo build --release -p genot-cli >&2
    bin=target/release/genot
  else
    echo "== building the GPU binary: --features $feature ($(date +%T))" >&2
    # Its own target folder, debug info off (the same code, a shorter build).
    CARGO_TARGET_DIR="target/gpu-$feature" CARGO_PROFILE_RELEASE_DEBUG=0 cargo build --release -p genot-cli --features "$feature" >&2
    bin="target/gpu-$feature/release/genot"
  fi
fi
built=$(date +%s)
echo "== build: $((built - start)) s; running the check ($(date +%T))" >&2
if [ "$cpu_only" = 1 ]; then
  "${PYTHON:-python3}" bench/gpu_check.py --genot "$bin" "${pass[@]}"
else
  "${PYTHON:-python3}" bench/gpu_check.py --genot "$bin" --device "$device" "${pass[@]}"
fi
end=$(date +%s)
echo "total: $((end - start)) s (build $((built - start)) s, check $((end - built)) s)"
