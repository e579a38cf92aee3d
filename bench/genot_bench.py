"""Side-by-side GENOT benchmark: genot (CLI, burn Flex CPU) vs OTT-JAX 0.5.2 GENOT, one run.

Task L (issue 4): source N(0, I_2), target a mixture of 8 Gaussians on a circle of radius 5
(std 0.5); batch 256; velocity field 128 x 3 per branch (215,298 parameters in both);
Adam(W) lr 1e-3; squared Euclidean cost divided by its mean, epsilon 0.1 (= 0.1 x mean:
"relative") or epsilon 0.1 absolute on the unscaled cost.
Task Q: a 2-D spiral to the same spiral in 3-D through a fixed orthonormal embedding; GW
epsilon 5e-3 with costs divided by their max.

Both draw batches from the same arrays (20,000 source and target points). Reported: ms per
iteration (fit time / iterations), fit time, time to sample 2048 points (adaptive at
rtol = atol = 1e-5: genot's Dopri5 and Tsit5 against OTT's Tsit5; and fixed-step), and the debiased Sinkhorn divergence (eps 0.1 for L,
0.01 for Q) between 2048 predictions and 2048 fresh target samples, both scored by the same
`genot eval`.

Usage (after bash bench/setup.sh):
    bench/.venv/bin/python bench/genot_bench.py [--iterations 5000] [--tasks rel,abs,gw] [--seed 0]
        [--genot-flags '--normalize none --ema 0.99'] [--genot-bin OTHER/genot] [--genot-only]
--genot-bin times another build of genot (for a before/after comparison on one machine;
the divergences are still scored by this checkout's `genot eval`); --genot-only skips the
OTT side.
"""
import argparse
import functools
import json
import os
import subprocess
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out", "genot")
GENOT = os.path.join(ROOT, "target", "release", "genot")
FIT_BIN = GENOT  # the build being timed (--genot-bin)
N = 20000


def circle(n, rng):
    k = rng.integers(0, 8, n)
    a = 2 * np.pi * k / 8
    return (np.stack([5 * np.cos(a), 5 * np.sin(a)], 1) + 0.5 * rng.normal(size=(n, 2))).astype(np.float32)


def spiral(n, rng):
    u = rng.uniform(size=n)
    r, th = 1 + 3 * u, 3 * np.pi * u
    return np.stack([r * np.cos(th), r * np.sin(th)], 1).astype(np.float32)


EMBED = np.linalg.qr(np.random.default_rng(42).normal(size=(3, 3)))[0][:, :2].astype(np.float32)


def task_data(task):
    rng = np.random.default_rng(0)
    if task == "gw":
        x = spiral(N, rng)
        return x, x @ EMBED.T, spiral(2048, rng), None
    x = rng.normal(size=(N, 2)).astype(np.float32)
    return x, circle(N, rng), rng.normal(size=(2048, 2)).astype(np.float32), circle(2048, rng)


def save(name, a):
    p = os.path.join(OUT, name)
    np.save(p, a)
    return p


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return r.stdout


def divergence(pred, target, eps):
    out = run([GENOT, "eval", "--pred", pred, "--target", target, "--epsilon", str(eps)])
    return json.loads(out)["sinkhorn_divergence"]


def genot_side(task, x, y, xtest, iters, seed, flags=()):
    model = os.path.join(OUT, f"model-{task}")
    args = [FIT_BIN, "fit", "--source", save(f"{task}-x.npy", x), "--target", save(f"{task}-y.npy", y),
            "--out", model, "--iterations", str(iters), "--batch-size", "256", "--lr", "1e-3",
            "--hidden", "128", "--layers", "3", "--time-frequencies", "128", "--checkpoint-every", "0",
            "--seed", str(seed)]
    if task == "rel":
        args += ["--epsilon", "0.1", "--scale-cost", "mean"]
    elif task == "abs":
        args += ["--epsilon", "0.1", "--scale-cost", "none"]
    else:
        args += ["--kind", "quadratic", "--epsilon", "5e-3", "--scale-cost", "max"]
    args += list(flags)
    t = time.perf_counter()
    rep = json.loads(run(args))
    fit_s = time.perf_counter() - t
    xt = save(f"{task}-xtest.npy", xtest)
    res = {"ms_per_iter": rep["ms_per_iteration"], "fit_s": fit_s}
    for label, extra in [("adaptive", ["--solver", "dopri5", "--rtol", "1e-5", "--atol", "1e-5"]),
                         ("tsit5", ["--solver", "tsit5", "--rtol", "1e-5", "--atol", "1e-5"]),
                         ("fixed", ["--solver", "euler", "--steps", "20"])]:
        pred = os.path.join(OUT, f"{task}-genot-{label}.npy")
        t = time.perf_counter()
        run([FIT_BIN, "transport", "--model", model, "--source", xt, "--out", pred] + extra)
        res[f"sample_{label}_s"] = time.perf_counter() - t
        res[f"pred_{label}"] = pred
    return res


def ott_fit(x, y, match, hidden, iters, seed, quad=False):
    """OTT-JAX GENOT trained on batches of 256 drawn with replacement from x and y (by a
    numpy generator seeded seed + 1), a velocity field of 3 hidden layers of `hidden` per
    branch, Adam lr 1e-3, ConstantNoiseFlow(0): the OTT side of genot_bench.py and
    kang_ood_ott.py. Returns the model and the fit seconds."""
    import jax
    import optax
    from ott.neural.methods.flows import dynamics, genot
    from ott.neural.networks import velocity_field

    rng = np.random.default_rng(seed + 1)
    keys = ("src_quad", "tgt_quad") if quad else ("src_lin", "tgt_lin")

    class Loader:
        def __iter__(self):
            while True:
                i, j = rng.integers(0, len(x), 256), rng.integers(0, len(y), 256)
                yield {keys[0]: x[i], keys[1]: y[j]}

    tdim = y.shape[1]
    vf = velocity_field.VelocityField(hidden_dims=[hidden] * 3, condition_dims=[hidden] * 3,
                                      output_dims=[hidden] * 3 + [tdim])
    model = genot.GENOT(vf, flow=dynamics.ConstantNoiseFlow(0.0), data_match_fn=jax.jit(match),
                        source_dim=x.shape[1], target_dim=tdim, rng=jax.random.PRNGKey(seed),
                        optimizer=optax.adam(1e-3))
    t = time.perf_counter()
    model(Loader(), n_iters=iters, rng=jax.random.PRNGKey(seed + 1))
    return model, time.perf_counter() - t


def ott_side(task, x, y, xtest, iters, seed):
    import jax
    from ott.solvers import utils as solver_utils

    quad = task == "gw"
    if quad:
        match = functools.partial(solver_utils.match_quadratic, epsilon=5e-3, scale_cost="max_cost")
    elif task == "rel":
        match = functools.partial(solver_utils.match_linear, epsilon=0.1, scale_cost="mean")
    else:
        match = functools.partial(solver_utils.match_linear, epsilon=0.1, scale_cost=1.0)
    model, fit_s = ott_fit(x, y, match, 128, iters, seed, quad)
    res = {"ms_per_iter": fit_s / iters * 1e3, "fit_s": fit_s}
    xt = jax.numpy.asarray(xtest)
    # OTT's transport uses Tsit5 with PIDController(rtol=1e-5, atol=1e-5) and rebuilds its
    # jit every call: time a second call, as a user would pay it on every call anyway.
    model.transport(xt, rng=jax.random.PRNGKey(2)).block_until_ready()
    t = time.perf_counter()
    pred = np.asarray(model.transport(xt, rng=jax.random.PRNGKey(3)).block_until_ready())
    res["sample_adaptive_s"] = time.perf_counter() - t
    res["pred_adaptive"] = save(f"{task}-ott-adaptive.npy", pred)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=5000)
    ap.add_argument("--tasks", default="rel,abs,gw")
    ap.add_argument("--seed", type=int, default=0, help="training seed of both sides")
    ap.add_argument("--genot-flags", default="", help="extra `genot fit` flags, e.g. '--normalize none --ema 0.99'")
    ap.add_argument("--genot-bin", default=GENOT, help="the genot binary to time (default: this checkout's)")
    ap.add_argument("--genot-only", action="store_true", help="skip the OTT-JAX side")
    a = ap.parse_args()
    global FIT_BIN
    FIT_BIN = a.genot_bin
    os.makedirs(OUT, exist_ok=True)
    rows = {}
    for task in a.tasks.split(","):
        x, y, xtest, ytest = task_data(task)
        if ytest is None:
            ytest = xtest @ EMBED.T  # fresh spiral samples in 3-D
        eps = 0.01 if task == "gw" else 0.1
        fresh = save(f"{task}-fresh.npy", ytest)
        g = genot_side(task, x, y, xtest, a.iterations, a.seed, a.genot_flags.split())
        o = None if a.genot_only else ott_side(task, x, y, xtest, a.iterations, a.seed)
        for r in (g, o):
            for k in [k for k in (r or {}) if k.startswith("pred_")]:
                r["div_" + k[5:]] = divergence(r.pop(k), fresh, eps)
        rows[task] = {"genot": g}
        if o is not None:
            rows[task].update(ott=o, iter_speedup=o["ms_per_iter"] / g["ms_per_iter"],
                              sample_speedup=o["sample_adaptive_s"] / g["sample_adaptive_s"],
                              sample_speedup_tsit5=o["sample_adaptive_s"] / g["sample_tsit5_s"])
        print(json.dumps({task: rows[task]}, indent=1), flush=True)
    rows["genot_flags"] = a.genot_flags
    name = f"results-genot-only-seed{a.seed}.json" if a.genot_only else f"results-seed{a.seed}.json"
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
