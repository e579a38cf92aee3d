"""Side-by-side Sinkhorn benchmark: genot vs OTT-JAX 0.5.2 vs POT, same inputs, one run.

Problem (issue 2): x ~ N(0, I_32), y ~ N(1, I_32), squared Euclidean cost (no 1/2, no
rescaling), eps = 0.01 x mean cost, uniform weights, stop at marginal error 1e-3, for
n = m in {1024, 4096}; then n = m = 50,000 in genot's online mode (time and peak RSS).

- genot warm: the `bench_solve` example (float32, auto mode) in one process, timed after
  a warm-up solve like OTT (cost matrix + solve + plan statistics), median of runs; once
  stopping on the L1 error (as OTT) and once on the L2 error (as POT).
- genot cold: `genot solve` as a user runs it, one process per solve; time = the "seconds"
  it reports (without process start and file reading), median of runs; once with
  `--norm l1` (against OTT) and once with `--norm l2` (against POT).
- genot Python: `genot.ot.sinkhorn` on the float32 points (so computed in float32, the
  plan returned as a numpy array as POT's is), in one Python process with the package
  from the repository's .venv (bash setup.sh): the first call, then the median of runs.
- OTT-JAX: PointCloud(epsilon=0.01, relative_epsilon="mean") + Sinkhorn(threshold=1e-3),
  jitted, timed after a warm-up call (cost matrix inside), float32, median of runs.
- POT: ot.dist + ot.sinkhorn(stopThr=1e-3) in float64 (POT's native dtype), median of runs.
  POT stops on the L2 column error, genot and OTT on the (stricter) L1 error.
Transport cost <P, C> is computed the same way for all three, and compared with a
reference: genot run to a marginal error of 1e-6.

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
BENCH_SOLVE = os.path.join(ROOT, "target", "release", "examples", "bench_solve")
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 32)).astype(np.float32)
    y = (rng.normal(size=(n, 32)) + 1.0).astype(np.float32)
    return x, y


def run_genot(xp, yp, norm="l1"):
    """Runs genot solve once on the benchmark settings; returns its JSON report."""
    cmd = [GENOT, "solve", "--source", xp, "--target", yp, "--scale-cost", "none",
           "--epsilon", "0.01", "--relative-epsilon", "mean", "--threshold", "1e-3",
           "--max-iterations", "10000", "--norm", norm]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"genot failed: {proc.stderr.decode()}")
    return json.loads(proc.stdout)


def warm(xp, yp, threshold, norm, repeats):
    """Median in-process time of genot after a warm-up solve."""
    proc = subprocess.run([BENCH_SOLVE, xp, yp, "0.01", str(threshold), norm, str(repeats)],
                          capture_output=True, check=True)
    return json.loads(proc.stdout)


def genot_case(n, repeats):
    x, y = data(n)
    xp, yp = os.path.join(OUT, f"x{n}.npy"), os.path.join(OUT, f"y{n}.npy")
    np.save(xp, x)
    np.save(yp, y)
    cold = {}
    for norm in ("l1", "l2"):
        reports = [run_genot(xp, yp, norm) for _ in range(repeats)]
        cold[norm] = reports[-1]
        cold[norm]["seconds"] = statistics.median(t["seconds"] for t in reports)
        cold[norm]["min_seconds"] = min(t["seconds"] for t in reports)
    return dict(warm_l1=warm(xp, yp, 1e-3, "l1", repeats), warm_l2=warm(xp, yp, 1e-3, "l2", repeats),
                cold_l1=cold["l1"], cold_l2=cold["l2"], python=python_case(xp, yp, repeats),
                reference=warm(xp, yp, 1e-6, "l1", 1))


PYTHON_TIMING = """
import json, statistics, sys, time
import numpy as np
t0 = time.perf_counter()
from genot import ot
imported = time.perf_counter() - t0
x, y, repeats = np.load(sys.argv[1]), np.load(sys.argv[2]), int(sys.argv[3])
out = {"import_seconds": imported}
for norm in ("l1", "l2"):
    runs = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        r = ot.sinkhorn(x, y, epsilon=0.01, relative_epsilon="mean", scale_cost="none",
                        threshold=1e-3, max_iterations=10000, norm=norm)
        runs.append(time.perf_counter() - t)
    out[norm] = dict(first_seconds=runs[0], seconds=statistics.median(runs[1:]),
                     iterations=r.iterations, converged=r.converged,
                     transport_cost=r.transport_cost, dtype=str(r.plan.dtype))
print(json.dumps(out))
"""


def python_case(xp, yp, repeats):
    """genot.ot.sinkhorn from Python (the package in the repository's .venv, made by
    setup.sh) on the float32 points: the first call of a fresh process and the median of
    the next `repeats`, each including the plan returned as a numpy array (as POT's)."""
    if not os.path.exists(PYTHON):
        return None
    proc = subprocess.run([PYTHON, "-c", PYTHON_TIMING, xp, yp, str(repeats)],
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"genot python failed: {proc.stderr.decode()}")
    return json.loads(proc.stdout)


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
    return dict(seconds=statistics.median(times), min_seconds=min(times), iterations=int(res[0]),
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
    return dict(seconds=statistics.median(times), min_seconds=min(times), iterations=int(log["niter"]) + 1,
                transport_cost=float(np.sum(P * M)), converged=True)


def online_case(n):
    x, y = data(n, seed=1)
    xp, yp = os.path.join(OUT, f"x{n}.npy"), os.path.join(OUT, f"y{n}.npy")
    np.save(xp, x)
    np.save(yp, y)
    # Peak RSS through /usr/bin/time: the rusage of a child forked from this Python process
    # would count the pre-exec copy of the parent (with JAX loaded) as the child's.
    cmd = ["/usr/bin/time", "-f", "%M", GENOT, "solve", "--source", xp, "--target", yp, "--scale-cost", "none",
           "--epsilon", "0.01", "--relative-epsilon", "mean", "--threshold", "1e-3", "--mode", "online",
           "--max-iterations", "10000"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"genot online failed: {proc.stderr.decode()}")
    out = proc.stdout
    peak_kib = int(proc.stderr.decode().strip().splitlines()[-1])
    r = json.loads(out)
    return dict(seconds=r["seconds"], wall_seconds=wall, iterations=r["iterations"],
                transport_cost=r["transport_cost"], converged=r["converged"],
                peak_rss_mib=peak_kib / 1024.0)


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
    rows, prow, brows = [], [], []
    for n in args.sizes:
        g, o, p = genot_case(n, args.repeats), ott_case(n, args.repeats), pot_case(n, args.repeats)
        results["dense"].append(dict(n=n, genot=g, ott=o, pot=p))
        ref = g["reference"]["transport_cost"]
        dev = lambda r: abs(r["transport_cost"] - ref) / abs(ref)
        w1, w2, c1, c2 = g["warm_l1"], g["warm_l2"], g["cold_l1"], g["cold_l2"]
        ms = lambda r: f"{r['seconds'] * 1e3:.1f} ({r['iterations']} it)"
        x = lambda peer, r: f"**{peer['seconds'] / r['seconds']:.1f}x**"
        rows.append(f"| {n} | {ms(o)} | {ms(p)} | {ms(c1)} | {x(o, c1)} | {ms(c2)} | {x(p, c2)} "
                    f"| {ms(w1)} | {x(o, w1)} | {ms(w2)} | {x(p, w2)} "
                    f"| {dev(w1):.1e} / {dev(o):.1e} / {dev(w2):.1e} / {dev(p):.1e} |")
        py = g["python"]
        if py:
            prow.append(f"| {n} | {ms(py['l1'])} | {x(o, py['l1'])} | {ms(py['l2'])} | {x(p, py['l2'])} "
                        f"| {py['l1']['first_seconds'] * 1e3:.1f} | {py['l1']['dtype']} |")
        best = lambda peer, r: f"{peer['min_seconds'] / r['min_seconds']:.1f}x"
        brows.append(f"| {n} | {o['min_seconds'] * 1e3:.1f} | {p['min_seconds'] * 1e3:.1f} "
                     f"| {c1['min_seconds'] * 1e3:.1f} | {best(o, c1)} | {c2['min_seconds'] * 1e3:.1f} | {best(p, c2)} |")
        print(rows[-1], flush=True)
    if args.online:
        results["online"] = dict(n=args.online, **online_case(args.online))
    with open(os.path.join(OUT, "sinkhorn.json"), "w") as fh:
        json.dump(results, fh, indent=1)
    print("\nCLI (`genot solve`, one process per solve, its reported seconds) and in-process (bench_solve), "
          "against OTT-JAX (L1 stop, like genot L1) and POT (L2 stop, like genot L2):\n")
    print("| n = m | OTT-JAX ms | POT ms | genot CLI L1 ms | OTT / CLI | genot CLI L2 ms | POT / CLI "
          "| genot in-process L1 ms | OTT / it | genot in-process L2 ms | POT / it "
          "| transport cost rel. error vs reference: genot L1 / OTT / genot L2 / POT |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nThe same, fastest of the runs (less sensitive to a noisy shared machine):\n")
    print("| n = m | OTT-JAX ms | POT ms | genot CLI L1 ms | OTT / CLI | genot CLI L2 ms | POT / CLI |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(brows))
    if prow:
        print("\nPython `genot.ot.sinkhorn` (float32 points, plan returned as numpy), median after a first call:\n")
        print("| n = m | L1 ms | OTT / genot | L2 ms | POT / genot | first call ms | plan dtype |")
        print("|---|---|---|---|---|---|---|")
        print("\n".join(prow))
    if results["online"]:
        r = results["online"]
        print(f"\nonline n = m = {r['n']}: {r['seconds']:.1f} s solve ({r['wall_seconds']:.1f} s wall), "
              f"{r['iterations']} iterations, converged {r['converged']}, peak RSS {r['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
