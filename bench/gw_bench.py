"""Side-by-side entropic GW benchmark: genot vs OTT-JAX 0.5.2 vs POT, same inputs, one run.

Problem (issue 3): x ~ N(0, I_2), y ~ N(0, diag(1, 1, 0.09)) in 3-D, n = m = 512,
squared-Euclidean intra costs each divided by its max, uniform weights; OTT epsilon 5e-3
(POT 1e-2: POT's epsilon is twice OTT's for the same fixed point).

- genot: `bench_gw` example (float32, low-rank path, defaults: outer threshold 1e-3 on the
  relative change of the objective, 5-50 outer iterations, inner Sinkhorn 1e-3), one
  process, after a warm-up solve; median of runs.
- OTT-JAX: PointCloud(scale_cost="max_cost") geometries, GromovWasserstein(Sinkhorn(
  threshold=1e-3), epsilon=5e-3, threshold=1e-3, min_iterations=5, max_iterations=50),
  jitted, float32, after a warm-up call; median of runs.
- POT: ot.dist + entropic_gromov_wasserstein(epsilon=1e-2) with its defaults (float64),
  median of runs.
Every plan is scored with one formula, in float64:
    E(T) = GW(T) + 2 eps KL(T | a b^T),  eps = 5e-3,
the objective whose stationary points all three compute (genot's reg_gw_cost; POT's is E/1).

Then genot alone on the low-rank path at n = 2048 and n = 10,000 (time, peak RSS).

Usage (after bash bench/setup.sh; also builds the bench_gw example):
    bench/.venv/bin/python bench/gw_bench.py [--repeats 5]
"""
import argparse
import json
import os
import statistics
import subprocess
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")
BENCH_GW = os.path.join(ROOT, "target", "release", "examples", "bench_gw")
EPS = 5e-3


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = (rng.normal(size=(n, 3)) * [1.0, 1.0, 0.3]).astype(np.float32)
    return x, y


def sqdist(u):
    u = u.astype(np.float64)
    s = np.sum(u * u, 1)
    return np.maximum(s[:, None] + s[None, :] - 2 * u @ u.T, 0)


def objective(x, y, T):
    """E(T) = GW(T) + 2 eps KL(T | a b^T) in float64, through the linearisation."""
    C1, C2 = sqdist(x), sqdist(y)
    C1 /= C1.max()
    C2 /= C2.max()
    T = np.asarray(T, dtype=np.float64)
    p, q = T.sum(1), T.sum(0)
    L = (C1**2 @ p)[:, None] + (C2**2 @ q)[None, :] - 2 * C1 @ T @ C2.T
    gw = float(np.sum(L * T))
    n, m = T.shape
    ab = np.outer(np.full(n, 1 / n), np.full(m, 1 / m))
    pos = T > 0
    kl = float(np.sum(T[pos] * np.log(T[pos] / ab[pos])) - T.sum() + 1.0)
    return gw + 2 * EPS * kl, gw


def genot(xp, yp, repeats, plan_out):
    cmd = ["/usr/bin/time", "-f", "%M", BENCH_GW, xp, yp, str(EPS), str(repeats), plan_out]
    proc = subprocess.run(cmd, capture_output=True, check=True)
    r = json.loads(proc.stdout)
    r["peak_rss_mib"] = int(proc.stderr.decode().strip().splitlines()[-1]) / 1024.0
    return r


def ott(x, y, repeats):
    import jax
    from ott.geometry import pointcloud
    from ott.problems.quadratic import quadratic_problem
    from ott.solvers.linear import sinkhorn
    from ott.solvers.quadratic import gromov_wasserstein

    @jax.jit
    def solve(x, y):
        prob = quadratic_problem.QuadraticProblem(pointcloud.PointCloud(x, scale_cost="max_cost"),
                                                  pointcloud.PointCloud(y, scale_cost="max_cost"))
        gw = gromov_wasserstein.GromovWasserstein(sinkhorn.Sinkhorn(threshold=1e-3), epsilon=EPS, threshold=1e-3,
                                                  min_iterations=5, max_iterations=50)
        out = gw(prob)
        return out.matrix, out.converged, jax.numpy.sum(out.costs != -1)

    jax.block_until_ready(solve(x, y))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        res = jax.block_until_ready(solve(x, y))
        times.append(time.perf_counter() - t)
    return dict(seconds=statistics.median(times), plan=np.asarray(res[0]), converged=bool(res[1]),
                outer_iterations=int(res[2]))


def pot(x, y, repeats):
    import ot

    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        C1, C2 = ot.dist(x.astype(np.float64), x.astype(np.float64)), ot.dist(y.astype(np.float64), y.astype(np.float64))
        C1 /= C1.max()
        C2 /= C2.max()
        n, m = len(x), len(y)
        T, log = ot.gromov.entropic_gromov_wasserstein(C1, C2, np.full(n, 1 / n), np.full(m, 1 / m), "square_loss",
                                                       epsilon=2 * EPS, log=True)
        times.append(time.perf_counter() - t)
    return dict(seconds=statistics.median(times), plan=T)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--large", type=int, nargs="*", default=[2048, 10000])
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    n = 512
    x, y = data(n)
    xp, yp, planp = os.path.join(OUT, "gwx.npy"), os.path.join(OUT, "gwy.npy"), os.path.join(OUT, "gw_plan.npy")
    np.save(xp, x)
    np.save(yp, y)
    g = genot(xp, yp, args.repeats, planp)
    g["objective"], g["gw"] = objective(x, y, np.load(planp))
    o = ott(x, y, args.repeats)
    o["objective"], o["gw"] = objective(x, y, o.pop("plan"))
    p = pot(x, y, max(1, args.repeats // 2))
    p["objective"], p["gw"] = objective(x, y, p.pop("plan"))
    rows = [("genot", g), ("OTT-JAX", o), ("POT", p)]
    print(f"| solver (n = m = {n}) | time ms | vs genot | objective E(T) | GW(T) |")
    print("|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['seconds'] * 1e3:.1f} | {r['seconds'] / g['seconds']:.1f}x | {r['objective']:.6f} | {r['gw']:.6f} |")
    large = []
    for nl in args.large:
        xl, yl = data(nl, seed=1)
        xlp, ylp = os.path.join(OUT, f"gwx{nl}.npy"), os.path.join(OUT, f"gwy{nl}.npy")
        np.save(xlp, xl)
        np.save(ylp, yl)
        r = genot(xlp, ylp, 1, os.path.join(OUT, f"gw_plan{nl}.npy"))
        large.append(dict(n=nl, **r))
        print(f"\nlow-rank n = m = {nl}: {r['seconds']:.2f} s, {r['outer_iterations']} outer / {r['inner_iterations']} inner "
              f"iterations, converged {r['converged']}, peak RSS {r['peak_rss_mib']:.0f} MiB")
    with open(os.path.join(OUT, "gw.json"), "w") as fh:
        json.dump(dict(date=time.strftime("%Y-%m-%d"), n512=dict(genot=g, ott=o, pot=p), large=large), fh, indent=1)


if __name__ == "__main__":
    main()
