"""genot.metrics against brute-force numpy on small inputs."""

import numpy as np
import pytest

from genot import metrics
from conftest import reference_sinkhorn, sqdist


def test_energy_distance_and_mmd_by_brute_force():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(5, 3)) + 0.5
    d = lambda a, b: np.sqrt(sqdist(a, b))  # noqa: E731
    energy = 2 * d(x, y).mean() - d(x, x).mean() - d(y, y).mean()
    assert metrics.energy_distance(x, y) == pytest.approx(energy, rel=1e-7)
    k = lambda a, b: np.exp(-0.3 * sqdist(a, b))  # noqa: E731
    assert metrics.mmd(x, y, gamma=0.3) == pytest.approx(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean(), rel=1e-10)
    # median heuristic: 1 / median squared distance between distinct points of y
    iu = np.triu_indices(5, 1)
    gamma = 1 / np.sort(sqdist(y, y)[iu])[len(iu[0]) // 2]
    assert metrics.mmd(x, y) == pytest.approx(metrics.mmd(x, y, gamma=gamma), rel=1e-12)


def test_sinkhorn_divergence_by_brute_force():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(5, 2)) + 1.0
    eps = 0.5
    ot = lambda a, b: reference_sinkhorn(sqdist(a, b), np.full(len(a), 1 / len(a)), np.full(len(b), 1 / len(b)), eps)[1]  # noqa: E731
    want = ot(x, y) - (ot(x, x) + ot(y, y)) / 2
    assert metrics.sinkhorn_divergence(x, y, epsilon=eps) == pytest.approx(want, rel=1e-3, abs=1e-6)
    assert abs(metrics.sinkhorn_divergence(x, x, epsilon=eps)) < 1e-4  # solves stop at 1e-4


def test_foscttm_hand_cases():
    x = np.array([[0.0], [1.0], [2.0]])
    assert metrics.foscttm(x, x) == 0.0
    # swapping the matches of the two outer points: each pair has 1 or 2 closer points
    y = np.array([[2.0], [1.0], [0.0]])
    fr = lambda a, b: np.mean([np.sum(np.abs(a[i] - b).ravel() < abs(a[i, 0] - b[i, 0])) / 2 for i in range(3)])  # noqa: E731
    assert metrics.foscttm(x, y) == pytest.approx((fr(x, y) + fr(y, x)) / 2)


def test_label_transfer_accuracy():
    target = np.array([[0.0], [0.1], [5.0], [5.1]])
    pred = np.array([[0.05], [4.9], [0.0]])
    assert metrics.label_transfer_accuracy(pred, ["a", "b", "b"], target, ["a", "a", "b", "b"], k=2) == pytest.approx(2 / 3)


def test_metric_errors():
    with pytest.raises(ValueError, match="columns"):
        metrics.energy_distance(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="paired"):
        metrics.foscttm(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="k must be at most"):
        metrics.label_transfer_accuracy(np.zeros((1, 1)), ["a"], np.zeros((2, 1)), ["a", "b"], k=3)
    with pytest.raises(TypeError, match="real numbers"):
        metrics.mmd(np.array([["a"]]), np.zeros((1, 1)))
