"""Side-by-side Sinkhorn benchmark: genot vs OTT-JAX 0.5.2 vs POT, same inputs, one run.

Problem (issue 2): x ~ N(0, I_32), y ~ N(1, I_32), squared Euclidean cost (no 1/2, no
rescaling), eps = 0.01 x mean cost, uniform weights, stop at marginal error 1e-3, for
n = m in {1024, 4096}; then n = m = 50,000 in genot's online mode (time and peak RSS).

- genot: `genot solve --mode auto` (float32); time = the "seconds" it reports (cost matrix
  + solve + plan statistics, without process start and file reading), median of runs.
- OTT-JAX: PointCloud(epsilon=0.01, relative_epsilon="mean") + Sinkhorn(threshold=1e-3),
  jitted, timed after a warm-up call (cost matrix inside), float32, median of runs.
- POT: ot.dist + ot.sinkhorn(stopThr=1e-3) in float64 (POT's native dtype), median of runs.
  POT stops on the L2 column error, genot and OTT on the (stricter) L1 error.
Transport cost <P, C> is computed the same way for all three.

Usage (from the repository root, after bash bench/setup.sh):
    bench/.venv/bin/python bench/sinkhorn_bench.py [--sizes 1024 4096] [--online 50000] [--repeats 5]
Writes bench/out/sinkhorn.json and prints a markdown table.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")
GENOT = os.path.join(ROOT, "target", "release", "genot")


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 32)).astype(np.float32)
    y = (rng.normal(size=(n, 32)) + 1.0).astype(np.float32)
    return x, y


def run_genot(xp, yp):
    """Runs genot solve once on the benchmark settings; returns its JSON report."""
    cmd = [GENOT, "solve", "--source", xp, "--target", yp, "--scale-cost", "none",
           "--epsilon", "0.01", "--relative-epsilon", "mean", "--threshold", "1e-3",
           "--max-iterations", "10000"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"genot failed: {proc.stderr.decode()}")
    return json.loads(proc.stdout)


def genot_case(n, repeats):
    x, y = data(n)
    xp, yp = os.path.join(OUT, f"x{n}.npy"), os.path.join(OUT, f"y{n}.npy")
    np.save(xp, x)
    np.save(yp, y)
    reports = [run_genot(xp, yp) for _ in range(repeats)]
    r = reports[-1]
    return dict(seconds=statistics.median(t["seconds"] for t in reports), iterations=r["iterations"],
                transport_cost=r["transport_cost"], converged=r["converged"], mode=r["mode"])


def ott_case(n, repeats):
    import jax
    import jax.numpy as jnp
    from ott.geometry import pointcloud
    from ott.problems.linear import linear_problem
    from ott.solvers.linear import sinkhorn

    x, y = data(n)

    @jax.jit
    def solve(x, y):
        geom = pointcloud.PointCloud(x, y, epsilon=0.01, relative_epsilon="mean")
        out = sinkhorn.Sinkhorn(threshold=1e-3, max_iterations=10000)(linear_problem.LinearProblem(geom))
        return out.n_iters, jnp.sum(out.matrix * geom.cost_matrix), out.converged

    xj, yj = jnp.asarray(x), jnp.asarray(y)
    jax.block_until_ready(solve(xj, yj))  # compile + warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        res = jax.block_until_ready(solve(xj, yj))
        times.append(time.perf_counter() - t)
    return dict(seconds=statistics.median(times), iterations=int(res[0]),
                transport_cost=float(res[1]), converged=bool(res[2]))


def pot_case(n, repeats):
    import ot

    x, y = data(n)
    x, y = x.astype(np.float64), y.astype(np.float64)
    a = np.full(n, 1.0 / n)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        M = ot.dist(x, y)
        P, log = ot.sinkhorn(a, a, M, 0.01 * M.mean(), stopThr=1e-3, numItermax=10000, log=True)
        times.append(time.perf_counter() - t)
    return dict(seconds=statistics.median(times), iterations=int(log["niter"]) + 1,
                transport_cost=float(np.sum(P * M)), converged=True)


def online_case(n):
    x, y = data(n, seed=1)
    xp, yp = os.path.join(OUT, f"x{n}.npy"), os.path.join(OUT, f"y{n}.npy")
    np.save(xp, x)
    np.save(yp, y)
    cmd = [GENOT, "solve", "--source", xp, "--target", yp, "--scale-cost", "none", "--epsilon", "0.01",
           "--relative-epsilon", "mean", "--threshold", "1e-3", "--mode", "online", "--max-iterations", "10000"]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        raise RuntimeError(f"genot online failed: {err.decode()}")
    r = json.loads(out)
    return dict(seconds=r["seconds"], wall_seconds=wall, iterations=r["iterations"],
                transport_cost=r["transport_cost"], converged=r["converged"],
                peak_rss_mib=usage.ru_maxrss / 1024.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[1024, 4096])
    ap.add_argument("--online", type=int, default=50000, help="0 to skip")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    import jax
    import ot

    results = dict(machine=dict(platform=platform.platform(), cpus=os.cpu_count(),
                                cpu=open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": ")),
                   versions=dict(jax=jax.__version__, ott=__import__("ott").__version__, pot=ot.__version__),
                   date=time.strftime("%Y-%m-%d"), dense=[], online=None)
    rows = []
    for n in args.sizes:
        g, o, p = genot_case(n, args.repeats), ott_case(n, args.repeats), pot_case(n, args.repeats)
        results["dense"].append(dict(n=n, genot=g, ott=o, pot=p))
        rel = lambda other: abs(g["transport_cost"] - other["transport_cost"]) / abs(other["transport_cost"])
        rows.append(f"| {n} | {g['seconds']*1e3:.1f} ({g['iterations']} it) | {o['seconds']*1e3:.1f} ({o['iterations']} it) "
                    f"| {p['seconds']*1e3:.1f} ({p['iterations']} it) | {o['seconds']/g['seconds']:.1f}x | {p['seconds']/g['seconds']:.1f}x "
                    f"| {rel(o):.1e} / {rel(p):.1e} |")
        print(rows[-1], flush=True)
    if args.online:
        results["online"] = dict(n=args.online, **online_case(args.online))
    with open(os.path.join(OUT, "sinkhorn.json"), "w") as fh:
        json.dump(results, fh, indent=1)
    print("\n| n = m | genot ms | OTT-JAX ms | POT ms | OTT / genot | POT / genot | transport cost rel. diff (vs OTT / POT) |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if results["online"]:
        r = results["online"]
        print(f"\nonline n = m = {r['n']}: {r['seconds']:.1f} s solve ({r['wall_seconds']:.1f} s wall), "
              f"{r['iterations']} iterations, converged {r['converged']}, peak RSS {r['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
