"""Argument checks shared by the public modules: every bad input becomes a TypeError or a
ValueError whose message names the argument (and the row and column where it applies)."""

from __future__ import annotations

import math
import numbers
from typing import Any, Optional, Sequence

import numpy as np


def as_points(x: Any, name: str, dtype: type = np.float32) -> np.ndarray:
    """``x`` as a C-contiguous 2-D array of ``dtype`` (rows are points).

    Accepts numpy arrays of any real dtype, nested lists, and objects with ``toarray()``
    (scipy sparse matrices)."""
    if x is None:
        raise TypeError(f"{name} is required (a 2-D array, points x features)")
    if hasattr(x, "toarray") and not isinstance(x, np.ndarray):
        x = x.toarray()
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a numeric 2-D array: {e}") from None
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        hint = " (reshape a single feature with x.reshape(-1, 1))" if arr.ndim == 1 else ""
        raise ValueError(
            f"{name} must be 2-D (points x features), got shape {arr.shape}{hint}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    out = np.ascontiguousarray(arr, dtype=dtype)
    bad = ~np.isfinite(out)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        what = "overflows float32" if np.isfinite(arr[i, j]) else f"is {arr[i, j]}"
        raise ValueError(f"{name} row {i}, column {j} {what}: every value must be finite")
    return out


def as_weights(a: Any, name: str, n: int) -> np.ndarray:
    """A 1-D float64 weight vector of length ``n``."""
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a 1-D array of numbers: {e}") from None
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    return np.ascontiguousarray(arr)


def as_labels(labels: Any, name: str, n: int) -> list:
    """One string label per row: a list, an array or a pandas Series of length ``n``."""
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__len__"):
        raise TypeError(f"{name} must be a sequence with one label per row")
    values = list(labels.tolist() if hasattr(labels, "tolist") else labels)
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} labels for {n} rows")
    out = []
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            raise ValueError(f"{name} has no label at row {i}")
        out.append(str(v))
    return out


def encode_labels(a: Sequence[str], b: Sequence[str]) -> tuple:
    """Integer codes shared by two label lists."""
    codes: dict = {}
    enc = lambda v: [codes.setdefault(s, len(codes)) for s in v]  # noqa: E731
    return enc(a), enc(b)


def number(value: Any, name: str, *, positive: bool = False, optional: bool = False) -> Optional[float]:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{name} must be {'> 0' if positive else 'finite'}, got {value}")
    return value


def integer(value: Any, name: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


def choice(value: Any, name: str, options: Sequence[str]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}; got {value!r}")
    return value


def text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    return value
