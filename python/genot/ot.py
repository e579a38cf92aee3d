"""Discrete entropic optimal transport (the engine under GENOT), in float64, or in float32
when ``sinkhorn`` is given float32 points.

>>> import numpy as np
>>> from genot import ot
>>> x = np.array([[0.0, 0.0], [1.0, 0.0]]); y = x + 0.1
>>> r = ot.sinkhorn(x, y, epsilon=0.01)
>>> r.converged, r.plan.shape
(True, (2, 2))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Union

import warnings

import numpy as np

from . import _genot
from ._checks import as_points, as_weights, choice, integer, number, text

__all__ = ["sinkhorn", "gromov_wasserstein", "SinkhornResult", "GWResult"]


@dataclass(frozen=True)
class SinkhornResult:
    """A Sinkhorn solve: the plan (n x m), the dual potentials ``f`` and ``g`` (on the
    scaled cost), the regularised cost ``<P, C> + eps KL(P | a b^T)`` and the transport
    cost ``<P, C>`` (scaled), iterations, whether it converged and its marginal error,
    the absolute epsilon used, the factor the cost was divided by, and the plan's mass."""

    plan: np.ndarray
    f: np.ndarray
    g: np.ndarray
    reg_ot_cost: float
    transport_cost: float
    iterations: int
    converged: bool
    marginal_error: float
    epsilon: float
    cost_scale: float
    mass: float


@dataclass(frozen=True)
class GWResult:
    """An entropic (fused) Gromov-Wasserstein solve: the plan, potentials of the last
    linearisation, the GW term, the fused linear term (None when not fused), the
    regularised objective, outer and inner iterations, convergence, the objective per
    outer iteration, the epsilon used, the plan's marginal error (the larger L1 distance of
    its row and column sums to the weights) and its mass."""

    plan: np.ndarray
    f: np.ndarray
    g: np.ndarray
    gw_cost: float
    linear_cost: Optional[float]
    reg_gw_cost: float
    outer_iterations: int
    iterations: int
    converged: bool
    costs: List[float]
    epsilon: float
    marginal_error: float
    mass: float


def _scale(scale_cost: Union[str, float]) -> str:
    if isinstance(scale_cost, str):
        return scale_cost
    return repr(number(scale_cost, "scale_cost", positive=True))


def sinkhorn(
    x: Any,
    y: Any,
    a: Any = None,
    b: Any = None,
    *,
    cost: str = "sqeuclidean",
    epsilon: Optional[float] = None,
    relative_epsilon: Optional[str] = None,
    scale_cost: Union[str, float] = "mean",
    tau_a: float = 1.0,
    tau_b: float = 1.0,
    threshold: float = 1e-3,
    max_iterations: int = 2000,
    mode: str = "auto",
    norm: str = "l1",
) -> SinkhornResult:
    """Entropic OT between the rows of ``x`` (n x d) and ``y`` (m x d) with weights ``a``
    and ``b`` (uniform when None; both or neither).

    ``cost``: ``"sqeuclidean"`` (no 1/2), ``"euclidean"``, ``"pnorm:P"``, ``"cosine"``,
    ``"graph:K"``. The cost is divided by ``scale_cost`` (``"mean"``, ``"median"``,
    ``"max"``, ``"none"`` or a number). ``epsilon`` is absolute on the scaled cost, or a
    factor of its ``"mean"``/``"std"`` with ``relative_epsilon``; default 0.05 x the std.
    ``tau_a``/``tau_b`` < 1 relax the marginals (unbalanced). ``mode``: ``"auto"``,
    ``"log"``, ``"kernel"``. It stops when the ``norm`` (``"l1"``, as OTT-JAX, or
    ``"l2"``, as POT) of the marginal error is below ``threshold``. Computed in float32
    when ``x`` and ``y`` are both float32 arrays (half the memory traffic, as OTT-JAX's
    default; the plan and potentials come back as float32), else in float64. Not
    converging is reported in ``converged`` and with a ``RuntimeWarning``, not raised."""
    single = _is_float32(x) and _is_float32(y)
    dtype = np.float32 if single else np.float64
    xa = as_points(x, "x", dtype)
    ya = as_points(y, "y", dtype)
    if (a is None) != (b is None):
        raise ValueError("give both a and b, or neither")
    wa = None if a is None else as_weights(a, "a", xa.shape[0]).astype(dtype)
    wb = None if b is None else as_weights(b, "b", ya.shape[0]).astype(dtype)
    d = _genot.sinkhorn(
        xa, ya, wa, wb,
        cost=text(cost, "cost"),
        epsilon=number(epsilon, "epsilon", positive=True, optional=True),
        relative_epsilon=None if relative_epsilon is None else choice(relative_epsilon, "relative_epsilon", ("mean", "std")),
        scale_cost=_scale(scale_cost),
        tau_a=number(tau_a, "tau_a"),
        tau_b=number(tau_b, "tau_b"),
        threshold=number(threshold, "threshold", positive=True),
        max_iterations=integer(max_iterations, "max_iterations", minimum=1),
        mode=choice(mode, "mode", ("auto", "log", "kernel")),
        norm=choice(norm, "norm", ("l1", "l2")),
    )
    if not d["converged"]:
        warnings.warn(
            f"Sinkhorn did not converge in {d['iterations']} iterations (marginal error "
            f"{d['marginal_error']:.3e} > threshold {threshold:.1e}); raise max_iterations "
            "or epsilon",
            RuntimeWarning,
            stacklevel=2,
        )
    return SinkhornResult(**d)


def _is_float32(x: Any) -> bool:
    return getattr(x, "dtype", None) == np.float32


def gromov_wasserstein(
    x: Any,
    y: Any,
    *,
    x_shared: Any = None,
    y_shared: Any = None,
    fused_penalty: float = 1.0,
    cost: str = "sqeuclidean",
    epsilon: float = 0.01,
    scale_cost: Union[str, float] = "mean",
    tau_a: float = 1.0,
    tau_b: float = 1.0,
    threshold: float = 1e-3,
    gw_threshold: float = 1e-3,
    max_iterations: int = 2000,
    max_outer_iterations: int = 50,
) -> GWResult:
    """Entropic Gromov-Wasserstein between ``x`` (n x p) and ``y`` (m x q), any
    dimensions, through their intra-space ``cost`` matrices (``"sqeuclidean"``,
    ``"euclidean"``, ``"pnorm:P"``, ``"cosine"`` or ``"graph:K"``; each divided by its
    ``scale_cost``). With ``x_shared``/``y_shared`` (n and m rows, same width): fused GW,
    adding ``fused_penalty`` times a squared-Euclidean cost between them. ``epsilon`` is
    absolute on the linearised cost; ``threshold`` stops each inner Sinkhorn,
    ``gw_threshold`` the outer loop (relative change of the objective)."""
    xa = as_points(x, "x", np.float64)
    ya = as_points(y, "y", np.float64)
    if (x_shared is None) != (y_shared is None):
        raise ValueError("give both x_shared and y_shared, or neither")
    xs = ys = None
    if x_shared is not None:
        xs = as_points(x_shared, "x_shared", np.float64)
        ys = as_points(y_shared, "y_shared", np.float64)
        for name, s, p in (("x_shared", xs, xa), ("y_shared", ys, ya)):
            if s.shape[0] != p.shape[0]:
                raise ValueError(f"{name} has {s.shape[0]} rows but there are {p.shape[0]} points")
        if xs.shape[1] != ys.shape[1]:
            raise ValueError(f"x_shared has {xs.shape[1]} columns and y_shared {ys.shape[1]}")
    d = _genot.gromov_wasserstein(
        xa, ya,
        x_shared=xs,
        y_shared=ys,
        fused_penalty=number(fused_penalty, "fused_penalty", positive=True),
        cost=text(cost, "cost"),
        epsilon=number(epsilon, "epsilon", positive=True),
        scale_cost=_scale(scale_cost),
        tau_a=number(tau_a, "tau_a"),
        tau_b=number(tau_b, "tau_b"),
        threshold=number(threshold, "threshold", positive=True),
        gw_threshold=number(gw_threshold, "gw_threshold", positive=True),
        max_iterations=integer(max_iterations, "max_iterations", minimum=1),
        max_outer_iterations=integer(max_outer_iterations, "max_outer_iterations", minimum=1),
    )
    return GWResult(**d)
