"""Cold `genot solve` latency of two or more genot binaries, interleaved (A B A B ...) so
that a noisy shared machine hits them alike. The problem is bench/sinkhorn_bench.py's:
x ~ N(0, I_32), y ~ N(1, I_32), n = m = N (default 1024), squared Euclidean, eps = 0.01 x
mean cost, --scale-cost none, threshold 1e-3; one process per solve; the time is the
"seconds" genot reports (without process start and file reading).

Usage (numpy only):
    python bench/cold_solve_ab.py BIN_A,BIN_B [l1|l2] [runs]       # N=4096 python ... for another size
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np


def main():
    bins = sys.argv[1].split(",")
    norm = sys.argv[2] if len(sys.argv) > 2 else "l2"
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    n = int(os.environ.get("N", "1024"))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 32)).astype(np.float32)
    y = (rng.normal(size=(n, 32)) + 1.0).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        xp, yp = os.path.join(d, "x.npy"), os.path.join(d, "y.npy")
        np.save(xp, x)
        np.save(yp, y)
        times = {b: [] for b in bins}
        for _ in range(runs):
            for b in bins:
                out = subprocess.run(
                    [b, "solve", "--source", xp, "--target", yp, "--scale-cost", "none",
                     "--epsilon", "0.01", "--relative-epsilon", "mean", "--threshold", "1e-3",
                     "--max-iterations", "10000", "--norm", norm],
                    capture_output=True, check=True)
                times[b].append(json.loads(out.stdout)["seconds"] * 1e3)
    for b, v in times.items():
        print(f"{b}: median {statistics.median(v):.2f} ms, best {min(v):.2f} ms, "
              f"quartiles {np.percentile(v, 25):.2f} / {np.percentile(v, 75):.2f} ms ({runs} runs, {norm})")


if __name__ == "__main__":
    main()
