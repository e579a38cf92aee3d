"""Minibatch bias of entropic batch plans against the OT batch size M (issue 13, item 3), on the
Gaussian closed form.

Entropic OT between mu = N(a, A) and nu = N(b, B) with cost |x - y|^2 and objective
<C, P> + eps_genot KL(P | mu x nu) (genot's sqeuclidean convention; Janati et al. 2020,
Mallasto et al. 2021; docs/SPEC.md section 5): with s = eps_genot / 2,
D = (4 A^1/2 B A^1/2 + s^2 I)^1/2 and Cxy = 1/2 A^1/2 D A^-1/2 - (s/2) I, the conditional
is y | x ~ N(b + Cxy^T A^-1 (x - a), B - Cxy^T A^-1 Cxy): an affine mean and a fixed
covariance. Epsilon is quoted in the benchmark convention (cost |x - y|^2 / 2), so
eps_genot = 2 eps and s = eps. The test python/tests/test_eot_benchmark.py checks this
closed form against a discrete Sinkhorn plan.

The metric is cBW2-UVP as in Gushchin et al. (bench/eot_benchmark.py):
100 / (1/2 tr B) * mean over x of BW(estimated conditional at x; exact conditional at x).

Part (a), network-free (`plans`): for each M, draw M source and M target points, solve the
M x M plan (numpy Sinkhorn, float64, converged to --tol in L1, 1e-6 by default), take every source
row's conditional (mean and covariance of the target points weighted by that row), score it
against the closed form at that source point and average over rows. This is the floor that
batch plans alone impose on a network trained to reproduce them.
`averaged`: the same plans seen as a perfect network trained on many of them would see
them: at fixed test inputs, the mixture over R batches of each batch's (out-of-sample)
conditional; its cBW-UVP is the bias alone, the batch-to-batch noise having averaged out.
Part (b), with the network (`fit`): `genot fit --ot-batch-size M --batch-size 256`, then the
cBW-UVP of `genot transport` samples at fixed test inputs, and the fit time.

Usage:
  python bench/ot_batch_bias.py plans --dim 8 16 --sizes 256 512 1024 2048 4096 --repeats 3
  python bench/ot_batch_bias.py averaged --dim 8 16 --sizes 256 1024 4096 --batches 50
  python bench/ot_batch_bias.py fit --dim 8 --ot-batch-size 1024 --iterations 5000
Results are appended to bench/out/ot_batch_bias/results.jsonl.
"""
import argparse
import json
import os
import shlex
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eot_benchmark as eb  # noqa: E402

OUT = os.path.join(eb.ROOT, "bench", "out", "ot_batch_bias")


class GaussianPair:
    """Source N(a, A), target N(b, B) in dimension d; eps in the benchmark convention."""

    def __init__(self, dim, eps=1.0, seed=0):
        rng = np.random.default_rng([seed, dim, 3])
        self.dim, self.eps = dim, float(eps)
        self.a = np.zeros(dim)
        self.A = eb.random_spd(rng, dim, 0.5, 2.0)
        self.b = rng.uniform(-1, 1, dim)
        self.B = eb.random_spd(rng, dim, 0.5, 2.0)
        s = self.eps  # = eps_genot / 2
        ra = eb.sqrtm_psd(self.A)
        ra_inv = np.linalg.inv(ra)
        d_ = eb.sqrtm_psd(4 * ra @ self.B @ ra + s * s * np.eye(dim))
        cxy = 0.5 * ra @ d_ @ ra_inv - 0.5 * s * np.eye(dim)
        a_inv = np.linalg.inv(self.A)
        self.gain = cxy.T @ a_inv  # mean(x) = b + gain (x - a)
        self.cond_cov = self.B - cxy.T @ a_inv @ cxy
        self.cond_cov = 0.5 * (self.cond_cov + self.cond_cov.T)
        self.la, self.lb = np.linalg.cholesky(self.A), np.linalg.cholesky(self.B)

    def sample_source(self, n, rng):
        return self.a + rng.normal(size=(n, self.dim)) @ self.la.T

    def sample_target(self, n, rng):
        return self.b + rng.normal(size=(n, self.dim)) @ self.lb.T

    def conditional_moments(self, x):
        mean = self.b + (x - self.a) @ self.gain.T
        return mean, np.broadcast_to(self.cond_cov, (len(x), self.dim, self.dim))

    def cbw_uvp_of(self, x, means, covs):
        cm, cc = self.conditional_moments(x)
        return float(100.0 * eb.bw_half(means, covs, cm, cc).mean() / (0.5 * np.trace(self.B)))


def append(rec):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "results.jsonl"), "a") as fh:
        fh.write(json.dumps(rec) + "\n")
    print(json.dumps(rec), flush=True)


def cmd_plans(args):
    for d in args.dim:
        g = GaussianPair(d, args.eps, seed=args.instance)
        for m in args.sizes:
            vals, secs, its = [], [], []
            for r in range(args.repeats):
                rng = np.random.default_rng([d, m, r])
                x, y = g.sample_source(m, rng), g.sample_target(m, rng)
                t = time.time()
                plan, it = eb.sinkhorn_log_plan(x, y, 2 * args.eps, tol=args.tol)
                secs.append(time.time() - t)
                its.append(it)
                pm, pc = eb.plan_conditionals(plan, y)
                vals.append(g.cbw_uvp_of(x, pm, pc))
                del plan
            append(dict(part="plans", dim=d, eps=args.eps, M=m, repeats=args.repeats, tol=args.tol,
                        cbw_uvp_mean=float(np.mean(vals)), cbw_uvp_std=float(np.std(vals)),
                        cbw_uvp=vals, sinkhorn_iterations=its,
                        numpy_sinkhorn_seconds=float(np.mean(secs))))


def cmd_averaged(args):
    """What a perfect network trained on many batch plans would learn: the mixture over R
    independent batches of each batch's conditional at fixed test inputs x (the entropic
    out-of-sample extension, weights proportional to exp((g_j - |x - y_j|^2) / eps_genot)
    over the batch's targets y_j, g the batch's target potential). Reports the cBW-UVP of
    that mixture (bias only: the batch-to-batch noise averages out, as SGD averages it) next
    to the mean cBW-UVP of the single batches at the same inputs."""
    for d in args.dim:
        if args.problem == "gaussian":
            g = GaussianPair(d, args.eps, seed=args.instance)
            sx, sy, var = g.sample_source, g.sample_target, float(np.trace(g.B))
        else:  # the mixture benchmark of bench/eot_benchmark.py
            g = eb.GaussianMixtureBenchmark(d, args.eps, seed=args.instance)
            sx, sy = g.sample_input, g.sample_target
            var = float(np.trace(g.target_moments()[1]))
        xt = sx(args.test_points, np.random.default_rng([args.instance, d, 99]))
        cm, cc = g.conditional_moments(xt)
        uvp = lambda m_, c_: float(100.0 * eb.bw_half(m_, c_, cm, cc).mean() / (0.5 * var))
        for m in args.sizes:
            mean, cov, single = averaged_conditionals(sx, sy, xt, m, args.batches,
                                                      2 * args.eps, args.tol, d, uvp)
            append(dict(part="averaged", problem=args.problem, dim=d, eps=args.eps, M=m,
                        batches=args.batches, test_points=args.test_points, tol=args.tol,
                        cbw_uvp_batch_mixture=uvp(mean, cov),
                        cbw_uvp_single_batch_mean=float(np.mean(single))))


def averaged_conditionals(sx, sy, xt, m, batches, eps_g, tol, d, uvp):
    s1 = np.zeros((len(xt), d))
    s2 = np.zeros((len(xt), d, d))
    single = []
    for r in range(batches):
        rng = np.random.default_rng([d, m, r, 17])
        x, y = sx(m, rng), sy(m, rng)
        plan, _, logv = eb.sinkhorn_log_plan(x, y, eps_g, tol=tol, column_log_scaling=True)
        del plan
        ct = (xt * xt).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * xt @ y.T
        lw = logv[None, :] - ct / eps_g
        w = np.exp(lw - lw.max(1, keepdims=True))
        w /= w.sum(1, keepdims=True)
        mean = w @ y
        second = np.einsum("ij,jk,jl->ikl", w, y, y, optimize=True)
        single.append(uvp(mean, second - mean[:, :, None] * mean[:, None, :]))
        s1 += mean
        s2 += second
    mean = s1 / batches
    return mean, s2 / batches - mean[:, :, None] * mean[:, None, :], single


def cmd_fit(args):
    g = GaussianPair(args.dim, args.eps, seed=args.instance)
    tag = f"d{args.dim}_M{args.ot_batch_size}_s{args.seed}" + (f"_{args.tag}" if args.tag else "")
    work = os.path.join(OUT, tag)
    os.makedirs(work, exist_ok=True)
    log = os.path.join(work, "log.txt")
    rng = np.random.default_rng([args.seed, args.dim, 8])
    x = eb.save(os.path.join(work, "x.npy"), g.sample_source(args.n_train, rng))
    y = eb.save(os.path.join(work, "y.npy"), g.sample_target(args.n_train, rng))
    xt = g.sample_source(args.n_test, np.random.default_rng([args.instance, args.dim, 99]))
    eb.save(os.path.join(work, "xtest.npy"), xt)
    genot = eb.genot_binary()
    model = os.path.join(work, "model")
    fit_cmd = [genot, "fit", "--kind", "linear", "--scale-cost", "none", "--epsilon",
               repr(2 * args.eps), "--source", x, "--target", y, "--out", model,
               "--batch-size", "256", "--ot-batch-size", str(args.ot_batch_size),
               "--iterations", str(args.iterations), "--seed", str(args.seed)]
    fit_cmd += shlex.split(args.genot_flags)
    fit, _ = eb.run_json(fit_cmd, log)
    tr, _ = eb.run_json([genot, "transport", "--model", model, "--source",
                         os.path.join(work, "xtest.npy"), "--samples", str(args.k_test),
                         "--out", os.path.join(work, "pred.npy"), "--seed", "1"]
                        + shlex.split(args.transport_flags), log)
    pred = np.load(os.path.join(work, "pred.npy")).astype(np.float64)
    m, s = eb.sample_stats(pred)
    # the estimation floor of K exact samples per point, same inputs
    rng = np.random.default_rng(5)
    cm, cc = g.conditional_moments(xt)
    exact = cm[:, None, :] + rng.normal(size=pred.shape) @ np.linalg.cholesky(g.cond_cov).T
    em, es = eb.sample_stats(exact)
    append(dict(part="fit", dim=args.dim, eps=args.eps, M=args.ot_batch_size, batch_size=256,
                seed=args.seed, flags=args.genot_flags, iterations=fit["iterations"],
                fit_seconds=fit["seconds"], ms_per_iteration=fit["ms_per_iteration"],
                unconverged_batches=fit.get("unconverged_batches"),
                cbw_uvp=g.cbw_uvp_of(xt, m, s), cbw_uvp_exact_samples=g.cbw_uvp_of(xt, em, es),
                n_test=args.n_test, k_test=args.k_test, transport_seconds=tr["seconds"],
                date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plans")
    p.add_argument("--dim", type=int, nargs="+", default=[8, 16])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tol", type=float, default=1e-6,
                   help="L1 row-marginal error at which Sinkhorn stops (genot's default 1e-3)")
    a = sub.add_parser("averaged")
    a.add_argument("--dim", type=int, nargs="+", default=[8, 16])
    a.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096])
    a.add_argument("--batches", type=int, default=50)
    a.add_argument("--test-points", type=int, default=500)
    a.add_argument("--tol", type=float, default=1e-6)
    a.add_argument("--problem", default="gaussian", choices=["gaussian", "mixture"])
    f = sub.add_parser("fit")
    f.add_argument("--dim", type=int, required=True)
    f.add_argument("--ot-batch-size", type=int, required=True)
    f.add_argument("--iterations", type=int, default=5000)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--n-train", type=int, default=50000)
    f.add_argument("--n-test", type=int, default=200)
    f.add_argument("--k-test", type=int, default=500)
    f.add_argument("--genot-flags", default="")
    f.add_argument("--transport-flags", default="")
    f.add_argument("--tag", default="")
    for q in (p, a, f):
        q.add_argument("--eps", type=float, default=1.0, help="benchmark convention")
        q.add_argument("--instance", type=int, default=0)
    args = ap.parse_args()
    {"plans": cmd_plans, "averaged": cmd_averaged, "fit": cmd_fit}[args.cmd](args)


if __name__ == "__main__":
    main()
