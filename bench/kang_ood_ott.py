"""OTT-JAX 0.5.2 GENOT on the defaults study's kang-ood task (bench/defaults_study.py), the
peer on the same protocol as genot's row in bench/DEFAULTS-STUDY.md.

Kang IFN-beta PBMCs, 50 PCs, CD14 Mono held out of training on both sides: source = the 240
control cells of the other 5 types, target = their 288 stimulated cells. Score: energy
distance (`genot eval`, the same scorer as genot's rows) between one sample per held-out
CD14 Mono control cell (151) and the 153 observed stimulated CD14 Mono cells.

OTT's side as genot's defaults have it where OTT has the same setting: linear matching,
squared Euclidean cost divided by its mean, epsilon 0.1 (`match_linear(epsilon=0.1,
scale_cost="mean")`), batch 256 a side drawn with replacement, 5000 iterations, Adam lr 1e-3,
a velocity field of 3 hidden layers of 256 per branch; OTT's own defaults elsewhere
(ConstantNoiseFlow(0), no input scaling, no EMA, Tsit5 sampling).

    bench/.venv/bin/python bench/kang_ood_ott.py --seeds 0 1 2

Writes one JSON line per seed to bench/out/defaults/kang_ood_ott.jsonl.
"""
import argparse
import functools
import json
import pathlib
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import defaults_study  # noqa: E402  (the task's data, as genot's rows use it)
import genot_bench  # noqa: E402  (the OTT side)


def ott_fit_sample(src, tgt, x, seed, iterations):
    import jax
    from ott.solvers import utils as solver_utils

    match = functools.partial(solver_utils.match_linear, epsilon=0.1, scale_cost="mean")
    model, fit_s = genot_bench.ott_fit(src, tgt, match, 256, iterations, seed)
    pred = np.asarray(model.transport(jax.numpy.asarray(x), rng=jax.random.PRNGKey(seed + 2)))
    return pred, fit_s


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--iterations", type=int, default=5000)
    a = ap.parse_args()
    task = defaults_study.KangOOD()
    task.prepare()
    src, tgt, x = (np.load(p) for p in (task.src, task.tgt, task.x))
    out = defaults_study.WORK / "kang_ood_ott.jsonl"
    for seed in a.seeds:
        pred, fit_s = ott_fit_sample(src, tgt, x, seed, a.iterations)
        path = task.dir / f"ott-pred-{seed}.npy"
        np.save(path, pred.astype(np.float32))
        e = json.loads(subprocess.run(
            [defaults_study.genot(), "eval", "--pred", str(path), "--target", str(task.obs)],
            capture_output=True, text=True, check=True).stdout)
        row = {"task": "kang-ood", "peer": "ott-jax 0.5.2", "seed": seed, "iterations": a.iterations,
               "fit_seconds": round(fit_s, 1), "score": e["energy_distance"]}
        print(json.dumps(row), flush=True)
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
