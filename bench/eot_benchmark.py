"""The Gaussian-mixture entropic-OT benchmark of Gushchin et al. (NeurIPS 2023, "Building the
Bridge of Schroedinger: A Continuous Entropic Optimal Transport Benchmark"), run on genot.

Construction (their convention: cost c(x, y) = |x - y|^2 / 2, entropic epsilon EPS):
  * an input distribution P0, a Gaussian mixture (here 3 components);
  * a Schroedinger potential chosen so that exp(f*(y)/EPS) times the target density is the
    (unnormalised) Gaussian mixture sum_k w_k N(y; mu_k, S_k) (here 5 components, a
    log-sum-exp of quadratics). The optimal conditional plan is then, for every x,
        pi*(y | x)  proportional to  N(y; x, EPS I) * sum_k w_k N(y; mu_k, S_k),
    a Gaussian mixture in closed form: component k has covariance
    P_k = (I/EPS + S_k^-1)^-1, mean P_k (x/EPS + S_k^-1 mu_k), and weight proportional to
    w_k N(x; mu_k, S_k + EPS I) (the y-integral of the product);
  * the target P1 is sampled as x ~ P0, then y ~ pi*(. | x).
  This is the construction of their benchmark/gaussian_mixture_benchmark.py (ConditionalPlan).
  Their parameter files (input_*/potential_* tensors per dimension and epsilon) are only on
  Google Drive, out of reach here, so the instance is regenerated from a fixed seed with the
  component counts above (means uniform in [-2, 2]^d, covariances Q diag(U[0.1, 1]) Q^T with
  Q a random rotation, equal weights). Figures are therefore comparable in protocol and
  metric with their tables, not on the identical instance.

Metrics, exactly as their benchmark/metrics.py computes them:
  BW(m1, S1; m2, S2) = 1/2 |m1 - m2|^2 + 1/2 tr S1 + 1/2 tr S2 - tr (S1^1/2 S2 S1^1/2)^1/2
  (= half the usual squared Bures-Wasserstein distance: their W2 convention carries the 1/2);
  BW2-UVP  = 100 * BW(stats of model samples; stats of target samples) / (1/2 Var(P1)),
  cBW2-UVP = 100 / (1/2 Var(P1)) * mean over test x of BW(stats of the model's samples
             given x; exact mean and covariance of pi*(. | x)),
  Var(P1) = trace of the covariance of P1. Protocol (their eval notebooks): 1000 test inputs
  x ~ P0 with 1000 model samples each for cBW-UVP; 100,000 model samples against 100,000
  target samples for BW-UVP. Sample counts are flags here; every table says which it used.

Epsilon conversion. genot's sqeuclidean cost is |x - y|^2 (no 1/2) and its plan is
exp((f + g - C)/eps_genot) a b^T. Their plan density is proportional to
exp(-|x - y|^2 / (2 EPS)), so the two coincide when eps_genot = 2 EPS (with --scale-cost none:
no rescaling of the batch cost). `check-epsilon` verifies it: it solves a discrete plan with
`genot solve --scale-cost none --epsilon 2*EPS` on samples of this benchmark and compares the
plan's conditional means with the closed form (and shows that eps_genot = EPS does not fit).

Usage (numpy, and the `genot` binary from $GENOT or target/release):
  python bench/eot_benchmark.py run --dim 16 --eps 1 --seed 0 --genot-flags '--normalize none'
  python bench/eot_benchmark.py floor --dim 16 --eps 1        # score of exact samples
  python bench/eot_benchmark.py check-epsilon --eps 1
Every run appends one JSON line to bench/out/eot/results.jsonl.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out", "eot")


def genot_binary():
    env = os.environ.get("GENOT")
    if env:
        return env
    return os.path.join(ROOT, "target", "release", "genot")


# ---------------------------------------------------------------- linear algebra, metrics


def sqrtm_psd(s):
    """Square root of a symmetric positive semi-definite matrix (or a stack of them)."""
    s = 0.5 * (s + np.swapaxes(s, -1, -2))
    w, v = np.linalg.eigh(s)
    w = np.sqrt(np.clip(w, 0.0, None))
    return (v * w[..., None, :]) @ np.swapaxes(v, -1, -2)


def bw_half(m1, s1, m2, s2):
    """Their `BW`: 1/2 |m1 - m2|^2 + 1/2 tr S1 + 1/2 tr S2 - tr (S1^1/2 S2 S1^1/2)^1/2.
    Works on stacks (leading axes)."""
    r1 = sqrtm_psd(s1)
    cross = sqrtm_psd(r1 @ s2 @ r1)
    tr = lambda a: np.trace(a, axis1=-2, axis2=-1)
    return 0.5 * ((m1 - m2) ** 2).sum(-1) + 0.5 * tr(s1) + 0.5 * tr(s2) - tr(cross)


def sample_stats(samples):
    """Mean and (ddof = 1, numpy's np.cov) covariance over the second-to-last axis."""
    m = samples.mean(-2)
    c = samples - m[..., None, :]
    cov = np.swapaxes(c, -1, -2) @ c / (samples.shape[-2] - 1)
    return m, cov


def bw_uvp(model_samples, true_mean, true_cov):
    """BW2-UVP (%) of model samples against a target's mean and covariance, normalised by
    1/2 tr of that covariance (their compute_BW_UVP_with_gt_stats)."""
    m, s = sample_stats(np.asarray(model_samples, dtype=np.float64))
    return float(100.0 * bw_half(m, s, true_mean, true_cov) / (0.5 * np.trace(true_cov)))


def cbw_uvp(pred, true_means, true_covs, var_target):
    """cBW2-UVP (%): pred is n x K x d (K samples per test input), true_* the exact
    conditional moments (n x d, n x d x d), var_target = tr Cov(P1)."""
    m, s = sample_stats(np.asarray(pred, dtype=np.float64))
    per_point = bw_half(m, s, true_means, true_covs)
    return float(100.0 * per_point.mean() / (0.5 * var_target))


# ---------------------------------------------------------------- discrete reference plan


def logsumexp(a, axis):
    mx = a.max(axis=axis, keepdims=True)
    return (mx + np.log(np.exp(a - mx).sum(axis=axis, keepdims=True))).squeeze(axis)


def sinkhorn_log_plan(x, y, eps_genot, iterations=20000, tol=1e-9, column_log_scaling=False):
    """Sinkhorn (float64, uniform weights) on the cost |x - y|^2 with objective
    <C, P> + eps KL(P | a b^T): genot's sqeuclidean convention. Scaling iterations on the
    kernel exp(-(C - row minimum)/eps) when no column of it underflows (the row shift is
    absorbed by the row scaling, so the fixed point is the same), else plain log-domain
    iterations. Stops when the L1 error of the row marginal is below tol. Returns the plan
    (n x m, rows sum to 1/n) and the number of iterations (and, with column_log_scaling,
    g / eps_genot up to a constant: the target potential that extends the plan out of sample)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    c = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T
    n, m = c.shape
    a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    k = np.exp(-(c - c.min(1, keepdims=True)) / eps_genot)
    if k.sum(0).min() > 1e-250:
        v = np.ones(m)
        for it in range(1, iterations + 1):
            u = a / (k @ v)
            v = b / (k.T @ u)
            if it % 10 == 0 or it == iterations:
                err = np.abs(u * (k @ v) - a).sum()
                if err < tol:
                    break
        k *= u[:, None]
        k *= v[None, :]
        return (k, it, np.log(v)) if column_log_scaling else (k, it)
    del k
    la, lb = -np.log(n), -np.log(m)
    f = np.zeros(n)
    g = np.zeros(m)
    k = -c / eps_genot
    for it in range(1, iterations + 1):
        f = -eps_genot * logsumexp(k + g[None, :] / eps_genot + lb, 1)
        g = -eps_genot * logsumexp(k + f[:, None] / eps_genot + la, 0)
        if it % 10 == 0 or it == iterations:
            logp = k + (f[:, None] + g[None, :]) / eps_genot + la + lb
            err = np.abs(np.exp(logsumexp(logp, 1)) - 1.0 / n).sum()
            if err < tol:
                break
    plan = np.exp(k + (f[:, None] + g[None, :]) / eps_genot + la + lb)
    return (plan, it, g / eps_genot) if column_log_scaling else (plan, it)


def plan_conditionals(plan, y):
    """Mean and covariance of each row's conditional of a discrete plan (n x d, n x d x d)."""
    w = plan / plan.sum(1, keepdims=True)
    mean = w @ y
    second = np.einsum("ij,jk,jl->ikl", w, y, y, optimize=True)
    return mean, second - mean[:, :, None] * mean[:, None, :]


# ---------------------------------------------------------------- the benchmark


def random_spd(rng, d, lo, hi):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    q = q * np.sign(np.diag(r))
    return (q * rng.uniform(lo, hi, d)) @ q.T


def log_normal(x, mean, cov):
    """log N(x; mean, cov) for x n x d."""
    lo = np.linalg.cholesky(cov)
    z = np.linalg.solve(lo, (x - mean).T)
    d = x.shape[1]
    return -0.5 * (z * z).sum(0) - np.log(np.diag(lo)).sum() - 0.5 * d * np.log(2 * np.pi)


class GaussianMixtureBenchmark:
    """One benchmark pair (dimension, epsilon in their convention). The input mixture depends
    on (dim, seed) only, as theirs depends on the dimension only; the potential is the same
    for every epsilon."""

    def __init__(self, dim, eps, seed=0, n_input=3, n_potential=5):
        self.dim, self.eps = dim, float(eps)
        rng = np.random.default_rng([seed, dim, 1])
        self.in_w = np.full(n_input, 1.0 / n_input)
        self.in_mu = rng.uniform(-2, 2, (n_input, dim))
        self.in_cov = np.stack([random_spd(rng, dim, 0.1, 1.0) for _ in range(n_input)])
        rng = np.random.default_rng([seed, dim, 2])
        self.pot_w = np.full(n_potential, 1.0 / n_potential)
        self.pot_mu = rng.uniform(-2, 2, (n_potential, dim))
        self.pot_cov = np.stack([random_spd(rng, dim, 0.1, 1.0) for _ in range(n_potential)])
        eye = np.eye(dim)
        inv = np.linalg.inv(self.pot_cov)
        self.plan_cov = np.linalg.inv(eye / self.eps + inv)  # K x d x d
        self.plan_bias = np.einsum("kij,kjl,kl->ki", self.plan_cov, inv, self.pot_mu)
        self.plan_weight = self.plan_cov / self.eps  # mean_k(x) = W_k x + b_k
        self.plan_chol = np.linalg.cholesky(self.plan_cov)
        self.in_chol = np.linalg.cholesky(self.in_cov)

    # sampling
    def sample_input(self, n, rng):
        k = rng.choice(len(self.in_w), size=n, p=self.in_w)
        z = rng.normal(size=(n, self.dim))
        return self.in_mu[k] + np.einsum("nij,nj->ni", self.in_chol[k], z)

    def component_logits(self, x):
        return np.stack(
            [np.log(w) + log_normal(x, mu, s + self.eps * np.eye(self.dim))
             for w, mu, s in zip(self.pot_w, self.pot_mu, self.pot_cov)], 1)

    def component_means(self, x):
        return np.einsum("kij,nj->nki", self.plan_weight, x) + self.plan_bias[None]

    def sample_conditional(self, x, rng):
        """One y ~ pi*(. | x) per row of x."""
        logits = self.component_logits(x)
        k = np.argmax(logits + rng.gumbel(size=logits.shape), 1)
        mean = self.component_means(x)[np.arange(len(x)), k]
        z = rng.normal(size=x.shape)
        return mean + np.einsum("nij,nj->ni", self.plan_chol[k], z)

    def sample_target(self, n, rng):
        return self.sample_conditional(self.sample_input(n, rng), rng)

    # exact conditional moments
    def conditional_moments(self, x):
        """Mean (n x d) and covariance (n x d x d) of pi*(. | x): the mixture's total mean and
        covariance (their calculate_cond_bw)."""
        logits = self.component_logits(x)
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        means = self.component_means(x)  # n x K x d
        mean = np.einsum("nk,nki->ni", p, means)
        dev = means - mean[:, None, :]
        cov = np.einsum("nk,kij->nij", p, self.plan_cov) + np.einsum("nk,nki,nkj->nij", p, dev, dev)
        return mean, cov

    def target_moments(self, n=200000, seed=12345, chunk=20000):
        """Mean and covariance of P1 by the law of total covariance over n inputs x ~ P0
        (exact conditional moments, so only the outer expectation is sampled)."""
        rng = np.random.default_rng(seed)
        s1 = np.zeros(self.dim)
        s2 = np.zeros((self.dim, self.dim))
        for start in range(0, n, chunk):
            x = self.sample_input(min(chunk, n - start), rng)
            logits = self.component_logits(x)
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            means = self.component_means(x)
            s1 += np.einsum("nk,nki->i", p, means)
            # E[y y^T | x] = sum_k p_k (P_k + m_k m_k^T)
            s2 += np.einsum("k,kij->ij", p.sum(0), self.plan_cov)
            s2 += np.einsum("nk,nki,nkj->ij", p, means, means, optimize=True)
        mean = s1 / n
        return mean, s2 / n - np.outer(mean, mean)


# ---------------------------------------------------------------- genot runs


def save(path, a):
    np.save(path, np.ascontiguousarray(a, dtype=np.float32))
    return path


def run_json(cmd, log):
    with open(log, "a") as fh:
        fh.write("$ " + " ".join(shlex.quote(c) for c in cmd) + "\n")
    t = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t
    with open(log, "a") as fh:
        fh.write(p.stdout + p.stderr + f"[wall {wall:.1f}s rc {p.returncode}]\n")
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[1]} failed (rc {p.returncode}): {p.stderr.strip()[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1]), wall


def cmd_run(args):
    bench = GaussianMixtureBenchmark(args.dim, args.eps, seed=args.instance)
    tag = args.tag or f"d{args.dim}_eps{args.eps:g}_s{args.seed}"
    work = os.path.join(OUT, tag)
    os.makedirs(work, exist_ok=True)
    log = os.path.join(work, "log.txt")
    rng = np.random.default_rng([args.seed, 7])
    x = save(os.path.join(work, "x.npy"), bench.sample_input(args.n_train, rng))
    y = save(os.path.join(work, "y.npy"), bench.sample_target(args.n_train, rng))
    test_rng = np.random.default_rng([args.instance, args.dim, 99])  # fixed test inputs
    xt = bench.sample_input(args.n_test, test_rng)
    xm = bench.sample_input(args.n_marginal, test_rng)
    save(os.path.join(work, "xtest.npy"), xt)
    save(os.path.join(work, "xmarg.npy"), xm)
    genot = genot_binary()
    eps_genot = 2.0 * args.eps
    model = os.path.join(work, "model")
    fit_cmd = [genot, "fit", "--kind", "linear", "--scale-cost", "none", "--epsilon",
               repr(eps_genot), "--source", x, "--target", y, "--out", model,
               "--seed", str(args.seed)] + shlex.split(args.genot_flags)
    fit, fit_wall = run_json(fit_cmd, log)
    with open(os.path.join(work, "fit.json"), "w") as fh:
        json.dump(fit, fh)
    tr_flags = shlex.split(args.transport_flags)
    cond, cond_wall = run_json([genot, "transport", "--model", model, "--source",
                                os.path.join(work, "xtest.npy"), "--samples", str(args.k_test),
                                "--out", os.path.join(work, "pred_cond.npy"), "--seed", "1"]
                               + tr_flags, log)
    marg, marg_wall = run_json([genot, "transport", "--model", model, "--source",
                                os.path.join(work, "xmarg.npy"), "--out",
                                os.path.join(work, "pred_marg.npy"), "--seed", "2"]
                               + tr_flags, log)
    rec = score(bench, work, args, args.k_test)
    rec.update(iterations=fit["iterations"], fit_seconds=fit["seconds"],
               ms_per_iteration=fit["ms_per_iteration"], final_loss=fit["final_loss"],
               unconverged_batches=fit.get("unconverged_batches"),
               log_domain_retries=fit.get("log_domain_retries"),
               transport_seconds=cond["seconds"] + marg["seconds"])
    print(json.dumps(rec))
    with open(os.path.join(OUT, "results.jsonl"), "a") as fh:
        fh.write(json.dumps(rec) + "\n")


def score(bench, work, args, k_use):
    """Metrics of the predictions saved in work/ (the first k_use samples per test input)."""
    xt = np.load(os.path.join(work, "xtest.npy")).astype(np.float64)
    pred = np.load(os.path.join(work, "pred_cond.npy"))[:, :k_use]
    pm = np.load(os.path.join(work, "pred_marg.npy")).reshape(-1, bench.dim)
    tm, tc = bench.target_moments()
    var = float(np.trace(tc))
    cm, cc = bench.conditional_moments(xt)
    ym = bench.sample_target(len(pm), np.random.default_rng([args.instance, 5]))
    ym_mean, ym_cov = sample_stats(ym)
    return dict(
        dim=args.dim, eps=args.eps, eps_genot=2.0 * args.eps, seed=args.seed,
        instance=args.instance, flags=args.genot_flags, transport_flags=args.transport_flags,
        n_train=args.n_train, n_test=len(xt), k_test=pred.shape[1], n_marginal=len(pm),
        cbw_uvp=cbw_uvp(pred, cm, cc, var),
        bw_uvp=bw_uvp(pm, ym_mean, ym_cov),
        bw_uvp_exact_target=bw_uvp(pm, tm, tc),
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    )


def cmd_rescore(args):
    """Score a finished run again from its saved predictions with the first --k-test samples."""
    bench = GaussianMixtureBenchmark(args.dim, args.eps, seed=args.instance)
    work = os.path.join(OUT, args.tag)
    rec = score(bench, work, args, args.k_test)
    with open(os.path.join(work, "fit.json")) as fh:
        fit = json.load(fh)
    rec.update(iterations=fit["iterations"], fit_seconds=fit["seconds"],
               ms_per_iteration=fit["ms_per_iteration"], final_loss=fit["final_loss"],
               unconverged_batches=fit.get("unconverged_batches"), rescored_from=args.tag)
    print(json.dumps(rec))
    with open(os.path.join(OUT, "results.jsonl"), "a") as fh:
        fh.write(json.dumps(rec) + "\n")


def cmd_floor(args):
    """cBW-UVP and BW-UVP of exact samples with the same sample counts: the metric's own
    estimation floor for a perfect model."""
    bench = GaussianMixtureBenchmark(args.dim, args.eps, seed=args.instance)
    test_rng = np.random.default_rng([args.instance, args.dim, 99])
    xt = bench.sample_input(args.n_test, test_rng)
    rng = np.random.default_rng(3)
    pred = np.stack([bench.sample_conditional(np.repeat(xi[None], args.k_test, 0), rng)
                     for xi in xt])
    tm, tc = bench.target_moments()
    cm, cc = bench.conditional_moments(xt)
    ym = bench.sample_target(args.n_marginal, rng)
    ym2 = bench.sample_target(args.n_marginal, rng)
    m2, c2 = sample_stats(ym2)
    rec = dict(dim=args.dim, eps=args.eps, n_test=args.n_test, k_test=args.k_test,
               n_marginal=args.n_marginal, var_target=float(np.trace(tc)),
               cbw_uvp_exact_samples=cbw_uvp(pred, cm, cc, float(np.trace(tc))),
               bw_uvp_exact_samples=bw_uvp(ym, m2, c2),
               bw_uvp_identity_map=None)
    # a trivial baseline: y = x (no transport)
    rec["bw_uvp_identity_map"] = bw_uvp(bench.sample_input(args.n_marginal, rng), m2, c2)
    print(json.dumps(rec))


def cmd_check_epsilon(args):
    """Solve a discrete plan with genot on benchmark samples (cost |x-y|^2, --scale-cost none)
    at eps_genot = 2 EPS and = EPS; compare the plan's conditional means with the closed form."""
    bench = GaussianMixtureBenchmark(args.dim, args.eps, seed=args.instance)
    rng = np.random.default_rng(11)
    x = bench.sample_input(args.n, rng)
    y = bench.sample_target(args.n, rng)
    work = os.path.join(OUT, "check_epsilon")
    os.makedirs(work, exist_ok=True)
    save(os.path.join(work, "x.npy"), x)
    save(os.path.join(work, "y.npy"), y)
    cm, cc = bench.conditional_moments(x)
    spread = np.sqrt(((cm - cm.mean(0)) ** 2).sum(1).mean())
    out = {"dim": args.dim, "eps": args.eps, "n": args.n, "spread_of_true_means": float(spread)}
    for label, e in (("eps_genot=2*eps", 2 * args.eps), ("eps_genot=eps", args.eps)):
        res = {}
        for who in ("genot", "numpy"):
            if who == "genot":
                plan_path = os.path.join(work, "plan.npy")
                rep, _ = run_json([genot_binary(), "solve", "--source", os.path.join(work, "x.npy"),
                                   "--target", os.path.join(work, "y.npy"), "--scale-cost", "none",
                                   "--epsilon", repr(e), "--f64", "--threshold", "1e-6",
                                   "--max-iterations", "20000", "--plan-out", plan_path],
                                  os.path.join(work, "log.txt"))
                plan = np.load(plan_path).astype(np.float64)
            else:
                plan, _ = sinkhorn_log_plan(x, y, e)
            pm, pc = plan_conditionals(plan, y)
            rms = np.sqrt(((pm - cm) ** 2).sum(1).mean())
            res[who] = {"rms_mean_error": float(rms), "relative": float(rms / spread)}
        out[label] = res
    print(json.dumps(out, indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="fit genot on one benchmark pair and score it")
    f = sub.add_parser("floor", help="the metrics of exact samples (estimation floor)")
    s = sub.add_parser("rescore", help="score a finished run's saved predictions again")
    for p in (r, f, s):
        p.add_argument("--dim", type=int, required=True)
        p.add_argument("--eps", type=float, required=True, help="their convention (cost |x-y|^2/2)")
        p.add_argument("--instance", type=int, default=0, help="seed of the benchmark parameters")
        p.add_argument("--n-test", type=int, default=1000)
        p.add_argument("--k-test", type=int, default=1000)
        p.add_argument("--n-marginal", type=int, default=100000)
    for p in (r, s):
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--n-train", type=int, default=100000)
        p.add_argument("--genot-flags", default="")
        p.add_argument("--transport-flags", default="")
        p.add_argument("--tag", default=None)
    c = sub.add_parser("check-epsilon", help="verify eps_genot = 2 eps on a discrete plan")
    c.add_argument("--dim", type=int, default=2)
    c.add_argument("--eps", type=float, default=1.0)
    c.add_argument("--instance", type=int, default=0)
    c.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    {"run": cmd_run, "floor": cmd_floor, "rescore": cmd_rescore,
     "check-epsilon": cmd_check_epsilon}[args.cmd](args)


if __name__ == "__main__":
    main()
