"""genot.ot against an independent numpy Sinkhorn and against known GW solutions."""

import numpy as np
import pytest

from genot import ot
from conftest import reference_sinkhorn, sqdist


def test_sinkhorn_matches_a_numpy_reference():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(5, 2)) + 1.0
    a = rng.uniform(0.5, 1.5, 6)
    a /= a.sum()
    b = rng.uniform(0.5, 1.5, 5)
    b /= b.sum()
    r = ot.sinkhorn(x, y, a, b, epsilon=0.5, scale_cost="none", threshold=1e-10, max_iterations=20000)
    p, reg = reference_sinkhorn(sqdist(x, y), a, b, 0.5)
    assert r.converged and r.plan.shape == (6, 5)
    np.testing.assert_allclose(r.plan, p, atol=1e-8)
    np.testing.assert_allclose(r.plan.sum(1), a, atol=1e-8)
    assert r.reg_ot_cost == pytest.approx(reg, rel=1e-6)
    assert r.transport_cost == pytest.approx(np.sum(p * sqdist(x, y)), rel=1e-6)
    assert r.cost_scale == 1.0 and r.epsilon == 0.5


def test_scaling_and_relative_epsilon():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(7, 3))
    c = sqdist(x, y)
    r = ot.sinkhorn(x, y, epsilon=0.1, relative_epsilon="mean", scale_cost="max")
    assert r.cost_scale == pytest.approx(c.max())
    assert r.epsilon == pytest.approx(0.1 * (c / c.max()).mean())


def test_float32_input_and_unbalanced_mass():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(10, 2)), rng.normal(size=(12, 2)) + 3.0
    r64 = ot.sinkhorn(x, y, epsilon=0.05)
    r32 = ot.sinkhorn(x.astype(np.float32), y.astype(np.float32), epsilon=0.05)
    np.testing.assert_allclose(r32.plan, r64.plan, atol=1e-6)
    # float32 points are solved in float32 (as OTT-JAX does), anything else in float64.
    assert r32.plan.dtype == np.float32 and r32.f.dtype == np.float32
    assert r64.plan.dtype == np.float64
    mixed = ot.sinkhorn(x.astype(np.float32), y, epsilon=0.05)
    assert mixed.plan.dtype == np.float64
    ub = ot.sinkhorn(x, y, epsilon=0.05, tau_a=0.5, tau_b=0.5)
    assert ub.mass < 0.99 * r64.mass


def test_gw_recovers_an_isometry():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, size=(30, 2))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    perm = rng.permutation(30)
    y = (np.c_[x, np.zeros(30)] @ q.T)[perm]  # y[i] = Q x[perm[i]] in 3-D
    r = ot.gromov_wasserstein(x, y, epsilon=5e-3)
    assert r.plan.shape == (30, 30) and r.converged
    # x_j -> y[match[j]]; the only isometry between these random points is the truth,
    # perm[match[j]] == j (a reflection of x is not a permutation of its points)
    match = r.plan.argmax(axis=1)
    assert np.mean(perm[match] == np.arange(30)) > 0.9
    assert r.linear_cost is None
    # The reported marginal error and mass are the plan's own.
    err = max(np.abs(r.plan.sum(1) - 1 / 30).sum(), np.abs(r.plan.sum(0) - 1 / 30).sum())
    assert r.marginal_error == pytest.approx(err, rel=1e-6, abs=1e-12)
    assert r.mass == pytest.approx(r.plan.sum(), rel=1e-9)


def test_fused_gw_uses_the_shared_features():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(20, 2))
    y = rng.normal(size=(20, 3))
    xs = np.arange(20.0)[:, None]
    r = ot.gromov_wasserstein(x, y, x_shared=xs, y_shared=xs, fused_penalty=50.0, epsilon=1e-3)
    assert r.linear_cost is not None
    assert np.mean(r.plan.argmax(1) == np.arange(20)) > 0.9


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(x=np.zeros((3, 2)), y=np.zeros((3, 3))), ValueError, "gromov_wasserstein"),
        (dict(x=np.zeros((3, 2)), y=np.zeros((3, 2)), a=np.ones(3) / 3), ValueError, "both a and b"),
        (dict(x=np.zeros((3, 2)), y=np.zeros((3, 2)), cost="manhattan"), ValueError, "manhattan"),
        (dict(x=np.zeros((3, 2)), y=np.zeros((3, 2)), epsilon=-1.0), ValueError, "epsilon"),
        (dict(x=np.zeros((3, 2)), y=np.zeros((3, 2)), epsilon="big"), TypeError, "epsilon"),
        (dict(x=np.eye(3)[:, :2], y=np.eye(3)[:, 1:], tau_a=2.0), ValueError, "tau"),
        (dict(x=np.zeros((3, 2)), y=np.zeros((3, 2)), a=np.ones(2), b=np.ones(3)), ValueError, r"shape \(3,\)"),
        (dict(x=[[1.0, float("inf")]], y=np.zeros((3, 2))), ValueError, "row 0, column 1"),
    ],
)
def test_sinkhorn_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        ot.sinkhorn(**kwargs)


def test_gw_bad_input():
    with pytest.raises(ValueError, match="x_shared"):
        ot.gromov_wasserstein(np.zeros((3, 2)), np.zeros((4, 2)), x_shared=np.zeros((3, 1)))
    with pytest.raises(ValueError, match="y_shared has 3 rows"):
        ot.gromov_wasserstein(np.ones((3, 2)), np.ones((4, 2)), x_shared=np.zeros((3, 1)), y_shared=np.zeros((3, 1)))


def test_sinkhorn_warns_when_it_does_not_converge():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + 2.0
    with pytest.warns(RuntimeWarning, match="did not converge in 3 iterations"):
        r = ot.sinkhorn(x, y, epsilon=1e-3, max_iterations=3)
    assert not r.converged
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ot.sinkhorn(x, y, epsilon=0.5).converged


def test_every_cost_name_is_documented_and_read():
    """The docs name every cost of the one list in genot-ot, and each name is accepted."""
    import genot
    from genot import _genot

    names = [name for name, _ in _genot.costs()]
    assert "graph:K" in names and "sqeuclidean" in names
    for doc in (genot.GENOT.__doc__, ot.sinkhorn.__doc__, ot.gromov_wasserstein.__doc__):
        for name in names:
            assert f'"{name}"' in doc
    x = np.random.default_rng(0).normal(size=(12, 2))
    for name in names:
        r = ot.sinkhorn(x, x + 0.5, cost=name.replace(":P", ":3").replace(":K", ":4"), epsilon=0.5)
        assert np.isfinite(r.transport_cost)
