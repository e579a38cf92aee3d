#!/usr/bin/env bash
# The GW orientation of the warm-up plan on SNARE-seq batches, one batch against the choice
# of genot::orientation, over 10 seeds (share of the plan's mass on same-cell-line pairs;
# issue 13). Writes the train cells (L2-normalised rows, 60/40 split by seed 0, as
# bench/orientation_study.py) as raw f32 files, then runs the probe example.
#   bash bench/orientation_probe.sh [seeds]
set -euo pipefail
cd "$(dirname "$0")/.."
work=bench/out/orientation_probe
mkdir -p "$work"
python3 - "$work" <<'PY'
import csv, sys
import numpy as np
work = sys.argv[1]
d = "../shared/data/snareseq_cellmix/"
for f in ("atac19.npy", "rna10.npy", "obs.csv"):
    try:
        open(d + f).close()
    except OSError:
        sys.exit(f"missing data file {d}{f} (the shared data folder ../shared/data)")
a = np.load(d + "atac19.npy").astype(np.float64)
b = np.load(d + "rna10.npy").astype(np.float64)
labels = [r["cell_line"] for r in csv.DictReader(open(d + "obs.csv"))]
a /= np.linalg.norm(a, axis=1, keepdims=True)
b /= np.linalg.norm(b, axis=1, keepdims=True)
order = np.random.default_rng(0).permutation(len(a))
train = np.sort(order[: int(0.6 * len(a))])
names = sorted(set(labels))
ids = np.array([names.index(l) for l in labels])
a[train].astype("<f4").tofile(f"{work}/a.f32")
b[train].astype("<f4").tofile(f"{work}/b.f32")
ids[train].astype("<u4").tofile(f"{work}/labels.u32")
PY
cargo run --release -p genot --example orientation_probe -- \
    "$work/a.f32" 19 "$work/b.f32" 10 "$work/labels.u32" "${1:-10}"
