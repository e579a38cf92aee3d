"""Distances between point clouds, as ``genot eval`` reports them (float64).

>>> import numpy as np
>>> from genot import metrics
>>> x = np.array([[0.0], [1.0]])
>>> metrics.energy_distance(x, x)
0.0
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _genot
from ._checks import as_labels, as_points, encode_labels, integer, number

__all__ = ["sinkhorn_divergence", "energy_distance", "mmd", "foscttm", "label_transfer_accuracy"]


def _pair(x: Any, y: Any, names: tuple = ("x", "y")) -> tuple:
    xa = as_points(x, names[0], np.float64)
    ya = as_points(y, names[1], np.float64)
    if xa.shape[1] != ya.shape[1]:
        raise ValueError(f"{names[0]} has {xa.shape[1]} columns and {names[1]} {ya.shape[1]}")
    return xa, ya


def sinkhorn_divergence(x: Any, y: Any, *, epsilon: float = 0.1) -> float:
    """Debiased Sinkhorn divergence ``OT(x, y) - (OT(x, x) + OT(y, y)) / 2`` with the
    squared Euclidean cost (unscaled) and absolute ``epsilon``; 0 when ``x == y``."""
    xa, ya = _pair(x, y)
    return _genot.sinkhorn_divergence(xa, ya, epsilon=number(epsilon, "epsilon", positive=True))


def energy_distance(x: Any, y: Any) -> float:
    """Energy distance ``2 E|X - Y| - E|X - X'| - E|Y - Y'|`` (V-statistics)."""
    return _genot.energy_distance(*_pair(x, y))


def mmd(x: Any, y: Any, *, gamma: Optional[float] = None) -> float:
    """Squared MMD with the kernel ``exp(-gamma |x - y|^2)`` (biased V-statistic);
    ``gamma`` defaults to 1 / the median squared distance between points of ``y``."""
    xa, ya = _pair(x, y)
    value, _ = _genot.mmd(xa, ya, gamma=number(gamma, "gamma", positive=True, optional=True))
    return value


def foscttm(x: Any, y: Any) -> float:
    """Fraction of samples closer than the true match, for paired ``x[i] <-> y[i]``
    (0 perfect, about 0.5 random), averaged over both directions."""
    xa, ya = _pair(x, y)
    if xa.shape[0] != ya.shape[0]:
        raise ValueError(f"foscttm needs paired rows: x has {xa.shape[0]} and y {ya.shape[0]}")
    return _genot.foscttm(xa, ya)


def label_transfer_accuracy(pred: Any, pred_labels: Any, target: Any, target_labels: Any, *, k: int = 5) -> float:
    """Fraction of predictions whose label equals the majority label of their ``k``
    nearest target points (Euclidean)."""
    pa, ta = _pair(pred, target, ("pred", "target"))
    pl = as_labels(pred_labels, "pred_labels", pa.shape[0])
    tl = as_labels(target_labels, "target_labels", ta.shape[0])
    k = integer(k, "k", minimum=1)
    if k > ta.shape[0]:
        raise ValueError(f"k must be at most the number of targets ({ta.shape[0]}), got {k}")
    a, b = encode_labels(pl, tl)
    return _genot.label_transfer_accuracy(pa, a, ta, b, k=k)
