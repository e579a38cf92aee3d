"""Shared helpers: small data sets, an independent numpy Sinkhorn (the reference the
bindings are checked against), and the path of the `genot` command line."""

import os
import pathlib
import shutil

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Small networks keep the tests fast; every test that trains uses these.
SMALL = dict(hidden=32, layers=2, time_frequencies=8, lr=1e-3)


def cloud(n, d, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[:, 0] += shift
    return x


def reference_sinkhorn(c, a, b, eps, iterations=20000):
    """Plain log-domain Sinkhorn in numpy (float64): the plan and <P,C> + eps KL(P | ab^T)."""
    f = np.zeros(len(a))
    g = np.zeros(len(b))

    def lse(m, axis):
        mx = m.max(axis=axis, keepdims=True)
        return (mx + np.log(np.exp(m - mx).sum(axis=axis, keepdims=True))).squeeze(axis)

    for _ in range(iterations):
        f = -eps * lse((g[None, :] - c) / eps + np.log(b)[None, :], 1)
        g = -eps * lse((f[:, None] - c) / eps + np.log(a)[:, None], 0)
    p = np.exp((f[:, None] + g[None, :] - c) / eps) * a[:, None] * b[None, :]
    kl = np.sum(p * np.log(p / (a[:, None] * b[None, :]))) - p.sum() + 1.0
    return p, float(np.sum(p * c) + eps * kl)


def sqdist(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


@pytest.fixture(scope="session")
def genot_cli():
    """The `genot` binary: $GENOT_CLI (CI sets it; it must exist then), else a build in
    target/; the interchange tests are skipped only when neither is there."""
    env = os.environ.get("GENOT_CLI")
    if env:
        assert os.access(env, os.X_OK), f"GENOT_CLI={env} is not an executable"
        return env
    for build in ("release", "debug"):
        p = ROOT / "target" / build / "genot"
        if p.exists():
            return str(p)
    found = shutil.which("genot")
    if found:
        return found
    pytest.skip("no genot binary: run `cargo build --release -p genot-cli` or set GENOT_CLI")
