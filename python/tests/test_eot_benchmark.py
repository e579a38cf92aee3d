"""bench/eot_benchmark.py and bench/ot_batch_bias.py without genot: their closed forms against
discrete entropic plans solved on samples (numpy only), and the UVP metric on hand cases."""

import importlib.util
import pathlib
import sys

import numpy as np
import pytest

BENCH = pathlib.Path(__file__).resolve().parents[2] / "bench"


def load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


eb = load("eot_benchmark")
obb = load("ot_batch_bias")


def relative_errors(plan, y, means, covs):
    pm, pc = eb.plan_conditionals(plan, y)
    spread = np.sqrt(((means - means.mean(0)) ** 2).sum(1).mean())
    mean_err = np.sqrt(((pm - means) ** 2).sum(1).mean()) / spread
    cov_err = np.abs(pc - covs).mean() / np.abs(covs).mean()
    return mean_err, cov_err


def test_mixture_conditional_matches_a_discrete_plan_at_twice_epsilon():
    # Their convention: cost |x-y|^2/2, eps = 1; genot's: cost |x-y|^2, so eps_genot = 2.
    bench = eb.GaussianMixtureBenchmark(2, 1.0)
    rng = np.random.default_rng(0)
    n = 2000
    x, y = bench.sample_input(n, rng), bench.sample_target(n, rng)
    means, covs = bench.conditional_moments(x)
    plan, _ = eb.sinkhorn_log_plan(x, y, 2.0, tol=1e-8)
    mean_err, cov_err = relative_errors(plan, y, means, covs)
    assert mean_err < 0.08 and cov_err < 0.1, (mean_err, cov_err)
    # The wrong conversion (eps_genot = eps) is clearly further off: the check can fail.
    plan, _ = eb.sinkhorn_log_plan(x, y, 1.0, tol=1e-8)
    wrong_mean, wrong_cov = relative_errors(plan, y, means, covs)
    assert wrong_mean > 2 * mean_err and wrong_cov > 2 * cov_err, (wrong_mean, wrong_cov)


def test_mixture_sampler_agrees_with_its_moments():
    bench = eb.GaussianMixtureBenchmark(3, 1.0)
    x0 = bench.sample_input(2, np.random.default_rng(1))
    mean, cov = bench.conditional_moments(x0)
    rng = np.random.default_rng(2)
    for i in range(2):
        s = bench.sample_conditional(np.repeat(x0[i : i + 1], 40000, 0), rng)
        sm, sc = eb.sample_stats(s)
        assert np.abs(sm - mean[i]).max() < 0.03
        assert np.abs(sc - cov[i]).max() < 0.05
    tm, tc = bench.target_moments(n=20000)
    ym, yc = eb.sample_stats(bench.sample_target(100000, rng))
    assert np.abs(ym - tm).max() < 0.03 and abs(np.trace(yc) / np.trace(tc) - 1) < 0.02


def test_gaussian_closed_form_matches_a_discrete_plan():
    pair = obb.GaussianPair(2, eps=1.0, seed=0)
    rng = np.random.default_rng(3)
    n = 2000
    x, y = pair.sample_source(n, rng), pair.sample_target(n, rng)
    means, covs = pair.conditional_moments(x)
    plan, _ = eb.sinkhorn_log_plan(x, y, 2.0, tol=1e-8)
    mean_err, cov_err = relative_errors(plan, y, means, covs)
    assert mean_err < 0.08 and cov_err < 0.1, (mean_err, cov_err)


def test_bw_half_and_uvp_by_hand():
    # Commuting case: S1 = diag(1, 4), S2 = diag(4, 1), means 1 apart:
    # 1/2 * 1 + 1/2 * 5 + 1/2 * 5 - tr sqrt(diag(4, 4)) = 5.5 - 4 = 1.5.
    s1, s2 = np.diag([1.0, 4.0]), np.diag([4.0, 1.0])
    assert eb.bw_half(np.zeros(2), s1, np.array([1.0, 0.0]), s2) == pytest.approx(1.5)
    # Non-commuting 2x2: tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) for M = S1^1/2 S2 S1^1/2.
    s2 = np.array([[2.0, 1.0], [1.0, 2.0]])
    r = np.diag([1.0, 2.0])
    m = r @ s2 @ r
    expected = 0.5 * 5 + 0.5 * 4 - np.sqrt(np.trace(m) + 2 * np.sqrt(np.linalg.det(m)))
    assert eb.bw_half(np.zeros(2), s1, np.zeros(2), s2) == pytest.approx(expected)
    # UVP: 4 samples with mean (0, 0) and covariance diag(4/3, 4/3) against N((1, 0), I):
    # BW = 1/2 + 1/2 * 8/3 + 1/2 * 2 - 2 sqrt(4/3); normalised by 1/2 tr I = 1.
    pts = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    bw = 0.5 + 4 / 3 + 1 - 2 * np.sqrt(4 / 3)
    assert eb.bw_uvp(pts, np.array([1.0, 0.0]), np.eye(2)) == pytest.approx(100 * bw)
    # cBW-UVP: the mean over points, divided by 1/2 Var(P1).
    pred = np.stack([pts, pts + 1.0])
    means, covs = np.array([[1.0, 0.0], [1.0, 1.0]]), np.stack([np.eye(2)] * 2)
    per = [bw, 4 / 3 + 1 - 2 * np.sqrt(4 / 3)]
    assert eb.cbw_uvp(pred, means, covs, 4.0) == pytest.approx(100 * np.mean(per) / 2.0)
